"""Every read replica serves misses, and a replica that dies is skipped, never a failed read.

Two real MariaDB replicas of one primary (as prod's two RDS read replicas). Misses take turns over them
once each has caught up with the writer. A replica killed with SIGKILL costs no read: its turn goes to the
other replica, and with both gone reads go to the writer. The sabotage run takes turns without checking
health and must then fail reads.
"""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from fault_support import Oracle, create_items, item_key, load_version, record, replicated_settings
from servers import MariaDBServer, start_extra_mariadb_replica

from cachelib import Cache, Database, DatabaseUnavailable

pytest_plugins = ["fault_fixtures"]

pytestmark = pytest.mark.fault


def selects(server: MariaDBServer) -> int:
    return int(server.admin_sql("SHOW GLOBAL STATUS LIKE 'Com_select'").split()[1])


@pytest.fixture
def two_replicas(mariadb_replicated, tmp_path):
    second = start_extra_mariadb_replica(mariadb_replicated, tmp_path / "replica2")
    yield mariadb_replicated, second
    second.stop()


def two_replica_settings(settings, topology, second):
    base = replicated_settings(settings, topology)
    first = topology.replica
    return dataclasses.replace(
        base, db_reader_hosts=(f"{first.host}:{first.port}", f"{second.host}:{second.port}")
    )


def misses(cache: Cache, db: Database, items: range) -> list[int | None]:
    return [
        cache.get_or_load(item_key(cache, i), lambda ep, i=i: load_version(db, ep, i), ttl=60).value
        for i in items
    ]


def test_misses_take_turns_over_every_replica(settings, two_replicas):
    topology, second = two_replicas
    create_items(topology, 40)
    start_extra_sync = topology.primary_gtid_pos()
    assert second.admin_sql(f"SELECT MASTER_GTID_WAIT('{start_extra_sync}', 10)").strip() == "0"
    config = two_replica_settings(settings, topology, second)
    cache, db = Cache.from_settings(config), Database(config)
    before = (selects(topology.replica), selects(second), selects(topology.primary))
    try:
        assert misses(cache, db, range(1, 41)) == [1] * 40
    finally:
        cache.close()
        db.close()
    first_served = selects(topology.replica) - before[0]
    second_served = selects(second) - before[1]
    assert first_served >= 15 and second_served >= 15  # each replica ran about half of the 40 queries
    assert db.replica_fallbacks == 0


def dead_replica_reads(settings, two_replicas, monkeypatch, *, protected: bool) -> tuple[int, int]:
    """(reads answered, reads failed) over 40 misses with the second replica killed, then 20 with both."""
    topology, second = two_replicas
    create_items(topology, 60)
    config = dataclasses.replace(
        two_replica_settings(settings, topology, second), db_connect_timeout_seconds=1
    )
    if not protected:
        turns = itertools.count()
        monkeypatch.setattr(Database, "fresh_read_target", lambda self: self._replicas[next(turns) % 2])
    cache, db = Cache.from_settings(config), Database(config)
    answered = failed = 0
    second.kill()
    try:
        for item in range(1, 41):
            try:
                answered += misses(cache, db, range(item, item + 1)) == [1]
            except DatabaseUnavailable:
                failed += 1
        topology.replica.kill()
        for item in range(41, 61):
            try:
                answered += misses(cache, db, range(item, item + 1)) == [1]
            except DatabaseUnavailable:
                failed += 1
    finally:
        cache.close()
        db.close()
        topology.replica.start()
    oracle = Oracle()
    oracle.reads = answered + failed
    oracle.violations = [(0, 0, 0)] * failed
    record("two replicas, one then both SIGKILLed", protected, oracle)
    return answered, failed


def test_a_dead_replica_is_skipped_and_with_none_left_reads_go_to_the_writer(
    settings, two_replicas, monkeypatch
):
    assert dead_replica_reads(settings, two_replicas, monkeypatch, protected=True) == (60, 0)


def test_sabotage_taking_turns_without_health_checks_fails_reads(settings, two_replicas, monkeypatch):
    _answered, failed = dead_replica_reads(settings, two_replicas, monkeypatch, protected=False)
    assert failed >= 20
