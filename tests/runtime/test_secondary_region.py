"""The secondary-region library (``CACHE_ROLE=secondary``) against real processes.

The topology stands in for two regions: a primary ``redis-server`` and a read-only replica (``REPLICAOF``,
the Global Datastore secondary) whose replication link runs through a proxy that can stall it, plus a
writer ``mariadbd`` and a replica applying its binlog with ``MASTER_DELAY`` (the cross-region RDS replica).
The secondary's clients reach only the two replicas; its "primary path" is the refill consumer, which fills
through the ordinary ``Cache.get_or_load`` on the primary.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator

import pytest
import redis
from fault_support import create_items, item_key, load_version, record, replicated_settings, write_version
from servers import RedisServer, redis_replication_info, start_redis
from tcp_proxy import TcpProxy

from cachelib import Cache, CacheStatus, Database
from cachelib.secondary import RefillQueue, SecondaryReads

pytest_plugins = ["fault_fixtures"]

pytestmark = pytest.mark.fault

WRITE_COMMANDS = frozenset(
    {"SET", "DEL", "EVALSHA", "EVAL", "INCR", "ZINCRBY", "UNLINK", "EXPIRE", "PUBLISH"}
)


class RecordingRedis(redis.Redis):
    """Every command name this client sends, to prove the secondary sends no write."""

    commands: list[str]

    def execute_command(self, *args, **options):
        self.commands.append(str(args[0]).upper())
        return super().execute_command(*args, **options)


class TwoRegionRedis:
    """A primary and a read-only replica replicating through a stallable link (Global Datastore's)."""

    def __init__(self, tmp_path) -> None:
        self.primary = start_redis(tmp_path / "primary")
        self.primary.cli("CONFIG", "SET", "repl-diskless-sync", "no")
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

    def wait_replicated(self, timeout: float = 5.0) -> None:
        target = int(redis_replication_info(self.primary)["master_repl_offset"])
        deadline = time.monotonic() + timeout
        while int(redis_replication_info(self.replica).get("slave_repl_offset", -1)) < target:
            assert time.monotonic() < deadline, "replica never caught up"
            time.sleep(0.01)

    def readonly_errors(self) -> int:
        stats = self.replica.cli("INFO", "errorstats")
        for line in stats.splitlines():
            if line.startswith("errorstat_READONLY:"):
                return int(line.split("count=")[1].split(",")[0])
        return 0

    def stop(self) -> None:
        self.link.stop()
        for server in (self.primary, self.replica):
            server.kill()


@pytest.fixture
def regions(tmp_path) -> Iterator[TwoRegionRedis]:
    pair = TwoRegionRedis(tmp_path)
    yield pair
    pair.stop()


@pytest.fixture
def primary_side(settings, regions, mariadb_replicated) -> Iterator[tuple[Cache, Database]]:
    # No replica acks: the primary region's own replicas are not part of this topology, and WAIT on the
    # cross-region link would make the write wait for the stall we inject.
    cache_settings = replicated_settings(
        settings, mariadb_replicated, redis_host=regions.primary.host, redis_port=regions.primary.port
    )
    cache, db = Cache.from_settings(cache_settings), Database(cache_settings)
    yield cache, db
    cache.close()
    db.close()


@pytest.fixture
def secondary_side(settings, regions, mariadb_replicated) -> Iterator[tuple[SecondaryReads, Database, list]]:
    """The secondary region's reader: its Redis is the replica, its database only the MariaDB replica."""
    replica_db = mariadb_replicated.replica
    cache_settings = dataclasses.replace(
        replicated_settings(settings, mariadb_replicated),
        redis_host=regions.replica.host,
        redis_port=regions.replica.port,
        db_writer_host=replica_db.host,
        db_port=replica_db.port,
        db_reader_host=replica_db.host,
        db_reader_port=replica_db.port,
        cache_role="secondary",
    )
    client = RecordingRedis(host=regions.replica.host, port=regions.replica.port)
    client.commands = []
    cache, db = Cache(client, cache_settings), Database(cache_settings)
    queued: list[str] = []
    reads = SecondaryReads(cache, RefillQueue(None, send=queued.append, dedup_seconds=0.05))
    yield reads, db, queued
    cache.close()
    db.close()


def secondary_read(reads: SecondaryReads, db: Database, item: int):
    return reads.get_or_load(
        item_key(reads.cache, item), lambda endpoint: load_version(db, endpoint, item), refill={"item": item}
    )


def drain_refills(queued: list[str], cache: Cache, db: Database) -> int:
    """The primary region's refill consumer: each queued key read through the ordinary cache-aside path."""
    drained = 0
    while queued:
        item = json.loads(queued.pop(0))["item"]
        cache.get_or_load(
            item_key(cache, item), lambda endpoint, item=item: load_version(db, endpoint, item), ttl=300
        )
        drained += 1
    return drained


def test_a_miss_reads_the_local_replica_queues_a_refill_and_the_primary_fill_becomes_a_local_hit(
    regions, mariadb_replicated, primary_side, secondary_side
):
    create_items(mariadb_replicated, 1)
    reads, sdb, queued = secondary_side
    first = secondary_read(reads, sdb, 1)
    assert (first.value, first.status) == (1, CacheStatus.MISS)
    assert [json.loads(q) for q in queued] == [{"item": 1}]
    assert drain_refills(queued, *primary_side) == 1
    regions.wait_replicated()
    second = secondary_read(reads, sdb, 1)
    assert (second.value, second.status) == (1, CacheStatus.HIT)
    assert queued == []  # a hit asks for nothing
    client = reads.cache.backend.gateway.client()
    assert not WRITE_COMMANDS & set(client.commands), client.commands
    assert regions.readonly_errors() == 0


def test_the_secondary_never_writes_to_the_read_only_replica_even_for_expired_or_corrupt_entries(
    regions, mariadb_replicated, primary_side, secondary_side
):
    create_items(mariadb_replicated, 2)
    cache, _ = primary_side
    regions.primary.cli("SET", item_key(cache, 1), "not an entry")  # corrupt
    regions.primary.cli("SET", item_key(cache, 2), "V|1|2")  # soft deadline long past
    regions.wait_replicated()
    reads, sdb, _queued = secondary_side
    assert secondary_read(reads, sdb, 1).value == 1
    assert secondary_read(reads, sdb, 2).value == 1
    assert regions.replica.cli("GET", item_key(cache, 1)) == "not an entry"  # left for the primary
    client = reads.cache.backend.gateway.client()
    assert set(client.commands) <= {"GET"}, client.commands
    assert regions.readonly_errors() == 0


def staleness_scenario(
    regions, mariadb_replicated, primary_side, secondary_side, *, redis_delay, db_delay, refills=True
):
    """Write in the primary while both replication links lag; read in the secondary until it is fresh.

    Returns (reads, stale reads, seconds from the write's return to the last stale read)."""
    create_items(mariadb_replicated, 1)
    cache, db = primary_side
    reads, sdb, queued = secondary_side
    assert drain_refills(queued, cache, db) == 0
    cache.get_or_load(item_key(cache, 1), lambda endpoint: load_version(db, endpoint, 1), ttl=300)
    regions.wait_replicated()
    assert secondary_read(reads, sdb, 1).status == CacheStatus.HIT
    mariadb_replicated.set_delay(db_delay)
    regions.link.pause()
    write_version(cache, db, 1, 2)
    written = time.monotonic()
    resumed = False
    total = stale = 0
    last_stale = 0.0
    while time.monotonic() - written < redis_delay + db_delay + 3:
        if not resumed and time.monotonic() - written >= redis_delay:
            regions.link.resume()
            resumed = True
        got = secondary_read(reads, sdb, 1).value
        total += 1
        if got != 2:
            stale += 1
            last_stale = time.monotonic() - written
        if refills:
            drain_refills(queued, cache, db)  # the primary's consumer runs meanwhile: it must never fill 1
        time.sleep(0.01)
    mariadb_replicated.set_delay(0)
    drain_refills(queued, cache, db)
    regions.wait_replicated()
    final = secondary_read(reads, sdb, 1)
    assert (final.value, final.status) == (2, CacheStatus.HIT)  # refilled through the primary, replicated
    assert regions.readonly_errors() == 0
    return total, stale, last_stale


@pytest.mark.parametrize("refills", [True, False], ids=["refill-consumer-running", "refills-lost"])
def test_a_read_after_a_primary_write_is_stale_at_most_for_the_larger_replication_lag(
    regions, mariadb_replicated, primary_side, secondary_side, refills
):
    redis_delay, db_delay = 1.0, 2
    total, stale, bound = staleness_scenario(
        regions,
        mariadb_replicated,
        primary_side,
        secondary_side,
        redis_delay=redis_delay,
        db_delay=db_delay,
        refills=refills,
    )
    print(
        f"secondary staleness ({refills=}): {stale} of {total} reads stale, last {bound:.2f}s after the write"
    )
    record(
        f"Secondary region: Redis link stalled 1 s, DB replica delayed 2 s, refills {refills}",
        True,
        type("O", (), {"reads": total, "violations": []})(),
        stale_reads=stale,
        staleness_seconds=round(bound, 2),
    )
    assert stale > 0  # the lag was real: the test could fail
    # MASTER_DELAY is whole seconds and may come out a second more (servers.ReplicatedMariaDB.set_delay).
    assert bound <= max(redis_delay, db_delay) + 1.5
