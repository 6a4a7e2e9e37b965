"""What the Redis/Valkey replication group and the Memcached cluster share: the network wiring, subnet
group and the ``AWS/ElastiCache`` metric shape, so both can be used through one interface (``ICacheCluster``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import aws_cdk as cdk
import jsii
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache

from constructs import Construct

NAMESPACE = "AWS/ElastiCache"

DEFAULT_SUBNETS = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
"""Data stores live in isolated subnets: no route to or from the internet, reachable only inside the VPC."""


class ICacheCluster(Protocol):
    """What callers use whatever the engine: network access, the endpoint to connect to, metrics."""

    connections: ec2.Connections
    endpoint_address: str
    port: int

    def metric(self, metric_name: str, **props: Any) -> cloudwatch.Metric: ...
    def metric_cache_hit_rate(self, **props: Any) -> cloudwatch.IMetric: ...
    def metric_evictions(self, **props: Any) -> cloudwatch.Metric: ...
    def metric_engine_cpu_utilization(self, **props: Any) -> cloudwatch.Metric: ...
    def metric_curr_connections(self, **props: Any) -> cloudwatch.Metric: ...


@jsii.implements(ec2.IConnectable)
class ElastiCacheBase(Construct):
    """Security group(s), subnet group and metric plumbing for one ElastiCache deployment."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        port: int,
        description: str,
        vpc_subnets: ec2.SubnetSelection | None,
        security_groups: Sequence[ec2.ISecurityGroup] | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.port = port
        """The port clients connect to (the same on every node)."""
        self.security_groups: list[ec2.ISecurityGroup] = list(security_groups or []) or [
            # No outbound rule: a cache never initiates connections (cdk-nag and least privilege).
            ec2.SecurityGroup(
                self, "SecurityGroup", vpc=vpc, description=description, allow_all_outbound=False
            )
        ]
        self.connections = ec2.Connections(
            security_groups=self.security_groups, default_port=ec2.Port.tcp(port)
        )
        """Network access: ``cache.connections.allow_default_port_from(caller)``. No ingress by default."""
        subnet_ids = vpc.select_subnets(**_selection_kwargs(vpc_subnets or DEFAULT_SUBNETS)).subnet_ids
        self.subnet_group = elasticache.CfnSubnetGroup(
            self, "SubnetGroup", description=description, subnet_ids=subnet_ids
        )

    def _metric(self, metric_name: str, cache_cluster_id: str, props: dict[str, Any]) -> cloudwatch.Metric:
        options: dict[str, Any] = {"statistic": "Average", "period": cdk.Duration.minutes(5), **props}
        dimensions = {"CacheClusterId": cache_cluster_id, **options.pop("dimensions_map", {})}
        return cloudwatch.Metric(
            namespace=NAMESPACE, metric_name=metric_name, dimensions_map=dimensions, **options
        )


def _selection_kwargs(selection: ec2.SubnetSelection) -> dict[str, Any]:
    """``SubnetSelection`` is a jsii struct; ``select_subnets`` takes its fields as keyword arguments."""
    names = (
        "availability_zones",
        "one_per_az",
        "subnet_filters",
        "subnet_group_name",
        "subnets",
        "subnet_type",
    )
    return {name: getattr(selection, name) for name in names if getattr(selection, name) is not None}
