"""How a function signs in to the Redis/Valkey cache: its own IAM-authenticated RBAC user (the default), or
the shared AUTH token (``cache.auth: token``). One call per function construct, so both stay in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from caching_constructs.elasticache.cache_access import FUNCTION_ACCESS, KEY_PREFIX
from caching_constructs.elasticache.caches import REDIS_CACHES
from caching_constructs.elasticache.serverless_cache import ServerlessCache

if TYPE_CHECKING:
    from aws_cdk import aws_ec2 as ec2

    from caching_constructs.app.python_function import PythonFunction
    from caching_constructs.data.mysql_database import MySqlDatabase
    from caching_constructs.elasticache.caches import CacheStore, RedisCache


def authorize_cache_access(function: PythonFunction, cache: RedisCache, name: str) -> None:
    """With IAM auth: a user named after ``name`` (its access string from ``FUNCTION_ACCESS[name]``),
    ``elasticache:Connect`` on that user and the cache for the function's role, and the variables the
    library signs its token with. With the AUTH token: read access to its secret."""
    function.function.add_environment("CACHE_KEY_PREFIX", KEY_PREFIX)
    if not isinstance(cache, ServerlessCache) and cache.user_group is None:
        cache.grant_read_auth_token(function)
        return
    access = FUNCTION_ACCESS[name]
    user = cache.add_iam_user(
        name, access_string=access.access_string(cluster_mode=cache.cluster_mode_enabled)
    )
    user.grant_connect(function)
    for variable, value in {
        "REDIS_IAM_AUTH": "true",
        "REDIS_USERNAME": user.user_id,
        "REDIS_CACHE_NAME": cache.replication_group_id,
        # Serverless tokens are signed for ResourceType=ServerlessCache (cachelib/iam_auth.py).
        **({"REDIS_SERVERLESS": "true"} if isinstance(cache, ServerlessCache) else {}),
    }.items():
        function.function.add_environment(variable, value)


def connect_to_data_stores(
    function: PythonFunction,
    name: str,
    *,
    cache: CacheStore,
    database: MySqlDatabase,
    secrets_manager_endpoint: ec2.IConnectable,
    cache_use: str,
    database_use: str,
) -> None:
    """The paths and rights a function that runs the caching library needs: the cache (and its sign-in), the
    database and its secret, and the Secrets Manager endpoint. ``cache_use`` and ``database_use`` describe
    the two network rules (``<name> <use>``)."""
    redis = cache if isinstance(cache, REDIS_CACHES) else None
    function.connections.allow_to_default_port(cache.connections, f"{name}{cache_use}")
    if redis is not None:  # Memcached has no AUTH
        authorize_cache_access(function, redis, name)
    function.connections.allow_to_default_port(database.connections, f"{name}{database_use}")
    database.grant_read_secret(function)
    function.connections.allow_to_default_port(
        secrets_manager_endpoint.connections,
        f"{name} reads the cache AUTH token and the database credentials"
        if redis
        else f"{name} reads the database credentials",
    )
