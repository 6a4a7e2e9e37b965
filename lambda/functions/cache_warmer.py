"""Scheduled cache warmer: loads the ``WARM_TOP_N`` hottest products into Redis before they are asked for.

"Hottest" comes from the sorted set the product API feeds (``{hot:products}``). The warm is a two-stage
pipeline with flat memory however many rows there are:

* a reader thread pages through the hot ids (5,000 at a time), streams their rows from the reader endpoint
  through an unbuffered server-side cursor (pymysql ``SSCursor``), and puts batches of 1,000 rows on a
  bounded queue. The database renders each row as a finished cache entry (key, hard TTL, framed typed
  JSON: ``PRODUCT_JSON_SQL``), so Python only moves three byte strings per row;
* the calling thread takes batches off the queue and writes each one with a single EVALSHA
  (:class:`functions.bulk_cache_writer.BulkEntryWriter`), TTLs intact, skipping keys fenced by a write.

Both stages block on sockets most of the time, so they overlap. Afterwards the hot set is trimmed and its
scores halved, so "hot" means "recently hot" and the set stays bounded.

Returns (and logs) ``{"warmed", "skipped", "requested", "durationMs", "rowsPerSecond"}``.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import random
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from cachelib import Cache, Database, ReadEndpoint, Settings
from functions.bulk_cache_writer import BulkEntryWriter
from functions.catalog_schema import PRODUCT_JSON_SQL
from functions.product_store import hot_products_key, product_key

LOGGER = logging.getLogger("cache_warmer")
LOGGER.setLevel(logging.INFO)

ID_PAGE = 5000
BATCH_ROWS = 1000
QUEUE_BATCHES = 4  # at most ~4 MB of rows in flight
DEFAULT_TOP_N = 1000
MAX_TOP_N = 1_000_000
HOT_SET_KEEP_FACTOR = 10

_cache: Cache | None = None
_db: Database | None = None


def _state() -> tuple[Cache, Database]:
    global _cache, _db
    if _cache is None or _db is None:
        settings = Settings.from_env()
        _cache, _db = Cache.from_settings(settings), Database(settings)
    return _cache, _db


def reset_state() -> None:
    global _cache, _db
    if _cache is not None:
        _cache.close()
    if _db is not None:
        _db.close()
    _cache = _db = None


@dataclass
class WarmResult:
    warmed: int = 0
    skipped: int = 0
    requested: int = 0
    durationMs: float = 0.0
    rowsPerSecond: float = 0.0


def top_n(event: Any, env: dict[str, str] | None = None) -> int:
    """``event["topN"]`` (a manual invocation) wins over ``WARM_TOP_N``."""
    env = os.environ if env is None else env
    raw = (
        event.get("topN")
        if isinstance(event, dict) and "topN" in event
        else env.get("WARM_TOP_N", DEFAULT_TOP_N)
    )
    try:
        value = int(str(raw))
    except ValueError:
        raise ValueError(f"WARM_TOP_N/topN: {raw!r} is not an integer") from None
    if not 1 <= value <= MAX_TOP_N:
        raise ValueError(f"WARM_TOP_N/topN: {value} is outside 1..{MAX_TOP_N}")
    return value


def key_parts(cache: Cache) -> tuple[str, str]:
    """The text around the id in a product key, so the database can build the keys too."""
    marker = 987654321
    head, _, tail = product_key(cache, marker).partition(str(marker))
    if product_key(cache, 42) != f"{head}42{tail}":
        raise RuntimeError("product keys must have the shape <head><id><tail>")
    return head, tail


# One page of the hot set, by rank, as a single comma-joined string of the numeric members: the reader
# inlines it into the IN list, so Python never parses thousands of replies or binds thousands of values.
# Reply: {members scanned, "id,id,..."}.
HOT_IDS_LUA = """
local members = redis.call('ZREVRANGE', KEYS[1], ARGV[1], ARGV[2])
local ids = {}
for _, member in ipairs(members) do
  if string.match(member, '^[1-9]%d*$') and #member <= 19 then ids[#ids + 1] = member end
