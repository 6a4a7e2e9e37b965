"""Access counts for the warmer on memcached, which has no sorted set: one counter per product and epoch.

On Redis the product API adds to the sorted set ``{hot:products}`` and the warmer reads it by rank, then
halves every score (``cache_warmer.decay_hot_set``). memcached can neither rank nor list its keys, so:

* a container's buffered counts go to ``<prefix>:<v>:{hot:products:<epoch>:<id>}`` with ``incr`` (created
  with ``add`` when missing), where an epoch is ``HOT_EPOCH_SECONDS`` long and a counter expires two epochs
  after its own began, so no decay pass is needed;
* the warmer scores every product id the database lists as ``this epoch + half the previous one`` ("hot"
  means "recently hot", as the halving does on Redis) and keeps the ``n`` best in a heap. Reading one
  counter pair per product makes a warm cost O(products) round trips in batches of ``ID_BATCH`` (one
  ``get_many`` per node and batch), and the ranking ``n`` ids of memory, where Redis reads only the top.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cachelib import Cache, Database
    from cachelib.memcached_backend import MemcachedBackend

HOT_EPOCH_SECONDS = 600
ID_BATCH = 1000


def epoch(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // HOT_EPOCH_SECONDS)


def count_key(cache: Cache, at_epoch: int, product_id: int) -> str:
    return cache.keys.key("hot", "products", at_epoch, product_id)


def _backend(cache: Cache) -> MemcachedBackend:
    from cachelib.memcached_backend import MemcachedBackend

    backend = cache.backend
    if not isinstance(backend, MemcachedBackend):
        raise TypeError(f"hot_counts is for memcached; this cache runs on {backend.engine}")
    return backend


def add(cache: Cache, counts: Mapping[int, int]) -> None:
    """Add a container's buffered access counts (raises ``CacheUnavailable``)."""
    now = epoch()
    _backend(cache).add_counts(
        {count_key(cache, now, product_id): count for product_id, count in counts.items()},
        expire_seconds=2 * HOT_EPOCH_SECONDS,
    )


def ranked(cache: Cache, id_batches: Iterable[Sequence[int]], n: int) -> list[int]:
    """The ``n`` hottest of the ids, hottest first; ids never read in the last two epochs are left out."""
    backend = _backend(cache)
    now = epoch()
    best: list[tuple[float, int]] = []  # a min-heap of the n best (score, -id): ties go to the lower id
    for ids in id_batches:
        keys = {
            product_id: (count_key(cache, now, product_id), count_key(cache, now - 1, product_id))
            for product_id in ids
        }
        found = backend.get_many(key for pair in keys.values() for key in pair)
        for product_id, (current, previous) in keys.items():
            score = _count(found.get(current)) + _count(found.get(previous)) / 2
            if score <= 0:
                continue
            if len(best) < n:
                heapq.heappush(best, (score, -product_id))
            elif (score, -product_id) > best[0]:
                heapq.heapreplace(best, (score, -product_id))
    return [-negated for _score, negated in sorted(best, reverse=True)]


def _count(raw: bytes | None) -> int:
    return int(raw) if raw is not None and raw.isdigit() else 0


def product_id_batches(db: Database, size: int = ID_BATCH) -> Iterator[list[int]]:
    """Every product id, ``size`` at a time, streamed from the reader endpoint (an unbuffered cursor)."""
    import pymysql.cursors

    from cachelib import ReadEndpoint

    connection: Any = db.connection(ReadEndpoint.READER)
    with connection.cursor(pymysql.cursors.SSCursor) as cursor:
        cursor.execute("SELECT id FROM products ORDER BY id")
        while True:
            rows = cursor.fetchmany(size)
            if not rows:
                return
            yield [int(row[0]) for row in rows]


def pages(cache: Cache, db: Database, n: int, page: int) -> Iterator[bytes]:
    """The ``n`` hottest product ids, hottest first, ``page`` at a time, as ``b"7,42"`` (what the warmer's
    Redis ranking yields)."""
    order = ranked(cache, product_id_batches(db), n)
    for start in range(0, len(order), page):
        yield ",".join(str(product_id) for product_id in order[start : start + page]).encode()
