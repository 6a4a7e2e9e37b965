"""The environment the caching library (``lambda/cachelib/settings.py``) reads, built from the data-store
constructs: endpoints, ports, secret ARNs and settings, never a secret value. Every name comes from the
contract the functions import (``caching_contract.variables``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import aws_cdk as cdk

from caching_constructs.data.mysql_database import MySqlDatabase
from caching_constructs.elasticache.caches import REDIS_CACHES, CacheStore, RedisCache
from caching_constructs.elasticache.memcached_cluster import MemcachedCluster
from caching_contract import variables
from caching_contract.services import Service


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
            variables.CACHE_TTL_SECONDS: str(int(self.ttl.to_seconds())),
            variables.CACHE_NEGATIVE_TTL_SECONDS: str(int(self.negative_ttl.to_seconds())),
            variables.CACHE_L1_ENABLED: "true" if self.near_cache else "false",
            variables.CACHE_L1_TTL_SECONDS: str(int(self.near_cache_ttl.to_seconds())),
        }


def service_environment(service: Service) -> dict[str, str]:
    """The service name its logs and the ``service`` dimension of its metrics carry."""
    return {variables.SERVICE_NAME: service.name}


def redis_environment(cache: RedisCache) -> dict[str, str]:
    return {
        variables.REDIS_HOST: cache.endpoint_address,
        variables.REDIS_PORT: str(cache.port),
        variables.REDIS_TLS: "true",
        variables.REDIS_CLUSTER_MODE: "true" if cache.cluster_mode_enabled else "false",
        # With IAM auth there is no secret: the function's user and token come from cache_auth.py.
        **(
            {variables.REDIS_AUTH_SECRET_ARN: cache.auth_token_secret.secret_arn}
            if cache.auth_token_secret
            else {}
        ),
        # A write returns only once every replica has its invalidation, so a failover cannot bring the old
        # value back (cachelib/writes.py).
        variables.CACHE_REPLICA_ACKS: str(cache.replicas_per_shard),
    }


def memcached_environment(cache: MemcachedCluster) -> dict[str, str]:
    return {
        variables.CACHE_ENGINE: cache.engine.value,
        # CloudFormation knows only the configuration endpoint; the library discovers the nodes through it
        # and follows the cluster as nodes are added or removed (cachelib/discovery.py).
        variables.CACHE_DISCOVERY_ENDPOINT: f"{cache.endpoint_address}:{cache.port}",
        variables.MEMCACHED_TLS: "true",
    }


def cache_environment(
    cache: CacheStore,
    *,
    cache_settings: CacheSettings,
) -> dict[str, str]:
    """What reaches ``cache`` from the library, whichever engine it runs; refuses what memcached cannot do."""
    if isinstance(cache, REDIS_CACHES):
        return redis_environment(cache)
    if cache_settings.near_cache:
        raise ValueError(
            "cache_settings.near_cache: True is not allowed with a MemcachedCluster; expected False (the "
            "near cache is invalidated over Redis pub/sub, which memcached does not have)"
        )
    return memcached_environment(cache)


def library_environment(
    service: Service,
    *,
    cache: CacheStore,
    database: MySqlDatabase,
    cache_settings: CacheSettings,
) -> dict[str, str]:
    """Everything a function that runs the caching library reads: its service name, the cache, the database
    and how it caches."""
    return {
        **service_environment(service),
        **cache_environment(cache, cache_settings=cache_settings),
        **database_environment(database),
        **cache_settings.environment(),
    }


def database_environment(database: MySqlDatabase) -> dict[str, str]:
    return {
        variables.DB_WRITER_HOST: database.writer_endpoint.hostname,
        # Every replica, comma-separated (all on DB_PORT), so misses spread over them; the writer's when there
        # is none. DB_READER_HOST, the first, stays for clients that read only one.
        variables.DB_READER_HOSTS: cdk.Fn.join(
            ",", [endpoint.hostname for endpoint in database.read_endpoints]
        ),
        variables.DB_READER_HOST: database.reader_endpoint.hostname,
        variables.DB_PORT: str(database.port),
        variables.DB_NAME: database.database_name,
        variables.DB_SECRET_ARN: database.secret.secret_arn,
        variables.DB_TLS: "true",
    }
