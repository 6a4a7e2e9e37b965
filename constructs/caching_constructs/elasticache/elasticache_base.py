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

from caching_constructs.data.data_store_network import security_groups_or_closed, subnet_ids
from constructs import Construct

NAMESPACE = "AWS/ElastiCache"


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
        self.security_groups = security_groups_or_closed(
            self, vpc=vpc, description=description, given=security_groups
        )
        self.connections = ec2.Connections(
            security_groups=self.security_groups, default_port=ec2.Port.tcp(port)
        )
        """Network access: ``cache.connections.allow_default_port_from(caller)``. No ingress by default."""
        self.subnet_group = elasticache.CfnSubnetGroup(
            self, "SubnetGroup", description=description, subnet_ids=subnet_ids(vpc, vpc_subnets)
        )

    def _metric(self, metric_name: str, cache_cluster_id: str, props: dict[str, Any]) -> cloudwatch.Metric:
        options: dict[str, Any] = {"statistic": "Average", "period": cdk.Duration.minutes(5), **props}
        dimensions = {"CacheClusterId": cache_cluster_id, **options.pop("dimensions_map", {})}
        return cloudwatch.Metric(
            namespace=NAMESPACE, metric_name=metric_name, dimensions_map=dimensions, **options
        )
