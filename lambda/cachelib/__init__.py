"""cachelib: cache-aside over Redis in front of MySQL that stays correct under concurrency, writes and
failures. The full argument is in ``README.md`` next to this file; the short version:

* **Reads** -- :meth:`Cache.get_or_load(key, loader, ttl) <Cache.get_or_load>` returns a
  :class:`CacheResult` (``value`` + ``status``: HIT, L1_HIT, NEGATIVE_HIT, STALE, WAITED, MISS, BYPASS).
  Values are typed JSON (``Decimal``/``datetime`` round-trip), TTLs are jittered, missing rows are cached
  for ``CACHE_NEGATIVE_TTL_SECONDS``, corrupt entries count as misses and are deleted.
* **Stampedes** -- dogpile with a lease and soft/hard TTL: on a miss exactly one caller (holding a
  Redis lease) runs the loader while the others poll for its result for up to ``CACHE_WAIT_MS``; past the
  soft TTL one caller refreshes while the others are served the stale value.
* **Writes** -- :meth:`Cache.write` commits on the writer, then runs a Lua script per key that deletes the
  entry and revokes every outstanding lease (so a reader that loaded the old row can never store it: the
  memcache-lease fix of the stale-set race), and waits until the Redis replicas have the deletion. Misses
  read a replica only once it has applied everything the writer had committed (GTID position), so replica
  lag never shows and no guarantee rests on a cache key surviving. List pages embed a version counter
  (:class:`VersionCounters`) that writes bump, so no KEYS/SCAN is ever needed.
* **Failures** -- Redis errors never fail a read: every Redis call goes through one gateway that reports to a
  :class:`CircuitBreaker`, which opens after repeated errors, and reads go to the database (``BYPASS``,
  counted as ``CacheError``, never as a miss). A database that cannot answer a miss raises
  :class:`DatabaseUnavailable` (handlers answer 503).

Module-scope wiring in a handler (created once per container, reused across invocations)::

    from cachelib import Cache, Database, ReadEndpoint, Settings, flush_cache_metrics

    SETTINGS = Settings.from_env()
    DB = Database(SETTINGS)
    CACHE = Cache.from_settings(SETTINGS)

    def load_product(endpoint: ReadEndpoint, product_id: int) -> dict | None:
        with DB.cursor(endpoint) as cur:
            cur.execute("SELECT ... WHERE id = %s", (product_id,))
            row = cur.fetchone()
        return None if row is None else to_dict(row)

    result = CACHE.get_or_load(CACHE.keys.key("product", 42), lambda ep: load_product(ep, 42))
    result.value, result.x_cache  # -> ({...}, "HIT")

Exports import on first use, and boto3 (secrets, from the Lambda runtime) on first use of a secret, which
keeps a handler's cold-start import cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Exports load on first use (PEP 562): a function that needs only ``cachelib.logs`` (the DAX demo) does not
# import redis and pymysql at cold start.
_EXPORTS = {
    "BreakerState": "cachelib.breaker",
    "CircuitBreaker": "cachelib.breaker",
    "Cache": "cachelib.cache",
    "Loader": "cachelib.cache",
    "dumps": "cachelib.codec",
    "loads": "cachelib.codec",
    "create_redis_client": "cachelib.connections",
    "redis_connection_kwargs": "cachelib.connections",
    "redis_retry": "cachelib.connections",
    "Database": "cachelib.database",
    "ReadEndpoint": "cachelib.database",
    "CacheLibError": "cachelib.errors",
    "CacheUnavailable": "cachelib.errors",
    "ConfigurationError": "cachelib.errors",
    "CorruptEntry": "cachelib.errors",
    "DatabaseUnavailable": "cachelib.errors",
    "InvalidationFailed": "cachelib.errors",
    "SerializationError": "cachelib.errors",
    "KeyBuilder": "cachelib.keys",
    "CacheMetrics": "cachelib.metrics",
    "flush_cache_metrics": "cachelib.metrics",
    "NearCache": "cachelib.near_cache",
    "CacheResult": "cachelib.result",
    "CacheStatus": "cachelib.result",
    "Settings": "cachelib.settings",
    "trace_if_enabled": "cachelib.tracing",
    "Version": "cachelib.versions",
    "VersionCounters": "cachelib.versions",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cachelib' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


if TYPE_CHECKING:
    from cachelib.breaker import BreakerState, CircuitBreaker
    from cachelib.cache import Cache, Loader
    from cachelib.codec import dumps, loads
    from cachelib.connections import create_redis_client, redis_connection_kwargs, redis_retry
    from cachelib.database import Database, ReadEndpoint
    from cachelib.errors import (
        CacheLibError,
        CacheUnavailable,
        ConfigurationError,
        CorruptEntry,
        DatabaseUnavailable,
        InvalidationFailed,
        SerializationError,
    )
    from cachelib.keys import KeyBuilder
    from cachelib.metrics import CacheMetrics, flush_cache_metrics
    from cachelib.near_cache import NearCache
    from cachelib.result import CacheResult, CacheStatus
    from cachelib.settings import Settings
    from cachelib.tracing import trace_if_enabled
    from cachelib.versions import Version, VersionCounters

__all__ = [
    "BreakerState",
    "Cache",
    "CacheLibError",
    "CacheMetrics",
    "CacheResult",
    "CacheStatus",
    "CacheUnavailable",
    "CircuitBreaker",
    "ConfigurationError",
    "CorruptEntry",
    "Database",
    "DatabaseUnavailable",
    "InvalidationFailed",
    "KeyBuilder",
    "Loader",
    "NearCache",
    "ReadEndpoint",
    "SerializationError",
    "Settings",
    "Version",
    "VersionCounters",
    "create_redis_client",
    "dumps",
    "flush_cache_metrics",
    "loads",
    "redis_connection_kwargs",
    "redis_retry",
    "trace_if_enabled",
]
