"""Liveness under slow and hung dependencies: stampedes stay single with slow queries, and a hung database
costs one refresher a wait while everybody else is served stale at once.

* **Slow loader**: 32 concurrent misses on one key whose query takes 1.5 s (``SELECT SLEEP`` on the real
  MariaDB). The lease holder renews its lease while loading and the others wait for it: one query.
* **Hung database**: ``mariadbd`` frozen with SIGSTOP (it accepts TCP connections and never answers).
  Soft-expired entries are served stale at once; only the caller that took a key's lease waits for the
  database, and after its failure this container stops trying for a moment.

Each runs with its protection switched off too, and must then show the failure.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

import pytest
from fault_support import Oracle, create_items, record

from cachelib import Cache, CacheStatus, Database, ReadEndpoint
from cachelib.leases import LeaseKeeper

pytestmark = pytest.mark.fault

SLOW_QUERY_SECONDS = 1.5
STAMPEDE = 32


def stampede_scenario(settings, mysql_server, monkeypatch, **overrides) -> int:
    """How many times the 1.5 s query ran for 32 concurrent misses on one key."""
    create_items(mysql_server, 1)
    cache_settings = dataclasses.replace(settings, **overrides)
    cache = Cache.from_settings(cache_settings)
    queries = 0
    lock = threading.Lock()
    barrier = threading.Barrier(STAMPEDE)

    def slow_load(db: Database, endpoint: ReadEndpoint) -> int:
        nonlocal queries
        with lock:
            queries += 1
        with db.cursor(endpoint) as cur:
            cur.execute("SELECT SLEEP(%s), version FROM fault_items WHERE id = 1", (SLOW_QUERY_SECONDS,))
            return int(cur.fetchone()[1])

    def read(_: int) -> int:
        db = Database(cache_settings)
        try:
            barrier.wait()
            return cache.get_or_load(cache.keys.key("item", 1), lambda ep: slow_load(db, ep), ttl=60).value
        finally:
            db.close()

    try:
        with ThreadPoolExecutor(STAMPEDE) as pool:
            assert list(pool.map(read, range(STAMPEDE))) == [1] * STAMPEDE
    finally:
        cache.close()
    oracle = Oracle()
    oracle.reads = STAMPEDE
    oracle.violations = [(1, 1, 1)] * (queries - 1)  # every query beyond the first
    label = ", ".join(f"{name}={value}" for name, value in overrides.items())
    record(f"32 concurrent misses, 1.5 s query ({label})", queries == 1, oracle, queries=queries)
    return queries


def test_a_stampede_on_a_slow_query_runs_it_once_with_leases_shorter_than_the_query(
    settings, mysql_server, monkeypatch
):
    """A 500 ms lease on a 1.5 s query: the holder's renewals keep it, the waiters wait for it."""
    assert stampede_scenario(settings, mysql_server, monkeypatch, cache_lease_ms=500) == 1


def test_sabotage_without_lease_renewal_a_lapsed_lease_lets_waiters_run_the_query_again(
    settings, mysql_server, monkeypatch
):
    monkeypatch.setattr(LeaseKeeper, "holding", lambda self, lease, token: nullcontext())
    assert stampede_scenario(settings, mysql_server, monkeypatch, cache_lease_ms=500) > 1


def test_sabotage_with_the_old_one_second_wait_waiters_give_up_and_query_themselves(
    settings, mysql_server, monkeypatch
):
    assert stampede_scenario(settings, mysql_server, monkeypatch, cache_wait_ms=1000) == STAMPEDE


# --- hung database --------------------------------------------------------------------------------------

KEYS = 20
THREADS = 8
READS_PER_THREAD = 20
SLOW_READ_SECONDS = 0.5


def hung_database_scenario(
    settings, mysql_outage, *, protected: bool, reads_per_thread: int = READS_PER_THREAD
) -> tuple[int, int, bool]:
    """Returns (reads, reads slower than 0.5 s, whether every read was served the stale value)."""
    create_items(mysql_outage, KEYS)
    cache_settings = dataclasses.replace(settings, db_read_timeout_seconds=2, db_connect_timeout_seconds=1)
    cache = Cache.from_settings(cache_settings)
    if not protected:  # the library before: a failed refresher released its lease and nobody paused
        cache.refresh_pause_seconds = 0.0
        cache._renew = lambda lease, token: cache.redis.client().delete(lease)  # type: ignore[method-assign]
    warm_db = Database(cache_settings)
    for item in range(1, KEYS + 1):  # cached with a fresh lifetime that is over at once: soft-expired
        cache.get_or_load(cache.keys.key("item", item), lambda ep, i=item: {"item": i}, ttl=0.001)
    warm_db.close()
    time.sleep(0.01)
    durations: list[float] = []
    all_stale = True
    lock = threading.Lock()

    def reader(offset: int) -> None:
        nonlocal all_stale
        db = Database(cache_settings)
        for n in range(reads_per_thread):
            item = (offset + n) % KEYS + 1

            def load(endpoint: ReadEndpoint, item: int = item) -> dict:
                with db.cursor(endpoint) as cur:
                    cur.execute("SELECT version FROM fault_items WHERE id = %s", (item,))
                return {"item": item}

            started = time.monotonic()
            result = cache.get_or_load(cache.keys.key("item", item), load, ttl=60)
            with lock:
                durations.append(time.monotonic() - started)
                all_stale &= result.status is CacheStatus.STALE and result.value == {"item": item}
        db.close()

    assert mysql_outage.proc is not None
    os.kill(mysql_outage.proc.pid, signal.SIGSTOP)  # hung: accepts connections, never answers
    try:
        threads = [threading.Thread(target=reader, args=(i * 3,)) for i in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    finally:
        os.kill(mysql_outage.proc.pid, signal.SIGCONT)
        cache.close()
    slow = sum(1 for d in durations if d > SLOW_READ_SECONDS)
    oracle = Oracle()
    oracle.reads = len(durations)
    oracle.violations = [(0, 0, 0)] * slow  # a read that waited on the hung database counts as a violation
    record("MySQL frozen (SIGSTOP), soft-expired entries", protected, oracle, slow_reads=slow)
    return len(durations), slow, all_stale


def test_a_hung_database_costs_one_wait_per_refresher_and_every_other_read_is_served_stale_at_once(
    settings, mysql_outage
):
    reads, slow, all_stale = hung_database_scenario(settings, mysql_outage, protected=True)
    assert reads == THREADS * READS_PER_THREAD and all_stale
    assert slow <= THREADS  # at most the first refresher on each thread, before the first failure returned


def test_sabotage_releasing_the_lease_after_a_failed_refresh_makes_reads_wait_on_the_hung_database(
    settings, mysql_outage
):
    reads, slow, all_stale = hung_database_scenario(
        settings, mysql_outage, protected=False, reads_per_thread=5
    )
    assert all_stale
    assert slow > reads // 2  # most reads waited for the database's timeout
