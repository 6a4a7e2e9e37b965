"""``DaxCluster``: DynamoDB Accelerator in front of given tables, encrypted at rest and in transit.

aws-cdk-lib has only ``CfnCluster`` for DAX. This construct adds the parts that are easy to get wrong: a
service role scoped to the fronted tables, TLS endpoint encryption (port 9111), SSE, isolated subnets, TTLs in
its own parameter group, and data-plane grants scoped to the cluster ARN.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dax as dax
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam

from caching_constructs.core.nag import suppress_findings
from caching_constructs.core.rules import DAX_NODE_COUNT, DAX_NODE_TYPE, DAX_TTL_SECONDS, WEEKLY_WINDOW
from caching_constructs.core.validation import fail, require
from caching_constructs.data.data_store_network import security_groups_or_closed, subnet_ids
from constructs import Construct

NAMESPACE = "AWS/DAX"
TLS_PORT = 9111
"""DAX listens on 8111 in plaintext and on 9111 with TLS; only the TLS port is ever opened."""

DEFAULT_TTL = cdk.Duration.minutes(5)
READ_ACTIONS = ("dax:GetItem", "dax:BatchGetItem", "dax:Query", "dax:Scan", "dax:ConditionCheckItem")
WRITE_ACTIONS = ("dax:PutItem", "dax:UpdateItem", "dax:DeleteItem", "dax:BatchWriteItem")


@jsii.implements(ec2.IConnectable)
class DaxCluster(Construct):
    """A DAX cluster caching reads of ``tables``. Callers need network access *and* a data grant:
    ``dax.connections.allow_default_port_from(fn)`` and ``dax.grant_read_data(fn)``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        tables: Sequence[dynamodb.ITable],
        node_type: str = "dax.t3.small",
        replication_factor: int = 3,
        item_ttl: cdk.Duration | None = None,
        query_ttl: cdk.Duration | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: Sequence[ec2.ISecurityGroup] | None = None,
        maintenance_window: str = "sun:05:00-sun:06:00",
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.DESTROY,
        description: str = "DAX cluster",
        availability_zones: Sequence[str] | None = None,
    ) -> None:
        """
        :param vpc: The VPC to place the nodes in.
        :param tables: The DynamoDB tables DAX reads and writes through; its role is scoped to them.
        :param node_type: Node type. Default: dax.t3.small.
        :param replication_factor: Nodes (1-11); 3 or more for Multi-AZ, as AWS recommends. Default: 3.
        :param item_ttl: How long GetItem/BatchGetItem results stay cached (record-ttl-millis; up to 30 days,
            and 0 never expires them). Default: 5 min.
        :param query_ttl: How long Query/Scan results stay cached (query-ttl-millis; up to 30 days).
            Default: 5 min.
        :param vpc_subnets: Where the subnet group places nodes. Default: the VPC's isolated subnets.
        :param security_groups: Security groups for the nodes. Default: a new one with no ingress, no egress.
        :param maintenance_window: Weekly UTC maintenance window. Default: sun:05:00-sun:06:00.
        :param removal_policy: DESTROY or RETAIN; a DAX cluster holds only cached copies. Default: DESTROY.
        :param description: Description of the cluster, its parameter, subnet and security groups.
        :param availability_zones: AZs to spread the nodes over, round-robin (node i in AZ i mod n); they must
            have a subnet in ``vpc_subnets``. Default: DAX's own placement.
        """
        item_ttl = item_ttl or DEFAULT_TTL
        query_ttl = query_ttl or DEFAULT_TTL
        _validate(
            tables=tables,
            node_type=node_type,
            replication_factor=replication_factor,
            ttls={"item_ttl": item_ttl, "query_ttl": query_ttl},
            maintenance_window=maintenance_window,
            removal_policy=removal_policy,
        )
        super().__init__(scope, construct_id)
        self.tables = list(tables)
        self.port = TLS_PORT
        self.security_groups = security_groups_or_closed(
            self, vpc=vpc, description=description, given=security_groups
        )
        self.connections = ec2.Connections(
            security_groups=self.security_groups, default_port=ec2.Port.tcp(TLS_PORT)
        )
        """Network access on the TLS port: ``dax.connections.allow_default_port_from(caller)``."""

        self.role = self._service_role(description)
        self.cluster = self._cluster(
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            description=description,
            node_type=node_type,
            replication_factor=replication_factor,
            item_ttl=item_ttl,
            query_ttl=query_ttl,
            maintenance_window=maintenance_window,
            availability_zones=availability_zones,
        )
        self.cluster.apply_removal_policy(removal_policy)
        # DAX validates the role when the cluster is created: its policy must be attached first.
        self.cluster.node.add_dependency(self.role.node.find_child("DefaultPolicy"))
        self.node.default_child = self.cluster

        self.cluster_name: str = self.cluster.ref
        self.cluster_arn: str = self.cluster.attr_arn
        self.endpoint_url: str = self.cluster.attr_cluster_discovery_endpoint_url
        """``daxs://<discovery endpoint>:9111``: what ``AmazonDaxClient(endpoint_url=...)`` takes."""
        self.endpoint_address: str = self.cluster.attr_cluster_discovery_endpoint
        """The discovery endpoint as host:port (CloudFormation's ClusterDiscoveryEndpoint)."""

    def _service_role(self, description: str) -> iam.Role:
        """The role DAX assumes to read and write through to the tables, and to nothing else."""
        role = iam.Role(
            self,
            "ServiceRole",
            assumed_by=iam.ServicePrincipal("dax.amazonaws.com"),
            description=f"{description}: reads and writes through to its tables, nothing else",
        )
        for table in self.tables:
            table.grant_read_write_data(role)
        encrypted = [table for table in self.tables if table.encryption_key is not None]
        if encrypted:
            suppress_findings(
                role.node.find_child("DefaultPolicy"),
                [
                    {
                        "id": "AwsSolutions-IAM5",
                        "reason": "grant_read_write_data on a table with a customer-managed key adds that "
                        "key's data-key actions, which KMS names only with wildcards; the statement is "
                        "limited to the tables' own keys.",
                        "applies_to": ["Action::kms:GenerateDataKey*", "Action::kms:ReEncrypt*"],
                    }
                ],
            )
        return role

    def _cluster(
        self,
        *,
        vpc: ec2.IVpc,
        vpc_subnets: ec2.SubnetSelection | None,
        description: str,
        node_type: str,
        replication_factor: int,
        item_ttl: cdk.Duration,
        query_ttl: cdk.Duration,
        maintenance_window: str,
        availability_zones: Sequence[str] | None,
    ) -> dax.CfnCluster:
        """The cluster with its subnet group and its parameter group, which carries the TTLs."""
        self.subnet_group = dax.CfnSubnetGroup(
            self, "SubnetGroup", subnet_ids=subnet_ids(vpc, vpc_subnets), description=description
        )
        self.parameter_group = dax.CfnParameterGroup(
            self,
            "ParameterGroup",
            description=description,
            parameter_name_values={
                "record-ttl-millis": str(int(item_ttl.to_milliseconds())),
                "query-ttl-millis": str(int(query_ttl.to_milliseconds())),
            },
        )
        return dax.CfnCluster(
            self,
            "Resource",
            description=description,
            iam_role_arn=self.role.role_arn,
            node_type=node_type,
            replication_factor=replication_factor,
            subnet_group_name=self.subnet_group.ref,
            parameter_group_name=self.parameter_group.ref,
            security_group_ids=[group.security_group_id for group in self.security_groups],
            sse_specification=dax.CfnCluster.SSESpecificationProperty(sse_enabled=True),
            cluster_endpoint_encryption_type="TLS",
            preferred_maintenance_window=maintenance_window,
            availability_zones=[
                availability_zones[index % len(availability_zones)] for index in range(replication_factor)
            ]
            if availability_zones
            else None,
        )

    # --- grants ---------------------------------------------------------------------------------------------

    def grant(self, grantee: iam.IGrantable, *actions: str) -> iam.Grant:
        """``actions`` (dax:...) on this cluster only."""
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=list(actions), resource_arns=[self.cluster_arn]
        )

    def grant_read_data(self, grantee: iam.IGrantable) -> iam.Grant:
        """Reads through DAX: GetItem, BatchGetItem, Query, Scan, ConditionCheckItem on this cluster."""
        return self.grant(grantee, *READ_ACTIONS)

    def grant_write_data(self, grantee: iam.IGrantable) -> iam.Grant:
        """Writes through DAX: PutItem, UpdateItem, DeleteItem, BatchWriteItem on this cluster."""
        return self.grant(grantee, *WRITE_ACTIONS)

    def grant_read_write_data(self, grantee: iam.IGrantable) -> iam.Grant:
        return self.grant(grantee, *READ_ACTIONS, *WRITE_ACTIONS)

    # --- metrics --------------------------------------------------------------------------------------------

    def metric(self, metric_name: str, **props: Any) -> cloudwatch.Metric:
        """Metric ``metric_name`` of the cluster (``AWS/DAX``, ClusterId). Default: Sum over 5 minutes."""
        options: dict[str, Any] = {"statistic": "Sum", "period": cdk.Duration.minutes(5), **props}
        dimensions = {"ClusterId": self.cluster_name, **options.pop("dimensions_map", {})}
        return cloudwatch.Metric(
            namespace=NAMESPACE, metric_name=metric_name, dimensions_map=dimensions, **options
        )

    def metric_item_cache_hits(self, **props: Any) -> cloudwatch.Metric:
        return self.metric("ItemCacheHits", **props)

    def metric_item_cache_misses(self, **props: Any) -> cloudwatch.Metric:
        return self.metric("ItemCacheMisses", **props)

    def metric_query_cache_hits(self, **props: Any) -> cloudwatch.Metric:
        return self.metric("QueryCacheHits", **props)

    def metric_query_cache_misses(self, **props: Any) -> cloudwatch.Metric:
        return self.metric("QueryCacheMisses", **props)

    def metric_error_request_count(self, **props: Any) -> cloudwatch.Metric:
        return self.metric("ErrorRequestCount", **props)

    def metric_cpu_utilization(self, **props: Any) -> cloudwatch.Metric:
        return self.metric("CPUUtilization", **{"statistic": "Average", **props})


def _validate(
    *,
    tables: Sequence[dynamodb.ITable],
    node_type: str,
    replication_factor: int,
    ttls: dict[str, cdk.Duration],
    maintenance_window: str,
    removal_policy: cdk.RemovalPolicy,
) -> None:
    if not tables:
        raise fail("tables", list(tables), "at least one DynamoDB table for DAX to front")
    require("node_type", node_type, DAX_NODE_TYPE)
    require("replication_factor", replication_factor, DAX_NODE_COUNT)
    for prop, ttl in ttls.items():
        require(f"{prop} (seconds)", int(ttl.to_milliseconds() // 1000), DAX_TTL_SECONDS)
    require("maintenance_window", maintenance_window, WEEKLY_WINDOW, optional=True)
    if removal_policy == cdk.RemovalPolicy.SNAPSHOT:
        raise fail("removal_policy", "SNAPSHOT", "DESTROY or RETAIN (DAX has no snapshots)")
