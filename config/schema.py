"""Typed, frozen configuration for one deployment environment.

Every field documents its default and carries its one rule (``setting(default, rule)``): a rule the
constructs check as well comes from ``caching_constructs.core.rules`` (the cache engine's
from ``caching_constructs.elasticache.engine_families``), an identifier only the config takes from
``config.formats``, and a plain range is written on the field. The loader (``config/loader.py``) runs
them, plus the rules that relate several settings, and a bad value stops synth with one line that names
the key, the bad value and what is allowed (``ConfigError``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from caching_constructs.core import rules
from caching_constructs.core.rules import FloatRange, IntRange, OneOf, Rule
from caching_constructs.elasticache import global_datastore_rules
from caching_constructs.elasticache.cache_access import CACHE_AUTH
from caching_constructs.elasticache.engine_families import CACHE_ENGINE
from caching_contract import http
from config import formats
from config.cost import CostSettings


class ConfigError(ValueError):
    """A configuration value is missing, unknown or out of range. The message is one line."""


def setting(default: Any = dataclasses.MISSING, check: Rule | None = None, **kwargs: Any) -> Any:
    """A config field with an optional rule, run by the loader after the type check (never on null)."""
    if isinstance(default, dict):
        frozen = dict(default)
        kwargs["default_factory"] = lambda: frozen
    elif default is not dataclasses.MISSING:
        kwargs["default"] = default
    return field(metadata={"check": check}, **kwargs)


@dataclass(frozen=True, kw_only=True)
class NetworkConfig:
    cidr: str = setting("10.0.0.0/16", formats.cidr)
    """VPC CIDR. Default 10.0.0.0/16."""
    max_azs: int = setting(2, IntRange(2, 3))
    """Availability zones to spread subnets over. Default 2 (Multi-AZ needs at least 2)."""
    nat_gateways: int = setting(1, IntRange(1, 3))
    """NAT gateways for the private-with-egress subnets. Default 1; prod uses one per AZ."""
    flow_log_retention_days: int = setting(30, rules.LOG_RETENTION_DAYS)
    """Retention of the VPC flow log group. Default 30."""


@dataclass(frozen=True, kw_only=True)
class CacheConfig:
    engine: str = setting("redis", CACHE_ENGINE)
    """Cache engine. Default Redis OSS; Valkey is a drop-in; Memcached has no AUTH, replication or pub/sub."""
    engine_version: str = setting("7.1")
    """Engine version: 6.x or 7.x for Redis OSS, 7.x or 8.x for Valkey, 1.6.12 or later for Memcached (the
    loader checks it against ``engine``). Default 7.1. The parameter group family is derived from it."""
    node_type: str = setting("cache.t4g.micro", rules.CACHE_NODE_TYPE)
    """Node instance type. Default cache.t4g.micro."""
    cluster_mode: bool = setting(False)
    """Cluster mode enabled (sharded). Default False: one shard, primary plus replicas."""
    num_shards: int = setting(1, rules.NUM_SHARDS)
    """Shards (node groups) when cluster_mode is on, nodes (1 to 40) for Memcached, else 1. Default 1."""
    replicas_per_shard: int = setting(0, rules.REPLICAS_PER_SHARD)
    """Read replicas per shard (or per replication group when cluster mode is off). Default 0."""
    maxmemory_policy: str = setting("allkeys-lru", rules.MAXMEMORY_POLICY)
    """Eviction policy for the parameter group and for the local/test redis-server. Default allkeys-lru."""
    port: int = setting(6380, rules.PORT_RANGE)
    """Port; the engine's well-known one (6379, 11211) is refused (cdk-nag AEC5). Default 6380."""
    snapshot_retention_days: int = setting(1, rules.SNAPSHOT_RETENTION_DAYS)
    """Daily snapshots kept. Default 1."""
    snapshot_window: str = setting("03:00-04:00", rules.DAILY_WINDOW)
    """Daily UTC window for the snapshot. Default 03:00-04:00."""
    maintenance_window: str = setting("sun:05:00-sun:06:00", rules.WEEKLY_WINDOW)
    """Weekly UTC maintenance window. Default sun:05:00-sun:06:00."""
    log_retention_days: int = setting(30, rules.LOG_RETENTION_DAYS)
    """Retention of the slow-log and engine-log groups. Default 30."""
    auth: str = setting("iam", CACHE_AUTH)
    """How functions sign in: ``iam`` (one RBAC user per function, authenticated by its IAM role; no secret;
    Redis OSS or Valkey 7+) or ``token`` (one AUTH token in Secrets Manager, rotated by hand: docs/DEPLOY.md).
    Default iam. Ignored for Memcached."""
    mode: str = setting(rules.REPLICATION_GROUP, rules.CACHE_MODE)
    """``replication-group`` (nodes sized here, with the ``maxmemory_policy`` parameter group) or
    ``serverless`` (ElastiCache Serverless: capacity within the two limits below; the service fixes the
    eviction policy, the port and the topology, so ``node_type``, ``cluster_mode``, ``num_shards``,
    ``replicas_per_shard``, ``maxmemory_policy``, ``port``, ``maintenance_window`` and
    ``log_retention_days`` must keep their defaults; IAM auth only; Redis OSS 7 or Valkey 7-8; snapshots
    start at ``snapshot_window``'s start and are kept ``snapshot_retention_days``; encrypted with the data
    tier's key). Default replication-group."""
    serverless_max_data_storage_gb: int = setting(10, rules.SERVERLESS_DATA_STORAGE_GB)
    """Serverless only: the most data the cache may hold; past it the service evicts. Default 10."""
    serverless_max_ecpu_per_second: int = setting(5000, rules.SERVERLESS_ECPU_PER_SECOND)
    """Serverless only: the ECPUs per second it may scale to; past it commands are throttled. Default 5000."""

    @property
    def nodes_per_shard(self) -> int:
        return 1 + self.replicas_per_shard

    @property
    def automatic_failover(self) -> bool:
        return self.engine != "memcached" and (self.cluster_mode or self.replicas_per_shard >= 1)


