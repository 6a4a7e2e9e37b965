"""How a function signs in to the Redis/Valkey cache: its own IAM-authenticated RBAC user (the default), or
the shared AUTH token (``cache.auth: token``). One call per function construct, so both stay in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeGuard

from caching_constructs.elasticache.cache_access import FUNCTION_ACCESS, KEY_PREFIX, CacheAccess
from caching_constructs.elasticache.caches import REDIS_CACHES
from caching_constructs.elasticache.serverless_cache import ServerlessCache
from caching_contract import variables

if TYPE_CHECKING:
    from aws_cdk import aws_ec2 as ec2

    from caching_constructs.core.python_function import PythonFunction
    from caching_constructs.data.mysql_database import MySqlDatabase
    from caching_constructs.elasticache.cache_users import CacheUser, CacheUserGroup
    from caching_constructs.elasticache.caches import CacheStore, RedisCache
    from caching_constructs.elasticache.redis_replication_group import RedisReplicationGroup


class IamCache(Protocol):
    """What :func:`sign_in` needs of a cache: any Redis/Valkey cache with RBAC users, a Global Datastore
    secondary member included."""

    @property
    def user_group(self) -> CacheUserGroup | None: ...

    @property
    def replication_group_id(self) -> str: ...

    def add_iam_user(self, name: str, *, access_string: str) -> CacheUser: ...


def sign_in(
    function: PythonFunction,
    cache: IamCache,
    name: str,
    access: CacheAccess,
    *,
    cluster_mode: bool = False,
    serverless: bool = False,
) -> None:
    """The function's own IAM-authenticated RBAC user ``name`` on ``cache`` with ``access``,
    ``elasticache:Connect`` on that user and the cache for its role, and the variables the library signs its
    token with."""
    if cache.user_group is None and not serverless:
        raise ValueError(f"{name}: the cache has no RBAC user group; expected cache.auth 'iam'")
    user = cache.add_iam_user(name, access_string=access.access_string(cluster_mode=cluster_mode))
    user.grant_connect(function)
    for variable, value in {
        variables.CACHE_KEY_PREFIX: KEY_PREFIX,
        variables.REDIS_IAM_AUTH: "true",
        variables.REDIS_USERNAME: user.user_id,
        variables.REDIS_CACHE_NAME: cache.replication_group_id,
        # Serverless tokens are signed for ResourceType=ServerlessCache (cachelib/iam_auth.py).
        **({variables.REDIS_SERVERLESS: "true"} if serverless else {}),
    }.items():
        function.function.add_environment(variable, value)


def authorize_cache_access(
    function: PythonFunction, cache: RedisCache, name: str, access: CacheAccess | None = None
) -> None:
    """With IAM auth: :func:`sign_in` as ``name`` with ``access`` (default ``FUNCTION_ACCESS[name]``). With
    the AUTH token: read access to its secret."""
    serverless = isinstance(cache, ServerlessCache)
    if uses_auth_token(cache):
        function.function.add_environment(variables.CACHE_KEY_PREFIX, KEY_PREFIX)
        cache.grant_read_auth_token(function)
        return
    sign_in(
        function,
        cache,
        name,
        access or FUNCTION_ACCESS[name],
        cluster_mode=cache.cluster_mode_enabled,
        serverless=serverless,
    )


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
    # With IAM auth the cache's credential is a token the function signs itself: no secret to read for it.
    reads_auth_token = redis is not None and uses_auth_token(redis)
    function.connections.allow_to_default_port(
        secrets_manager_endpoint.connections,
        f"{name} reads the cache AUTH token and the database credentials"
        if reads_auth_token
        else f"{name} reads the database credentials",
    )


def uses_auth_token(cache: RedisCache) -> TypeGuard[RedisReplicationGroup]:
    """True when clients sign in with the shared AUTH token (``cache.auth: token``), not as IAM users."""
    return cache.auth_token_secret is not None
