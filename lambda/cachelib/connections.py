"""Redis and memcached clients, created once per container and reused across invocations.

Timeouts and retries are explicit: redis-py 8 defaults to 5 s timeouts and 10 retries, and pymemcache to
no timeout at all, either of which would let a cache outage eat a Lambda's whole budget. Here a Redis
command fails within ~0.25 s (+ one 10-50 ms retry), a memcached one within ``MEMCACHED_TIMEOUT_MS``
(0.25 s, no retry), and the circuit breaker in :class:`cachelib.cache.Cache` stops further attempts.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

from redis.backoff import ExponentialWithJitterBackoff
from redis.credentials import CredentialProvider
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from cachelib.secret_store import get_secret, parse_credentials

if TYPE_CHECKING:
    import redis
    import redis.cluster

    from cachelib.settings import Settings


class SecretCredentialProvider(CredentialProvider):
    """Redis AUTH from Secrets Manager, re-read (from the 5-minute cache) on every new connection.

    Because redis-py asks on each connect, a rotated token is picked up by the next reconnect without
    rebuilding the client.
    """

    def __init__(self, secret_arn: str, username: str | None = None) -> None:
        self.secret_arn = secret_arn
        self.username = username

    def get_credentials(self) -> tuple[str] | tuple[str, str]:
        try:
            secret = get_secret(self.secret_arn)
        except Exception as exc:
            # Secrets Manager unreachable or the secret missing: the cache is unusable, which the caller
            # handles as a Redis failure (breaker, BYPASS reads), never as a failed request.
            raise RedisConnectionError(f"cannot read the Redis AUTH secret: {exc}") from exc
        username, password = parse_credentials(secret, self.username)
        return (username, password) if username else (password,)


def redis_retry(settings: Settings) -> Retry:
    """At most ``REDIS_RETRIES`` quick retries (10-50 ms jittered) on connection errors and timeouts."""
    return Retry(
        ExponentialWithJitterBackoff(cap=0.05, base=0.01),
        settings.redis_retries,
        supported_errors=(RedisConnectionError, RedisTimeoutError, ConnectionResetError, TimeoutError),
    )


def redis_connection_kwargs(settings: Settings) -> dict[str, Any]:
    """Keyword arguments shared by ``redis.Redis`` and ``RedisCluster``: timeouts, retry, TLS, AUTH."""
    kwargs: dict[str, Any] = {
        "socket_connect_timeout": settings.redis_connect_timeout_ms / 1000,
        "socket_timeout": settings.redis_socket_timeout_ms / 1000,
        "socket_keepalive": True,
        "retry": redis_retry(settings),
        "health_check_interval": 30,
        "client_name": settings.service_name[:64],
        # No CLIENT SETINFO: two more commands on every connect (refused anyway by Redis 7.0/7.1), and
        # redis-py would read its own version from package metadata on every client, ~2 ms of a cold start.
        "driver_info": None,
    }
    if settings.redis_tls:
        kwargs.update(ssl=True, ssl_cert_reqs=ssl.CERT_REQUIRED, ssl_check_hostname=True)
        if settings.redis_tls_ca_file:
            kwargs["ssl_ca_certs"] = settings.redis_tls_ca_file
        kwargs["ssl_min_version"] = ssl.TLSVersion.TLSv1_2
    if settings.redis_iam_auth:
        from cachelib.iam_auth import IamAuthTokenProvider

        kwargs["credential_provider"] = IamAuthTokenProvider(
            user_id=settings.redis_username or "",
            cache_name=settings.redis_cache_name or "",
            region=settings.aws_region or "",
            serverless=settings.redis_serverless,
        )
    elif settings.redis_auth_secret_arn:
        kwargs["credential_provider"] = SecretCredentialProvider(
            settings.redis_auth_secret_arn, settings.redis_username
        )
    elif settings.redis_password:
        kwargs["password"] = settings.redis_password
        if settings.redis_username:
            kwargs["username"] = settings.redis_username
    return kwargs


def create_redis_client(settings: Settings) -> redis.Redis | redis.cluster.RedisCluster:
    """A Redis client for a single primary, or ``RedisCluster`` when ``REDIS_CLUSTER_MODE`` is true.

    ``redis.Redis`` connects lazily; ``RedisCluster`` reads the slot map at construction, so call this
    where a failure is handled (``Cache`` accepts this function as a lazy factory for that reason).
    """
    host = settings.require_redis_host()
    kwargs = redis_connection_kwargs(settings)
    client: redis.Redis | redis.cluster.RedisCluster
    if settings.redis_cluster_mode:
        from redis.cluster import RedisCluster

        client = RedisCluster(
            host=host,
            port=settings.redis_port,
            require_full_coverage=True,
            **kwargs,
        )
    else:
        import redis as redis_module

        client = redis_module.Redis(host=host, port=settings.redis_port, **kwargs)
    if settings.redis_iam_auth:
        from cachelib.iam_auth import recycle_client_connections

        # ElastiCache closes an IAM-authenticated connection after 12 hours (iam_auth.py).
        recycle_client_connections(client)
    return client


_TLS_CONTEXTS: dict[str | None, ssl.SSLContext] = {}


def memcached_tls_context(ca_file: str | None) -> ssl.SSLContext:
    """One verifying TLS context per container (per CA file): building one reads the whole trust store."""
    context = _TLS_CONTEXTS.get(ca_file)
    if context is None:
        context = ssl.create_default_context(cafile=ca_file)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        _TLS_CONTEXTS[ca_file] = context
    return context


def create_memcached_client(settings: Settings) -> Any:
    """A :class:`cachelib.memcached_backend.RingClient` over ``CACHE_NODES``: rendezvous hashing (adding
    or losing a node moves only that node's keys), a connection pool per node (the client is shared by
    threads), explicit timeouts, replies to every command (``noreply`` would hide failures), TLS when
    ``MEMCACHED_TLS`` is true. Connects on first use.

    With ``CACHE_DISCOVERY_ENDPOINT`` instead, a :class:`cachelib.discovery.DiscoveringRingClient`, which
    reads the nodes from that endpoint now (over the same TLS and timeouts) and again as they change."""
    from cachelib.memcached_backend import RingClient  # imports pymemcache: only functions that use it

    nodes = settings.require_cache_nodes()
    tls = memcached_tls_context(settings.memcached_tls_ca_file) if settings.memcached_tls else None
    options: dict[str, Any] = {
        "connect_timeout": settings.memcached_connect_timeout_ms / 1000,
        "timeout": settings.memcached_timeout_ms / 1000,
        "no_delay": True,
        "use_pooling": True,
        "default_noreply": False,
        "ignore_exc": False,
        "tls_context": tls,
    }
    endpoint = settings.cache_discovery_endpoint
    if endpoint is not None:
        from functools import partial

        from cachelib.discovery import DiscoveringRingClient, fetch_cluster_config

        discover = partial(
            fetch_cluster_config,
            endpoint,
            tls_context=tls,
            connect_timeout=options["connect_timeout"],
            timeout=options["timeout"],
        )
        return DiscoveringRingClient(
            discover, interval_seconds=settings.cache_discovery_interval_seconds, **options
        )
    return RingClient(list(nodes), **options)
