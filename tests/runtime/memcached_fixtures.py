"""Fixtures for the memcached tests, as a pytest plugin module (``pytest_plugins = ["memcached_fixtures"]``).

* ``memcached_server``: a throwaway memcached (session-scoped, started once); every test that uses it finds
  it running and empty, whatever an earlier test did to it (killed, frozen, filled). ``memcached_pair``:
  two more, for a ring of nodes.
* ``memcached_env``: what the CDK app would set on a function with ``cache.engine: memcached``, pointing at
  it and at the suite's MariaDB (direct credentials); ``mc_settings`` is ``Settings.from_env`` of it.
* ``make_mc_cache(**overrides)``, ``mc_db``: a ``Cache``/``Database`` built like a handler builds them.
* ``mc_handler_env``: ``memcached_env`` in the process environment, the schema applied and products seeded,
  for the handlers (``product_api``, ``cache_warmer``) that read it.
"""

from __future__ import annotations

import dataclasses
import os
import signal
from collections.abc import Callable, Iterator
from typing import Any

import pymysql
import pytest
from handler_support import SEEDED
from memcached_support import memcached_function_env
from servers import MariaDBServer, MemcachedServer, ServerSetupError, start_memcached

from cachelib import Cache, Database, Settings
from functions import catalog_schema


@pytest.fixture(scope="session")
def memcached_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MemcachedServer]:
    try:
        server = start_memcached(tmp_path_factory.mktemp("memcached"))
    except ServerSetupError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def memcached_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[MemcachedServer]]:
    """Two nodes: a ring, for the tests of what one node's outage does."""
    try:
        servers = [start_memcached(tmp_path_factory.mktemp(f"memcached-node{i}")) for i in range(2)]
    except ServerSetupError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture(autouse=True)
def _clean_memcached(request: pytest.FixtureRequest) -> Iterator[None]:
    servers: list[MemcachedServer] = []
    if "memcached_server" in request.fixturenames:
        servers.append(request.getfixturevalue("memcached_server"))
    if "memcached_pair" in request.fixturenames:
        servers += request.getfixturevalue("memcached_pair")
    for server in servers:
        resume(server)
        server.start()
        server.command("flush_all")
    yield
    for server in servers:
        resume(server)  # a test that froze one must not leave it frozen for the next


def resume(server: MemcachedServer) -> None:
    if server.running and server.proc is not None:
        os.kill(server.proc.pid, signal.SIGCONT)


@pytest.fixture
def memcached_env(memcached_server: MemcachedServer, mysql_server: MariaDBServer) -> dict[str, str]:
    return memcached_function_env([memcached_server], mysql_server)


@pytest.fixture
def mc_settings(memcached_env: dict[str, str]) -> Settings:
    return Settings.from_env(memcached_env)


@pytest.fixture
def mc_db(mc_settings: Settings) -> Iterator[Database]:
    database = Database(mc_settings)
    yield database
    database.close()


@pytest.fixture
def make_mc_cache(mc_settings: Settings) -> Iterator[Callable[..., Cache]]:
    made: list[Cache] = []

    def make(**overrides: Any) -> Cache:
        cache = Cache.from_settings(dataclasses.replace(mc_settings, **overrides))
        made.append(cache)
        return cache

    yield make
    for cache in made:
        cache.close()


@pytest.fixture
def mc_handler_env(
    memcached_env: dict[str, str], mysql_server: MariaDBServer, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    env = {
        **memcached_env,
        "POWERTOOLS_METRICS_DISABLED": "true",
        "WARM_TOP_N": "10",
        "SEED_PRODUCT_COUNT": "0",
    }
    for name in ("REDIS_HOST", "REDIS_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    conn = pymysql.connect(**mysql_server.connect_kwargs(), autocommit=True, charset="utf8mb4")
    try:
        catalog_schema.apply_schema(conn)
        catalog_schema.seed_products(conn, SEEDED)
    finally:
        conn.close()
    return env
