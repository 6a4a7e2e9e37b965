"""What the fault tests share: an oracle for read-after-write, and caches wired to the fault topologies.

The oracle states the guarantee the way a client sees it: a read that *starts* after a write *returned*
must never see an older version. Writers record a version once ``Cache.write`` has returned; readers take
the floor before they start and report what they got. Anything below the floor is a violation.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import pymysql
import pytest
from servers import MariaDBServer, ReplicatedMariaDB

from cachelib import Cache, Database, ReadEndpoint, Settings

ITEMS_DDL = "CREATE TABLE IF NOT EXISTS fault_items (id INT PRIMARY KEY, version INT NOT NULL)"


class Oracle:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._returned: dict[int, int] = defaultdict(int)
        self.reads = 0
        self.violations: list[tuple[int, int, int]] = []  # (item, floor, got)

    def wrote(self, item: int, version: int) -> None:
        """``version`` of ``item`` was committed and its ``Cache.write`` has returned."""
        with self._lock:
            self._returned[item] = max(self._returned[item], version)

    def floor(self, item: int) -> int:
        with self._lock:
            return self._returned[item]

    def saw(self, item: int, floor: int, got: int | None) -> None:
        with self._lock:
            self.reads += 1
            if got is None or got < floor:
                self.violations.append((item, floor, -1 if got is None else got))


def record(scenario: str, protected: bool, oracle: Oracle, **measured: object) -> None:
    """Append the scenario's figures to ``$FAULT_RESULTS`` (JSON lines) when set: the source of the
    results table in ``docs/GUARANTEES.md`` (``make fault-results``)."""
    path = os.environ.get("FAULT_RESULTS")
    if path:
        row = {
            "scenario": scenario,
            "protected": protected,
            "reads": oracle.reads,
            "violations": len(oracle.violations),
            **measured,
        }
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(row) + "\n")


def replicated_settings(base: Settings, topology: ReplicatedMariaDB, **overrides: object) -> Settings:
    """``base`` pointed at the replicated pair: writes to the primary, misses to the real replica."""
    primary, replica = topology.primary, topology.replica
    return dataclasses.replace(
        base,
        db_writer_host=primary.host,
        db_port=primary.port,
        db_reader_host=replica.host,
        db_reader_port=replica.port,
        db_name=primary.database,
        db_user=primary.user,
        db_password=primary.password,
        **overrides,
    )


def admin_connection(server: MariaDBServer) -> pymysql.connections.Connection:
    return pymysql.connect(**server.connect_kwargs(), autocommit=True)


def create_items(topology: ReplicatedMariaDB | MariaDBServer, count: int, version: int = 1) -> None:
    primary = topology.primary if isinstance(topology, ReplicatedMariaDB) else topology
    conn = admin_connection(primary)
    try:
        with conn.cursor() as cur:
            cur.execute(ITEMS_DDL)
            cur.execute("DELETE FROM fault_items")
            cur.executemany(
                "INSERT INTO fault_items VALUES (%s, %s)", [(i, version) for i in range(1, count + 1)]
            )
    finally:
        conn.close()
    if isinstance(topology, ReplicatedMariaDB):
        topology.wait_caught_up()


def item_key(cache: Cache, item: int) -> str:
    return cache.keys.key("item", item)


def load_version(db: Database, endpoint: ReadEndpoint, item: int) -> int | None:
    with db.cursor(endpoint) as cur:
        cur.execute("SELECT version FROM fault_items WHERE id = %s", (item,))
        row = cur.fetchone()
    return None if row is None else int(row[0])


def read_version(cache: Cache, db: Database, item: int) -> int | None:
    return cache.get_or_load(
        item_key(cache, item), lambda endpoint: load_version(db, endpoint, item), ttl=300
    ).value


def write_version(cache: Cache, db: Database, item: int, version: int) -> None:
    cache.write(
        db,
        lambda cur: cur.execute("UPDATE fault_items SET version = %s WHERE id = %s", (version, item)),
        keys=[item_key(cache, item)],
    )


def checked_read(oracle: Oracle, cache: Cache, db: Database, item: int) -> None:
    floor = oracle.floor(item)
    oracle.saw(item, floor, read_version(cache, db, item))


@contextmanager
def protection_off(monkeypatch: pytest.MonkeyPatch, protected: bool) -> Iterator[None]:
    """Sabotage for the read-after-write tests: with ``protected=False`` a miss reads the replica without
    checking that it has caught up with the writer (the library before this fix, minus its fence)."""
    if not protected:
        monkeypatch.setattr(Database, "fresh_read_target", lambda self: self.readers[0])
    try:
        yield
    finally:
        monkeypatch.undo()
