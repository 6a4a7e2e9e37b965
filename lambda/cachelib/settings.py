"""Runtime settings, read once per container from environment variables.

The CDK app sets exactly these (endpoints and secret ARNs, never secret values):

=============================  =========================================================================
``CACHE_ENGINE``               ``"redis"`` (default; Redis OSS or Valkey) or ``"memcached"``
``CACHE_NODES``                with ``memcached``: every node, ``host:port`` comma-separated (the client
                               shards keys over them with rendezvous hashing)
``CACHE_DISCOVERY_ENDPOINT``   with ``memcached``, instead of ``CACHE_NODES``: the ElastiCache cluster's
                               configuration endpoint, ``host:port``; the nodes are read from it (Auto
                               Discovery, ``discovery.py``) and followed as the cluster changes
``MEMCACHED_TLS``              with ``memcached``: ``"true"``/``"false"``, default ``"false"``; ElastiCache
                               with in-transit encryption needs ``"true"`` (discovery then uses TLS too)
``REDIS_HOST``                 primary endpoint, or the configuration endpoint in cluster mode (required
                               by anything that uses Redis; a database-only function leaves it unset)
``REDIS_PORT``                 default ``6379``
``REDIS_TLS``                  ``"true"``/``"false"``, default ``"false"``; ElastiCache requires ``"true"``
``REDIS_CLUSTER_MODE``         ``"true"`` -> ``redis.cluster.RedisCluster``; default ``"false"``
``REDIS_AUTH_SECRET_ARN``      optional; the secret is a plain AUTH token or JSON ``{"username","password"}``
``REDIS_USERNAME``             optional RBAC user name (used with a plain-token secret); with IAM auth, the
                               function's RBAC user id
``REDIS_IAM_AUTH``             ``"true"``: authenticate as ``REDIS_USERNAME`` with an IAM auth token signed
                               by the function's role (``iam_auth.py``), no secret; default ``"false"``
``REDIS_CACHE_NAME``           with IAM auth: the replication group id or serverless cache name it signs for
``REDIS_SERVERLESS``           with IAM auth: ``"true"`` signs for a serverless cache; default ``"false"``
``DB_WRITER_HOST``             MySQL writer (primary) endpoint: all writes, and reads right after a write
``DB_READER_HOST``             MySQL reader (replica) endpoint for cache misses; defaults to the writer
``DB_READER_HOSTS``            every replica endpoint (``host`` or ``host:port``), comma-separated: misses
                               take turns over them (default: ``DB_READER_HOST`` alone)
``DB_PORT``                    default ``3306``
``DB_READER_PORT``             default ``DB_PORT`` (RDS uses one port for both; a local replica differs)
``DB_NAME``                    database (schema) name (required for DB access)
``DB_SECRET_ARN``              RDS-generated JSON secret with ``"username"`` and ``"password"``
``DB_TLS``                     ``"true"``/``"false"``, default ``"true"``
``CACHE_TTL_SECONDS``          fresh lifetime of a cached value, default ``300`` (jittered +-10%)
``CACHE_NEGATIVE_TTL_SECONDS`` lifetime of a cached "row does not exist", default ``30``
``CACHE_L1_ENABLED``           ``"true"`` turns on the in-process near-cache, default ``"false"``
``CACHE_L1_TTL_SECONDS``       near-cache lifetime, default ``2``
``CACHE_KEY_PREFIX``           first key segment (application name), default ``"app"``
``CACHE_KEY_VERSION``          bump to orphan every key at once (value format change), default ``"1"``
``POWERTOOLS_SERVICE_NAME``    the metrics ``service`` dimension, default ``"caching-service"``
``POWERTOOLS_METRICS_NAMESPACE`` default ``"CachingArchitecture"``
=============================  =========================================================================

Local runs and tests may pass values directly instead of secret ARNs (never set these in AWS):
``REDIS_PASSWORD`` (with optional ``REDIS_USERNAME``), ``REDIS_TLS_CA_FILE`` (a private CA such as a test's
self-signed certificate), ``MEMCACHED_TLS_CA_FILE`` (the same for memcached), ``DB_USER`` and
``DB_PASSWORD``. An ARN wins over a direct value when both are set.

Optional tuning variables (sane defaults; the CDK app does not set them): ``DB_TLS_CA_FILE`` (CA bundle
for the database certificate; default: the Amazon RDS CAs shipped in this package, ``rds-ca-bundle.pem``,
since no public trust store carries them), ``REDIS_CONNECT_TIMEOUT_MS``
(default 500), ``REDIS_SOCKET_TIMEOUT_MS`` (default 250), ``REDIS_RETRIES`` (default 1),
``MEMCACHED_CONNECT_TIMEOUT_MS`` (default 500), ``MEMCACHED_TIMEOUT_MS`` (default 250),
``CACHE_DISCOVERY_INTERVAL_SECONDS`` (how often the node list is read again, default 60; sooner after a
connection error),
``DB_CONNECT_TIMEOUT_SECONDS`` (default 3), ``DB_READ_TIMEOUT_SECONDS`` (default 5),
``DB_REPLICA_WAIT_MS`` (how long a read waits for the replica to catch up with the writer before it reads
the writer instead, default 200; see ``replication.py``),
``CACHE_STALE_SECONDS`` (how long past its fresh lifetime a value may be served stale while one caller
refreshes it, default 60),
``CACHE_LEASE_MS`` (how long one loader holds the right to fill a key; the holder renews it while its
loader runs, so this is how soon a crashed holder is replaced, default 3000),
``CACHE_WAIT_MS`` (how long other callers wait for a live lease holder before reading the database
themselves, default 6000: longer than ``DB_READ_TIMEOUT_SECONDS``, so a slow query is waited for, not
repeated), ``CACHE_REPLICA_ACKS`` (Redis replicas that must confirm an invalidation before a write returns,
so a failover cannot bring back the old value; the CDK app sets the replica count, default 0),
``CACHE_REPLICA_ACK_MS`` (how long to wait for those confirmations, default 100),
``CACHE_L1_HEARTBEAT_MS`` (how often the near cache proves its subscription is live, default 500),
``CACHE_COMPRESS_MIN_BYTES`` (values whose JSON is at least this long are stored zlib-compressed when that
makes them smaller; 0 turns compression off; the default comes from ``bench/bench_compression.py``),
``CACHE_BREAKER_FAILURES`` (default 5) and ``CACHE_BREAKER_RESET_SECONDS`` (default 5).

In a Global Datastore secondary region the CDK app also sets ``CACHE_ROLE=secondary`` (default
``primary``) and ``CACHE_REFILL_QUEUE_URL`` (the primary region's refill queue; ``cachelib/secondary.py``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import overload

from cachelib.errors import ConfigurationError
from caching_contract import metrics, variables

COMPRESS_MIN_BYTES_DEFAULT = 512
"""Measured in ``bench/RESULTS.md`` ("Compressed entries")."""

# The engines and roles, and every variable name below, come from the contract the CDK app imports too.
REDIS = variables.ENGINE_REDIS
MEMCACHED = variables.ENGINE_MEMCACHED
ENGINES = variables.ENGINES
PRIMARY = variables.ROLE_PRIMARY
SECONDARY = variables.ROLE_SECONDARY
ROLES = variables.ROLES
"""``CACHE_ROLE``: ``secondary`` in a Global Datastore secondary region, whose Redis is a read-only replica
(``cachelib/secondary.py``); ``primary`` everywhere else."""

RDS_CA_BUNDLE = str(Path(__file__).with_name("rds-ca-bundle.pem"))

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no", ""})


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(f"{name}: {raw!r} is not a boolean; expected 'true' or 'false'")


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name}: {raw!r} is not an integer") from None
    if value < minimum:
        raise ConfigurationError(f"{name}: {value} is below the minimum {minimum}")
    return value


@overload
def _str(env: Mapping[str, str], name: str, default: str) -> str: ...


@overload
def _str(env: Mapping[str, str], name: str, default: None = None) -> str | None: ...


def _str(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip()


def _nodes(env: Mapping[str, str], name: str) -> tuple[tuple[str, int], ...]:
    nodes = []
    for item in (_str(env, name, "") or "").split(","):
        if not item.strip():
            continue
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ConfigurationError(f"{name}: {item.strip()!r} is not host:port")
        nodes.append((host, int(port)))
    return tuple(nodes)


def _endpoint(env: Mapping[str, str], name: str) -> tuple[str, int] | None:
    found = _nodes(env, name)
    if len(found) > 1:
        raise ConfigurationError(f"{name}: {env[name]!r}: expected one host:port")
    return found[0] if found else None


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the library needs, immutable. Build with :meth:`from_env` at module scope."""

    redis_host: str | None = "localhost"  # None: no Redis configured (see require_redis_host)
    redis_port: int = 6379
    redis_tls: bool = False
    redis_cluster_mode: bool = False
    redis_auth_secret_arn: str | None = None
    redis_username: str | None = None
    redis_password: str | None = None
    redis_iam_auth: bool = False
    redis_cache_name: str | None = None
    redis_serverless: bool = False
    aws_region: str | None = None
    redis_tls_ca_file: str | None = None
    redis_connect_timeout_ms: int = 500
    redis_socket_timeout_ms: int = 250
    redis_retries: int = 1

    cache_engine: str = REDIS
    cache_nodes: tuple[tuple[str, int], ...] = ()  # memcached: (host, port) of every node
    memcached_tls: bool = False
    memcached_tls_ca_file: str | None = None
    memcached_connect_timeout_ms: int = 500
    memcached_timeout_ms: int = 250
    cache_discovery_endpoint: tuple[str, int] | None = None  # memcached: the configuration endpoint
    cache_discovery_interval_seconds: int = 60

    db_writer_host: str = "localhost"
    db_reader_host: str = "localhost"
    db_port: int = 3306
    db_reader_port: int | None = None  # None: same as db_port
    db_reader_hosts: tuple[str, ...] = ()  # empty: (db_reader_host,)
    db_name: str = ""
    db_secret_arn: str | None = None
    db_user: str | None = None
    db_password: str | None = None
    db_tls: bool = True
    db_tls_ca_file: str | None = None
    db_connect_timeout_seconds: int = 3
    db_read_timeout_seconds: int = 5
    db_replica_wait_ms: int = 200

    cache_ttl_seconds: int = 300
    cache_negative_ttl_seconds: int = 30
    cache_stale_seconds: int = 60
    cache_l1_enabled: bool = False
    cache_l1_ttl_seconds: int = 2
    cache_key_prefix: str = "app"
    cache_key_version: str = "1"
    cache_lease_ms: int = 3000
    cache_wait_ms: int = 6000
    cache_replica_acks: int = 0
    cache_replica_ack_ms: int = 100
    cache_l1_heartbeat_ms: int = 500
    cache_compress_min_bytes: int = COMPRESS_MIN_BYTES_DEFAULT
    breaker_failures: int = 5
    breaker_reset_seconds: int = 5

    service_name: str = "caching-service"
    metrics_namespace: str = metrics.NAMESPACE

    cache_role: str = PRIMARY
    cache_refill_queue_url: str | None = None  # secondary: the primary region's refill queue

    def __post_init__(self) -> None:
        if self.cache_role not in ROLES:
            raise ConfigurationError(
                f"{variables.CACHE_ROLE}: {self.cache_role!r} is not one of {', '.join(ROLES)}"
            )
        if self.cache_role == SECONDARY and self.cache_engine != REDIS:
            raise ConfigurationError(
                f"{variables.CACHE_ROLE}: 'secondary' needs CACHE_ENGINE=redis (a Global Datastore replica)"
            )
        # Here rather than in from_env, so a Settings built in code or by dataclasses.replace is checked too.
        if self.redis_iam_auth and not (self.redis_username and self.redis_cache_name and self.aws_region):
            raise ConfigurationError(
                "REDIS_IAM_AUTH: needs REDIS_USERNAME, REDIS_CACHE_NAME and AWS_REGION (the user, the cache "
                "and the region the token is signed for)"
            )
        if self.cache_engine not in ENGINES:
            raise ConfigurationError(
                f"{variables.CACHE_ENGINE}: {self.cache_engine!r} is not one of {', '.join(ENGINES)}"
            )
        if self.cache_engine == MEMCACHED:
            if self.cache_l1_enabled:
                raise ConfigurationError(
                    "CACHE_L1_ENABLED: the near cache is invalidated over Redis pub/sub, which memcached "
                    "does not have; set it to false with CACHE_ENGINE=memcached"
                )
            head = self.cache_key_prefix + self.cache_key_version
            if not (head.isascii() and head.isprintable()):
                raise ConfigurationError(
                    f"CACHE_KEY_PREFIX/CACHE_KEY_VERSION: {head!r}: memcached keys must be printable ASCII"
                )
            if self.cache_nodes and self.cache_discovery_endpoint:
                raise ConfigurationError(
                    f"{variables.CACHE_NODES}/{variables.CACHE_DISCOVERY_ENDPOINT}: both set; set the nodes "
                    "or the configuration endpoint they are discovered from, not both"
                )
            if self.cache_replica_acks:
                raise ConfigurationError(
                    f"CACHE_REPLICA_ACKS: {self.cache_replica_acks}, but memcached has no replicas: set 0"
                )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the variables documented in this module; raises ``ConfigurationError`` naming a bad one."""
        env = os.environ if env is None else env
        # REDIS_HOST may be absent (a database-only function such as the schema step); building a Redis
        # client then fails with ConfigurationError (require_redis_host), never with a connect to nowhere.
        redis_host = _str(env, variables.REDIS_HOST)
        writer = _str(env, variables.DB_WRITER_HOST, "localhost")
        prefix = _str(env, variables.CACHE_KEY_PREFIX, "app")
        if any(c in prefix for c in ":{} ") or len(prefix) > 64:
            raise ConfigurationError(
                f"CACHE_KEY_PREFIX: {prefix!r} must be 1-64 chars without ':', '{{', '}}', ' '"
            )
        version = _str(env, variables.CACHE_KEY_VERSION, "1")
        if any(c in version for c in ":{} ") or len(version) > 16:
            raise ConfigurationError(
                f"CACHE_KEY_VERSION: {version!r} must be 1-16 chars without ':', '{{', '}}', ' '"
            )
        return cls(
            redis_host=redis_host,
            redis_port=_int(env, variables.REDIS_PORT, 6379, 1),
            redis_tls=_bool(env, variables.REDIS_TLS, False),
            redis_cluster_mode=_bool(env, variables.REDIS_CLUSTER_MODE, False),
            redis_auth_secret_arn=_str(env, variables.REDIS_AUTH_SECRET_ARN),
            redis_username=_str(env, variables.REDIS_USERNAME),
            redis_password=_str(env, variables.REDIS_PASSWORD),
            redis_iam_auth=_bool(env, variables.REDIS_IAM_AUTH, False),
            redis_cache_name=_str(env, variables.REDIS_CACHE_NAME),
            redis_serverless=_bool(env, variables.REDIS_SERVERLESS, False),
            aws_region=_str(env, variables.AWS_REGION),
            redis_tls_ca_file=_str(env, variables.REDIS_TLS_CA_FILE),
            redis_connect_timeout_ms=_int(env, variables.REDIS_CONNECT_TIMEOUT_MS, 500, 1),
            redis_socket_timeout_ms=_int(env, variables.REDIS_SOCKET_TIMEOUT_MS, 250, 1),
            redis_retries=_int(env, variables.REDIS_RETRIES, 1, 0),
            cache_engine=(_str(env, variables.CACHE_ENGINE, REDIS) or REDIS).lower(),
            cache_nodes=_nodes(env, variables.CACHE_NODES),
            memcached_tls=_bool(env, variables.MEMCACHED_TLS, False),
            memcached_tls_ca_file=_str(env, variables.MEMCACHED_TLS_CA_FILE),
            memcached_connect_timeout_ms=_int(env, variables.MEMCACHED_CONNECT_TIMEOUT_MS, 500, 1),
            memcached_timeout_ms=_int(env, variables.MEMCACHED_TIMEOUT_MS, 250, 1),
            cache_discovery_endpoint=_endpoint(env, variables.CACHE_DISCOVERY_ENDPOINT),
            cache_discovery_interval_seconds=_int(env, variables.CACHE_DISCOVERY_INTERVAL_SECONDS, 60, 1),
            db_writer_host=writer,
            db_reader_host=_str(env, variables.DB_READER_HOST, writer),
            db_port=_int(env, variables.DB_PORT, 3306, 1),
            db_reader_port=_int(env, variables.DB_READER_PORT, 0, 0) or None,
            db_reader_hosts=tuple(
                h.strip() for h in (_str(env, variables.DB_READER_HOSTS, "") or "").split(",") if h.strip()
            ),
            db_name=_str(env, variables.DB_NAME, ""),
            db_secret_arn=_str(env, variables.DB_SECRET_ARN),
            db_user=_str(env, variables.DB_USER),
            db_password=_str(env, variables.DB_PASSWORD),
            db_tls=_bool(env, variables.DB_TLS, True),
            db_tls_ca_file=_str(env, variables.DB_TLS_CA_FILE, RDS_CA_BUNDLE),
            db_connect_timeout_seconds=_int(env, variables.DB_CONNECT_TIMEOUT_SECONDS, 3, 1),
            db_read_timeout_seconds=_int(env, variables.DB_READ_TIMEOUT_SECONDS, 5, 1),
            db_replica_wait_ms=_int(env, variables.DB_REPLICA_WAIT_MS, 200, 0),
            cache_ttl_seconds=_int(env, variables.CACHE_TTL_SECONDS, 300, 1),
            cache_negative_ttl_seconds=_int(env, variables.CACHE_NEGATIVE_TTL_SECONDS, 30, 1),
            cache_stale_seconds=_int(env, variables.CACHE_STALE_SECONDS, 60, 0),
            cache_l1_enabled=_bool(env, variables.CACHE_L1_ENABLED, False),
            cache_l1_ttl_seconds=_int(env, variables.CACHE_L1_TTL_SECONDS, 2, 1),
            cache_key_prefix=prefix,
            cache_key_version=version,
            cache_lease_ms=_int(env, variables.CACHE_LEASE_MS, 3000, 30),
            cache_wait_ms=_int(env, variables.CACHE_WAIT_MS, 6000, 0),
            cache_replica_acks=_int(env, variables.CACHE_REPLICA_ACKS, 0, 0),
            cache_replica_ack_ms=_int(env, variables.CACHE_REPLICA_ACK_MS, 100, 1),
            cache_l1_heartbeat_ms=_int(env, variables.CACHE_L1_HEARTBEAT_MS, 500, 10),
            cache_compress_min_bytes=_int(
                env, variables.CACHE_COMPRESS_MIN_BYTES, COMPRESS_MIN_BYTES_DEFAULT, 0
            ),
            breaker_failures=_int(env, variables.CACHE_BREAKER_FAILURES, 5, 1),
            breaker_reset_seconds=_int(env, variables.CACHE_BREAKER_RESET_SECONDS, 5, 1),
            service_name=_str(env, variables.SERVICE_NAME, "caching-service"),
            metrics_namespace=_str(env, variables.METRICS_NAMESPACE, metrics.NAMESPACE),
            cache_role=(_str(env, variables.CACHE_ROLE, PRIMARY) or PRIMARY).lower(),
            cache_refill_queue_url=_str(env, variables.CACHE_REFILL_QUEUE_URL),
        )

    def require_redis_host(self) -> str:
        """The Redis endpoint; raises ``ConfigurationError`` when ``REDIS_HOST`` was not set."""
        if self.redis_host is None:
            raise ConfigurationError(
                "REDIS_HOST: not set; expected the Redis primary or configuration endpoint"
            )
        return self.redis_host

    def require_cache_nodes(self) -> tuple[tuple[str, int], ...]:
        """The memcached nodes of ``CACHE_NODES`` (none when they are discovered); raises
        ``ConfigurationError`` when neither ``CACHE_NODES`` nor ``CACHE_DISCOVERY_ENDPOINT`` was set."""
        if not self.cache_nodes and self.cache_discovery_endpoint is None:
            raise ConfigurationError(
                f"{variables.CACHE_NODES}: not set; expected every memcached node as host:port, "
                f"comma-separated (or {variables.CACHE_DISCOVERY_ENDPOINT}, the cluster's configuration "
                "endpoint)"
            )
        return self.cache_nodes
