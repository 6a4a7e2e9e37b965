"""One rule per setting that both the project's config and these constructs check.

Standard library only: ``config`` imports it without loading aws-cdk, attaches these very objects to its
fields (``config/schema.py``), and the constructs check their props with them (``validation.require``), so
a limit cannot differ between the two layers. A rule is called with a value and returns None when the
value is allowed, otherwise what is allowed, in words that finish "expected ...". The cache engine's and
its versions' rules sit with the parameter group families in
``caching_constructs.elasticache.engine_families``.

Where a limit is AWS's own, the rule is AWS's; where the project is stricter (the non-default ports), the
stricter rule applies in both layers and says why.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

Rule = Callable[[Any], str | None]


class InvalidValue(ValueError):
    """A value breaks its rule. One line: ``<name>: <value!r> is not allowed; expected <what is allowed>``."""

    def __init__(self, name: str, value: Any, expected: str) -> None:
        super().__init__(f"{name}: {value!r} is not allowed; expected {expected}")
        self.name, self.value, self.expected = name, value, expected


class Problem(NamedTuple):
    """What a rule over several settings found: the setting to name, its value and what is allowed."""

    key: str
    value: Any
    expected: str


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class OneOf:
    allowed: tuple[Any, ...]

    def __call__(self, value: Any) -> str | None:
        # bool is an int: True would otherwise pass as 1.
        if isinstance(value, bool) != isinstance(self.allowed[0], bool) or value not in self.allowed:
            return "one of " + ", ".join(repr(a) for a in self.allowed)
        return None


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int
    note: str = ""
    """Appended to the description, e.g. the unit the number counts."""

    def __call__(self, value: Any) -> str | None:
        if _is_int(value) and self.low <= value <= self.high:
            return None
        return f"an integer from {self.low} to {self.high}{self.note}"


@dataclass(frozen=True)
class FloatRange:
    low: float
    high: float

    def __call__(self, value: Any) -> str | None:
        if (_is_int(value) or isinstance(value, float)) and self.low <= value <= self.high:
            return None
        return f"a number from {self.low} to {self.high}"


@dataclass(frozen=True)
class Matches:
    pattern: str
    description: str

    def __call__(self, value: Any) -> str | None:
        return None if isinstance(value, str) and re.fullmatch(self.pattern, value) else self.description


def check(name: str, value: Any, rule: Rule) -> Any:
    """``value`` when ``rule`` allows it; otherwise raise ``InvalidValue`` naming ``name``."""
    expected = rule(value)
    if expected:
        raise InvalidValue(name, value, expected)
    return value


# --- every data store ---

PORT_RANGE = IntRange(1150, 65535)
"""RDS's port range, applied to every data store here so that one rule covers them all."""
WELL_KNOWN_PORTS = {
    "redis": ("Redis", 6379),
    "valkey": ("Valkey", 6379),
    "memcached": ("Memcached", 11211),
    "mysql": ("MySQL", 3306),
}
"""Refused (cdk-nag AEC5, RDS11): scanners probe a service's well-known port first."""


def service_port(service: str) -> Rule:
    """A port in ``PORT_RANGE`` other than the well-known one of ``service`` (a ``WELL_KNOWN_PORTS`` key)."""
    name, well_known = WELL_KNOWN_PORTS[service]

    def rule(value: Any) -> str | None:
        if expected := PORT_RANGE(value):
            return expected
        if value == well_known:
            return f"a port other than {name}'s well-known {well_known} (scanners probe it first)"
        return None

    return rule


LOG_RETENTION_DAYS = OneOf((7, 14, 30, 60, 90, 180, 365))
"""Retention of the log groups the config sets (each maps to a CloudWatch Logs ``RetentionDays``)."""
_DAY = "(mon|tue|wed|thu|fri|sat|sun)"
_TIME = r"([01]\d|2[0-3]):[0-5]\d"
WEEKLY_WINDOW = Matches(
    f"{_DAY}:{_TIME}-{_DAY}:{_TIME}", "a UTC window 'ddd:hh:mm-ddd:hh:mm' such as 'sun:05:00-sun:06:00'"
)
"""A maintenance window (ElastiCache, DAX)."""
DAILY_WINDOW = Matches(f"{_TIME}-{_TIME}", "a UTC window 'hh:mm-hh:mm' such as '03:00-04:00'")
"""A daily snapshot window (ElastiCache)."""

