"""Shared set-up for the benchmarks: import paths and throwaway servers (the tests' own fixtures code)."""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT / "tests" / "runtime", ROOT / "lambda", ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from servers import MariaDBServer, RedisServer, start_mariadb, start_memcached, start_redis  # noqa: E402

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


def side_by_side(
    baseline: Callable[[], Any], ours: Callable[[], Any], ops: int, block: int = 1000
) -> tuple[float, float, Any]:
    """Median µs of ``baseline()`` and ``ours()``, ``ops`` calls each, interleaved in blocks so drift in
    machine load hits both sides alike (garbage collection off while timing). Also returns ``ours()``'s
    last result, for the caller to check it measured what it meant to (a hit, say)."""
    medians, results = interleaved({"baseline": baseline, "ours": ours}, ops, block)
    return medians["baseline"], medians["ours"], results["ours"]


def interleaved(
    candidates: dict[str, Callable[[], Any]], ops: int, block: int = 1000
) -> tuple[dict[str, float], dict[str, Any]]:
    """Median µs of each candidate, ``ops`` calls each, run in turn in blocks of ``block`` (garbage
    collection off while timing), and each one's last result."""
    clock = time.perf_counter_ns
    samples: dict[str, list[int]] = {name: [] for name in candidates}
    results: dict[str, Any] = {}
    gc.disable()
    try:
        for _ in range(max(1, ops // block)):
            for name, candidate in candidates.items():
                times = samples[name]
                for _ in range(block):
                    t0 = clock()
                    results[name] = candidate()
                    times.append(clock() - t0)
    finally:
        gc.enable()
    return {name: median_us(times) for name, times in samples.items()}, results


__all__ = [
    "ROOT",
    "interleaved",
    "median_us",
    "settings_for",
    "side_by_side",
    "start_mariadb",
    "start_memcached",
    "start_redis",
]
