"""The caches a stage may run, as one type for the code that takes any of them.

``RedisCache`` is what speaks the Redis protocol (a replication group or a serverless cache): both offer
``connections``, ``endpoint_address``/``port``, ``cluster_mode_enabled``, ``replicas_per_shard``,
``auth_token_secret`` (None with IAM auth), ``user_group`` and ``add_iam_user``. ``CacheStore`` adds
Memcached, which has none of the Redis-only members.
"""

from __future__ import annotations

from caching_constructs.elasticache.memcached_cluster import MemcachedCluster
from caching_constructs.elasticache.redis_replication_group import RedisReplicationGroup
from caching_constructs.elasticache.serverless_cache import ServerlessCache

RedisCache = RedisReplicationGroup | ServerlessCache
CacheStore = RedisCache | MemcachedCluster
REDIS_CACHES = (RedisReplicationGroup, ServerlessCache)
"""For ``isinstance``: the caches the library reaches with a Redis client."""
