"""Read-after-write under the faults that used to break it, against real processes.

The guarantee: once ``Cache.write`` has returned, no read that starts afterwards returns the old value and
no old value is stored, whatever happens to the cache's own keys. Each scenario runs twice: with the
protection (it must see zero violations) and with that protection switched off (it must see some), so a
test that could not fail cannot pass unnoticed.

* **Redis restarted empty** while a real MariaDB replica lags behind the write (``MASTER_DELAY``).
* **Redis failover** to a replica whose replication link stalled before the write's invalidation arrived.
* **Memory pressure**: a tiny ``maxmemory`` with allkeys-lru, unrelated traffic evicting every kind of key,
  concurrent readers and writers, and a lagging replica.
* **The warmer** reading a lagging replica.
"""

from __future__ import annotations

import dataclasses
import random
import secrets
import threading
import time

import pymysql
import pytest
import redis
from fault_support import (
    Oracle,
    checked_read,
    create_items,
    item_key,
    protection_off,
    read_version,
    record,
    replicated_settings,
    write_version,
)
from servers import RedisServer, TcpProxy, find_binary, promote, redis_replication_info, start_redis

from cachelib import Cache, Database, InvalidationFailed, codec
from functions import catalog_schema, product_store
from functions.product_validation import ProductInput

pytest_plugins = ["fault_fixtures"]

pytestmark = pytest.mark.fault


# --- Redis restarted empty, replica lagging -------------------------------------------------------------


def restart_empty_scenario(
    settings, redis_server, mariadb_replicated, monkeypatch, *, protected: bool
) -> Oracle:
    oracle = Oracle()
    create_items(mariadb_replicated, 1)
    cache_settings = replicated_settings(settings, mariadb_replicated)
    with protection_off(monkeypatch, protected):
        cache, db = Cache.from_settings(cache_settings), Database(cache_settings)
        try:
            assert read_version(cache, db, 1) == 1  # cached
            mariadb_replicated.set_delay(2)
            write_version(cache, db, 1, 2)
            oracle.wrote(1, 2)
            redis_server.kill()  # every sidecar key is gone with it
            redis_server.start()
            deadline = time.monotonic() + 3.5  # past the replica's catch-up: a stale fill would now show
            while time.monotonic() < deadline:
                checked_read(oracle, cache, db, 1)
                time.sleep(0.01)
        finally:
            cache.close()
            db.close()
    record("Redis restarted empty, replica lagging 2 s", protected, oracle)
    return oracle


def test_redis_restarted_empty_while_the_replica_lags_never_serves_the_old_row(
    settings, redis_outage, mariadb_replicated, monkeypatch
):
    oracle = restart_empty_scenario(settings, redis_outage, mariadb_replicated, monkeypatch, protected=True)
    assert oracle.reads > 50 and oracle.violations == []


def test_sabotage_restart_empty_without_fresh_replica_reads_serves_the_old_row(
    settings, redis_outage, mariadb_replicated, monkeypatch
):
    oracle = restart_empty_scenario(settings, redis_outage, mariadb_replicated, monkeypatch, protected=False)
    assert len(oracle.violations) > oracle.reads // 2  # most reads after the restart were stale


# --- Redis failover to a replica that missed the invalidation -------------------------------------------


class StallableRedisPair:
    """A primary, a replica whose replication link runs through a proxy that can stall it, and a proxy
    playing ElastiCache's primary endpoint (``failover`` moves it to the promoted replica)."""

    def __init__(self, tmp_path) -> None:
        self.primary = start_redis(tmp_path / "primary")
        self.primary.cli("CONFIG", "SET", "repl-diskless-sync-delay", "0")
        self.link = TcpProxy((self.primary.host, self.primary.port)).start()
        self.replica = RedisServer(
            workdir=tmp_path / "replica",
            maxmemory_policy=self.primary.maxmemory_policy,
            extra_args=("--replicaof", self.link.host, str(self.link.port)),
        ).start()
        deadline = time.monotonic() + 10
        while redis_replication_info(self.replica).get("master_link_status") != "up":
            assert time.monotonic() < deadline, "replica never synced"
            time.sleep(0.02)
        self.endpoint = TcpProxy((self.primary.host, self.primary.port)).start()

    def wait_replicated(self) -> None:
        target = int(redis_replication_info(self.primary)["master_repl_offset"])
        deadline = time.monotonic() + 5
        while int(redis_replication_info(self.replica).get("slave_repl_offset", -1)) < target:
            assert time.monotonic() < deadline, "replica never caught up"
            time.sleep(0.01)

    def failover(self) -> None:
        self.primary.kill()
        promote(self.replica)
        self.endpoint.retarget(self.replica.host, self.replica.port)

    def stop(self) -> None:
        for proxy in (self.endpoint, self.link):
            proxy.stop()
        for server in (self.primary, self.replica):
            server.kill()


