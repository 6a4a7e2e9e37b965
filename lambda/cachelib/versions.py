"""Version counters for list pages: a write bumps one counter instead of deleting every page it affects.

Reads are here; the bump is :meth:`cachelib.Cache.bump_versions` (a write, confirmed like an invalidation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cachelib.errors import CacheUnavailable

if TYPE_CHECKING:
    from cachelib.backend import CacheBackend


@dataclass(frozen=True, slots=True)
class Version:
    """``number`` goes into the list-page key."""

    number: int

    def __str__(self) -> str:
        return str(self.number)

    @property
    def available(self) -> bool:
        """False when the cache could not be read. Never build a key from an unavailable version: a page
        cached under the placeholder would be found again during the next blip, after writes it never saw.
        Read through :meth:`cachelib.Cache.bypass` instead."""
        return self.number > 0


UNAVAILABLE = Version(0)
"""Returned when the cache cannot be read (``available`` is False): real counters start at a clock in
microseconds (Redis: the server's, memcached: the client's), so 0 never collides."""


class VersionCounters:
    def __init__(self, backend: CacheBackend) -> None:
        self._backend = backend

    def current(self, version_key: str) -> Version:
        """The counter's value (created if missing). Never raises for the cache engine."""
        try:
            number = self._backend.version(version_key)
        except CacheUnavailable:
            return UNAVAILABLE  # the read that follows (Cache.bypass) counts the error
        return Version(number)