@dataclass(frozen=True, kw_only=True)
class DatabaseConfig:
    engine_version: str = setting("8.4.10", rules.MYSQL_VERSION)
    """Full MySQL version (CloudFormation's synth-time rules reject a bare '8.4'). Default 8.4.10, the 8.4 LTS
    line. MySQL 8.0 left RDS standard support on 2026-07-31: an 8.0 version is refused unless
    ``accept_extended_support`` is true."""
    accept_extended_support: bool = setting(False)
    """Accept RDS Extended Support (billed per vCPU-hour) for this environment: required for an 8.0 version;
    with 8.4 it keeps the instance on 8.4 after 8.4's own standard support ends instead of upgrading it.
    Sets the instance's EngineLifecycleSupport explicitly either way. Default False
    (``open-source-rds-extended-support-disabled``)."""
    instance_class: str = setting("t4g.micro", formats.DB_INSTANCE_CLASS)
    """Instance class without the 'db.' prefix. Default t4g.micro."""
    allocated_storage_gib: int = setting(20, rules.ALLOCATED_STORAGE_GIB)
    """Initial storage. Default 20."""
    max_allocated_storage_gib: int = setting(100, rules.ALLOCATED_STORAGE_GIB)
    """Upper bound for storage autoscaling, at least ``allocated_storage_gib``. Default 100."""
    read_replica_count: int = setting(1, rules.READ_REPLICA_COUNT)
    """Read replicas. Default 1. The product API reads from them on a cache miss."""
    multi_az: bool = setting(False)
    """Standby in a second AZ for the writer. Default False; True in staging and prod."""
    backup_retention_days: int = setting(1, rules.BACKUP_RETENTION_DAYS)
    """Automated backup retention. Default 1 (dev); at least 7 outside dev."""
    port: int = setting(3307, rules.service_port("mysql"))
    """Port; MySQL's well-known 3306 is refused (cdk-nag RDS11). Default 3307."""
    database_name: str = setting("catalog", rules.DATABASE_NAME)
    """Database created on the writer. Default catalog."""
    secret_rotation_days: int = setting(30, rules.SECRET_ROTATION_DAYS)
    """Rotation of the master secret, by a function inside the VPC. Default 30."""
    performance_insights: bool = setting(False)
    """Performance Insights; not available on the smallest classes. Default False."""
    monitoring_interval_seconds: int = setting(60, rules.MONITORING_INTERVAL_SECONDS)
    """Enhanced monitoring interval; 0 turns it off. Default 60."""
    log_retention_days: int = setting(30, rules.LOG_RETENTION_DAYS)
    """Retention of the exported error and slow-query log groups. Default 30."""


