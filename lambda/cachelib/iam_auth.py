"""IAM authentication to ElastiCache: the function's role is its cache credential, no secret is stored.

The password is a SigV4-presigned ``elasticache:Connect`` request (AWS docs, "Authenticating with IAM"):
``GET https://<cache name>/?Action=connect&User=<user id>[&ResourceType=ServerlessCache]`` presigned for
900 s with service name ``elasticache``, then sent without its ``https://``. botocore signs it; it comes with
the Lambda runtime and is imported on first use.

Two limits shape the design. A token signs in for 15 minutes: it is reused until ``REFRESH_BEFORE_SECONDS``
before its expiry, then a new one is signed for the next new connection (an open connection stays
authenticated). ElastiCache closes an IAM-authenticated connection after 12 hours: redis-py 8.1 has no
connection age limit, so :func:`recycle_connections` closes a pooled connection on checkout once it is
older than ``MAX_CONNECTION_AGE_SECONDS``; it reconnects at once, with a fresh token.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from redis.credentials import CredentialProvider
from redis.exceptions import ConnectionError as RedisConnectionError

TOKEN_LIFETIME_SECONDS = 900
"""``X-Amz-Expires``: ElastiCache accepts a token for at most 15 minutes."""
REFRESH_BEFORE_SECONDS = 60
"""A token is not handed out in its last minute: a connect (TLS and AUTH) must finish before it expires."""
MAX_CONNECTION_AGE_SECONDS = 11 * 3600
"""An hour inside ElastiCache's 12-hour limit on an IAM-authenticated connection."""


def presigned_token(
    *, user_id: str, cache_name: str, region: str, credentials: Any, serverless: bool = False
) -> str:
    """The IAM auth token: the presigned connect URL without its scheme. ``credentials`` are botocore's
    (``access_key``, ``secret_key``, ``token``); the signing time is botocore's clock."""
    from botocore.auth import SigV4QueryAuth
    from botocore.awsrequest import AWSRequest

    query = {"Action": "connect", "User": user_id}
    if serverless:
        query["ResourceType"] = "ServerlessCache"
    request = AWSRequest(method="GET", url=f"https://{cache_name}/?{urlencode(query)}")
    SigV4QueryAuth(credentials, "elasticache", region, expires=TOKEN_LIFETIME_SECONDS).add_auth(request)
    return request.url.removeprefix("https://")


def _session_credentials() -> Any:
    import botocore.session

    # The Lambda role's credentials from the environment; frozen so one token is signed from one set.
    credentials = botocore.session.get_session().get_credentials()
    if credentials is None:
        raise RedisConnectionError("no AWS credentials to sign the ElastiCache IAM auth token with")
    return credentials.get_frozen_credentials()


class IamAuthTokenProvider(CredentialProvider):
    """redis-py asks on every new connection; the answer is ``(user_id, token)``, a token reused until
    ``REFRESH_BEFORE_SECONDS`` before its expiry.

    :param user_id: the RBAC user (for IAM auth, its id and name are the same).
    :param cache_name: the replication group id or the serverless cache's name (lowercase).
    :param region: the cache's region.
    :param serverless: sign for a serverless cache.
    :param credentials: returns the AWS credentials to sign with. Default: the session's (the role's).
    :param clock: seconds since the epoch. Default ``time.time``.
    """

    def __init__(
        self,
        *,
        user_id: str,
        cache_name: str,
        region: str,
        serverless: bool = False,
        credentials: Callable[[], Any] = _session_credentials,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.user_id = user_id
        self.cache_name = cache_name
        self.region = region
        self.serverless = serverless
        self._credentials = credentials
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0

    @property
    def expires_at(self) -> float:
        """When the current token expires (epoch seconds); 0 before the first one."""
        return self._expires_at

    def get_credentials(self) -> tuple[str, str]:
        with self._lock:
            now = self._clock()
            if self._token is None or now >= self._expires_at - REFRESH_BEFORE_SECONDS:
                try:
                    self._token = presigned_token(
                        user_id=self.user_id,
                        cache_name=self.cache_name,
                        region=self.region,
                        credentials=self._credentials(),
                        serverless=self.serverless,
                    )
                except RedisConnectionError:
                    raise
                except Exception as exc:
                    # No credentials or no botocore: the cache is unusable, which the caller handles as a
                    # Redis failure (breaker, BYPASS reads), never as a failed request.
                    raise RedisConnectionError(f"cannot sign the ElastiCache IAM auth token: {exc}") from exc
                self._expires_at = now + TOKEN_LIFETIME_SECONDS
            return self.user_id, self._token


def recycle_connections(pool: Any, max_age_seconds: float = MAX_CONNECTION_AGE_SECONDS) -> None:
    """Make ``pool`` (a redis-py ``ConnectionPool``) close a connection on checkout once it has been open
    for ``max_age_seconds``, so it reconnects (re-authenticating with a fresh token) before ElastiCache
    drops it mid-command. Ages are per socket: a connection redis-py reconnected after an error starts
    again at zero."""
    checkout = pool.get_connection
    born: dict[int, tuple[Any, float]] = {}

    def get_connection(*args: Any, **kwargs: Any) -> Any:
        connection = checkout(*args, **kwargs)
        now = time.monotonic()
        sock = getattr(connection, "_sock", None)
        stamp = born.get(id(connection))
        if stamp is None or stamp[0] is not sock:
            born[id(connection)] = (sock, now)
        elif now - stamp[1] >= max_age_seconds:
            connection.disconnect()
            connection.connect()
            born[id(connection)] = (getattr(connection, "_sock", None), time.monotonic())
        return connection

    pool.get_connection = get_connection


def recycle_client_connections(client: Any, max_age_seconds: float = MAX_CONNECTION_AGE_SECONDS) -> None:
    """:func:`recycle_connections` for every pool of ``client``: one for ``redis.Redis``, one per node for
    ``RedisCluster`` (nodes found later included, by wrapping the node factory)."""
    nodes_manager = getattr(client, "nodes_manager", None)
    if nodes_manager is None:
        recycle_connections(client.connection_pool, max_age_seconds)
        return
    for node in nodes_manager.nodes_cache.values():
        if node.redis_connection is not None:
            recycle_connections(node.redis_connection.connection_pool, max_age_seconds)
    create = nodes_manager.create_redis_node

    def create_redis_node(*args: Any, **kwargs: Any) -> Any:
        node_client = create(*args, **kwargs)
        recycle_connections(node_client.connection_pool, max_age_seconds)
        return node_client

    nodes_manager.create_redis_node = create_redis_node
