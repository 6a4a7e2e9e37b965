"""Version counters for list pages: a write bumps one counter instead of deleting every page it affects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cachelib import scripts
from cachelib.connections import REDIS_ERRORS
from cachelib.keys import fence_key

if TYPE_CHECKING:
    from cachelib.cache import Cache


@dataclass(frozen=True, slots=True)
class Version:
    """``number`` goes into the list-page key; ``fenced`` is passed as ``read_primary`` to ``get_or_load``
    (the counter moved within the write-fence window, so the replica may not show the write yet)."""

    number: int
    fenced: bool

    def __str__(self) -> str:
        return str(self.number)

    @property
    def available(self) -> bool:
        """False when Redis could not be read. Never build a key from an unavailable version: a page cached
        under the placeholder would be found again during the next blip, after writes it never saw. Read
        through :meth:`cachelib.Cache.bypass` instead."""
        return self.number > 0


UNAVAILABLE = Version(0, True)
"""Returned when Redis cannot be read (``available`` is False): real counters start at server-time * 1000,
so 0 never collides, and ``fenced`` sends a load to the writer."""


class VersionCounters:
    def __init__(self, cache: Cache) -> None:
        self._cache = cache

    def current(self, version_key: str) -> Version:
        """The counter's value (created if missing) and whether it is fenced. Never raises for Redis."""
        cache = self._cache
        if not cache.breaker.allow():
            return UNAVAILABLE
        try:
            number, fenced = cache.script(scripts.VERSION_READ)(keys=[version_key, fence_key(version_key)])
        except cache_errors() as exc:
            cache.redis_failed(exc, count=False)  # the read that follows (Cache.bypass) counts it
            return UNAVAILABLE
        cache.breaker.record_success()
        return Version(int(number), bool(fenced))

    def bump(self, *version_keys: str, attempts: int = 3) -> dict[str, int]:
        """After a commit: advance each counter and fence it. Raises ``InvalidationFailed`` if Redis stays
        unreachable for ``attempts`` tries."""
        cache = self._cache
        fence_ms = cache.settings.cache_write_fence_seconds * 1000
        return cache._with_retries(
            attempts,
            version_keys,
            lambda: {
                k: int(cache.script(scripts.VERSION_BUMP)(keys=[k, fence_key(k)], args=[fence_ms]))
                for k in version_keys
            },
        )


def cache_errors() -> tuple[type[BaseException], ...]:
    return REDIS_ERRORS
