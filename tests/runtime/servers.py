"""Throwaway redis-server, memcached and mariadbd processes for tests, benchmarks and local runs.

Each server runs on a free port in its own temp dir, as the current user, and never touches the
machine's own services on 6379/3306. Redis gets the ``maxmemory-policy`` of the dev environment's
config (the parameter group's value), so tests run against the eviction behaviour production has.

Production topologies for fault tests: ``start_replicated_mariadb`` (a primary and a real GTID replica
that can lag, as RDS with a read replica) and ``start_redis_pair`` (a primary and a replica behind a
``TcpProxy`` that moves on failover, as ElastiCache's primary endpoint).

The servers live in ``redis_servers.py``, ``memcached_server.py`` and ``mariadb_servers.py`` (their shared
process handling in ``server_process.py``); this module gathers them and adds ``function_env``. Used by
``tests/runtime/conftest.py`` (session-scoped fixtures), ``fault_fixtures.py`` and importable by
benchmarks.
"""

from __future__ import annotations

from mariadb_servers import (
    MariaDBServer,
    ReplicatedMariaDB,
    start_extra_mariadb_replica,
    start_mariadb,
    start_replicated_mariadb,
)
from memcached_server import MemcachedServer, start_memcached
from redis_servers import (
    RedisCluster,
    RedisPair,
    RedisServer,
    promote,
    redis_replication_info,
    start_redis,
    start_redis_cluster,
    start_redis_pair,
    start_redis_replica,
)
from server_process import SETUP_HINT, ServerSetupError, dev_maxmemory_policy, find_binary, free_port
from tcp_proxy import ProxyError, TcpProxy
from tls_certs import TlsFiles, make_tls_files


def function_env(redis: RedisServer, mariadb: MariaDBServer, **overrides: str) -> dict[str, str]:
    """The variables the CDK app sets on a function, pointed at these servers with direct credentials
    (``DB_USER``/``DB_PASSWORD`` instead of secret ARNs, no TLS); ``overrides`` add or replace some."""
    return {
        "REDIS_HOST": redis.host,
        "REDIS_PORT": str(redis.port),
        "REDIS_TLS": "false",
        "REDIS_CLUSTER_MODE": "false",
        "DB_WRITER_HOST": mariadb.host,
        "DB_READER_HOST": mariadb.host,
        "DB_PORT": str(mariadb.port),
        "DB_NAME": mariadb.database,
        "DB_USER": mariadb.user,
        "DB_PASSWORD": mariadb.password,
        "DB_TLS": "false",
        **overrides,
    }


__all__ = [
    "SETUP_HINT",
    "MariaDBServer",
    "MemcachedServer",
    "ProxyError",
    "RedisCluster",
    "RedisPair",
    "RedisServer",
    "ReplicatedMariaDB",
    "ServerSetupError",
    "TcpProxy",
    "TlsFiles",
    "dev_maxmemory_policy",
    "find_binary",
    "free_port",
    "function_env",
    "make_tls_files",
    "promote",
    "redis_replication_info",
    "start_extra_mariadb_replica",
    "start_mariadb",
    "start_memcached",
    "start_redis",
    "start_redis_cluster",
    "start_redis_pair",
    "start_redis_replica",
    "start_replicated_mariadb",
]
