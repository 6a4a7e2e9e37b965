"""Writes on a real memcached: a write during a load makes the fill fail, write-through races, version
counters. Each guarantee also runs with its protection switched off and must then fail.

The oracle is the fault suite's (``fault_support.Oracle``): a read that starts after a write returned must
never see an older version.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fault_support import Oracle, create_items, item_key, load_version, read_version, record, write_version

import cachelib.memcached_backend as mc
from cachelib import Cache, CacheStatus, Database

pytest_plugins = ["memcached_fixtures"]
pytestmark = pytest.mark.fault


def load_across_a_write(cache: Cache, settings, *, write_inside_fill: bool) -> int | None:
    """A reader loads version 1 and stalls; a write commits 2 and returns; then the reader fills. With
    ``write_inside_fill`` the write lands between the fill's ``gets`` and its store (the window only the
    CAS closes), else while the loader runs (the lease placeholder is gone by the fill). Returns what a read
    that starts after the write returned gets."""
    writer = Database(settings)
    loaded, written = threading.Event(), threading.Event()

    def slow_old_load(endpoint):
        reader = Database(settings)
        try:
            value = load_version(reader, endpoint, 1)
        finally:
            reader.close()
        loaded.set()
        if not write_inside_fill:
            written.wait(5)
        return value

    def write() -> None:
        write_version(cache, writer, 1, 2)
        written.set()

    if write_inside_fill:
        real_store = mc._store

        def store_after_a_racing_write(client, key, entry, cas, hard_ms):
            write()
            return real_store(client, key, entry, cas, hard_ms)

        mc._store = store_after_a_racing_write  # restored by the caller's monkeypatch
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(cache.get_or_load, item_key(cache, 1), slow_old_load, 300)
        assert loaded.wait(5)
        if not write_inside_fill:
            write()
        assert pending.result(10).value == 1  # it began before the write returned: fine to answer 1
    assert written.is_set()
    after = read_version(cache, writer, 1)
    writer.close()
    return after


def set_instead_of_cas(client, key, entry, cas, hard_ms):
    """Sabotage: the fill's store without its compare-and-swap."""
    return client.set(key, entry, expire=mc.expiry(hard_ms))


def test_a_write_while_the_loader_runs_makes_its_fill_fail(make_mc_cache, mc_settings, mysql_server):
    create_items(mysql_server, 1)
    assert load_across_a_write(make_mc_cache(), mc_settings, write_inside_fill=False) == 2


def test_sabotage_a_fill_without_its_lease_check_stores_the_old_row_after_the_write(
    make_mc_cache, mc_settings, mysql_server, monkeypatch
):
    def fenceless_fill(client, key, lease, token, entry, hard_ms):
        client.set(mc.wire_key(key), entry, expire=mc.expiry(hard_ms))
        return True

    monkeypatch.setattr(mc.MemcachedBackend, "_fill", staticmethod(fenceless_fill))
    create_items(mysql_server, 1)
    assert load_across_a_write(make_mc_cache(), mc_settings, write_inside_fill=False) == 1


def test_a_write_between_the_fills_gets_and_its_store_makes_the_cas_fail(
    make_mc_cache, mc_settings, mysql_server, monkeypatch
):
    monkeypatch.setattr(mc, "_store", mc._store)  # so the test's hook is undone afterwards
    create_items(mysql_server, 1)
    assert load_across_a_write(make_mc_cache(), mc_settings, write_inside_fill=True) == 2


def test_sabotage_with_set_instead_of_cas_the_old_row_lands_after_the_write(
    make_mc_cache, mc_settings, mysql_server, monkeypatch
):
    monkeypatch.setattr(mc, "_store", set_instead_of_cas)
    create_items(mysql_server, 1)
    assert load_across_a_write(make_mc_cache(), mc_settings, write_inside_fill=True) == 1


def refresh_across_a_write(cache: Cache, db: Database, settings, mysql_server) -> int | None:
    """A soft-expired entry is refreshed by a loader that reads version 1 and stalls; a write commits 2 and
    returns; then the refresher fills. Returns what a read that starts afterwards gets."""
    create_items(mysql_server, 1)
    key = item_key(cache, 1)
    cache.get_or_load(key, lambda ep: load_version(db, ep, 1), ttl=0.01)
    time.sleep(0.05)  # soft-expired: the next read refreshes while others are served stale
    loaded, go = threading.Event(), threading.Event()

    def slow_refresh(endpoint):
        value = load_version(db, endpoint, 1)
        loaded.set()
        go.wait(5)
        return value

    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(cache.get_or_load, key, slow_refresh, 300)
        assert loaded.wait(5)
        write_version(cache, Database(settings), 1, 2)
        go.set()
        assert pending.result(5).value == 1
    return read_version(cache, db, 1)


def test_a_refresh_across_a_write_cannot_store_the_old_value(make_mc_cache, mc_db, mc_settings, mysql_server):
    cache = make_mc_cache(cache_stale_seconds=60)
    assert refresh_across_a_write(cache, mc_db, mc_settings, mysql_server) == 2


def test_sabotage_a_refresh_fill_without_its_fence_stores_the_old_value(
    make_mc_cache, mc_db, mc_settings, mysql_server, monkeypatch
):
    def unfenced(client, key, lease, token, entry, hard_ms):
        return client.set(mc.wire_key(key), entry, expire=mc.expiry(hard_ms))

    monkeypatch.setattr(mc.MemcachedBackend, "_fill", staticmethod(unfenced))
    cache = make_mc_cache(cache_stale_seconds=60)
    assert refresh_across_a_write(cache, mc_db, mc_settings, mysql_server) == 1


