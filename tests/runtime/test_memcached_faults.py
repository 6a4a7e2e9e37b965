"""memcached under faults: killed, restarted empty, frozen, a lease evicted (a node of a ring:
``test_memcached_ring.py``).

Each guarantee runs with its protection and, where it has one to switch off, without it (and must then
fail), as the Redis fault suite does. The figures go to ``$FAULT_RESULTS`` (``make fault-results``).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fault_support import Oracle, create_items, item_key, load_version, read_version, record, write_version
from pymemcache.client.hash import HashClient

import cachelib.memcached_backend as mc
from cachelib import BreakerState, Cache, CacheStatus, Database, InvalidationFailed, Settings
from caching_contract.metrics import CACHE_ERROR, CACHE_MISS

pytest_plugins = ["memcached_fixtures"]
pytestmark = pytest.mark.fault


def plain_hash_client(settings: Settings, **overrides: object) -> HashClient:
    """Sabotage: pymemcache's own HashClient, which answers a failing node's keys with defaults (a ``get``
    reads as a miss) and takes the node out of the ring, so its keys move to another node."""
    kwargs: dict[str, object] = {
        "connect_timeout": settings.memcached_connect_timeout_ms / 1000,
        "timeout": settings.memcached_timeout_ms / 1000,
        "use_pooling": True,
        "default_noreply": False,
        **overrides,
    }
    return HashClient(list(settings.cache_nodes), **kwargs)


def statuses(cache: Cache, db: Database, items: range) -> list[CacheStatus]:
    return [
        cache.get_or_load(item_key(cache, i), lambda ep, i=i: load_version(db, ep, i)).status for i in items
    ]


def cache_for(settings: Settings, *, protected: bool, **client_overrides: object) -> Cache:
    if protected:
        return Cache.from_settings(settings)
    return Cache(lambda: plain_hash_client(settings, **client_overrides), settings)


def outage_and_restart(settings: Settings, db: Database, server, *, protected: bool) -> tuple[Oracle, bool]:
    """20 items read (cached), memcached SIGKILLed, read again, restarted empty, read again. Violations: an
    outage read counted as a miss, failed, slower than 1 s or wrong. Returns (oracle, whether the
    container was back on the cache after the restart)."""
    cache = cache_for(settings, protected=protected)
    oracle = Oracle()
    try:
        for item in range(1, 21):
            assert read_version(cache, db, item) == 1
        server.kill()
        misses = cache.metrics.snapshot()[CACHE_MISS]
        for item in range(1, 21):
            started = time.monotonic()
            try:
                value = read_version(cache, db, item)
            except Exception:  # a read the database could answer failed because of the cache
                value = None
            oracle.saw(item, 1, value if time.monotonic() - started < 1.0 else None)
        counted_as_miss = cache.metrics.snapshot()[CACHE_MISS] - misses
        oracle.violations += [(0, 0, 0)] * counted_as_miss
        assert protected is False or cache.breaker.state is BreakerState.OPEN
        server.start()  # empty
        time.sleep(settings.breaker_reset_seconds + 0.1)
        seen = statuses(cache, db, range(1, 21)) + statuses(cache, db, range(1, 21))  # refilled, then hits
        back = seen.count(CacheStatus.HIT) == 20 and cache.breaker.state is BreakerState.CLOSED
    finally:
        cache.close()
    record("memcached SIGKILL, reads, restart empty (20 items)", protected, oracle, back_on_cache=back)
    return oracle, back


def test_a_killed_memcached_is_an_outage_never_a_miss_and_the_cache_comes_back(
    mc_settings, mc_db, mysql_server, memcached_server
):
    create_items(mysql_server, 20)
    settings = dataclasses.replace(mc_settings, breaker_reset_seconds=1)  # opens after 5 failures
    oracle, back = outage_and_restart(settings, mc_db, memcached_server, protected=True)
    assert oracle.reads == 20 and oracle.violations == [] and back


def test_the_breaker_counts_every_outage_read_as_an_error(
    make_mc_cache, mc_db, mysql_server, memcached_server
):
    create_items(mysql_server, 5)
    cache = make_mc_cache(breaker_failures=3, breaker_reset_seconds=1)
    memcached_server.kill()
    started = time.monotonic()
    assert statuses(cache, mc_db, range(1, 6)) == [CacheStatus.BYPASS] * 5
    assert [read_version(cache, mc_db, i) for i in range(1, 6)] == [1] * 5
    counts = cache.metrics.snapshot()
    assert (counts[CACHE_ERROR], counts[CACHE_MISS]) == (10, 0) and time.monotonic() - started < 2.0


def test_sabotage_with_pymemcaches_own_failover_outage_reads_fail_or_count_as_misses(
    mc_settings, mc_db, mysql_server, memcached_server
):
    create_items(mysql_server, 20)
    settings = dataclasses.replace(mc_settings, breaker_reset_seconds=1)  # opens after 5 failures
    oracle, _back = outage_and_restart(settings, mc_db, memcached_server, protected=False)
    assert oracle.violations  # a failing node's get answers None (a "miss"), its gets None (a TypeError)


def test_a_restarted_empty_memcached_serves_no_stale_value(
    make_mc_cache, mc_db, mc_settings, mysql_server, memcached_server
):
    """A write while memcached is down raises (saved, not confirmed); after an empty restart every read is
    the new row, and the repeated write confirms."""
    create_items(mysql_server, 1)
    cache = make_mc_cache(breaker_failures=3, breaker_reset_seconds=1)
    assert read_version(cache, mc_db, 1) == 1
    memcached_server.kill()
    with pytest.raises(InvalidationFailed):
        write_version(cache, mc_db, 1, 2)
    memcached_server.start()
    time.sleep(1.1)
    assert read_version(cache, mc_db, 1) == 2
    write_version(cache, mc_db, 1, 2)  # the client's retry: confirmed now
    assert read_version(cache, mc_db, 1) == 2


def frozen_latencies(settings: Settings, db: Database, server) -> tuple[list[float], bool]:
    """Request latencies while memcached is frozen (SIGSTOP) for 3 s, and whether the container is back on
    the cache after SIGCONT."""
    cache = Cache.from_settings(settings)
    latencies: list[float] = []
    try:
        for item in range(1, 11):
            read_version(cache, db, item)
        assert server.proc is not None
        os.kill(server.proc.pid, signal.SIGSTOP)
        try:
            deadline, item = time.monotonic() + 3.0, 1
            while time.monotonic() < deadline:
                started = time.monotonic()
                assert read_version(cache, db, item) == 1  # the database answers what the cache cannot
                latencies.append(time.monotonic() - started)
                item = item % 10 + 1
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
        time.sleep(2 * settings.breaker_reset_seconds + 0.2)
        seen = statuses(cache, db, range(1, 11))
        back = CacheStatus.HIT in seen and cache.breaker.state is BreakerState.CLOSED
    finally:
        cache.close()
    oracle = Oracle()
    for latency in latencies:
        oracle.saw(0, 1, 0 if latency > 1.0 else 1)
    protected = settings.memcached_timeout_ms < 1000
    record("memcached frozen (SIGSTOP) 3 s under reads", protected, oracle, back_on_cache=back)
    return latencies, back


def test_a_frozen_memcached_costs_each_read_at_most_a_timeout_and_the_cache_comes_back(
    mc_settings, mc_db, mysql_server, memcached_server
):
    create_items(mysql_server, 10)
    settings = dataclasses.replace(mc_settings, breaker_failures=3, breaker_reset_seconds=1)
    latencies, back = frozen_latencies(settings, mc_db, memcached_server)
    assert len(latencies) >= 20 and max(latencies) < 1.0 and back


def test_sabotage_with_long_timeouts_a_frozen_memcached_stalls_reads(
    mc_settings, mc_db, mysql_server, memcached_server
):
    create_items(mysql_server, 10)
    settings = dataclasses.replace(
        mc_settings, breaker_failures=3, breaker_reset_seconds=1, memcached_timeout_ms=5000
    )
    latencies, _back = frozen_latencies(settings, mc_db, memcached_server)
    assert max(latencies) > 1.0


# --- a lease evicted --------------------------------------------------------------------------------------


def evicted_lease(cache: Cache, db: Database, settings: Settings, server) -> tuple[int | None, int]:
    """A reader's lease placeholder is evicted while it loads version 1; a write commits 2 and returns; the
    reader fills. Returns (what a read afterwards gets, loads run)."""
    loads = 0
    loaded, go = threading.Event(), threading.Event()

    def slow_load(endpoint):
        nonlocal loads
        loads += 1
        value = load_version(db, endpoint, 1)
        loaded.set()
        go.wait(5)
        return value

    key = item_key(cache, 1)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(cache.get_or_load, key, slow_load, 300)
        assert loaded.wait(5)
        assert server.command(f"delete {mc.wire_key(key)}").strip() == "DELETED"  # what LRU may do
        write_version(cache, Database(settings), 1, 2)
        go.set()
        assert pending.result(5).value == 1
    return read_version(cache, db, 1), loads


def test_an_evicted_lease_only_refuses_the_fill(
    make_mc_cache, mc_db, mc_settings, mysql_server, memcached_server
):
    create_items(mysql_server, 1)
    after, loads = evicted_lease(make_mc_cache(), mc_db, mc_settings, memcached_server)
    assert (after, loads) == (2, 1)


def test_sabotage_a_fill_that_takes_a_lost_lease_for_permission_stores_the_old_row(
    make_mc_cache, mc_db, mc_settings, mysql_server, memcached_server, monkeypatch
):
    real_fill = mc.MemcachedBackend._fill

    def add_when_the_lease_is_gone(client, key, lease, token, entry, hard_ms):
        if client.get(mc.wire_key(key)) is None:
            return bool(client.add(mc.wire_key(key), entry, expire=mc.expiry(hard_ms)))
        return real_fill(client, key, lease, token, entry, hard_ms)

    monkeypatch.setattr(mc.MemcachedBackend, "_fill", staticmethod(add_when_the_lease_is_gone))
    create_items(mysql_server, 1)
    assert evicted_lease(make_mc_cache(), mc_db, mc_settings, memcached_server)[0] == 1


def test_an_evicted_lease_lets_a_second_reader_load_and_fill(
    make_mc_cache, mc_db, mysql_server, memcached_server
):
    """The cost of an evicted lease: one more load, exactly as on Redis; the first filler is refused."""
    create_items(mysql_server, 1)
    cache = make_mc_cache()
    key = item_key(cache, 1)
    loaded, go = threading.Event(), threading.Event()

    def slow_load(endpoint):
        value = load_version(mc_db, endpoint, 1)
        loaded.set()
        go.wait(5)
        return value

    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(cache.get_or_load, key, slow_load, 300)
        assert loaded.wait(5)
        memcached_server.command(f"delete {mc.wire_key(key)}")
        second = cache.get_or_load(key, lambda ep: 1, ttl=300)
        go.set()
        assert pending.result(5).value == 1
    assert second.status is CacheStatus.MISS  # it loaded too: the lease that stopped it was gone
    assert cache.get_or_load(key, lambda ep: 99, ttl=300).status is CacheStatus.HIT
