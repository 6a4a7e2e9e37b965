"""What the memcached tests share outside the fixtures (``memcached_fixtures.py`` is a pytest plugin, so
test modules must not import it)."""

from __future__ import annotations

from servers import MariaDBServer, MemcachedServer


def memcached_function_env(memcached: list[MemcachedServer], mariadb: MariaDBServer) -> dict[str, str]:
    """What the CDK app would set on a function with ``cache.engine: memcached``, pointed at these servers
    (direct database credentials, no TLS)."""
    return {
        "CACHE_ENGINE": "memcached",
        "CACHE_NODES": ",".join(server.node for server in memcached),
        "MEMCACHED_TLS": "false",
        "DB_WRITER_HOST": mariadb.host,
        "DB_READER_HOST": mariadb.host,
        "DB_PORT": str(mariadb.port),
        "DB_NAME": mariadb.database,
        "DB_USER": mariadb.user,
        "DB_PASSWORD": mariadb.password,
        "DB_TLS": "false",
        "CACHE_TTL_SECONDS": "300",
        "CACHE_NEGATIVE_TTL_SECONDS": "30",
        "CACHE_L1_ENABLED": "false",
        "CACHE_KEY_PREFIX": "test",
        "CACHE_KEY_VERSION": "1",
        "POWERTOOLS_SERVICE_NAME": "cachelib-tests",
    }
