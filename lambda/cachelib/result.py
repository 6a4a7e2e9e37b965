"""What ``get_or_load`` returns: the value and how it was served."""

from __future__ import annotations

from enum import StrEnum
from typing import Generic, NamedTuple, TypeVar

T = TypeVar("T")


class CacheStatus(StrEnum):
    """How a read was served. Exactly one per ``get_or_load`` call; each maps to one count metric."""

    HIT = "HIT"  # fresh value from Redis                                  -> CacheHit
    L1_HIT = "L1_HIT"  # fresh value from the in-process near-cache        -> CacheHit
    NEGATIVE_HIT = "NEGATIVE_HIT"  # cached "does not exist"               -> CacheNegativeHit
    STALE = "STALE"  # past its fresh TTL, served while another refreshes  -> CacheStaleServed
    WAITED = "WAITED"  # another caller's loader filled it while we waited -> CacheLoaderWait
    MISS = "MISS"  # this caller ran the loader (incl. a wait that timed out) -> CacheMiss
    BYPASS = "BYPASS"  # Redis unreachable or breaker open: loaded from the DB -> CacheError

    @property
    def x_cache(self) -> str:
        """The ``X-Cache`` response header value: ``HIT``, ``MISS`` or ``STALE``."""
        if self in (CacheStatus.MISS, CacheStatus.BYPASS):
            return "MISS"
        if self is CacheStatus.STALE:
            return "STALE"
        return "HIT"

    @property
    def from_cache(self) -> bool:
        """True when no loader ran for this call."""
        return self not in (CacheStatus.MISS, CacheStatus.BYPASS)


class CacheResult(NamedTuple, Generic[T]):
    """``value`` is ``None`` when the loader (now or when cached) reported that the row does not exist.

    A named tuple (immutable, and the cheapest object to build on the hit path): ``value, status = result``.
    """

    value: T | None
    status: CacheStatus

    @property
    def found(self) -> bool:
        return self.value is not None

    @property
    def x_cache(self) -> str:
        return self.status.x_cache
