"""``ServerlessCache``: an ElastiCache Serverless cache (Valkey or Redis OSS) with IAM authentication.

aws-cdk-lib ships ``ServerlessCache`` only in the alpha package (``aws-elasticache-alpha``), whose API may
change in any release; this wraps ``CfnServerlessCache`` in the shape of ``RedisReplicationGroup`` instead, so
the functions, the stacks and the monitoring use both through the same members: ``connections``,
``endpoint_address``/``port``, ``add_iam_user`` (whose user's ``grant_connect`` opens it to one role),
``metric_*()``.

What Serverless decides itself, and this construct therefore does not offer: node types, shards, replicas,
the parameter group (so the eviction policy: the service evicts by its own policy when the data storage
maximum is reached), the maintenance window and the port (6379; 6380 for its reader endpoint). Secure
defaults: TLS is always on (Serverless has no plain-text endpoint), encrypted at rest, isolated subnets, a
closed security group, IAM-authenticated RBAC users only (Serverless has no AUTH token), daily snapshots.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_kms as kms

from caching_constructs.core.rules import (
    DAILY_TIME,
    SERVERLESS_DATA_STORAGE_GB,
    SERVERLESS_ECPU_PER_SECOND,
    SNAPSHOT_RETENTION_DAYS,
    serverless_version,
)
from caching_constructs.core.validation import fail, require
from caching_constructs.data.data_store_network import security_groups_or_closed, subnet_ids
from caching_constructs.elasticache import group_metrics
from caching_constructs.elasticache.cache_users import CacheUser, CacheUserGroup, group_id_for
from caching_constructs.elasticache.elasticache_base import NAMESPACE
from caching_constructs.elasticache.engine_families import CacheEngine, parse_engine
from constructs import Construct

SERVERLESS_PORT = 6379
"""The endpoint's port: Serverless fixes it (the reader endpoint is 6380, unused here: reads go to the
endpoint, which already spreads them)."""
METRIC_DIMENSION = "clusterId"
"""The dimension Serverless publishes its metrics under, valued with the cache's name."""