@dataclass(frozen=True, kw_only=True)
class DaxConfig:
    node_type: str = setting("dax.t3.small", rules.DAX_NODE_TYPE)
    """Node type. Default dax.t3.small."""
    node_count: int = setting(1, rules.DAX_NODE_COUNT)
    """DAX nodes. Default 1; 3 in prod for Multi-AZ."""
    item_ttl_seconds: int = setting(300, rules.DAX_TTL_SECONDS)
    """How long DAX keeps an item (0: until evicted). Default 300."""
    query_ttl_seconds: int = setting(300, rules.DAX_TTL_SECONDS)
    """How long DAX keeps a query result. Default 300."""


@dataclass(frozen=True, kw_only=True)
class FunctionsConfig:
    architecture: str = setting("arm64", rules.LAMBDA_ARCHITECTURE)
    """Lambda architecture. Default arm64 (Graviton)."""
    memory_mb: int = setting(512, IntRange(128, 10240))
    timeout_seconds: int = setting(10, IntRange(3, 900))
    """Product API timeout; API Gateway's own limit is 29 s. Default 10."""
    reserved_concurrency: int | None = setting(None, IntRange(1, 1_000_000))
    """Reserved concurrency of the product API. Default None (unreserved; dev accounts often have 10)."""
    log_retention_days: int = setting(30, rules.LOG_RETENTION_DAYS)
    cache_ttl_seconds: int = setting(300, IntRange(1, 86400))
    """Redis TTL for product rows and list pages. Default 300."""
    negative_ttl_seconds: int = setting(30, IntRange(1, 3600))
    """Redis TTL for 'no such product'. Default 30."""
    l1_enabled: bool = setting(False)
    """Per-container near cache. Default False: another container may serve an old value until the pub/sub
    invalidation arrives (at worst l1_ttl_seconds), which weakens the read-after-write guarantee."""
    l1_ttl_seconds: int = setting(5, IntRange(1, 300))
    """Near-cache entry lifetime when l1_enabled. Default 5."""
    warm_top_n: int = setting(1000, IntRange(1, 1_000_000))
    """Hottest products the warmer loads. Default 1000."""
    warm_schedule: str = setting("cron(0 4 * * ? *)", formats.SCHEDULE)
    """When the warmer runs (UTC, off-peak). Default 04:00 daily."""
    seed_product_count: int = setting(1000, IntRange(0, 1_000_000))
    """Sample products the schema step inserts on create. Default 1000; 0 in prod."""
    warmer_timeout_seconds: int = setting(120, IntRange(10, 900))
    """Cache warmer timeout (loads ``warm_top_n`` rows in batches). Default 120."""
    schema_seed_timeout_seconds: int = setting(300, IntRange(30, 900))
    """Schema/seed custom-resource timeout; CloudFormation waits for it on every deploy. Default 300."""
    product_write_mode: str = setting(http.WRITE_MODES[0], OneOf(http.WRITE_MODES))
    """How a product write puts Redis right after its commit (``PRODUCT_WRITE_MODE``). ``invalidate`` deletes
    the entry, and the next read loads it: cheapest when items are written more often than they are read.
    ``write-through`` stores the new row in the same guarded step, so the next read is a hit: for items read
    soon after each write. Default ``invalidate``."""
    idempotency_ttl_hours: int = setting(24, IntRange(1, 720))
    """How long an ``Idempotency-Key`` of a POST or PUT is remembered (``IDEMPOTENCY_TTL_SECONDS``): a repeat
    within it replays the first response instead of writing again. Default 24."""


@dataclass(frozen=True, kw_only=True)
class ApiConfig:
    cache_cluster_size: str = setting("0.5", rules.STAGE_CACHE_SIZE_GB)
    """API Gateway stage cache size in GB. Default 0.5."""
    item_cache_ttl_seconds: int = setting(60, rules.STAGE_CACHE_TTL_SECONDS)
    list_cache_ttl_seconds: int = setting(30, rules.STAGE_CACHE_TTL_SECONDS)
    throttle_rate_limit: int = setting(100, IntRange(1, 10000))
    throttle_burst_limit: int = setting(200, IntRange(1, 5000))
    waf_web_acl_arn: str | None = setting(None, formats.REGIONAL_WEB_ACL_ARN)
    """ARN of a regional WAFv2 web ACL (scope REGIONAL, in the API's region) attached to the API stage, which
    is reachable directly, not only through CloudFront. Default None: no ACL on the stage."""


