"""The fault tests' topologies behave like production: a real lagging MariaDB replica checked with GTIDs as
the app user, and a Redis primary-replica pair behind an endpoint that moves on failover."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pymysql
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from servers import (
    MariaDBServer,
    RedisPair,
    ReplicatedMariaDB,
    TcpProxy,
    free_port,
    redis_replication_info,
)

pytest_plugins = ["fault_fixtures"]

NO_RETRY = Retry(NoBackoff(), 0)  # redis-py retries (and reconnects) by default: show the raw errors


def app_connection(server: MariaDBServer) -> pymysql.connections.Connection:
    """The app user over TCP, as the Lambdas connect to the writer and reader endpoints."""
    return pymysql.connect(**server.connect_kwargs(), autocommit=True)


def query_one(conn: pymysql.connections.Connection, sql: str, args: object = None) -> tuple:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        row = cur.fetchone()
    assert row is not None
    return row


@pytest.fixture
def app_conns(
    mariadb_replicated: ReplicatedMariaDB,
) -> Iterator[tuple[pymysql.Connection, pymysql.Connection]]:
    primary = app_connection(mariadb_replicated.primary)
    replica = app_connection(mariadb_replicated.replica)
    with primary.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS lag_probe (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL)")
    mariadb_replicated.wait_caught_up()
    yield primary, replica
    primary.close()
    replica.close()


def row_on(conn: pymysql.connections.Connection, row_id: int) -> tuple | None:
    with conn.cursor() as cur:
        cur.execute("SELECT id, name FROM lag_probe WHERE id = %s", (row_id,))
        return cur.fetchone()


# --- MariaDB -----------------------------------------------------------------------------------------


def test_master_delay_makes_a_committed_row_invisible_on_the_replica_then_visible(
    mariadb_replicated, app_conns
):
    primary, replica = app_conns
    mariadb_replicated.set_delay(2)
    started = time.monotonic()
    with primary.cursor() as cur:
        cur.execute("INSERT INTO lag_probe VALUES (1, 'fresh')")
    position = query_one(primary, "SELECT @@GLOBAL.gtid_binlog_pos")[0]

    assert row_on(primary, 1) == (1, "fresh")
    assert row_on(replica, 1) is None
    assert query_one(replica, "SELECT MASTER_GTID_WAIT(%s, %s)", (position, 0.1)) == (-1,)

    while row_on(replica, 1) is None and time.monotonic() - started < 6:
        time.sleep(0.05)
    visible_after = time.monotonic() - started
    assert row_on(replica, 1) == (1, "fresh")
    # MariaDB's delay is in whole seconds: it sleeps (event second + clock-diff estimate + 2) - (current
    # second), usually exactly 2 s; 1-2 s when a second boundary passes before the SQL thread sees the
    # event, 3 s when the IO thread's integer clock-diff estimate came out as 1.
    assert 1.0 < visible_after <= 4.5, visible_after
    assert query_one(replica, "SELECT MASTER_GTID_WAIT(%s, %s)", (position, 0)) == (0,)


def test_gtid_freshness_check_works_as_the_app_user_over_tcp(mariadb_replicated, app_conns):
    primary, replica = app_conns
    # No global privilege: the check needs nothing beyond the app's ALL ON app.*.
    grants = [row[0] for row in query_one_all(primary, "SHOW GRANTS")]
    assert not any("ON *.*" in grant and "USAGE" not in grant for grant in grants), grants

    position = query_one(primary, "SELECT @@GLOBAL.gtid_binlog_pos")[0]
    assert position.startswith("0-1-")  # domain 0, server-id 1
    assert query_one(replica, "SELECT MASTER_GTID_WAIT(%s, %s)", (position, 1)) == (0,)
    assert query_one(replica, "SELECT MASTER_GTID_WAIT(%s, %s)", ("", 0)) == (0,)  # no binlog yet: fresh
    # Asked on the primary itself, it never succeeds: the primary's own writes are in its gtid_binlog_pos,
    # not its gtid_slave_pos. A freshness check must not run it against the writer.
    assert query_one(primary, "SELECT MASTER_GTID_WAIT(%s, %s)", (position, 0)) == (-1,)

    mariadb_replicated.stop_sql_thread()
    with primary.cursor() as cur:
        cur.execute("INSERT INTO lag_probe VALUES (2, 'behind')")
    behind = query_one(primary, "SELECT @@GLOBAL.gtid_binlog_pos")[0]
    assert behind != position
    started = time.monotonic()
    assert query_one(replica, "SELECT MASTER_GTID_WAIT(%s, %s)", (behind, 0.2)) == (-1,)
    assert 0.15 <= time.monotonic() - started < 1.0
    assert query_one(replica, "SELECT MASTER_GTID_WAIT(%s, %s)", (behind, 0)) == (-1,)
    assert row_on(replica, 2) is None

    mariadb_replicated.start_sql_thread()
    assert query_one(replica, "SELECT MASTER_GTID_WAIT(%s, %s)", (behind, 5)) == (0,)
    assert row_on(replica, 2) == (2, "behind")

    # The replica is a reader endpoint: the app user cannot write there.
    with pytest.raises(pymysql.err.OperationalError) as excinfo, replica.cursor() as cur:
        cur.execute("INSERT INTO lag_probe VALUES (3, 'nope')")
    assert excinfo.value.args[0] == 1290  # ER_OPTION_PREVENTS_STATEMENT (--read-only)


def query_one_all(conn: pymysql.connections.Connection, sql: str) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def test_each_test_starts_with_an_empty_caught_up_replica(mariadb_replicated, app_conns):
    primary, replica = app_conns
    assert query_one(primary, "SELECT COUNT(*) FROM lag_probe") == (0,)  # rows of earlier tests truncated
    assert query_one(replica, "SELECT COUNT(*) FROM lag_probe") == (0,)
    assert mariadb_replicated.delay_seconds == 0
    assert "Slave_SQL_Running: Yes" in mariadb_replicated.replica_status()


# --- Redis -------------------------------------------------------------------------------------------


def proxied_client(pair: RedisPair, socket_timeout: float = 2, **kwargs: object) -> redis.Redis:
    return redis.Redis(
        host=pair.proxy.host, port=pair.proxy.port, retry=NO_RETRY, socket_timeout=socket_timeout, **kwargs
    )


def test_redis_replica_receives_the_primarys_writes(redis_pair):
    client = proxied_client(redis_pair)
    client.set("k", "v")
    redis_pair.wait_replicated()
    replica = redis.Redis(host=redis_pair.replica.host, port=redis_pair.replica.port)
    assert replica.get("k") == b"v"
    with pytest.raises(redis.exceptions.ReadOnlyError):
        replica.set("k", "other")
    assert replica.config_get("maxmemory-policy") == client.config_get("maxmemory-policy")
    assert redis_replication_info(redis_pair.replica)["master_link_status"] == "up"
    client.close()
    replica.close()


def test_failover_drops_the_old_connection_and_reconnects_to_the_promoted_replica(redis_pair):
    client = proxied_client(redis_pair, single_connection_client=True)
    client.set("before-failover", "kept")
    assert client.dbsize() == 1  # keys of earlier tests flushed
    redis_pair.wait_replicated()
    old_primary = redis_pair.primary

    promoted = redis_pair.failover()

    assert not old_primary.running
    assert redis_pair.primary is promoted
    with pytest.raises(redis.exceptions.ConnectionError):
        client.get("before-failover")  # the proxy closed the old connection
    assert client.get("before-failover") == b"kept"  # reconnected, through the proxy, to the promoted node
    assert client.info("replication")["role"] == "master"
    assert client.info("server")["tcp_port"] == promoted.port
    client.set("after-failover", "writable")
    client.close()


def test_the_next_test_gets_a_fresh_pair_behind_the_same_proxy(redis_pair):
    client = proxied_client(redis_pair)
    assert client.dbsize() == 0
    assert redis_pair.primary.running and redis_pair.replica.running
    assert redis_replication_info(redis_pair.replica)["master_port"] == str(redis_pair.primary.port)
    assert client.info("server")["tcp_port"] == redis_pair.primary.port
    client.close()


def test_drop_connections_breaks_an_open_pubsub_connection(redis_pair):
    primary = redis.Redis(host=redis_pair.primary.host, port=redis_pair.primary.port)
    pubsub = proxied_client(redis_pair).pubsub()
    pubsub.subscribe("invalidations")
    assert pubsub.get_message(timeout=1)["type"] == "subscribe"
    assert primary.pubsub_numsub("invalidations") == [(b"invalidations", 1)]

    redis_pair.proxy.drop_connections()

    deadline = time.monotonic() + 2
    while primary.pubsub_numsub("invalidations") != [(b"invalidations", 0)] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert primary.pubsub_numsub("invalidations") == [(b"invalidations", 0)]  # the server lost the subscriber
    with pytest.raises(redis.exceptions.ConnectionError):
        pubsub.get_message(timeout=1)  # and so did the client
    pubsub.close()
    primary.close()


# --- TcpProxy ----------------------------------------------------------------------------------------


def proxy_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("TcpProxy:")}


def test_proxy_closes_the_client_when_the_target_refuses():
    refused = free_port()  # nothing listens there
    with (
        TcpProxy(("127.0.0.1", refused)) as proxy,
        socket.create_connection(("127.0.0.1", proxy.port), 2) as conn,
    ):
        conn.settimeout(2)
        with contextlib.suppress(ConnectionResetError):  # a close or a reset, both say "no server"
            assert conn.recv(1) == b""
        assert proxy.connection_count() == 0


def test_proxy_pause_hangs_silently_and_resume_forwards_again(redis_pair):
    client = proxied_client(redis_pair, socket_timeout=0.3, single_connection_client=True)
    assert client.ping()

    redis_pair.proxy.pause()
    with pytest.raises(redis.exceptions.TimeoutError):
        client.ping()
    redis_pair.proxy.resume()

    assert client.ping()  # redis-py dropped the timed-out connection; a new one goes through
    big = b"x" * (4 << 20)  # more than the proxy buffers per direction: backpressure, not loss
    client.set("big", big)
    assert client.get("big") == big
    client.close()


def test_proxy_stop_leaves_no_thread_and_restarts_on_the_same_port(redis_pair):
    before = proxy_threads()  # the session pair's proxy
    proxy = TcpProxy((redis_pair.primary.host, redis_pair.primary.port)).start()
    port = proxy.port
    client = redis.Redis(host="127.0.0.1", port=port, retry=NO_RETRY)
    assert client.ping()
    assert len(proxy_threads() - before) == 1  # one thread, whatever the number of connections

    proxy.stop()
    assert proxy_threads() == before
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), 1).close()

    proxy.start()
    assert proxy.port == port
    client.connection_pool.disconnect()
    assert client.ping()
    proxy.stop()
    proxy.stop()  # idempotent
    assert proxy_threads() == before
    client.close()
