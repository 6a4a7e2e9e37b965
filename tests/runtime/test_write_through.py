"""Write-through: after a write the next read is a hit with the new value, and no stale fill and no
older write's late store can ever overwrite it. Each race runs with its protection switched off too."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from fault_support import Oracle, create_items, item_key, load_version, read_version, record

from cachelib import Cache, CacheStatus, Database, scripts

pytestmark = pytest.mark.fault


def bump(cache: Cache, db: Database, item: int, *, through: bool = True) -> int:
    """Add one to the item's version, with write-through (or invalidation); returns the committed version."""

    def statement(cur) -> int:
        cur.execute("UPDATE fault_items SET version = version + 1 WHERE id = %s", (item,))
        cur.execute("SELECT version FROM fault_items WHERE id = %s", (item,))  # under the row lock
        return int(cur.fetchone()[0])

    return cache.write(
        db,
        statement,
        keys=[item_key(cache, item)],
        write_through=(lambda version: {item_key(cache, item): version}) if through else None,
    )


def test_after_a_write_through_the_next_read_is_a_hit_with_the_new_value(make_cache, db, mysql_server):
    create_items(mysql_server, 1)
    cache = make_cache()
    assert read_version(cache, db, 1) == 1
    assert bump(cache, db, 1) == 2
    result = cache.get_or_load(item_key(cache, 1), lambda ep: load_version(db, ep, 1), ttl=300)
    assert (result.status, result.value) == (CacheStatus.HIT, 2)


def stale_fill_race(make_cache, db, mysql_server, monkeypatch, *, protected: bool) -> int:
    """A reader loads version 1, a write-through stores 2, then the reader tries to fill 1. Returns what
    the cache serves afterwards."""
    if not protected:  # sabotage: a write-through store that leaves outstanding leases alone
        monkeypatch.setattr(
            scripts, "WRITE_THROUGH", scripts.WRITE_THROUGH.replace("redis.call('DEL', KEYS[2])", "")
        )
    create_items(mysql_server, 1)
    cache = make_cache()
    loaded, release = threading.Event(), threading.Event()

    def slow_old_load(endpoint):
        value = load_version(db_reader, endpoint, 1)
        loaded.set()
        release.wait(5)
        return value

    db_reader = Database(db.settings)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(cache.get_or_load, item_key(cache, 1), slow_old_load, 300)
        assert loaded.wait(5)
        assert bump(cache, db, 1) == 2
        release.set()
        assert pending.result(5).value == 1  # its own read began before the write: fine to return
    db_reader.close()
    return read_version(cache, db, 1)


def test_a_stale_fill_racing_a_write_through_store_never_wins(make_cache, db, mysql_server, monkeypatch):
    assert stale_fill_race(make_cache, db, mysql_server, monkeypatch, protected=True) == 2


def test_sabotage_without_lease_revocation_the_stale_fill_overwrites_the_store(
    make_cache, db, mysql_server, monkeypatch
):
    assert stale_fill_race(make_cache, db, mysql_server, monkeypatch, protected=False) == 1


def concurrent_writers(make_cache, settings, mysql_server, monkeypatch, *, protected: bool) -> Oracle:
    """4 writers bump one row with write-through while 2 readers check every read against the versions
    whose writes had returned. Stores race each other; only the last claim may store."""
    if not protected:  # sabotage: store whatever the claim says
        monkeypatch.setattr(
            scripts,
            "WRITE_THROUGH",
            scripts.WRITE_THROUGH.replace("redis.call('GET', KEYS[3]) == ARGV[1]", "true"),
        )
    create_items(mysql_server, 1)
    cache = make_cache()
    oracle = Oracle()
    stop = threading.Event()

    def writer() -> None:
        own = Database(settings)
        for _ in range(40):
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
        floor = oracle.floor(1)
        oracle.saw(1, floor, read_version(cache, Database(settings), 1))  # the end state
        stop.set()
        for done in readers:
            done.result(10)
    record("write-through: 4 writers racing stores on one row, 2 readers", protected, oracle)
    return oracle


def test_racing_write_through_stores_never_leave_an_older_version_cached(
    make_cache, settings, mysql_server, monkeypatch
):
    oracle = concurrent_writers(make_cache, settings, mysql_server, monkeypatch, protected=True)
    assert oracle.reads > 100 and oracle.violations == []


def test_sabotage_stores_without_the_claim_check_leave_older_versions_cached(
    make_cache, settings, mysql_server, monkeypatch
):
    violations = []
    for _ in range(5):  # the losing interleaving needs a late store: give it a few rounds
        violations += concurrent_writers(
            make_cache, settings, mysql_server, monkeypatch, protected=False
        ).violations
        if violations:
            break
    assert violations


def test_an_invalidation_voids_an_older_write_through_claim(make_cache, db, mysql_server):
    """A write-through claimed, then an invalidating write to the same key: the late store must not land."""
    create_items(mysql_server, 1)
    cache = make_cache()
    key = item_key(cache, 1)
    claims = cache.claim_write_through(key)
    cache.invalidate(key)  # a newer write, in invalidate mode
    assert cache.write_through({key: 99}, claims) == {key: False}
    assert read_version(cache, db, 1) == 1
