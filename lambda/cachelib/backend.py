"""What :class:`cachelib.Cache` needs from a cache engine: the lease, fill and invalidation primitives.

``Cache`` owns the protocol (keys, framing, TTLs and jitter, soft/hard deadlines, waiting, serve-stale,
negative caching, the near cache, metrics, retries of a write); a backend owns how each step is made safe
on its engine:

* :class:`cachelib.redis_backend.RedisBackend`: every step is one Lua script (``scripts.py``), so it is
  atomic on the server; writes are confirmed by the Redis replicas (``WAIT``) and published to near caches.
* :class:`cachelib.memcached_backend.MemcachedBackend`: no scripts, so every step that must not race a
  write is a compare-and-swap (``gets``/``cas``) on the entry itself, leases are placeholders stored with
  ``add``, version counters use ``incr``. There are no replicas to confirm and no pub/sub.

Every method goes through the backend's :class:`~cachelib.gateway.Gateway` (so the breaker hears it) and
raises :class:`~cachelib.errors.CacheUnavailable` when the engine cannot be used. The write methods
(``invalidate``, ``write_through``, ``bump``) try even while the breaker is open.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from cachelib.gateway import Gateway


class Acquired(NamedTuple):
    """The outcome of asking for the right to fill a key."""

    granted: bool
    held: bool
    """Someone else holds the lease (only meaningful when not granted)."""
    entry: bytes | None
    """On a miss: an entry that appeared meanwhile (a waiter's poll result), instead of a lease."""
    lease: str = ""
    """Where the granted lease lives: what ``renew`` and ``release`` take."""
    fence: Any = None
    """Engine state the fill needs (memcached: the CAS identity of the entry being refreshed)."""


class WriteItem(NamedTuple):
    """One write-through store: the claim ``token`` taken inside the write's transaction ("" = none)."""

    key: str
    token: str
    entry: bytes
    hard_ms: int


class CacheBackend(Protocol):
    @property
    def engine(self) -> str: ...

    @property
    def gateway(self) -> Gateway: ...

    @property
    def fetch(self) -> Callable[[str], bytes | None]:
        """The hit path: the entry stored under a key, or ``None``. Bound once, so a hit costs one call."""
        ...

    def acquire(self, key: str, token: str, lease_ms: int, on_miss: bool) -> Acquired:
        """Try to become the one loader of ``key`` for ``lease_ms``."""
        ...

    def fill(self, key: str, lease: Acquired, token: str, entry: bytes, hard_ms: int) -> bool:
        """Store ``entry`` only if ``lease`` is still this caller's and no write has touched the key since
        the lease was granted; gives the lease up either way. Returns whether it stored."""
        ...

    def release(self, key: str, lease: str, token: str) -> None:
        """Give a lease up (only if it still holds ``token``), so a waiter can take over at once."""
        ...

    def renew(self, lease: str, token: str, lease_ms: int) -> bool:
        """Extend a lease this caller still holds; False when it is gone."""
        ...

    def delete_if_equal(self, key: str, raw: bytes) -> None:
        """Delete a corrupt entry, but only if it still holds exactly ``raw``."""
        ...

    def version(self, version_key: str) -> int:
        """A list-version counter, created (larger than any number it had before) when missing."""
        ...

    def invalidate(self, keys: Sequence[str], channel: str | None) -> None:
        """After a commit: drop the entries, revoke their leases and write-through claims, confirmed as
        far as the engine can (Redis replicas), then publish ``keys`` on ``channel`` if given."""
        ...

    def claim(self, claims: Mapping[str, str], claim_ms: int) -> None:
        """Inside a write's transaction, under its row locks: claim each key for a write-through."""
        ...

    def write_through(self, items: Sequence[WriteItem], channel: str | None) -> list[bool]:
        """After that commit: store each entry if its claim is still the write's, else delete the entry;
        every outstanding lease is revoked. Confirmed and published like :meth:`invalidate`."""
        ...

    def bump(self, version_keys: Sequence[str]) -> list[int]:
        """After a commit: advance each list-version counter; returns the new numbers."""
        ...

    def close(self) -> None: ...