@jsii.implements(ec2.IConnectable)
class ServerlessCache(Construct):
    """A Valkey / Redis OSS serverless cache in a VPC, reached over TLS by IAM-authenticated users.

    Wire callers with ``cache.connections.allow_default_port_from(caller)`` and
    ``cache.add_iam_user(name, access_string=...).grant_connect(caller)``; clients speak cluster mode to
    ``endpoint_address:port`` and sign their token with ``ResourceType=ServerlessCache``.
    """

    replicas_per_shard = 0
    """No replicas to confirm a write with WAIT: Serverless replicates across AZs itself."""
    cluster_mode_enabled = True
    """Serverless speaks only the cluster protocol, behind one endpoint."""
    auth_token_secret = None
    """Serverless has no AUTH token."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        engine: CacheEngine | str = CacheEngine.VALKEY,
        engine_version: str = "8",
        max_data_storage_gb: int = 10,
        max_ecpu_per_second: int = 5000,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: Sequence[ec2.ISecurityGroup] | None = None,
        kms_key: kms.IKey | None = None,
        snapshot_retention_days: int = 1,
        daily_snapshot_time: str = "03:00",
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
        description: str = "Serverless cache",
    ) -> None:
        """
        :param vpc: The VPC whose subnets the endpoint is placed in.
        :param engine: ``valkey`` or ``redis`` (Redis OSS). Default: Valkey.
        :param engine_version: The engine version; only its major is set (Serverless picks the minor):
            7 for Redis OSS, 7 or 8 for Valkey. Default: 8.
        :param max_data_storage_gb: Data the cache may hold (1-5000 GB); past it, the service evicts.
            Default: 10.
        :param max_ecpu_per_second: ECPUs per second it may scale to (1000-15,000,000); past it, commands
            are throttled (``metric_throttled_cmds``). Default: 5000.
        :param vpc_subnets: Where the endpoint's interfaces sit. Default: the VPC's isolated subnets.
        :param security_groups: Security groups for the endpoint. Default: a new one, no ingress or egress.
        :param kms_key: Customer managed key for the data at rest and the snapshots. Default: AWS owned.
        :param snapshot_retention_days: Daily snapshots kept (0 turns them off). Default: 1.
        :param daily_snapshot_time: UTC time the daily snapshot starts, ``hh:mm``. Default: 03:00.
        :param removal_policy: On stack deletion. SNAPSHOT deletes the cache after a final snapshot
            (``<cache name>-final``; FinalSnapshotName, as CloudFormation has no Snapshot policy for it).
            Default: RETAIN.
        :param description: Description of the cache and of its security group.
        """
        self.engine = parse_engine(engine)
        _validate(
            self.engine, engine_version, max_data_storage_gb, max_ecpu_per_second, snapshot_retention_days
        )
        require("daily_snapshot_time", daily_snapshot_time, DAILY_TIME)
        super().__init__(scope, construct_id)
        self.port = SERVERLESS_PORT
        self.max_data_storage_gb, self.max_ecpu_per_second = max_data_storage_gb, max_ecpu_per_second
        self.security_groups = security_groups_or_closed(
            self, vpc=vpc, description=description, given=security_groups
        )
        # Network access: ``cache.connections.allow_default_port_from(caller)``; no ingress by default.
        self.connections = ec2.Connections(
            security_groups=self.security_groups, default_port=ec2.Port.tcp(self.port)
        )
        self.cache_name = group_id_for(self)
        """Unique per stack and construct: what IAM tokens are signed for, the metrics' ``clusterId``."""
        self.user_group = CacheUserGroup(self, "Users", group_id=self.cache_name)
        """A disabled ``default`` user plus one IAM-authenticated user per ``add_iam_user``."""
        self.resource = elasticache.CfnServerlessCache(
            self,
            "Resource",
            serverless_cache_name=self.cache_name,
            description=description,
            engine=self.engine.value,
            major_engine_version=engine_version.split(".")[0],
            cache_usage_limits=_usage_limits(max_data_storage_gb, max_ecpu_per_second),
            subnet_ids=subnet_ids(vpc, vpc_subnets),
            security_group_ids=[group.security_group_id for group in self.security_groups],
            kms_key_id=kms_key.key_arn if kms_key else None,
            user_group_id=self.user_group.resource.ref,
            snapshot_retention_limit=snapshot_retention_days,
            daily_snapshot_time=daily_snapshot_time if snapshot_retention_days else None,
        )
        self._apply_removal_policy(removal_policy)
        self.node.default_child = self.resource
        # The one endpoint for writes, reads and every slot (the client follows MOVED behind it).
        self.endpoint_address: str = self.resource.attr_endpoint_address
        self.reader_endpoint_address: str | None = None
        self.cache_arn: str = self.resource.attr_arn

    @property
    def replication_group_id(self) -> str:
        """The name IAM tokens are signed for (the replication group's id, for a replication group)."""
        return self.cache_name

    def _apply_removal_policy(self, removal_policy: cdk.RemovalPolicy) -> None:
        if removal_policy == cdk.RemovalPolicy.SNAPSHOT:
            # CloudFormation has no Snapshot deletion policy for a serverless cache: the cache names its
            # final snapshot itself, which ElastiCache takes when the cache is deleted.
            self.resource.final_snapshot_name = f"{self.cache_name}-final"
            self.resource.apply_removal_policy(cdk.RemovalPolicy.DESTROY)
        else:
            self.resource.apply_removal_policy(removal_policy)

    def add_iam_user(self, name: str, *, access_string: str) -> CacheUser:
        """An IAM-authenticated user ``<cache name>-<name>`` with ``access_string``; its
        ``grant_connect(grantee)`` gives one role ``elasticache:Connect`` on that user and this cache."""
        return self.user_group.add_iam_user(name, access_string=access_string, cache_arn=self.cache_arn)

    # --- metrics --------------------------------------------------------------------------------------------

    def metric(self, metric_name: str, **props: Any) -> cloudwatch.Metric:
        """Metric ``metric_name`` of the cache. ``props`` are ``cloudwatch.MetricOptions``. Default: Average
        over 5 minutes."""
        options: dict[str, Any] = {"statistic": "Average", "period": cdk.Duration.minutes(5), **props}
        dimensions = {METRIC_DIMENSION: self.cache_name, **options.pop("dimensions_map", {})}
        return cloudwatch.Metric(
            namespace=NAMESPACE, metric_name=metric_name, dimensions_map=dimensions, **options
        )

    def metric_cache_hit_rate(self, **props: Any) -> cloudwatch.IMetric:
        """Hit rate in percent, 100 * CacheHits / (CacheHits + CacheMisses); no datapoint while idle."""
        sums = {**props, "statistic": "Sum"}
        return group_metrics.hit_rate_over(
            [self.metric("CacheHits", **sums)],
            [self.metric("CacheMisses", **sums)],
            label=props.get("label", "CacheHitRate"),
            period=props.get("period", cdk.Duration.minutes(5)),
        )

    def metric_ecpus(self, **props: Any) -> cloudwatch.Metric:
        """ElastiCacheProcessingUnits (Sum): the ECPUs the cache's commands consumed, what it bills."""
        return self.metric("ElastiCacheProcessingUnits", **{"statistic": "Sum", **props})

    def metric_ecpu_percent_of_limit(self, **props: Any) -> cloudwatch.IMetric:
        """ECPUs per second as a percentage of ``max_ecpu_per_second``: at 100, commands are throttled."""
        return cloudwatch.MathExpression(
            expression=f"100 * ecpus / PERIOD(ecpus) / {self.max_ecpu_per_second}",
            using_metrics={"ecpus": self.metric_ecpus(**props)},
            label=props.get("label", "ECPUs per second (% of the limit)"),
            period=props.get("period", cdk.Duration.minutes(5)),
        )

    def metric_bytes_used_for_cache(self, **props: Any) -> cloudwatch.Metric:
        """BytesUsedForCache (Maximum): the data stored, what storage bills."""
        return self.metric("BytesUsedForCache", **{"statistic": "Maximum", **props})

    def metric_storage_percent_of_limit(self, **props: Any) -> cloudwatch.IMetric:
        """BytesUsedForCache as a percentage of ``max_data_storage_gb``: near 100 the service evicts."""
        limit_bytes = self.max_data_storage_gb * 1_000_000_000
        return cloudwatch.MathExpression(
            expression=f"100 * bytes / {limit_bytes}",
            using_metrics={"bytes": self.metric_bytes_used_for_cache(**props)},
            label=props.get("label", "Data stored (% of the limit)"),
            period=props.get("period", cdk.Duration.minutes(5)),
        )

    def metric_throttled_cmds(self, **props: Any) -> cloudwatch.Metric:
        """ThrottledCmds (Sum): commands refused because the workload outgrew the ECPU limit or scaled
        faster than the service."""
        return self.metric("ThrottledCmds", **{"statistic": "Sum", **props})

    def metric_evictions(self, **props: Any) -> cloudwatch.Metric:
        """Evictions (Sum): keys the service dropped at the data storage limit."""
        return self.metric("Evictions", **{"statistic": "Sum", **props})

    def metric_curr_connections(self, **props: Any) -> cloudwatch.Metric:
        """CurrConnections (Maximum)."""
        return self.metric("CurrConnections", **{"statistic": "Maximum", **props})


