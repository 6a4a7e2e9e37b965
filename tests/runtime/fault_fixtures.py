"""Fixtures for the fault tests: the production topologies, as a pytest plugin module.

Test modules load it with ``pytest_plugins = ["fault_fixtures"]`` (as the handler tests load
``handler_fixtures``).

* ``mariadb_replicated``: a binlogging primary and a real read-only GTID replica (``ReplicatedMariaDB``),
  like RDS with a read replica. Each test that uses it starts with no ``MASTER_DELAY``, the SQL thread
  running, the replica caught up and the app tables empty on both (truncated on the primary; the TRUNCATEs
  replicate and are waited for).
* ``redis_pair``: a primary, its replica and a ``TcpProxy`` playing ElastiCache's primary endpoint
  (``RedisPair``; clients connect to ``redis_pair.proxy.port``, ``failover()`` moves it). Each test that
  uses it gets a synced primary-replica pair behind the proxy, with empty data and no old connections:
  flushed when the previous test left the pair intact, rebuilt (~0.15 s) after a failover or a kill.

Both are session-scoped (started once, ~1.3 s and ~0.15 s) and reset before each test that uses them
(~0.07 s and ~0.03 s), so a test may kill, stop, delay or fail over whatever it likes.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import NoReturn

import pytest
from servers import (
    RedisPair,
    ReplicatedMariaDB,
    ServerSetupError,
    start_redis_pair,
    start_replicated_mariadb,
)


def _fail_setup(exc: Exception) -> NoReturn:
    pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def mariadb_replicated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplicatedMariaDB]:
    try:
        topology = start_replicated_mariadb(tmp_path_factory.mktemp("mariadb-replicated"))
    except ServerSetupError as exc:
        _fail_setup(exc)
    yield topology
    topology.stop()


@pytest.fixture(scope="session")
def redis_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisPair]:
    try:
        pair = start_redis_pair(tmp_path_factory.mktemp("redis-pair"))
    except ServerSetupError as exc:
        _fail_setup(exc)
    yield pair
    pair.stop()


@pytest.fixture(autouse=True)
def _reset_fault_topologies(request: pytest.FixtureRequest) -> None:
    """Independent tests: a reset topology for each test that uses one (cheap when nothing broke)."""
    names = request.fixturenames
    if "mariadb_replicated" in names:
        topology: ReplicatedMariaDB = request.getfixturevalue("mariadb_replicated")
        try:
            topology.reset()
        except (ServerSetupError, subprocess.SubprocessError):
            # Replication broken beyond a restart (e.g. a SIGKILLed primary lost binlog events the replica
            # had already applied, or a test wrote on the replica as root): start a new pair (~1.2 s) in
            # the same object, so the session fixture's value stays valid. Tables are gone with it.
            topology.stop()
            factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
            try:
                fresh = start_replicated_mariadb(factory.mktemp("mariadb-replicated"))
            except ServerSetupError as exc:
                _fail_setup(exc)
            topology.primary, topology.replica = fresh.primary, fresh.replica
            topology.delay_seconds = fresh.delay_seconds
    if "redis_pair" in names:
        pair: RedisPair = request.getfixturevalue("redis_pair")
        try:
            pair.reset()  # rebuilds the pair itself when flushing is not enough
        except (ServerSetupError, subprocess.SubprocessError) as exc:
            _fail_setup(exc)