# --- ElastiCache ---

CACHE_NODE_TYPE = Matches(r"cache\.[a-z0-9]+\.[a-z0-9]+", "a node type such as 'cache.t4g.micro'")
REPLICAS_PER_SHARD = IntRange(0, 5)
"""ElastiCache's limit: a shard (node group) has a primary and at most 5 replicas."""
NUM_SHARDS = IntRange(1, 500)
"""ElastiCache's hard limit of node groups in cluster mode (more than 90 nodes needs a quota increase)."""
MAX_NODES_PER_CLUSTER = 500
"""ElastiCache's hard limit of nodes (primaries and replicas) in one cluster-mode replication group."""
MEMCACHED_NODES = IntRange(1, 40)
"""CloudFormation's NumCacheNodes limit for Memcached."""
SNAPSHOT_RETENTION_DAYS = IntRange(0, 35)
MAXMEMORY_POLICY = OneOf(
    (
        "allkeys-lru",
        "allkeys-lfu",
        "allkeys-random",
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
        "noeviction",
    )
)
"""Every eviction policy Redis OSS 6-7 and Valkey 7-8 take in a parameter group."""
REPLICATION_GROUP = "replication-group"
SERVERLESS = "serverless"
CACHE_MODE = OneOf((REPLICATION_GROUP, SERVERLESS))
"""``cache.mode``: nodes the project sizes (and an allkeys-lru parameter group), or ElastiCache Serverless."""
SERVERLESS_DATA_STORAGE_GB = IntRange(1, 5000, " GB")
"""ElastiCache Serverless's bounds for a cache's data storage maximum (CacheUsageLimits.DataStorage)."""
SERVERLESS_ECPU_PER_SECOND = IntRange(1000, 15_000_000, " ECPUs per second")
"""ElastiCache Serverless's bounds for a cache's ECPU-per-second maximum (CacheUsageLimits.ECPUPerSecond)."""
SERVERLESS_MAJOR_VERSIONS = {"redis": ("7",), "valkey": ("7", "8")}
"""Engine majors ElastiCache Serverless runs (MajorEngineVersion); Serverless has no Redis OSS 6."""
DAILY_TIME = Matches(_TIME, "a UTC time 'hh:mm' such as '03:00'")
"""A serverless cache's daily snapshot time."""


def serverless_version(engine: str, engine_version: str) -> str | None:
    """An engine version whose major ElastiCache Serverless runs."""
    majors = SERVERLESS_MAJOR_VERSIONS.get(engine, ())
    if engine_version.split(".")[0] not in majors:
        return f"a {engine} major Serverless runs ({', '.join(majors) or 'none'}) with mode 'serverless'"
    return None


def redis_topology(cluster_mode: bool, num_shards: int, replicas_per_shard: int) -> Problem | None:
    """Shards only with cluster mode, within the cluster's node limit, and cluster mode only with a replica
    to fail over to."""
    if not cluster_mode and num_shards != 1:
        return Problem("num_shards", num_shards, "1 unless cluster_mode is on")
    most = MAX_NODES_PER_CLUSTER // (1 + replicas_per_shard)
    if num_shards > most:
        return Problem(
            "num_shards",
            num_shards,
            f"at most {most} with {replicas_per_shard} replicas per shard "
            f"(ElastiCache's limit is {MAX_NODES_PER_CLUSTER} nodes per cluster)",
        )
    if cluster_mode and replicas_per_shard < 1:
        return Problem(
            "replicas_per_shard",
            replicas_per_shard,
            "at least 1 with cluster_mode (cluster mode requires automatic failover)",
        )
    return None


# --- RDS for MySQL ---