@dataclass(frozen=True, kw_only=True)
class EdgeConfig:
    price_class: str = setting(
        "PriceClass_100", OneOf(("PriceClass_100", "PriceClass_200", "PriceClass_All"))
    )
    waf_web_acl_arn: str | None = setting(None, formats.CLOUDFRONT_WEB_ACL_ARN)
    """ARN of a WAFv2 web ACL in us-east-1 (scope CLOUDFRONT). Default None."""
    domain_name: str | None = setting(None, formats.DOMAIN_NAME)
    """Custom domain of the distribution. Default None (the *.cloudfront.net name)."""
    certificate_arn: str | None = setting(None, formats.CERTIFICATE_ARN)
    """ACM certificate (us-east-1) for ``domain_name``; with it the viewer policy is TLSv1.2_2021.
    Default None: the default *.cloudfront.net certificate, whose policy CloudFront fixes at TLSv1."""
    api_default_ttl_seconds: int = setting(30, rules.EDGE_API_DEFAULT_TTL_SECONDS)
    """CloudFront TTL of an API response that sends no ``Cache-Control`` (the product API always sends one on
    a 200), up to the API cache policy's maximum of 3600. Default 30."""
    invalidate_on_write: bool = setting(False)
    """After a product write, the edge refresher also sends CloudFront one invalidation per batch (up to 10
    item paths) on top of refreshing the stage cache. Default False: API responses carry ``max-age=10``, so
    CloudFront's copy expires within seconds anyway, while every invalidated path beyond CloudFront's monthly
    free allowance (1,000 paths per account) is billed per path, i.e. per write. Turn it on when items must
    never outlive a write at the edge by their max-age, and the write rate makes the bill acceptable."""
    access_log_retention_days: int = setting(90, IntRange(1, 3650))