def failover_scenario(settings, mysql_server, tmp_path, *, protected: bool) -> tuple[Oracle, bool]:
    """Returns the oracle and whether the stalled write reported that it was not confirmed."""
    find_binary("redis-server")
    pair = StallableRedisPair(tmp_path)
    oracle = Oracle()
    create_items(mysql_server, 1)
    cache_settings = dataclasses.replace(
        settings,
        redis_host=pair.endpoint.host,
        redis_port=pair.endpoint.port,
        cache_replica_acks=1 if protected else 0,
        cache_replica_ack_ms=100,
    )
    cache, db = Cache.from_settings(cache_settings), Database(cache_settings)
    unconfirmed = False
    try:
        write_version(cache, db, 1, 2)  # a healthy write: confirmed by the replica
        oracle.wrote(1, 2)
        assert read_version(cache, db, 1) == 2  # cached, and replicated with the entry
        pair.wait_replicated()
        pair.link.pause()  # the replica stops hearing from the primary...
        try:
            write_version(cache, db, 1, 3)  # ...so this invalidation reaches only the primary
            oracle.wrote(1, 3)
        except InvalidationFailed:
            unconfirmed = True  # the write is saved but the caller was told it is not confirmed
        pair.failover()
        for _ in range(100):
            checked_read(oracle, cache, db, 1)
        if unconfirmed:
            # What the client does with "saved, not confirmed": retry. The retried write's invalidation
            # (on the promoted primary now) repairs the cache, and from then on the guarantee holds.
            cache.invalidate(item_key(cache, 1))
            oracle.wrote(1, 3)
            for _ in range(100):
                checked_read(oracle, cache, db, 1)
    finally:
        cache.close()
        db.close()
        pair.stop()
    record("Redis failover, replication link stalled before the write", protected, oracle)
    return oracle, unconfirmed


def test_a_failover_never_brings_back_a_value_a_returned_write_replaced(settings, mysql_server, tmp_path):
    oracle, unconfirmed = failover_scenario(settings, mysql_server, tmp_path, protected=True)
    assert unconfirmed, "a write whose invalidation no replica confirmed must not return as if it were done"
    assert oracle.reads == 200 and oracle.violations == []


def test_sabotage_without_replica_confirmation_a_failover_brings_back_the_old_value(
    settings, mysql_server, tmp_path
):
    oracle, unconfirmed = failover_scenario(settings, mysql_server, tmp_path, protected=False)
    assert not unconfirmed
    assert len(oracle.violations) == oracle.reads == 100  # every read after the failover was stale


# --- memory pressure: everything evictable, concurrent readers and writers, lagging replica -------------


def memory_pressure_scenario(
    settings, tmp_path, mariadb_replicated, monkeypatch, *, protected: bool
) -> tuple[Oracle, int]:
    items = 20
    small = start_redis(tmp_path / "redis-small", maxmemory="2mb", maxmemory_policy="allkeys-lru")
    oracle = Oracle()
    create_items(mariadb_replicated, items)
    mariadb_replicated.set_delay(1)
    cache_settings = replicated_settings(
        settings, mariadb_replicated, redis_host=small.host, redis_port=small.port, db_replica_wait_ms=50
    )
    stop = threading.Event()
    errors: list[BaseException] = []

    def guarded(fn):
        def run():
            try:
                fn()
            except BaseException as exc:  # surfaced by the test below
                errors.append(exc)
                stop.set()

        return run

    def flood() -> None:  # unrelated traffic: keeps the cache at maxmemory, so LRU evicts constantly
        client = redis.Redis(host=small.host, port=small.port)
        filler = secrets.token_bytes(2048)
        while not stop.is_set():
            pipe = client.pipeline(transaction=False)
            for _ in range(50):
                pipe.set(f"unrelated:{secrets.token_hex(6)}", filler)
            pipe.execute()
        client.close()

    with protection_off(monkeypatch, protected):
        cache = Cache.from_settings(cache_settings)

        def reader() -> None:
            db = Database(cache_settings)
            rng = random.Random()
            while not stop.is_set():
                item = min(items, int(rng.paretovariate(1.0)))  # Zipf-like: a few items are hot
                checked_read(oracle, cache, db, item)
            db.close()

        def writer() -> None:
            db = Database(cache_settings)
            rng = random.Random(7)
            version = 1
            while not stop.is_set():
                version += 1
                item = min(items, int(rng.paretovariate(1.0)))
                write_version(cache, db, item, version)
                oracle.wrote(item, version)
                time.sleep(0.05)
            db.close()

        threads = [threading.Thread(target=guarded(f)) for f in (flood, writer, reader, reader, reader)]
        for thread in threads:
            thread.start()
        time.sleep(4)
        stop.set()
        for thread in threads:
            thread.join(10)
        evicted = int(small.cli("INFO", "stats").split("evicted_keys:")[1].split()[0])
        cache.close()
    small.kill()
    if errors:
        raise errors[0]
    record(
        "allkeys-lru at 2 MB under unrelated traffic, replica lagging 1 s", protected, oracle, evicted=evicted
    )
    return oracle, evicted