MYSQL_VERSION = Matches(r"8\.[04]\.\d+", "a full MySQL 8.4 or 8.0 version such as '8.4.10'")
"""A full version: CloudFormation's synth-time rules reject a bare '8.4'."""
MYSQL_STANDARD_SUPPORT_ENDED = {"8.0": "2026-07-31"}
"""MySQL majors past the end of RDS standard support: new instances are billed for Extended Support."""


def mysql_support(version: str, extended_support: bool, *, switch: str) -> str | None:
    """A version still in standard support, unless ``switch`` (how the caller names the opt-in) is on."""
    major = version.rsplit(".", 1)[0]
    if major in MYSQL_STANDARD_SUPPORT_ENDED and not extended_support:
        return (
            f"an 8.4 version such as '8.4.10' (MySQL {major} left RDS standard support on "
            f"{MYSQL_STANDARD_SUPPORT_ENDED[major]}), or {switch} to pay for RDS Extended Support"
        )
    return None


DATABASE_NAME = Matches(
    r"[A-Za-z][A-Za-z0-9_]{0,63}",
    "a MySQL identifier: a letter, then up to 63 letters, digits or underscores",
)
"""RDS's DBName rule for MySQL."""
ALLOCATED_STORAGE_GIB = IntRange(20, 65536)
"""RDS for MySQL general-purpose storage: 20 GiB to 64 TiB."""


def max_allocated_storage(allocated_storage_gib: int) -> Rule:
    """The storage autoscaling limit: within ``ALLOCATED_STORAGE_GIB`` and not below the initial storage."""

    def rule(value: Any) -> str | None:
        high = ALLOCATED_STORAGE_GIB.high
        if not _is_int(value) or not allocated_storage_gib <= value <= high:
            return f"at least allocated_storage_gib ({allocated_storage_gib}), up to {high}"
        return None

    return rule


READ_REPLICA_COUNT = IntRange(0, 5)
BACKUP_RETENTION_DAYS = IntRange(1, 35)
"""1 to 35 days: RDS allows 0, which turns automated backups (and so point-in-time recovery) off."""
SECRET_ROTATION_DAYS = IntRange(1, 365)
MONITORING_INTERVAL_SECONDS = OneOf((0, 1, 5, 10, 15, 30, 60))
"""Enhanced monitoring intervals RDS offers; 0 turns it off."""
NO_PERFORMANCE_INSIGHTS_SIZES = ("micro", "small")
"""Instance sizes RDS for MySQL offers no Performance Insights on."""

# --- DAX, API Gateway, WAF ---

DAX_NODE_TYPE = Matches(r"dax\.[a-z0-9]+\.[a-z0-9]+", "a node type such as 'dax.t3.small'")
DAX_NODE_COUNT = IntRange(1, 11)
"""DAX's limit: a primary and up to 10 read replicas."""
DAX_TTL_SECONDS = IntRange(0, 30 * 86400, " seconds (30 days)")
"""Item and query cache TTLs (a project limit; DAX sets none, and keeps items with 0 until evicted)."""
STAGE_CACHE_TTL_SECONDS = IntRange(1, 3600)
"""A cached API Gateway method's TTL; 3600 is API Gateway's maximum, and a method with 0 is not cached."""
EDGE_API_MAX_TTL_SECONDS = 3600
"""The most CloudFront keeps an API response, whatever ``max-age`` the API sends."""
EDGE_API_DEFAULT_TTL_SECONDS = IntRange(0, EDGE_API_MAX_TTL_SECONDS)
"""CloudFront's TTL for an API response without ``Cache-Control``; above the maximum, CDK's CachePolicy would
silently raise the maximum to match."""
STAGE_CACHE_SIZE_GB = OneOf(("0.5", "1.6", "6.1", "13.5", "28.4", "58.2", "118", "237"))
WAF_RATE_LIMIT = IntRange(10, 2_000_000_000)
"""WAF's limits for a rate-based rule (requests per client IP per 5 minutes)."""
LAMBDA_ARCHITECTURE = OneOf(("arm64", "x86_64"))
