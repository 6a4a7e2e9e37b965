"""Real-server fixtures for the runtime tests (library and handlers).

Servers are session-scoped (started once, ~1 s in all); every test that uses one starts from a clean state
(``FLUSHALL``, tables truncated) and finds it running even if an earlier test stopped it.

* ``redis_server`` / ``mysql_server``: the throwaway servers (see ``servers.py``).
* ``server_env``: the environment variables a Lambda would get, pointing at them (direct credentials
  instead of secret ARNs, see ``cachelib.settings``); ``settings`` is ``Settings.from_env`` of it.
* ``redis_client``, ``db``, ``make_cache``: connected objects, closed after the test.
* ``redis_outage`` / ``mysql_outage``: the same servers, restarted after the test whatever it did to them.
* ``redis_tls_server``: TLS (self-signed CA made at test time) + ACL user; ``redis_cluster``: 3 masters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pymysql
import pytest
import redis
from servers import (
    MariaDBServer,
    RedisCluster,
    RedisServer,
    ServerSetupError,
    TlsFiles,
    function_env,
    make_tls_files,
    start_mariadb,
    start_redis,
    start_redis_cluster,
)

from cachelib import Cache, Database, Settings

TLS_ACL_USER = ("cache-app", "acl-test-password")


def _start(factory: Callable[[], Any]) -> Any:
    try:
        return factory()
    except ServerSetupError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = _start(lambda: start_redis(tmp_path_factory.mktemp("redis")))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mysql_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDBServer]:
    server = _start(lambda: start_mariadb(tmp_path_factory.mktemp("mariadb")))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def redis_tls_server(tmp_path_factory: pytest.TempPathFactory, tls_files: TlsFiles) -> Iterator[RedisServer]:
    """TLS only (no plaintext port), default user locked behind a password, and an ACL user."""
    server = _start(
        lambda: start_redis(
            tmp_path_factory.mktemp("redis-tls"),
            tls=tls_files,
            password="default-user-password",
            acl_user=TLS_ACL_USER,
        )
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    cluster = _start(lambda: start_redis_cluster(tmp_path_factory.mktemp("redis-cluster")))
    yield cluster
    cluster.stop()


def truncate_all(server: MariaDBServer) -> None:
    conn = pymysql.connect(**server.connect_kwargs(), autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW TABLES")
            for (table,) in cur.fetchall():
                cur.execute(f"TRUNCATE TABLE `{table}`")
    finally:
        conn.close()


@pytest.fixture(autouse=True)
def _clean_servers(request: pytest.FixtureRequest) -> None:
    """Independent tests: a clean, running server for each test that uses one."""
    names = request.fixturenames
    if "redis_server" in names:
        server: RedisServer = request.getfixturevalue("redis_server")
        server.start()
        redis.Redis(host=server.host, port=server.port).flushall()
    if "mysql_server" in names:
        db_server: MariaDBServer = request.getfixturevalue("mysql_server")
        db_server.start()
        truncate_all(db_server)
    if "redis_cluster" in names:
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        for node in cluster.nodes:
            redis.Redis(host=node.host, port=node.port).flushall()


@pytest.fixture
def server_env(redis_server: RedisServer, mysql_server: MariaDBServer) -> dict[str, str]:
    """What the CDK app sets on a function, pointing at the throwaway servers (direct credentials)."""
    return function_env(
        redis_server,
        mysql_server,
        CACHE_TTL_SECONDS="300",
        CACHE_NEGATIVE_TTL_SECONDS="30",
        CACHE_L1_ENABLED="false",
        CACHE_L1_TTL_SECONDS="2",
        CACHE_KEY_PREFIX="test",
        CACHE_KEY_VERSION="1",
        POWERTOOLS_SERVICE_NAME="cachelib-tests",
        POWERTOOLS_METRICS_NAMESPACE="CachingArchitecture",
    )


@pytest.fixture
def settings(server_env: dict[str, str]) -> Settings:
    return Settings.from_env(server_env)


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis(host=redis_server.host, port=redis_server.port)
    yield client
    client.close()


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings)
    yield database
    database.close()


@pytest.fixture
def make_cache(settings: Settings) -> Iterator[Callable[..., Cache]]:
    """``make_cache(**settings_overrides)``: a Cache built like a handler builds it, closed afterwards."""
    import dataclasses

    made: list[Cache] = []

    def make(**overrides: Any) -> Cache:
        cache = Cache.from_settings(dataclasses.replace(settings, **overrides))
        made.append(cache)
        return cache

    yield make
    for cache in made:
        cache.close()


@pytest.fixture
def redis_outage(redis_server: RedisServer) -> Iterator[RedisServer]:
    """The session Redis, for a test that stops or kills it; it is running again afterwards."""
    yield redis_server
    redis_server.start()


@pytest.fixture
def mysql_outage(mysql_server: MariaDBServer) -> Iterator[MariaDBServer]:
    """The session MariaDB, for a test that stops it; it is running again afterwards."""
    yield mysql_server
    mysql_server.start()


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region for moto; never the developer's real ones."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    from cachelib import secret_store

    secret_store.clear_cache()  # a client or value cached under another test's mock must not leak in