# --- write-through ----------------------------------------------------------------------------------------


def bump(cache: Cache, db: Database, item: int) -> int:
    def statement(cur) -> int:
        cur.execute("UPDATE fault_items SET version = version + 1 WHERE id = %s", (item,))
        cur.execute("SELECT version FROM fault_items WHERE id = %s", (item,))  # under the row lock
        return int(cur.fetchone()[0])

    key = item_key(cache, item)
    return cache.write(db, statement, keys=[key], write_through=lambda version: {key: version})


def concurrent_writers(make_mc_cache, settings, mysql_server, *, protected: bool) -> Oracle:
    """4 writers bump one row with write-through while 2 readers check every read against the versions
    whose writes had returned."""
    create_items(mysql_server, 1)
    cache = make_mc_cache()
    oracle, stop = Oracle(), threading.Event()

    def writer() -> None:
        own = Database(settings)
        for _ in range(30):
            oracle.wrote(1, bump(cache, own, 1))
        own.close()

    def reader() -> None:
        own = Database(settings)
        while not stop.is_set():
            floor = oracle.floor(1)
            oracle.saw(1, floor, read_version(cache, own, 1))
        own.close()

    with ThreadPoolExecutor(6) as pool:
        readers = [pool.submit(reader) for _ in range(2)]
        for done in [pool.submit(writer) for _ in range(4)]:
            done.result(60)
        oracle.saw(1, oracle.floor(1), read_version(cache, Database(settings), 1))  # the end state
        stop.set()
        for done in readers:
            done.result(10)
    record("memcached write-through: 4 writers racing stores on one row, 2 readers", protected, oracle)
    return oracle


def test_racing_write_through_stores_never_leave_an_older_version_cached(
    make_mc_cache, mc_settings, mysql_server
):
    oracle = concurrent_writers(make_mc_cache, mc_settings, mysql_server, protected=True)
    assert oracle.reads > 50 and oracle.violations == []


def test_sabotage_stores_without_the_claim_check_leave_older_versions_cached(
    make_mc_cache, mc_settings, mysql_server, monkeypatch
):
    def store_regardless(self, client, wire, item):
        return client.set(wire, item.entry, expire=mc.expiry(item.hard_ms))

    monkeypatch.setattr(mc.MemcachedBackend, "_store_claimed", store_regardless)
    violations = []
    for _ in range(5):  # the losing interleaving needs a late store: give it a few rounds
        violations += concurrent_writers(make_mc_cache, mc_settings, mysql_server, protected=False).violations
        if violations:
            break
    assert violations


def test_after_a_write_through_the_next_read_is_a_hit_and_an_invalidation_voids_an_older_claim(
    make_mc_cache, mc_db, mysql_server
):
    create_items(mysql_server, 1)
    cache = make_mc_cache()
    assert read_version(cache, mc_db, 1) == 1
    assert bump(cache, mc_db, 1) == 2
    result = cache.get_or_load(item_key(cache, 1), lambda ep: load_version(mc_db, ep, 1), ttl=300)
    assert (result.status, result.value) == (CacheStatus.HIT, 2)
    key = item_key(cache, 1)
    claims = cache.claim_write_through(key)
    cache.invalidate(key)  # a newer write, in invalidate mode
    assert cache.write_through({key: 99}, claims) == {key: False}
    assert read_version(cache, mc_db, 1) == 2


# --- version counters -------------------------------------------------------------------------------------


def page_read(cache: Cache, db: Database) -> tuple[int, int]:
    """A "list page" of item 1 under its version counter: ``(version number, the item's version)``."""
    version = cache.versions.current(cache.keys.version_key("items", "all"))
    key = cache.keys.key("items", page=1, v=version.number)
    return version.number, cache.get_or_load(key, lambda ep: load_version(db, ep, 1), ttl=300).value


def evicted_counter(cache: Cache, db: Database, memcached_server) -> int:
    """A page is cached, a write bumps the counter, the counter is evicted; returns what the page shows."""
    number, shown = page_read(cache, db)
    assert shown == 1
    cache.write(
        db,
        lambda cur: cur.execute("UPDATE fault_items SET version = 2 WHERE id = 1"),
        version_keys=[cache.keys.version_key("items", "all")],
    )
    assert page_read(cache, db)[0] == number + 1
    memcached_server.command(f"delete {mc.wire_key(cache.keys.version_key('items', 'all'))}")  # evicted
    return page_read(cache, db)[1]


def test_an_evicted_version_counter_comes_back_larger_and_never_resurrects_an_old_page(
    make_mc_cache, mc_db, mysql_server, memcached_server
):
    create_items(mysql_server, 1)
    assert evicted_counter(make_mc_cache(), mc_db, memcached_server) == 2


def test_sabotage_a_counter_recreated_from_a_fixed_start_serves_the_old_page(
    make_mc_cache, mc_db, mysql_server, memcached_server, monkeypatch
):
    monkeypatch.setattr(mc, "counter_start", lambda: 1_000)
    create_items(mysql_server, 1)
    assert evicted_counter(make_mc_cache(), mc_db, memcached_server) == 1
