"""Resources billed by the hour or the month, priced from their type, size and count in the templates."""

from __future__ import annotations

from collections.abc import Iterable

from caching_constructs.core.rules import MYSQL_STANDARD_SUPPORT_ENDED
from cost.model import Charge, Context, H, Resource, Where, prices, references


def vcpus(instance_class: str) -> int:
    """vCPUs of a db.t/m/r class by its size: micro to large have 2, xlarge 4, Nxlarge 4N."""
    size = instance_class.rsplit(".", 1)[-1]
    if size.endswith("xlarge"):
        return 4 * int(size[: -len("xlarge")] or 1)
    return 2


@prices("AWS::EC2::NatGateway")
def _nat_gateway(ctx: Context, where: Where, resource: Resource) -> Iterable[Charge]:
    yield Charge("Network", "NAT gateway", H, "h", ctx.usd("ec2/nat-gateway-hour"))


@prices("AWS::EC2::EIP")
def _elastic_ip(ctx: Context, where: Where, resource: Resource) -> Iterable[Charge]:
    # Every public IPv4 address is billed since 2024-02, attached or not: each NAT gateway's EIP.
    yield Charge("Network", "Elastic IP (public IPv4)", H, "h", ctx.usd("vpc/public-ipv4-hour"))


@prices("AWS::EC2::VPCEndpoint")
def _vpc_endpoint(ctx: Context, where: Where, resource: Resource) -> Iterable[Charge]:
    properties = resource.get("Properties", {})
    if properties.get("VpcEndpointType", "Gateway") != "Interface":
        return  # gateway endpoints (S3, DynamoDB) are free
    # An interface endpoint is billed per AZ it has a network interface in: one per subnet.
    azs = max(1, len(properties.get("SubnetIds") or []))
    price = ctx.usd("vpc/interface-endpoint-az-hour")
    yield Charge("Network", "interface endpoint (per AZ)", azs * H, "AZ-h", price, count=azs)


def replication_group_nodes(properties: Resource) -> int:
    """Nodes of a replication group: primary plus replicas, per shard."""
    if properties.get("NodeGroupConfiguration"):
        default = int(properties.get("ReplicasPerNodeGroup", 0))
        groups = properties["NodeGroupConfiguration"]
        return sum(1 + int(group.get("ReplicaCount", default)) for group in groups)
    if "NumNodeGroups" in properties or "ReplicasPerNodeGroup" in properties:
        return int(properties.get("NumNodeGroups", 1)) * (1 + int(properties.get("ReplicasPerNodeGroup", 0)))
    return int(properties.get("NumCacheClusters", 1))


@prices("AWS::ElastiCache::ReplicationGroup", "AWS::ElastiCache::CacheCluster")
def _cache_nodes(ctx: Context, where: Where, resource: Resource) -> Iterable[Charge]:
    properties = resource.get("Properties", {})
    engine = str(properties.get("Engine", "redis")).lower()
    node_type = properties.get("CacheNodeType") or _global_node_type(ctx)
    if resource["Type"] == "AWS::ElastiCache::ReplicationGroup":
        nodes = replication_group_nodes(properties)
    else:
        nodes = int(properties.get("NumCacheNodes", 1))
    price = ctx.usd(f"elasticache/node-hour/{engine}/{node_type}")
    yield Charge("ElastiCache", f"{engine} {node_type} node", nodes * H, "node-h", price, count=nodes)


def _global_node_type(ctx: Context) -> str:
    """A Global Datastore's secondary member names no node type: it runs the primary member's, the one
    replication group of the environment that names one."""
    primaries = {
        str(properties["CacheNodeType"])
        for _, group in ctx.resources("AWS::ElastiCache::ReplicationGroup")
        if "CacheNodeType" in (properties := group.get("Properties", {}))
    }
    if len(primaries) != 1:
        raise KeyError(f"a replication group names no CacheNodeType; the others name {sorted(primaries)}")
    return primaries.pop()


