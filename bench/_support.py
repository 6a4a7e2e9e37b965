"""Shared set-up for the benchmarks: import paths and throwaway servers (the tests' own fixtures code)."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT / "tests" / "runtime", ROOT / "lambda", ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from servers import MariaDBServer, RedisServer, start_mariadb, start_redis  # noqa: E402

from cachelib import Settings  # noqa: E402


def settings_for(redis_server: RedisServer, mysql: MariaDBServer | None = None, **overrides: str) -> Settings:
    env = {
        "REDIS_HOST": redis_server.host,
        "REDIS_PORT": str(redis_server.port),
        "CACHE_KEY_PREFIX": "bench",
        "DB_TLS": "false",
        **overrides,
    }
    if mysql is not None:
        env.update(
            DB_WRITER_HOST=mysql.host,
            DB_READER_HOST=mysql.host,
            DB_PORT=str(mysql.port),
            DB_NAME=mysql.database,
            DB_USER=mysql.user,
            DB_PASSWORD=mysql.password,
        )
    return Settings.from_env(env)


def median_us(samples_ns: list[int]) -> float:
    return statistics.median(samples_ns) / 1000


__all__ = ["ROOT", "median_us", "settings_for", "start_mariadb", "start_redis"]
