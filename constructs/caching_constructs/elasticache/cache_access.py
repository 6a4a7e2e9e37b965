"""Who may do what in the cache: one ElastiCache RBAC user per function, with the smallest access string its
code needs. The one source of truth for the template (``RedisReplicationGroup.add_iam_user``) and for the
runtime tests, which create exactly these users on a real ``redis-server`` (``ACL SETUSER``) and run each
function's code under its own.

Plain Python (no aws_cdk import), so the runtime tests load it cheaply. Each command carries the reason the
function sends it; ``tests/runtime/test_cache_acl.py`` proves the list is enough and no more than that.
"""

from __future__ import annotations

from dataclasses import dataclass

from caching_constructs.core.rules import OneOf
from caching_contract import services

KEY_PREFIX = "app"
"""``CACHE_KEY_PREFIX`` of every function: set on them from here, so the key and channel patterns of the
access strings and the keys the library builds (``<prefix>:<version>:{...}``) cannot drift apart."""

IAM = "iam"
TOKEN = "token"  # noqa: S105 (the mode's name, not a secret)
CACHE_AUTH = OneOf((IAM, TOKEN))
"""``cache.auth``: ``iam`` (RBAC users authenticated by their function's IAM role; Redis OSS / Valkey 7+) or
``token`` (one AUTH token in Secrets Manager, rotated by hand: docs/DEPLOY.md)."""

DISABLED_DEFAULT_USER = "off -@all"
"""ElastiCache requires a user named ``default`` in every user group; this one can neither log in nor run
anything, so a client that does not say who it is gets nothing."""

# Every connection: redis-py names it (client_name, CLIENT SETNAME, so CLIENT LIST shows the function) and
# PINGs it after 30 s idle (health_check_interval). AUTH and HELLO need no permission.
CONNECTION = {
    "client|setname": "redis-py names each connection after the function (client_name)",
    "ping": "health check of a connection idle for 30 s; the near cache's heartbeat on its subscription",
}
# The cache-aside core of cachelib: reads, Lua fills and invalidations (scripts.py, gateway.py). A script runs
# its commands as the calling user, so what the scripts call is granted as well (the "in Lua" entries).
LIBRARY_CORE = {
    "get": "cache-aside reads of an entry; in Lua, a lease's or a version counter's value",
    "evalsha": "the library's Lua scripts (fill under lease, renew, release, invalidate, fence) by digest",
    "script|load": "redis-py's Script loads a script once after NOSCRIPT (a new or restarted node)",
    "script|exists": "a pipeline of scripts first asks which are loaded (redis-py), then loads the rest",
    "set": "in Lua: an entry under its lease (fill, write-through), a lease, a write claim",
    "del": "in Lua: invalidation of an entry and its lease, release of a lease or a claim",
    "pexpire": "in Lua: a lease holder renews its lease while its loader runs",
    "exists": "in Lua: a version counter is created only when missing",
    "incr": "in Lua: a write bumps a list's version counter",
    "time": "in Lua: the server's clock stamps a new version counter (no client clock skew)",
    "wait": "a write returns once CACHE_REPLICA_ACKS replicas hold its invalidation (writes.py)",
}


# Cluster mode (and Serverless, which always speaks it): what RedisCluster asks every node it learns about.
CLUSTER_TOPOLOGY = {
    "cluster|slots": "RedisCluster reads the slot map at start and again after a MOVED or a failover",
    "command": "RedisCluster learns where each command's keys are (COMMAND), to route it to their slot",
}


@dataclass(frozen=True)
class CacheAccess:
    """What one function may do: ``commands`` (name -> why it sends it), on keys and channels under
    :data:`KEY_PREFIX` only."""

    commands: dict[str, str]
    channels: bool = False
    """Publish/subscribe on the library's channel (``<prefix>:<version>:l1-invalidate``)."""

    def access_string(self, key_prefix: str = KEY_PREFIX, *, cluster_mode: bool = False) -> str:
        """The RBAC access string: enabled, the prefix's keys (and channel), every command refused but
        ``commands`` (and, in cluster mode, :data:`CLUSTER_TOPOLOGY`). No ``+@category``: a category grows
        with the engine, so new commands would come allowed."""
        channels = f"&{key_prefix}:*" if self.channels else "resetchannels"
        names = {**self.commands, **(CLUSTER_TOPOLOGY if cluster_mode else {})}
        commands = " ".join(f"+{name}" for name in sorted(names))
        return f"on ~{key_prefix}:* {channels} -@all {commands}"


PRODUCT_API = CacheAccess(
    commands={
        **CONNECTION,
        **LIBRARY_CORE,
        "publish": "tells every container's near cache which keys a write invalidated",
        "subscribe": "the near cache (CACHE_L1_ENABLED) listens for those invalidations",
        "zincrby": "adds buffered read counts to the warmer's hot set (product_store.py)",
    },
    channels=True,
)
"""The product API: reads and fills through the library, invalidates on writes (Lua + PUBLISH, then WAIT
for the replicas), runs the near cache's subscription, and counts hot products."""

CACHE_WARMER = CacheAccess(
    commands={
        **CONNECTION,
        "evalsha": "reads the hot set and fills entries in batches, each by a Lua script",
        "script|load": "loads those scripts once per node after NOSCRIPT",
        "zrevrange": "in Lua: the hottest products (the product API's counters)",
        "get": "in Lua: a fill writes only while it still holds the entry's lease",
        "set": "in Lua: the lease, then the entry",
        "del": "in Lua: the lease once the entry is written, or given up",
        "zremrangebyrank": "trims the hot set to what it keeps, so it stays bounded",
        "zunionstore": "decays the hot set (halves the counts) so old favourites fall out",
    },
)
"""The warmer: reads and trims the hot set, fills entries through the fill script. Never FLUSHALL, CONFIG,
KEYS or anything outside the prefix."""

FUNCTION_ACCESS: dict[str, CacheAccess] = {
    services.PRODUCT_API.id: PRODUCT_API,
    services.CACHE_WARMER.id: CACHE_WARMER,
}
"""Construct id of each primary-region function that opens the cache -> its access. SchemaSeed and DaxDemo
never open it and have no user."""

SECONDARY_REFILL = CacheAccess(commands={**CONNECTION, **LIBRARY_CORE})
"""The Global Datastore refill reads and fills through the library's cache-aside core, nothing more (no
pub/sub, no hot counts: the near cache is off and reads here are not the users')."""

SECONDARY_PRODUCT_API = CacheAccess(
    commands={**CONNECTION, "get": "reads an entry or a list's version counter; it never writes"}
)
"""The product API in a secondary region: reads only (``cachelib/secondary.py`` calls ``GET`` and nothing
else), so even a bug cannot try a write on the member ElastiCache keeps read-only anyway."""
