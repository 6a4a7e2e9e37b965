"""The cache engine a container runs, chosen by ``CACHE_ENGINE``: its client and its backend.

Above both backends, so neither imports the other's driver: a Redis function never imports pymemcache, a
memcached one never builds a Redis client.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cachelib.settings import MEMCACHED

if TYPE_CHECKING:
    from cachelib.backend import CacheBackend
    from cachelib.breaker import CircuitBreaker
    from cachelib.settings import Settings


def create_backend(
    client: Any | Callable[[], Any], breaker: CircuitBreaker, settings: Settings
) -> CacheBackend:
    """The backend of ``settings.cache_engine`` over ``client`` (a client or a zero-argument factory)."""
    if settings.cache_engine == MEMCACHED:
        from cachelib.memcached_backend import MemcachedBackend  # imports pymemcache only where it is used

        return MemcachedBackend(client, breaker, claim_lease_ms=settings.cache_lease_ms)
    from cachelib.redis_backend import RedisBackend

    return RedisBackend(client, breaker, settings)


def client_factory(settings: Settings) -> Callable[[], Any]:
    """A factory of the engine's client; raises ``ConfigurationError`` now when its endpoint is not set."""
    from cachelib.connections import create_memcached_client, create_redis_client

    if settings.cache_engine == MEMCACHED:
        settings.require_cache_nodes()
        return lambda: create_memcached_client(settings)
    settings.require_redis_host()
    return lambda: create_redis_client(settings)
