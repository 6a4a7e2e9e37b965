"""The environment the caching library (``lambda/cachelib/settings.py``) reads, built from the data-store
constructs: endpoints, ports, secret ARNs and settings, never a secret value."""

from __future__ import annotations

from dataclasses import dataclass, field

import aws_cdk as cdk

from caching_constructs.data.mysql_database import MySqlDatabase
from caching_constructs.elasticache.caches import REDIS_CACHES, CacheStore, RedisCache
from caching_constructs.elasticache.memcached_cluster import MemcachedCluster


@dataclass(frozen=True, kw_only=True)
class CacheSettings:
    """How the caching library caches catalogue rows.

    :param ttl: hard TTL of an entry.
    :param negative_ttl: TTL of a "not found" entry.
    :param near_cache: the per-container L1 (invalidated over pub/sub). Default off: another container's L1
        may serve an old value until the invalidation lands.
    :param near_cache_ttl: the L1's TTL. Default 5 s.
    """

    ttl: cdk.Duration
    negative_ttl: cdk.Duration
    near_cache: bool = False
    near_cache_ttl: cdk.Duration = field(default_factory=lambda: cdk.Duration.seconds(5))

    def environment(self) -> dict[str, str]:
        return {
            "CACHE_TTL_SECONDS": str(int(self.ttl.to_seconds())),
            "CACHE_NEGATIVE_TTL_SECONDS": str(int(self.negative_ttl.to_seconds())),
            "CACHE_L1_ENABLED": "true" if self.near_cache else "false",
            "CACHE_L1_TTL_SECONDS": str(int(self.near_cache_ttl.to_seconds())),
        }


def service_environment(construct_id: str) -> dict[str, str]:
    """``POWERTOOLS_SERVICE_NAME`` from the function's construct id (``ProductApi`` -> ``product-api``): the
    ``service`` dimension of its metrics."""
    service = "".join(("-" + c.lower()) if c.isupper() else c for c in construct_id).lstrip("-")
    return {"POWERTOOLS_SERVICE_NAME": service}


def redis_environment(cache: RedisCache) -> dict[str, str]:
    return {
        "REDIS_HOST": cache.endpoint_address,
        "REDIS_PORT": str(cache.port),
        "REDIS_TLS": "true",
        "REDIS_CLUSTER_MODE": "true" if cache.cluster_mode_enabled else "false",
        # With IAM auth there is no secret: the function's user and token come from cache_auth.py.
        **({"REDIS_AUTH_SECRET_ARN": cache.auth_token_secret.secret_arn} if cache.auth_token_secret else {}),
        # A write returns only once every replica has its invalidation, so a failover cannot bring the old
        # value back (cachelib/writes.py).
        "CACHE_REPLICA_ACKS": str(cache.replicas_per_shard),
    }


@dataclass(frozen=True, kw_only=True)
class MemcachedVariables:
    """The names of the variables that put the caching library on memcached, as ``cachelib/settings.py``
    defines them (its ``ENV_*`` constants). The stack reads them from there
    (``stacks.lambda_assets.cachelib_constant``) and passes them in, so no name is typed twice.
    """

    engine: str
    discovery_endpoint: str
    tls: str


def memcached_environment(cache: MemcachedCluster, variables: MemcachedVariables) -> dict[str, str]:
    return {
        variables.engine: cache.engine.value,
        # CloudFormation knows only the configuration endpoint; the library discovers the nodes through it
        # and follows the cluster as nodes are added or removed (cachelib/discovery.py).
        variables.discovery_endpoint: f"{cache.endpoint_address}:{cache.port}",
        variables.tls: "true",
    }


def cache_environment(
    cache: CacheStore,
    *,
    cache_settings: CacheSettings,
    memcached_variables: MemcachedVariables | None,
) -> dict[str, str]:
    """What reaches ``cache`` from the library, whichever engine it runs; refuses what memcached cannot do."""
    if isinstance(cache, REDIS_CACHES):
        return redis_environment(cache)
    if memcached_variables is None:
        raise ValueError("memcached_variables: required when the cache is a MemcachedCluster")
    if cache_settings.near_cache:
        raise ValueError(
            "cache_settings.near_cache: True is not allowed with a MemcachedCluster; expected False (the "
            "near cache is invalidated over Redis pub/sub, which memcached does not have)"
        )
    return memcached_environment(cache, memcached_variables)


def library_environment(
    construct_id: str,
    *,
    cache: CacheStore,
    database: MySqlDatabase,
    cache_settings: CacheSettings,
    memcached_variables: MemcachedVariables | None,
) -> dict[str, str]:
    """Everything a function that runs the caching library reads: its service name, the cache, the database
    and how it caches."""
    return {
        **service_environment(construct_id),
        **cache_environment(cache, cache_settings=cache_settings, memcached_variables=memcached_variables),
        **database_environment(database),
        **cache_settings.environment(),
    }


def database_environment(database: MySqlDatabase) -> dict[str, str]:
    return {
        "DB_WRITER_HOST": database.writer_endpoint.hostname,
        # Every replica, comma-separated (all on DB_PORT), so misses spread over them; the writer's when there
        # is none. DB_READER_HOST, the first, stays for clients that read only one.
        "DB_READER_HOSTS": cdk.Fn.join(",", [endpoint.hostname for endpoint in database.read_endpoints]),
        "DB_READER_HOST": database.reader_endpoint.hostname,
        "DB_PORT": str(database.port),
        "DB_NAME": database.database_name,
        "DB_SECRET_ARN": database.secret.secret_arn,
        "DB_TLS": "true",
    }
