"""Scheduled cache warmer: loads the ``WARM_TOP_N`` hottest products into Redis before they are asked for.

"Hottest" comes from the sorted set the product API feeds (``{hot:products}``). The warm is a two-stage
pipeline whose memory stays flat however many rows there are (a few batches of ~1000 entries in flight):

* a reader thread takes the hot ids 1000 at a time (one small Lua call returns them as ``"7,42,3"``) and
  asks the reader endpoint for that batch through an unbuffered cursor (pymysql ``SSCursor``). The database
  renders every row as a finished cache entry (key, hard TTL, framed typed JSON: ``PRODUCT_JSON_SQL``) and
  returns the batch as one ``GROUP_CONCAT`` row, so Python touches no row individually;
* the calling thread takes batches off a bounded queue and writes each with a single EVALSHA
  (:class:`functions.bulk_cache_writer.BulkEntryWriter`), TTLs intact. Before a batch is read, the warmer
  takes a lease on each of its keys; a line is stored only if its lease survived, so a write that
  invalidated a key after the batch was read is never overwritten with the old row, whatever the batch's
  age or the replica's lag (see ``bulk_cache_writer``).

MySQL renders while Redis stores, on separate cores; Python mostly waits on sockets, which releases the GIL.
Afterwards the hot set is trimmed and its scores halved, so "hot" means "recently hot" and the set stays
bounded.

Returns (and logs) ``{"warmed", "skipped", "requested", "durationMs", "rowsPerSecond"}``.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any, TypeVar

from cachelib import Cache, Database, ReadEndpoint, Settings, logs, trace_if_enabled
from cachelib.replication import begin_verified_scope, end_verified_scope
from cachelib.settings import MEMCACHED
from caching_contract import variables
from functions import hot_counts
from functions.bulk_cache_writer import BulkEntryWriter, count_lines
from functions.bulk_memcached_writer import MemcachedBulkWriter
from functions.catalog_schema import PRODUCT_JSON_SQL
from functions.idempotency import purge_expired
from functions.product_store import hot_products_key, product_key

LOGGER = logging.getLogger("cache_warmer")
logs.configure_logging()  # every record in the one log shape (cachelib.logs)

BATCH_ROWS = 1000
QUEUE_BATCHES = 4
DEFAULT_TOP_N = 1000
MAX_TOP_N = 1_000_000
HOT_SET_KEEP_FACTOR = 10
# A batch is <= 1000 rows of at most ~15 kB each (2000-character descriptions, JSON-escaped).
GROUP_CONCAT_MAX_LEN = 32 * 1024 * 1024

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


def top_n(event: Any, env: Mapping[str, str] | None = None) -> int:
    """``event["topN"]`` (a manual invocation) wins over ``WARM_TOP_N``."""
    source: Mapping[str, str] = os.environ if env is None else env
    if isinstance(event, dict) and "topN" in event:
        raw = event["topN"]
    else:
        raw = source.get(variables.WARM_TOP_N, DEFAULT_TOP_N)
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
    if product_key(cache, 42) != f"{head}42{tail}" or any(ch.isspace() for ch in head + tail):
        raise RuntimeError(
            f"product keys must look like <head><id><tail> without whitespace: {head!r}, {tail!r}"
        )
    return head, tail


# One page of the hot set, by rank, as one comma-joined string of its numeric members: the reader inlines
# it into the IN list, so Python never parses a thousand replies or binds a thousand values.
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


def hot_id_pages(cache: Cache, n: int, page: int | None = None) -> Iterator[bytes]:
    """The ``n`` hottest product ids, hottest first, ``page`` (default BATCH_ROWS) at a time: ``b"7,42"``."""
    page = page or BATCH_ROWS
    key = hot_products_key(cache)
    for start in range(0, n, page):
        stop = min(start + page, n) - 1
        scanned, ids = cache.redis.run_script(HOT_IDS_LUA, [key], [start, stop])
        if ids and _ID_LIST.fullmatch(ids):  # digits and commas only: safe to inline into SQL
            yield ids
        if scanned < stop - start + 1:
            return


# One row per batch: "<key> <px> <entry>" lines joined by newlines, where the entry is framed as cachelib
# frames it (V|<soft deadline ms>|<typed JSON>) and the fresh lifetime is jittered down by up to 10%, by id.
# Only constants are concatenated; {ids} is replaced by a digits-and-commas string checked by _ID_LIST.
_BATCH_SQL = (
    "SELECT CAST(GROUP_CONCAT(CONCAT("  # noqa: S608
    "%(head)s, id, %(tail)s, ' ', "
    "%(ttl)s - MOD(id * 7919 + %(offset)s, %(span)s + 1) + %(stale)s, ' ', "
    "'V|', %(now)s + %(ttl)s - MOD(id * 7919 + %(offset)s, %(span)s + 1), '|', "
    + PRODUCT_JSON_SQL
    + ") SEPARATOR '\\n') AS BINARY) FROM products WHERE id IN ({ids})"
)


@dataclass(frozen=True)
class LeasedBatch:
    ids: bytes
    token: str
    entries: bytes | None
    """``None`` when the batch's freshness could not be proven (nothing of it may be stored)."""