@dataclass(frozen=True, kw_only=True)
class MonitoringConfig:
    """Dashboard and alarm settings. Every threshold applies per period (``period_minutes``), and an alarm
    fires after ``evaluation_periods`` breaching periods in a row."""

    alarm_emails: tuple[str, ...] = setting((), formats.emails)
    """Addresses subscribed to the alarm topic (each confirms by email). Default none. Staging and prod need
    at least one subscriber: an email, a topic ARN or a Slack channel."""
    alarm_topic_arns: tuple[str, ...] = setting((), formats.topic_arns)
    """Existing SNS topics (e.g. an on-call tool's, or a central one in another account whose policy lets this
    account's CloudWatch publish) that every alarm also notifies. Default none."""
    alarm_slack_channels: tuple[str, ...] = setting((), formats.slack_channels)
    """Slack channels, as 'WORKSPACE_ID/CHANNEL_ID', that AWS Chatbot posts the alarm topic to. The workspace
    must be authorized for AWS Chatbot in the account once (console). Default none."""
    period_minutes: int = setting(5, OneOf((1, 5, 15, 60)))
    """Period of every dashboard metric and alarm. Default 5; prod uses 1."""
    evaluation_periods: int = setting(3, IntRange(1, 10))
    """Consecutive breaching periods before an alarm fires. Default 3."""
    cache_hit_rate_warning: float = setting(0.8, FloatRange(0.0, 1.0))
    """ElastiCache CacheHitRate below this raises a warning (the source document's 0.8)."""
    cache_cpu_percent: float = setting(75.0, FloatRange(1.0, 100.0))
    """ElastiCache EngineCPUUtilization above this; with Serverless, ECPUs per second above this percentage
    of ``cache.serverless_max_ecpu_per_second``. Default 75."""
    cache_memory_percent: float = setting(85.0, FloatRange(1.0, 100.0))
    """ElastiCache DatabaseMemoryUsagePercentage above this; with Serverless, BytesUsedForCache above this
    percentage of ``cache.serverless_max_data_storage_gb``. Default 85."""
    cache_evictions: float = setting(1000.0, FloatRange(0.0, 1e9))
    """ElastiCache Evictions per period above this: the working set no longer fits. Default 1000."""
    cache_connections: float = setting(5000.0, FloatRange(1.0, 65000.0))
    """ElastiCache CurrConnections above this (a climb usually means a connection leak). Default 5000."""
    cache_replication_lag_seconds: float = setting(10.0, FloatRange(1.0, 3600.0))
    """ElastiCache ReplicationLag above this (only with replicas). Default 10."""
    cache_throttled_commands: float = setting(0.0, FloatRange(0.0, 1e9))
    """ElastiCache Serverless ThrottledCmds per period above this: the workload outgrew
    ``cache.serverless_max_ecpu_per_second`` (or scaled faster than the service). Default 0."""
    database_cpu_percent: float = setting(80.0, FloatRange(1.0, 100.0))
    """RDS CPUUtilization above this. Default 80."""
    database_freeable_memory_mib: float = setting(128.0, FloatRange(1.0, 1e6))
    """RDS FreeableMemory below this many MiB. Default 128."""
    database_connections: float = setting(60.0, FloatRange(1.0, 1e5))
    """RDS DatabaseConnections above this; keep it under the instance class's max_connections. Default 60."""
    replica_lag_seconds: float = setting(30.0, FloatRange(1.0, 3600.0))
    """RDS ReplicaLag above this, per replica. Default 30."""
    api_p99_latency_ms: float = setting(1000.0, FloatRange(10.0, 29000.0))
    """API Gateway stage Latency p99 above this. Default 1000."""
    api_5xx_errors: float = setting(5.0, FloatRange(0.0, 1e6))
    """API Gateway stage 5XXError count per period above this. Default 5."""
    function_errors: float = setting(1.0, FloatRange(1.0, 1e6))
    """Lambda Errors per period at or above this, per function. Default 1."""
    function_throttles: float = setting(1.0, FloatRange(1.0, 1e6))
    """Lambda Throttles per period at or above this, per function. Default 1."""
    function_duration_percent_of_timeout: float = setting(80.0, FloatRange(1.0, 100.0))
    """Lambda Duration p99 above this percentage of the function's timeout. Default 80."""
    dax_error_requests: float = setting(5.0, FloatRange(0.0, 1e6))
    """DAX ErrorRequestCount per period above this. Default 5."""
    application_cache_errors: float = setting(10.0, FloatRange(0.0, 1e6))
    """The caching library's CacheError count per period above this, per service (Redis unreachable, timeouts,
    corrupt entries: reads still succeed from the database, so only this metric shows it). Default 10."""
    dead_letter_messages: float = setting(1.0, FloatRange(1.0, 1e6))
    """Messages in a dead-letter queue at or above this, per queue: each is work that failed every retry (an
    edge refresh, a warmer run, a secondary region's refill) and is otherwise lost silently. Default 1."""
    cloudfront_additional_metrics: bool = setting(True)
    """Turn on CloudFront's additional metrics (CacheHitRate among them; billed monthly). Default on."""

    @property
    def cache_hit_rate_warning_percent(self) -> float:
        """``cache_hit_rate_warning`` as ElastiCache reports CacheHitRate: in percent (the config holds the
        source document's fraction, 0.8)."""
        return self.cache_hit_rate_warning * 100


@dataclass(frozen=True, kw_only=True)
class SecurityConfig:
    """Hardening that costs money, each switch on by default (prod keeps them on; a throwaway environment may
    turn one off, and the findings it then leaves are exempted with the switch named)."""

    customer_managed_keys: bool = setting(True)
    """Customer-managed KMS keys (rotated yearly) for every log group, the secrets, the DynamoDB table, the
    database storage and the cache at rest, one key per stack. The alarm topic always has its own key
    (CloudWatch cannot publish to a topic under the AWS-managed key). Default True."""
    bucket_versioning: bool = setting(True)
    """Versioning on the static-site and log buckets; earlier versions expire after
    ``noncurrent_version_days``. Default True."""
    noncurrent_version_days: int = setting(30, IntRange(1, 3650))
    """Days an overwritten or deleted object version is kept when versioning is on. Default 30."""
    web_acls: bool = setting(True)
    """Create WAF web ACLs (AWS managed rule groups plus a per-IP rate rule): one for CloudFront (always in
    us-east-1, see docs/DEPLOY.md) and one for the regional API stage, unless ``edge.waf_web_acl_arn`` /
    ``api.waf_web_acl_arn`` name existing ones. Default True."""
    waf_rate_limit: int = setting(2000, rules.WAF_RATE_LIMIT)
    """Requests one client IP may send in any 5 minutes before the rate rule blocks it. Default 2000."""


