"""The caching library's CloudWatch metrics (EMF): what ``cachelib.metrics`` writes and the dashboards and
alarms read."""

from __future__ import annotations

NAMESPACE = "CachingArchitecture"
"""The default EMF namespace (``POWERTOOLS_METRICS_NAMESPACE``); the CDK app sets this one."""

SERVICE_DIMENSION = "service"
"""Its value is the function's service name (``POWERTOOLS_SERVICE_NAME``, see ``services``)."""
ENVIRONMENT_DIMENSION = "environment"
"""Every metric carries it next to ``service``: environments that share an account and region publish into
the same namespace, and each one's dashboard and alarms select only its own series."""

CACHE_HIT = "CacheHit"
CACHE_MISS = "CacheMiss"
CACHE_STALE_SERVED = "CacheStaleServed"
CACHE_LOADER_WAIT = "CacheLoaderWait"
CACHE_NEGATIVE_HIT = "CacheNegativeHit"
CACHE_ERROR = "CacheError"
CACHE_LATENCY = "CacheLatency"

COUNT_METRICS: tuple[str, ...] = (
    CACHE_HIT,
    CACHE_MISS,
    CACHE_STALE_SERVED,
    CACHE_LOADER_WAIT,
    CACHE_NEGATIVE_HIT,
    CACHE_ERROR,
)
ALL_METRICS: tuple[str, ...] = (*COUNT_METRICS, CACHE_LATENCY)
