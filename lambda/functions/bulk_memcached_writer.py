"""The warmer's leases and fills on memcached: the library's own lease protocol, key by key.

Same contract as :class:`functions.bulk_cache_writer.BulkEntryWriter` (``lease`` a page of ids before the
batch is read, ``write`` the database's ``<key> <px> <entry>`` lines after), so ``cache_warmer`` drives both
alike. memcached runs no scripts, so each key goes through :class:`cachelib.memcached_backend.
MemcachedBackend` as a read miss or refresh would: an absent entry gets a lease placeholder (``add``), a
cached one a refresh lease and its CAS identity, a key whose placeholder a reader holds is left to that
reader. A line is stored only by ``cas`` against what was leased, so a write that deleted or replaced the
key after the batch was read makes its fill fail, whatever the batch's age: the same guarantee as on Redis.

Cost: two or three round trips per key for the lease and two for the fill (Redis: one call per batch),
each through the gateway, so the breaker hears every one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cachelib import Cache
    from cachelib.backend import Acquired


class MemcachedBulkWriter:
    """One per warm. ``lease`` runs on the warm's leaser thread, ``write`` on its writer thread; a page's
    leases are handed over through the queue between them, keyed by the page's token."""

    def __init__(self, cache: Cache, head: str, tail: str) -> None:
        self.backend = cache.backend
        self.head = head
        self.tail = tail
        self._lease_ms = cache.settings.cache_lease_ms
        self._leases: dict[str, dict[str, Acquired]] = {}

    def lease(self, ids: bytes, token: str, lease_ms: int) -> int:
        """Take a lease on the key of each id in ``ids`` (``b"7,42"``); returns how many were taken."""
        taken: dict[str, Acquired] = {}
        for product_id in ids.split(b","):
            key = f"{self.head}{product_id.decode()}{self.tail}"
            acquired = self.backend.acquire(key, token, lease_ms, True)
            if not acquired.granted and acquired.entry is not None:  # cached: refresh it
                acquired = self.backend.acquire(key, token, lease_ms, False)
            if acquired.granted:
                taken[key] = acquired
        self._leases[token] = taken
        return len(taken)

    def write(self, batch: bytes, ids: bytes, token: str) -> int:
        """Store each ``<key> <px> <entry>`` line of ``batch`` whose lease still holds, give back the leases
        of ``ids`` without a line; returns how many lines were stored."""
        leases = self._leases.pop(token, {})
        written = 0
        for line in batch.split(b"\n") if batch else ():
            raw_key, px, entry = line.split(b" ", 2)
            key = raw_key.decode()
            acquired = leases.pop(key, None)
            if acquired is not None and self.backend.fill(key, acquired, token, entry, int(px)):
                written += 1
        for key, acquired in leases.items():  # no row for this id (deleted), or an unverified batch
            self.backend.release(key, acquired.lease, token)
        return written