def _source_instance(ctx: Context, stack: str, properties: Resource) -> Resource:
    """The writer a read replica copies (its engine, version and storage), when it is in the same stack."""
    for logical_id in references(properties.get("SourceDBInstanceIdentifier")):
        source = ctx.resource(stack, logical_id)
        if source is not None and source["Type"] == "AWS::RDS::DBInstance":
            return source.get("Properties", {})
    return {}


@prices("AWS::RDS::DBInstance")
def _database_instance(ctx: Context, where: Where, resource: Resource) -> Iterable[Charge]:
    own = resource.get("Properties", {})
    source = _source_instance(ctx, where[0], own)
    properties = {**source, **own}  # a replica inherits what it does not set
    engine = str(properties.get("Engine", "mysql")).lower()
    instance_class = properties["DBInstanceClass"]
    # Multi-AZ keeps a standby of the same class and storage: billed as two instances (the published
    # MySQL Multi-AZ rates are exactly twice Single-AZ). Replicas never inherit it.
    copies = 2 if own.get("MultiAZ") else 1
    role = "read replica" if "SourceDBInstanceIdentifier" in own else "writer"
    label = f"{engine} {instance_class} {role}" + (" (Multi-AZ)" if copies == 2 else "")
    price = ctx.usd(f"rds/instance-hour/{engine}/{instance_class}")
    yield Charge("RDS", label, copies * H, "instance-h", price)
    storage_type = str(properties.get("StorageType", "gp2")).lower()
    storage = float(properties.get("AllocatedStorage", 20))
    price = ctx.usd(f"rds/storage-gb-month/{storage_type}")
    yield Charge("RDS", f"{storage_type} storage", copies * storage, "GB-mo", price)
    yield from _database_extras(ctx, properties, instance_class, copies)


def _database_extras(
    ctx: Context, properties: Resource, instance_class: str, copies: int
) -> Iterable[Charge]:
    engine = str(properties.get("Engine", "mysql")).lower()
    major = str(properties.get("EngineVersion", "")).rsplit(".", 1)[0]
    # RDS enrols an instance in Extended Support unless told otherwise; it bills only past standard support.
    lifecycle = properties.get("EngineLifecycleSupport", "open-source-rds-extended-support")
    if major in MYSQL_STANDARD_SUPPORT_ENDED and lifecycle == "open-source-rds-extended-support":
        price = ctx.usd(f"rds/extended-support-vcpu-hour/{engine}")
        hours = copies * vcpus(instance_class) * H
        yield Charge("RDS", f"Extended Support (MySQL {major})", hours, "vCPU-h", price)
    if properties.get("EnablePerformanceInsights"):
        retention = int(properties.get("PerformanceInsightsRetentionPeriod", 7))
        if retention > 7:
            # Retention beyond the free 7 days is CloudWatch Database Insights' advanced mode, per vCPU.
            price = ctx.usd("rds/database-insights-advanced-vcpu-hour")
            hours = vcpus(instance_class) * H
            yield Charge("RDS", f"Performance Insights {retention} d", hours, "vCPU-h", price)
        else:
            ctx.notes.append(f"Performance Insights on {instance_class}: 7 days of history are free")


@prices("AWS::DAX::Cluster")
def _dax(ctx: Context, where: Where, resource: Resource) -> Iterable[Charge]:
    properties = resource.get("Properties", {})
    nodes = int(properties.get("ReplicationFactor", 1))
    node_type = properties["NodeType"]
    price = ctx.usd(f"dax/node-hour/{node_type}")
    yield Charge("DAX", f"{node_type} node", nodes * H, "node-h", price, count=nodes)


@prices("AWS::ApiGateway::Stage")
def _api_stage_cache(ctx: Context, where: Where, resource: Resource) -> Iterable[Charge]:
    properties = resource.get("Properties", {})
    if properties.get("CacheClusterEnabled"):
        size = str(properties.get("CacheClusterSize", "0.5"))
        price = ctx.usd(f"apigateway/cache-hour/{size}")
        yield Charge("API Gateway", f"stage cache {size} GB", H, "h", price)