end
return {#members, table.concat(ids, ',')}
"""
_ID_LIST = re.compile(rb"[0-9]{1,19}(,[0-9]{1,19})*")


def hot_id_pages(cache: Cache, n: int, page: int = ID_PAGE) -> Iterator[bytes]:
    """The ``n`` hottest product ids, hottest first, ``page`` at a time, as ``b"7,42,3"``."""
    key = hot_products_key(cache)
    script = cache.client().register_script(HOT_IDS_LUA)
    for start in range(0, n, page):
        stop = min(start + page, n) - 1
        scanned, ids = script(keys=[key], args=[start, stop])
        if ids and _ID_LIST.fullmatch(ids):  # digits and commas only: safe to inline into SQL
            yield ids
        if scanned < stop - start + 1:
            return


# Per row: the cache key, the hard TTL (ms) and the whole entry, framed as cachelib frames it
# (``V|<soft deadline ms>|<typed JSON>``). The fresh lifetime is jittered down by up to 10%, by id.
# Only constants are concatenated; {ids} is filled with a digits-and-commas string checked by _ID_LIST.
_ENTRY_SQL = (
    "SELECT CAST(CONCAT(%(head)s, id, %(tail)s) AS BINARY), "  # noqa: S608
    "CAST(%(ttl)s - MOD(id * 7919 + %(offset)s, %(span)s + 1) + %(stale)s AS BINARY), "
    "CAST(CONCAT('V|', %(now)s + %(ttl)s - MOD(id * 7919 + %(offset)s, %(span)s + 1), '|', "
    + PRODUCT_JSON_SQL
    + ") AS BINARY) FROM products WHERE id IN ({ids})"
)


def stream_entries(
    db: Database, settings: Settings, head: str, tail: str, ids: bytes
) -> Iterator[list[tuple[bytes, bytes, bytes]]]:
    """(key, PX, entry) rows for ``ids``, read with an unbuffered cursor, ``BATCH_ROWS`` at a time."""
    import pymysql.cursors

    ttl_ms = settings.cache_ttl_seconds * 1000
    params = {
        "head": head,
        "tail": tail,
        "now": int(time.time() * 1000),
        "ttl": ttl_ms,
        "span": ttl_ms // 10,
        "offset": random.randrange(ttl_ms // 10 + 1),
        "stale": settings.cache_stale_seconds * 1000,
    }
    connection = db.connection(ReadEndpoint.READER)
    with connection.cursor(pymysql.cursors.SSCursor) as cursor:
        cursor.execute(_ENTRY_SQL.replace("{ids}", ids.decode("ascii")), params)
        while True:
            rows = cursor.fetchmany(BATCH_ROWS)
            if not rows:
                return
            yield rows


_DONE = object()


class _ReaderFailed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def _read_into(batches: queue.Queue, stop: threading.Event, cache: Cache, db: Database, n: int) -> None:
    try:
        head, tail = key_parts(cache)
        for ids in hot_id_pages(cache, n):
            for rows in stream_entries(db, cache.settings, head, tail, ids):
                item = (time.monotonic(), rows)
                while not stop.is_set():
                    try:
                        batches.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
    except BaseException as exc:  # handed to the writer thread, which re-raises it
        batches.put(_ReaderFailed(exc))
    finally:
        batches.put(_DONE)
        db.close()  # this thread's connection; Database keeps one per thread


def warm(cache: Cache, db: Database, n: int) -> WarmResult:
    """Warm the ``n`` hottest products; raises if the database or Redis fails mid-way."""
    settings = cache.settings
    writer = BulkEntryWriter(cache.client(), cluster=settings.redis_cluster_mode)
    # A batch older than half the fence window could outlive the fence of a write it raced: drop it.
    max_batch_age = settings.cache_write_fence_seconds / 2
    result = WarmResult(requested=n)
    started = time.perf_counter()
    batches: queue.Queue = queue.Queue(maxsize=QUEUE_BATCHES)
    stop = threading.Event()
    reader = threading.Thread(
        target=_read_into, args=(batches, stop, cache, db, n), name="warm-reader", daemon=True
    )
    reader.start()
    try:
        while True:
            item = batches.get()
            if item is _DONE:
                break
            if isinstance(item, _ReaderFailed):
                raise item.error
            read_at, rows = item
            if time.monotonic() - read_at > max_batch_age:
                result.skipped += len(rows)
                continue
            written = writer.write([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
            result.warmed += written
            result.skipped += len(rows) - written
    finally:
        stop.set()
        reader.join(timeout=30)
    elapsed = time.perf_counter() - started
    result.durationMs = round(elapsed * 1000, 1)
    result.rowsPerSecond = round(result.warmed / elapsed) if elapsed > 0 else 0.0
    return result


def decay_hot_set(cache: Cache, n: int) -> None:
    """Keep the top ``HOT_SET_KEEP_FACTOR * n`` members and halve every score."""
    key = hot_products_key(cache)
    keep = max(HOT_SET_KEEP_FACTOR * n, 10_000)
    pipe = cache.client().pipeline(transaction=False)
    pipe.zremrangebyrank(key, 0, -(keep + 1))
    pipe.zunionstore(key, {key: 0.5})
    pipe.execute()


def lambda_handler(event: Any, context: Any = None) -> dict[str, Any]:
    """EventBridge schedule or manual invoke (``{"topN": 500}`` overrides ``WARM_TOP_N``).

    Failures raise, so the asynchronous invocation is retried and lands in the dead-letter queue.
    """
    n = top_n(event)
    cache, db = _state()
    result = warm(cache, db, n)
    decay_hot_set(cache, n)
    LOGGER.info(json.dumps({"message": "cache warm finished", **asdict(result)}))
    return asdict(result)
