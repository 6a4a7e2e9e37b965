"""``MemcachedCluster``: the Memcached alternative, with the same ``connections`` and metrics shape.

Memcached has no AUTH, no replication (so no Multi-AZ failover) and no encryption at rest; what it offers is
enforced here: TLS in transit (1.6.12+), isolated subnets, a non-default port, nodes spread across AZs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache

from caching_constructs.core.rules import CACHE_NODE_TYPE, MEMCACHED_NODES, WEEKLY_WINDOW, service_port
from caching_constructs.core.validation import fail, require
from caching_constructs.elasticache.elasticache_base import ElastiCacheBase
from caching_constructs.elasticache.engine_families import CacheEngine, parameter_group_family, version_rule
from constructs import Construct


class MemcachedCluster(ElastiCacheBase):
    """A Memcached cluster in a VPC. Clients shard keys over the nodes via the configuration endpoint."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        engine_version: str = "1.6.22",
        node_type: str = "cache.t4g.micro",
        num_nodes: int = 2,
        port: int = 11212,
        parameters: Mapping[str, str] | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: Sequence[ec2.ISecurityGroup] | None = None,
        maintenance_window: str = "sun:05:00-sun:06:00",
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.DESTROY,
        description: str = "Memcached cluster",
    ) -> None:
        """
        :param vpc: The VPC to place the nodes in.
        :param engine_version: Full Memcached version, 1.6.12 or later (TLS). Default: 1.6.22.
        :param node_type: Node instance type. Default: cache.t4g.micro.
        :param num_nodes: Nodes (1-40); 2 or more are spread across AZs. Default: 2.
        :param port: Port on every node; the well-known 11211 is refused. Default: 11212.
        :param parameters: Engine parameters for the cluster's own parameter group. Default: none.
        :param vpc_subnets: Where the subnet group places nodes. Default: the VPC's isolated subnets.
        :param security_groups: Security groups for the nodes. Default: a new one with no ingress, no egress.
        :param maintenance_window: Weekly UTC maintenance window. Default: sun:05:00-sun:06:00.
        :param removal_policy: DESTROY or RETAIN; Memcached keeps nothing to snapshot. Default: DESTROY.
        :param description: Description of the cluster's subnet group and security group.
        """
        require("engine_version", engine_version, version_rule(CacheEngine.MEMCACHED))
        self.parameter_group_family = parameter_group_family(CacheEngine.MEMCACHED, engine_version)
        require("node_type", node_type, CACHE_NODE_TYPE)
        require("num_nodes", num_nodes, MEMCACHED_NODES)
        require("port", port, service_port(CacheEngine.MEMCACHED.value))
        require("maintenance_window", maintenance_window, WEEKLY_WINDOW, optional=True)
        if removal_policy == cdk.RemovalPolicy.SNAPSHOT:
            raise fail("removal_policy", "SNAPSHOT", "DESTROY or RETAIN (Memcached has no snapshots)")
        super().__init__(
            scope,
            construct_id,
            vpc=vpc,
            port=port,
            description=description,
            vpc_subnets=vpc_subnets,
            security_groups=security_groups,
        )
        self.engine = CacheEngine.MEMCACHED
        self.engine_version = engine_version
        self.num_nodes = num_nodes
        self.parameter_group = elasticache.CfnParameterGroup(
            self,
            "ParameterGroup",
            cache_parameter_group_family=self.parameter_group_family,
            description=description,
            properties=dict(parameters or {}),
        )
        self.cache_cluster = elasticache.CfnCacheCluster(
            self,
            "Resource",
            engine=self.engine.value,
            engine_version=engine_version,
            cache_node_type=node_type,
            num_cache_nodes=num_nodes,
            port=port,
            az_mode="cross-az" if num_nodes > 1 else "single-az",
            cache_parameter_group_name=self.parameter_group.ref,
            cache_subnet_group_name=self.subnet_group.ref,
            vpc_security_group_ids=[group.security_group_id for group in self.security_groups],
            transit_encryption_enabled=True,
            preferred_maintenance_window=maintenance_window,
            auto_minor_version_upgrade=True,
        )
        self.cache_cluster.apply_removal_policy(removal_policy)
        self.node.default_child = self.cache_cluster
        self.cache_cluster_id: str = self.cache_cluster.ref
        self.endpoint_address: str = self.cache_cluster.attr_configuration_endpoint_address
        """The configuration endpoint: auto-discovery clients find every node through it."""
        self.reader_endpoint_address: str | None = None

    def metric(self, metric_name: str, **props: Any) -> cloudwatch.Metric:
        """Metric ``metric_name`` of the cluster (all nodes). Default: Average over 5 minutes."""
        return self._metric(metric_name, self.cache_cluster_id, props)

    def metric_get_hits(self, **props: Any) -> cloudwatch.Metric:
        return self.metric("GetHits", **{"statistic": "Sum", **props})

    def metric_get_misses(self, **props: Any) -> cloudwatch.Metric:
        return self.metric("GetMisses", **{"statistic": "Sum", **props})

    def metric_cache_hit_rate(self, **props: Any) -> cloudwatch.IMetric:
        """Hit rate in percent, GetHits / (GetHits + GetMisses): Memcached publishes no CacheHitRate.

        A period without lookups has no datapoint (``IF`` without a false branch), as on the Redis group: 0 %
        would breach the low-hit-rate alarm on an idle cache."""
        options = {key: value for key, value in props.items() if key in ("period", "label")}
        return cloudwatch.MathExpression(
            expression="IF(hits + misses > 0, 100 * hits / (hits + misses))",
            using_metrics={"hits": self.metric_get_hits(), "misses": self.metric_get_misses()},
            **{"label": "CacheHitRate", "period": cdk.Duration.minutes(5), **options},
        )

    def metric_evictions(self, **props: Any) -> cloudwatch.Metric:
        return self.metric("Evictions", **{"statistic": "Sum", **props})

    def metric_engine_cpu_utilization(self, **props: Any) -> cloudwatch.Metric:
        """CPUUtilization: Memcached is multi-threaded, so host CPU is the engine's CPU."""
        return self.metric("CPUUtilization", **props)

    def metric_curr_connections(self, **props: Any) -> cloudwatch.Metric:
        return self.metric("CurrConnections", **props)