def test_under_memory_pressure_with_every_key_evictable_no_read_sees_an_old_value(
    settings, tmp_path, mariadb_replicated, monkeypatch
):
    oracle, evicted = memory_pressure_scenario(
        settings, tmp_path, mariadb_replicated, monkeypatch, protected=True
    )
    assert evicted > 1000 and oracle.reads > 200
    assert oracle.violations == []


def test_sabotage_under_memory_pressure_without_fresh_replica_reads_old_values_are_served(
    settings, tmp_path, mariadb_replicated, monkeypatch
):
    oracle, evicted = memory_pressure_scenario(
        settings, tmp_path, mariadb_replicated, monkeypatch, protected=False
    )
    assert evicted > 1000
    assert len(oracle.violations) > 10


# --- the warmer reading a lagging replica ---------------------------------------------------------------


def warmer_scenario(settings, redis_server, mariadb_replicated, monkeypatch, *, protected: bool) -> str:
    """Product 1 is renamed while the replica lags 3 s; the warmer then runs. Returns the name a read sees
    afterwards, once the warmer's entry is in place."""
    from functions import cache_warmer

    admin = pymysql.connect(**mariadb_replicated.primary.connect_kwargs(), autocommit=True, charset="utf8mb4")
    try:
        catalog_schema.apply_schema(admin)
        catalog_schema.seed_products(admin, 5)
    finally:
        admin.close()
    mariadb_replicated.wait_caught_up()
    cache_settings = replicated_settings(settings, mariadb_replicated)
    with protection_off(monkeypatch, protected):
        cache, db = Cache.from_settings(cache_settings), Database(cache_settings)
        store = product_store.ProductStore(cache, db)
        try:
            before = store.get(1).value
            mariadb_replicated.set_delay(3)
            changed = ProductInput(
                name="Renamed", category=before["category"], price=before["price"], stock=1, description=""
            )
            store.replace(1, changed)
            cache.client().zadd(product_store.hot_products_key(cache), {"1": 10})
            result = cache_warmer.warm(cache, db, 1)
            assert result.requested == 1
            raw = cache.client().get(product_store.product_key(cache, 1))
            name = codec.decode_entry(raw)[2]["name"] if raw else "<not cached>"
            oracle = Oracle()
            oracle.saw(1, 1, 1 if name == "Renamed" else 0)
            record("warmer after a write, replica lagging 3 s", protected, oracle, stored=name)
            return name
        finally:
            cache.close()
            db.close()


def test_the_warmer_never_stores_a_row_older_than_a_returned_write_whatever_the_replica_lag(
    settings, redis_server, mariadb_replicated, monkeypatch
):
    assert (
        warmer_scenario(settings, redis_server, mariadb_replicated, monkeypatch, protected=True) == "Renamed"
    )


def test_sabotage_the_warmer_without_fresh_replica_reads_stores_the_old_row(
    settings, redis_server, mariadb_replicated, monkeypatch
):
    name = warmer_scenario(settings, redis_server, mariadb_replicated, monkeypatch, protected=False)
    assert name not in ("Renamed", "<not cached>")


# --- the MySQL writer killed: replicas answer, nothing unproven is stored --------------------------------


def writer_killed_scenario(settings, redis_server, mariadb_replicated, monkeypatch, *, protected: bool):
    """Returns (reads answered, misses that were stored) with the primary SIGKILLed and the replica up."""
    from cachelib import replication

    if not protected:  # sabotage: a replica read whose freshness was not proven counts as verified
        monkeypatch.setattr(replication, "mark_unverified", lambda: None)
    create_items(mariadb_replicated, 10)
    cache_settings = replicated_settings(settings, mariadb_replicated, db_connect_timeout_seconds=1)
    cache, db = Cache.from_settings(cache_settings), Database(cache_settings)
    try:
        assert read_version(cache, db, 1) == 1  # cached before the failure
        mariadb_replicated.primary.kill()
        answered = sum(read_version(cache, db, item) == 1 for item in range(1, 11))
        stored = sum(cache.client().exists(item_key(cache, item)) for item in range(2, 11))
    finally:
        cache.close()
        db.close()
    oracle = Oracle()
    oracle.reads = 9
    oracle.violations = [(0, 0, 0)] * stored  # an unproven replica read left in the cache
    record("MySQL writer SIGKILLed, replica up: misses", protected, oracle, answered=answered)
    return answered, stored


def test_with_the_writer_killed_the_replica_answers_but_nothing_unproven_is_stored(
    settings, redis_server, mariadb_replicated, monkeypatch
):
    answered, stored = writer_killed_scenario(
        settings, redis_server, mariadb_replicated, monkeypatch, protected=True
    )
    assert (answered, stored) == (10, 0)


def test_sabotage_with_the_writer_killed_unproven_replica_reads_are_cached(
    settings, redis_server, mariadb_replicated, monkeypatch
):
    answered, stored = writer_killed_scenario(
        settings, redis_server, mariadb_replicated, monkeypatch, protected=False
    )
    assert answered == 10 and stored == 9