def _usage_limits(
    max_data_storage_gb: int, max_ecpu_per_second: int
) -> elasticache.CfnServerlessCache.CacheUsageLimitsProperty:
    return elasticache.CfnServerlessCache.CacheUsageLimitsProperty(
        data_storage=elasticache.CfnServerlessCache.DataStorageProperty(
            maximum=max_data_storage_gb, unit="GB"
        ),
        ecpu_per_second=elasticache.CfnServerlessCache.ECPUPerSecondProperty(maximum=max_ecpu_per_second),
    )


def _validate(
    engine: CacheEngine,
    engine_version: str,
    max_data_storage_gb: int,
    max_ecpu_per_second: int,
    snapshot_retention_days: int,
) -> None:
    """The props' rules, from ``caching_constructs.core.rules``: the ones the project's config checks too."""
    if not engine.replicates:
        raise fail("engine", engine.value, "'redis' or 'valkey' (use MemcachedCluster for memcached)")
    require("engine_version", engine_version, _Version(engine.value))
    require("max_data_storage_gb", max_data_storage_gb, SERVERLESS_DATA_STORAGE_GB)
    require("max_ecpu_per_second", max_ecpu_per_second, SERVERLESS_ECPU_PER_SECOND)
    require("snapshot_retention_days", snapshot_retention_days, SNAPSHOT_RETENTION_DAYS)


class _Version:
    """``serverless_version`` as a one-argument rule for ``require``."""

    def __init__(self, engine: str) -> None:
        self.engine = engine

    def __call__(self, value: Any) -> str | None:
        if not isinstance(value, str):
            return "a version string such as '8'"
        return serverless_version(self.engine, value)