T = TypeVar("T")
EntryWriter = BulkEntryWriter | MemcachedBulkWriter


def _through(cache: Cache, fn: Callable[[], T]) -> T:
    """Redis: a bulk script runs inside the gateway, so the breaker hears it once per batch. memcached: the
    writer's own library calls report to the breaker."""
    if cache.backend.engine == MEMCACHED:
        return fn()
    return cache.redis.call(lambda _client: fn())


def leased_pages(cache: Cache, writer: EntryWriter, n: int, db: Database) -> Iterator[tuple[bytes, str]]:
    """The hot ids a page at a time, each page's keys leased to a fresh token before it is yielded."""
    lease_ms = cache.settings.cache_lease_ms
    if cache.backend.engine == MEMCACHED:  # no sorted set: ranked from per-product counters
        ranking = hot_counts.pages(cache, db, n, BATCH_ROWS)
    else:
        ranking = hot_id_pages(cache, n)
    for ids in ranking:
        token = secrets.token_hex(8)
        _through(cache, partial(writer.lease, ids, token, lease_ms))
        yield ids, token


def read_batches(
    cache: Cache, db: Database, writer: EntryWriter, pages: Iterable[tuple[bytes, str]]
) -> Iterator[LeasedBatch]:
    """Ready-made entries for each leased page, read from the reader endpoint once the replica has caught up
    with the writer (else from the writer)."""
    import pymysql.cursors

    settings = cache.settings
    head, tail = writer.head, writer.tail
    ttl_ms = settings.cache_ttl_seconds * 1000
    prepared: set[int] = set()
    for ids, token in pages:
        params = {
            "head": head,
            "tail": tail,
            "now": int(time.time() * 1000),
            "ttl": ttl_ms,
            "span": ttl_ms // 10,
            "offset": random.randrange(ttl_ms // 10 + 1),
            "stale": settings.cache_stale_seconds * 1000,
        }
        scope = begin_verified_scope()
        connection = db.connection(ReadEndpoint.READER)  # a replica only once it has caught up
        if id(connection) not in prepared:
            with connection.cursor() as cursor:
                cursor.execute("SET SESSION group_concat_max_len = %s", (GROUP_CONCAT_MAX_LEN,))
            prepared.add(id(connection))
        with connection.cursor(pymysql.cursors.SSCursor) as cursor:
            cursor.execute(_BATCH_SQL.replace("{ids}", ids.decode("ascii")), params)
            row = cursor.fetchone()
            batch = None if row is None else row[0]
        verified = end_verified_scope(scope)
        if batch is not None and len(batch) >= GROUP_CONCAT_MAX_LEN:
            raise RuntimeError("a warm batch hit group_concat_max_len and was truncated")
        yield LeasedBatch(ids, token, (batch or b"") if verified else None)


_DONE = object()


class _StageFailed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def _offer(out: queue.Queue, stop: threading.Event, item: object) -> bool:
    """Put ``item`` unless the writer has stopped reading (a blocking put would then hang this thread and
    the writer's join); returns whether it was queued."""
    while not stop.is_set():
        try:
            out.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _drain(source: queue.Queue) -> Iterator[Any]:
    """The items of an upstream stage until it is done; re-raises its failure."""
    while True:
        item = source.get()
        if item is _DONE:
            return
        if isinstance(item, _StageFailed):
            raise item.error
        yield item


def _stage(items: Callable[[], Iterable[Any]], out: queue.Queue, stop: threading.Event, db: Database) -> None:
    """Run one pipeline stage on this thread: offer every item downstream, then a failure or the end."""
    try:
        for item in items():
            if not _offer(out, stop, item):
                return
    except BaseException as exc:  # handed downstream, and re-raised by the writer
        _offer(out, stop, _StageFailed(exc))
    finally:
        _offer(out, stop, _DONE)
        db.close()  # this thread's connections; Database keeps them per thread


def warm(cache: Cache, db: Database, n: int) -> WarmResult:
    """Warm the ``n`` hottest products; raises if the database or the cache fails mid-way.

    Three stages on three threads, so the cache leases the next page while MySQL renders this one and the
    cache stores the one before: leaser -> reader -> writer (this thread)."""
    head, tail = key_parts(cache)
    writer: EntryWriter
    if cache.backend.engine == MEMCACHED:
        writer = MemcachedBulkWriter(cache, head, tail)
    else:
        writer = BulkEntryWriter(cache.client(), head, tail, cluster=cache.settings.redis_cluster_mode)
    result = WarmResult(requested=n)
    started = time.perf_counter()
    pages: queue.Queue = queue.Queue(maxsize=QUEUE_BATCHES)
    batches: queue.Queue = queue.Queue(maxsize=QUEUE_BATCHES)
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=_stage,
            args=(lambda: leased_pages(cache, writer, n, db), pages, stop, db),
            name="warm-leaser",
            daemon=True,
        ),
        threading.Thread(
            target=_stage,
            args=(lambda: read_batches(cache, db, writer, _drain(pages)), batches, stop, db),
            name="warm-reader",
            daemon=True,
        ),
    ]
    for thread in threads:
        thread.start()
    try:
        for leased in _drain(batches):
            if leased.entries is None:  # read unverified: give the leases back, store nothing
                _through(cache, partial(writer.write, b"", leased.ids, leased.token))
                result.skipped += leased.ids.count(b",") + 1
                continue
            rows = count_lines(leased.entries)
            written = _through(cache, partial(writer.write, leased.entries, leased.ids, leased.token))
            result.warmed += written
            result.skipped += rows - written
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    elapsed = time.perf_counter() - started
    result.durationMs = round(elapsed * 1000, 1)
    result.rowsPerSecond = round(result.warmed / elapsed) if elapsed > 0 else 0.0
    return result


