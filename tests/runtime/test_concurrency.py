"""Stampedes and the stale-set race, against real Redis and MariaDB.

The stale-set tests pin the *reader* loader to a second table, ``items_replica``, to control exactly which
row a racing reader loads; real replication lag (a second mariadbd with ``MASTER_DELAY``) is exercised in
``test_fault_read_after_write.py``.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from cachelib import CacheStatus, ReadEndpoint
from caching_contract.metrics import CACHE_LOADER_WAIT, CACHE_MISS


@pytest.fixture
def items(db):
    with db.transaction() as cur:
        for table in ("items", "items_replica"):
            cur.execute(f"CREATE TABLE IF NOT EXISTS {table} (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL)")
            cur.execute(f"INSERT INTO {table} VALUES (1, 'old')")
    return db


def load_item(db, endpoint: ReadEndpoint, item_id: int = 1) -> dict | None:
    table = "items" if endpoint is ReadEndpoint.WRITER else "items_replica"
    with db.cursor(endpoint) as cur:
        cur.execute(f"SELECT id, name FROM {table} WHERE id = %s", (item_id,))
        row = cur.fetchone()
    return None if row is None else {"id": row[0], "name": row[1]}


def rename(cache, db, new_name: str, *, replicate: bool):
    key = cache.keys.key("item", 1)

    def statement(cur):
        cur.execute("UPDATE items SET name = %s WHERE id = 1", (new_name,))
        changed = cur.rowcount
        if replicate:  # the stand-in replica has the write as soon as it commits
            cur.execute("UPDATE items_replica SET name = %s WHERE id = 1", (new_name,))
        return changed

    return cache.write(db, statement, keys=[key])


def test_64_threads_missing_one_key_run_the_loader_exactly_once(make_cache):
    cache = make_cache(cache_wait_ms=5000)
    key = cache.keys.key("product", 1)
    calls = 0
    calls_lock = threading.Lock()
    start = threading.Barrier(64)

    def loader(_endpoint):
        nonlocal calls
        with calls_lock:
            calls += 1
        time.sleep(0.2)  # a slow query: everyone else arrives while it runs
        return {"id": 1}

    def read(_):
        start.wait()
        return cache.get_or_load(key, loader, ttl=60)

    with ThreadPoolExecutor(64) as pool:
        results = list(pool.map(read, range(64)))

    assert calls == 1
    assert all(r.value == {"id": 1} for r in results)
    statuses = [r.status for r in results]
    assert statuses.count(CacheStatus.MISS) == 1
    assert set(statuses) <= {CacheStatus.MISS, CacheStatus.WAITED, CacheStatus.HIT}
    counts = cache.metrics.snapshot()
    assert counts[CACHE_MISS] == 1 and counts[CACHE_LOADER_WAIT] >= 1


def test_waiters_give_up_after_the_wait_budget_and_read_the_database_themselves(make_cache, redis_client):
    cache = make_cache(cache_wait_ms=100)
    key = cache.keys.key("product", 2)
    redis_client.set(key + ":lease", "a-stuck-loader", px=10_000)
    started = time.monotonic()
    result = cache.get_or_load(key, lambda _ep: {"id": 2}, ttl=60)
    assert result.status is CacheStatus.MISS and result.value == {"id": 2}
    assert time.monotonic() - started < 0.5
    assert not redis_client.exists(key)  # only the lease holder may store


def test_a_waiter_takes_over_when_the_loader_fails(make_cache):
    cache = make_cache(cache_wait_ms=3000)
    key = cache.keys.key("product", 3)
    inside = threading.Event()

    def failing(_endpoint):
        inside.set()
        time.sleep(0.1)
        raise RuntimeError("db hiccup")

    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(cache.get_or_load, key, failing, 60)
        inside.wait(2)
        second = cache.get_or_load(key, lambda _ep: {"id": 3}, ttl=60)
        with pytest.raises(RuntimeError):
            first.result()
    assert second.value == {"id": 3} and second.status is CacheStatus.MISS


def test_stale_set_race_a_reader_blocked_in_the_loader_across_a_write_never_leaves_the_old_value(
    make_cache, items
):
    """Reader loads 'old', stalls; a write commits 'new' and returns; the reader then tries to store
    'old'. The lease was revoked by the write's invalidation, so the store is refused."""
    reader_cache, writer_cache = make_cache(), make_cache()
    key = reader_cache.keys.key("item", 1)
    loaded_old = threading.Event()
    write_done = threading.Event()

    def slow_loader(endpoint):
        row = load_item(items, endpoint)
        loaded_old.set()
        write_done.wait(5)
        return row

    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(reader_cache.get_or_load, key, slow_loader, 60)
        assert loaded_old.wait(5)
        rename(writer_cache, items, "new", replicate=True)
        write_done.set()
        stale_read = pending.result(5)

    assert stale_read.value == {"id": 1, "name": "old"}  # it started before the write returned
    after = writer_cache.get_or_load(key, lambda ep: load_item(items, ep), ttl=60)
    assert after.value == {"id": 1, "name": "new"}
    assert reader_cache.get_or_load(key, lambda ep: load_item(items, ep), ttl=60).value["name"] == "new"


def test_a_refresh_in_flight_across_a_write_cannot_store_the_old_value(make_cache, items, redis_client):
    cache = make_cache(cache_stale_seconds=60)
    key = cache.keys.key("item", 1)
    cache.get_or_load(key, lambda ep: load_item(items, ep), ttl=0.05)
    time.sleep(0.08)
    loaded = threading.Event()
    go = threading.Event()

    def slow(endpoint):
        row = load_item(items, endpoint)
        loaded.set()
        go.wait(5)
        return row

    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(cache.get_or_load, key, slow, 60)
        assert loaded.wait(5)
        rename(cache, items, "new", replicate=True)
        go.set()
        pending.result(5)
    assert cache.get_or_load(key, lambda ep: load_item(items, ep), ttl=60).value["name"] == "new"


def test_many_concurrent_writes_and_reads_end_with_the_last_committed_value(make_cache, items):
    cache = make_cache(cache_wait_ms=2000)
    key = cache.keys.key("item", 1)
    stop = threading.Event()

    def write_all():
        from cachelib import Database

        own_db = Database(items.settings)
        try:
            for i in range(30):
                rename(cache, own_db, f"name-{i}", replicate=True)
                got = cache.get_or_load(key, lambda ep: load_item(own_db, ep), ttl=60).value["name"]
                assert got == f"name-{i}"
        finally:
            own_db.close()

    def reader_with_own_db():
        from cachelib import Database

        own_db = Database(items.settings)
        try:
            while not stop.is_set():
                cache.get_or_load(key, lambda ep: load_item(own_db, ep), ttl=60)
        finally:
            own_db.close()

    with ThreadPoolExecutor(5) as pool:
        readers = [pool.submit(reader_with_own_db) for _ in range(4)]
        try:
            pool.submit(write_all).result(60)
        finally:
            stop.set()
        for r in readers:
            r.result(10)
    assert cache.get_or_load(key, lambda ep: load_item(items, ep), ttl=60).value["name"] == "name-29"
