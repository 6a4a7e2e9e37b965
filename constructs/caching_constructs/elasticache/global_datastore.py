"""ElastiCache Global Datastore: the global group over an existing primary, and a secondary member.

``GlobalDatastore`` makes an existing ``RedisReplicationGroup`` the primary member of a
``CfnGlobalReplicationGroup``; ``SecondaryReplicationGroup`` is a read-only replication group in another
region that joins it. The member's engine, version, node type, shard count, AUTH token and encryption
settings come from the global group (AWS requires them equal); what stays regional is set here: its own
subnet group, security group, parameter group and KMS key, and its replica count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_kms as kms

from caching_constructs.core.nag import suppress_findings
from caching_constructs.core.rules import service_port
from caching_constructs.core.validation import require
from caching_constructs.elasticache import global_datastore_rules
from caching_constructs.elasticache.cache_users import CacheUser, CacheUserGroup, group_id_for
from caching_constructs.elasticache.elasticache_base import ElastiCacheBase
from caching_constructs.elasticache.redis_replication_group import RedisReplicationGroup
from constructs import Construct

GLOBAL_NAMESPACE = "AWS/ElastiCache"


class GlobalDatastore(Construct):
    """The global replication group whose primary member is ``primary``, in the primary's region.

    ``global_replication_group_id`` is what secondary members join (the id carries an AWS-chosen prefix, so
    it is only known at deploy time)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, primary: RedisReplicationGroup, id_suffix: str
    ) -> None:
        """
        :param primary: the existing replication group; it keeps its data and becomes the primary member.
        :param id_suffix: the global group id's suffix (AWS prefixes it per region pair).
        """
        super().__init__(scope, construct_id)
        require(
            "primary.node_type", primary.replication_group.cache_node_type, global_datastore_rules.node_type
        )
        self.group = elasticache.CfnGlobalReplicationGroup(
            self,
            "Resource",
            global_replication_group_id_suffix=id_suffix,
            global_replication_group_description="Catalogue cache replicated to the secondary regions",
            members=[
                elasticache.CfnGlobalReplicationGroup.GlobalReplicationGroupMemberProperty(
                    replication_group_id=primary.replication_group_id,
                    replication_group_region=cdk.Aws.REGION,
                    role="PRIMARY",
                )
            ],
        )
        # The L1 is taggable but the resource's schema has no Tags: the stage's tags would fail validation.
        self.group.add_property_deletion_override("Tags")
        self.node.default_child = self.group
        self.global_replication_group_id: str = self.group.attr_global_replication_group_id


class SecondaryReplicationGroup(ElastiCacheBase):
    """A read-only member of a global datastore in this stack's region. Clients connect with TLS to
    ``endpoint_address:port`` (the AUTH token is the primary's: the global group shares it)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        global_replication_group_id: str,
        parameter_group_family: str,
        replicas: int,
        port: int,
        kms_key: kms.IKey | None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: Sequence[ec2.ISecurityGroup] | None = None,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.DESTROY,
        description: str = "Global Datastore secondary",
        iam_auth: bool = False,
    ) -> None:
        """
        :param global_replication_group_id: the global group to join (read across regions at deploy time).
        :param parameter_group_family: the primary's family (``redis7``...); the parameters are the primary's,
            which Global Datastore applies to every member.
        :param replicas: read replicas beside the member's primary node (0-5). Multi-AZ follows the primary.
        :param port: the primary's port; the well-known 6379 is refused, as on the primary.
        :param kms_key: a key in this region for encryption at rest. Default: the AWS managed key.
        :param removal_policy: a secondary holds only copies: DESTROY unless everything is retained.
        :param iam_auth: the primary's ``auth="iam"``: RBAC users and groups are regional, so the member
            gets its own group (disabled ``default`` user) and ``add_iam_user`` adds this region's callers.
            Default False (the AUTH token, which the global group shares).
        """
        # The primary's rule: refusing the well-known port here keeps cdk-nag's AEC5 from ever firing, so the
        # member needs no exemption for it.
        require("port", port, service_port("redis"))
        super().__init__(
            scope,
            construct_id,
            vpc=vpc,
            port=port,
            description=description,
            vpc_subnets=vpc_subnets,
            security_groups=security_groups,
        )
        self.parameter_group = elasticache.CfnParameterGroup(
            self,
            "ParameterGroup",
            cache_parameter_group_family=parameter_group_family,
            description=f"{description}: parameters follow the global datastore's primary",
        )
        self.user_group: CacheUserGroup | None = (
            CacheUserGroup(self, "Users", group_id=group_id_for(self)) if iam_auth else None
        )
        self.replication_group = self._add_replication_group(
            global_replication_group_id=global_replication_group_id,
            replicas=replicas,
            port=port,
            kms_key=kms_key,
            description=description,
        )
        self.replication_group.apply_removal_policy(removal_policy)
        self.node.default_child = self.replication_group
        self.replicas = replicas
        self.replication_group_id: str = self.replication_group.ref
        self.endpoint_address: str = self.replication_group.attr_primary_end_point_address
        self.reader_endpoint_address: str = self.replication_group.attr_reader_end_point_address
        self.replication_group_arn: str = cdk.Stack.of(self).format_arn(
            service="elasticache",
            resource="replicationgroup",
            resource_name=self.replication_group_id,
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )

    def _add_replication_group(
        self,
        *,
        global_replication_group_id: str,
        replicas: int,
        port: int,
        kms_key: kms.IKey | None,
        description: str,
    ) -> elasticache.CfnReplicationGroup:
        """The member itself: what is regional (network, parameters, key, users, replicas) and nothing the
        global group sets."""
        member = elasticache.CfnReplicationGroup(
            self,
            "Resource",
            replication_group_description=description,
            global_replication_group_id=global_replication_group_id,
            num_cache_clusters=1 + replicas,
            port=port,
            cache_parameter_group_name=self.parameter_group.ref,
            cache_subnet_group_name=self.subnet_group.ref,
            security_group_ids=[group.security_group_id for group in self.security_groups],
            automatic_failover_enabled=replicas >= 1,
            multi_az_enabled=replicas >= 1,
            at_rest_encryption_enabled=True,
            kms_key_id=kms_key.key_arn if kms_key else None,
            transit_encryption_enabled=True,
            auto_minor_version_upgrade=True,
            user_group_ids=[self.user_group.resource.ref] if self.user_group else None,
        )
        suppress_findings(
            member,
            [
                {
                    "id": "AwsSolutions-AEC6",
                    "reason": "A Global Datastore secondary inherits the primary's AUTH token; "
                    "CloudFormation refuses AuthToken on a member that joins a global group.",
                },
            ],
        )
        return member

    def add_iam_user(self, name: str, *, access_string: str) -> CacheUser:
        """An IAM-authenticated user of this member (``iam_auth`` only); ``grant_connect`` lets a role in."""
        if self.user_group is None:
            raise ValueError(f"iam_auth: False; expected True to add the IAM user {name!r}")
        return self.user_group.add_iam_user(
            name, access_string=access_string, cache_arn=self.replication_group_arn
        )

    def metric_global_replication_lag(self, **props: Any) -> cloudwatch.Metric:
        """``GlobalDatastoreReplicationLag`` (seconds, Maximum): how far this region's copy trails the
        primary's. Published per node of the secondary's primary, here per the member's first node."""
        options: dict[str, Any] = {"statistic": "Maximum", "period": cdk.Duration.minutes(1), **props}
        return self._metric("GlobalDatastoreReplicationLag", f"{self.replication_group_id}-001", options)