def decay_hot_set(cache: Cache, n: int) -> None:
    """Keep the top ``HOT_SET_KEEP_FACTOR * n`` members and halve every score. memcached: nothing to do,
    its counters age out by epoch (``functions.hot_counts``)."""
    if cache.backend.engine == MEMCACHED:
        return
    key = hot_products_key(cache)
    keep = max(HOT_SET_KEEP_FACTOR * n, 10_000)

    def trim_and_halve(client: Any) -> None:
        pipe = client.pipeline(transaction=False)
        pipe.zremrangebyrank(key, 0, -(keep + 1))
        pipe.zunionstore(key, {key: 0.5})
        pipe.execute()

    cache.redis.call(trim_and_halve)


def lambda_handler(event: Any, context: Any = None) -> dict[str, Any]:
    """EventBridge schedule or manual invoke (``{"topN": 500}`` overrides ``WARM_TOP_N``).

    Failures raise, so the asynchronous invocation is retried and lands in the dead-letter queue.
    """
    trace_if_enabled()
    n = top_n(event)
    cache, db = _state()
    result = warm(cache, db, n)
    decay_hot_set(cache, n)
    # Housekeeping that must stay off the request path: expired Idempotency-Keys, by index range.
    purged = purge_expired(db.connection(ReadEndpoint.WRITER))
    LOGGER.info("cache warm finished", extra={**asdict(result), "idempotencyKeysPurged": purged})
    return {**asdict(result), "idempotencyKeysPurged": purged}