@prices("AWS::KMS::Key")
def _kms_key(ctx: Context, where: Where, resource: Resource) -> Iterable[Charge]:
    yield Charge("Security", "KMS customer-managed key", 1, "key-mo", ctx.usd("kms/key-month"))


@prices("AWS::SecretsManager::Secret")
def _secret(ctx: Context, where: Where, resource: Resource) -> Iterable[Charge]:
    yield Charge("Security", "Secrets Manager secret", 1, "secret-mo", ctx.usd("secretsmanager/secret-month"))


@prices("AWS::WAFv2::WebACL")
def _web_acl(ctx: Context, where: Where, resource: Resource) -> Iterable[Charge]:
    properties = resource.get("Properties", {})
    scope = properties.get("Scope", "REGIONAL")
    yield Charge("Security", "WAF web ACL", 1, "ACL-mo", ctx.usd("waf/web-acl-month"))
    # A managed rule group counts as one rule.
    rules = len(properties.get("Rules", []))
    yield Charge("Security", "WAF rule", rules, "rule-mo", ctx.usd("waf/rule-month"), count=rules)
    inspected = ctx.profile.viewer_requests_per_month if scope == "CLOUDFRONT" else ctx.api_requests
    yield Charge("Security", "WAF requests", inspected, "req", ctx.usd("waf/million-requests"), usage=True)


def _alarm_metrics(properties: Resource) -> tuple[int, bool]:
    """Metrics an alarm is billed for, and whether any is high resolution (a period under 60 s)."""
    queries = properties.get("Metrics")
    if not queries:
        return 1, int(properties.get("Period", 60)) < 60
    stats = [query["MetricStat"] for query in queries if "MetricStat" in query]
    # An anomaly-detection band is billed as three metrics.
    bands = sum("ANOMALY_DETECTION_BAND" in str(query.get("Expression", "")) for query in queries)
    high_resolution = any(int(stat.get("Period", 60)) < 60 for stat in stats)
    return len(stats) + 2 * bands, high_resolution


@prices("AWS::CloudWatch::Alarm")
def _alarm(ctx: Context, where: Where, resource: Resource) -> Iterable[Charge]:
    metrics, high_resolution = _alarm_metrics(resource.get("Properties", {}))
    if high_resolution:
        price = ctx.usd("cloudwatch/high-resolution-alarm-metric-month")
        yield Charge("Monitoring", "alarm metric (high resolution)", metrics, "metric-mo", price)
    else:
        price = ctx.usd("cloudwatch/alarm-metric-month")
        yield Charge("Monitoring", "alarm metric", metrics, "metric-mo", price)


@prices("AWS::CloudWatch::CompositeAlarm")
def _composite_alarm(ctx: Context, where: Where, resource: Resource) -> Iterable[Charge]:
    yield Charge("Monitoring", "composite alarm", 1, "alarm-mo", ctx.usd("cloudwatch/composite-alarm-month"))


@prices("AWS::CloudWatch::Dashboard")
def _dashboard(ctx: Context, where: Where, resource: Resource) -> Iterable[Charge]:
    yield Charge("Monitoring", "dashboard", 1, "dashboard-mo", ctx.usd("cloudwatch/dashboard-month"))


CLOUDFRONT_ADDITIONAL_METRICS = 8
"""CloudFront's additional metrics per distribution (cache hit rate, origin latency, six error rates),
billed as CloudWatch custom metrics."""


@prices("AWS::CloudFront::MonitoringSubscription")
def _cloudfront_metrics(ctx: Context, where: Where, resource: Resource) -> Iterable[Charge]:
    price = ctx.usd("cloudwatch/custom-metric-month")
    metrics = CLOUDFRONT_ADDITIONAL_METRICS
    yield Charge("Monitoring", "CloudFront additional metrics", metrics, "metric-mo", price)