@dataclass(frozen=True, kw_only=True)
class QuotaConfig:
    """The account's quotas in the environment's region, as far as this project uses them. Defaults are AWS's
    defaults for a new account; raise one here after raising it in Service Quotas. Environments that share an
    account and region must state the same values (``config/quotas.py`` adds up what they use)."""

    vpcs: int = setting(5, IntRange(1, 1000))
    """VPCs per region (each environment has one). Default 5."""
    elastic_ips: int = setting(5, IntRange(1, 10000))
    """Elastic IP addresses per region (one per NAT gateway). Default 5."""
    nat_gateways_per_az: int = setting(5, IntRange(1, 1000))
    """NAT gateways per Availability Zone. Default 5."""
    lambda_concurrent_executions: int = setting(1000, IntRange(10, 1_000_000))
    """Lambda concurrent executions per region. Default 1000; a new account may start with 10, and Lambda
    keeps 100 unreserved, so such an account can reserve nothing."""
    dax_nodes: int = setting(50, IntRange(1, 10000))
    """DAX nodes per region, over all clusters. Default 50."""
    rds_instances: int = setting(40, IntRange(1, 10000))
    """RDS DB instances per region (writer plus replicas). Default 40."""
    elasticache_nodes: int = setting(300, IntRange(1, 100000))
    """ElastiCache nodes per region. Default 300."""


@dataclass(frozen=True, kw_only=True)
class GlobalDatastoreConfig:
    """ElastiCache Global Datastore and a read path in other regions (docs/DEPLOY.md, "Secondary regions")."""

    secondary_regions: tuple[str, ...] = setting((), global_datastore_rules.secondary_regions)
    """Regions with a read-only copy of the cache, a cross-region database replica and the product API's read
    path. Default none (single-region); prod ships with one."""
    primary_region: str | None = setting(None, global_datastore_rules.region)
    """The region the environment's primary stacks deploy to. Required with secondary regions while
    ``region`` is null (the secondaries read the primary's outputs there); equal to ``region`` when set."""


@dataclass(frozen=True, kw_only=True)
class PipelineConfig:
    connection_arn: str | None = setting(None, formats.CONNECTION_ARN)
    """CodeConnections ARN. The pipeline stack is synthesized only when this and repository are set."""
    repository: str | None = setting(None, formats.REPOSITORY)
    """'owner/name' of the source repository."""
    branch: str = setting("main", formats.BRANCH)
    """Branch the pipeline builds. Default main."""


@dataclass(frozen=True, kw_only=True)
class EnvironmentConfig:
    name: str
    account: str | None = setting(None, formats.ACCOUNT)
    """Target account. Default None: the stacks are environment-agnostic."""
    region: str | None = setting(None, formats.REGION)
    """Target region; it must offer DAX (``config/regions.py``). Default None: environment-agnostic."""
    removal_policy: str = setting("destroy", OneOf(("destroy", "snapshot", "retain")))
    """What happens to stateful resources when their stack is deleted. Default destroy (dev)."""
    deletion_protection: bool = setting(False)
    termination_protection: bool = setting(False)
    tags: Mapping[str, str] = setting({}, formats.tags)
    network: NetworkConfig = setting(default_factory=NetworkConfig)
    cache: CacheConfig = setting(default_factory=CacheConfig)
    database: DatabaseConfig = setting(default_factory=DatabaseConfig)
    dax: DaxConfig = setting(default_factory=DaxConfig)
    functions: FunctionsConfig = setting(default_factory=FunctionsConfig)
    api: ApiConfig = setting(default_factory=ApiConfig)
    edge: EdgeConfig = setting(default_factory=EdgeConfig)
    monitoring: MonitoringConfig = setting(default_factory=MonitoringConfig)
    security: SecurityConfig = setting(default_factory=SecurityConfig)
    quotas: QuotaConfig = setting(default_factory=QuotaConfig)
    pipeline: PipelineConfig = setting(default_factory=PipelineConfig)
    global_datastore: GlobalDatastoreConfig = setting(default_factory=GlobalDatastoreConfig)
    cost: CostSettings = setting(default_factory=CostSettings)
    """Monthly budget and traffic profile for ``make cost`` (``config/cost.py``); never read by a stack."""
