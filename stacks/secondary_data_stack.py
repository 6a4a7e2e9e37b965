"""The stateful tier of one secondary region: the cache's Global Datastore member and a cross-region replica
of the primary's MySQL writer, both encrypted with a key in this region.

Cross-region plumbing: this stack is pinned to its region (account: the environment's, or the credentials'
when null) and reads what it needs from the primary region's ``GlobalDatastore`` stack with
``Fn::GetStackOutput`` and that region (``global_datastore.primary_region``), as the Edge stack reads the
CloudFront web ACL from us-east-1: resolved at deploy time, nothing looked up at synth, no custom resource.
CDK's own ``crossRegionReferences`` would need concrete regions on both sides (the primary stacks stay
environment-agnostic) and a custom resource per reference.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_rds as rds

from caching_constructs.core.encryption_keys import customer_managed_key
from caching_constructs.core.nag import suppress_findings
from caching_constructs.core.removal import Role, removal_for
from caching_constructs.elasticache.cache_access import IAM
from caching_constructs.elasticache.global_datastore import SecondaryReplicationGroup
from config.schema import CacheConfig, DatabaseConfig
from constructs import Construct

GLOBAL_GROUP_ID_OUTPUT = "GlobalReplicationGroupId"
DATABASE_ARN_OUTPUT = "DatabaseArn"
DATABASE_SECRET_OUTPUT = "DatabaseSecretFullName"  # noqa: S105 (an output's name, not a secret)
REFILL_QUEUE_URL_OUTPUT = "RefillQueueUrl"
REFILL_QUEUE_ARN_OUTPUT = "RefillQueueArn"
DATA_SUBNETS = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)


class SecondaryDataStack(cdk.Stack):
    """``cache``: the ``SecondaryReplicationGroup``; ``database_replica``: the cross-region read replica.

    :param removal_policy: the environment's; both hold copies (deleted unless everything is kept), and their
        key is kept unless everything is destroyed (``caching_constructs.core.removal``).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        cache_security_group: ec2.ISecurityGroup,
        database_security_group: ec2.ISecurityGroup,
        primary_stack_name: str,
        primary_region: str,
        parameter_group_family: str,
        cache: CacheConfig,
        database: DatabaseConfig,
        deletion_protection: bool,
        removal_policy: cdk.RemovalPolicy,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.key = customer_managed_key(
            self,
            "Key",
            description="Encrypts this region's copies: the cache member and the database replica",
            removal_policy=removal_for(removal_policy, Role.WITHOUT_SNAPSHOT),
        )

        def primary_output(name: str) -> str:
            return cdk.Fn.get_stack_output(primary_stack_name, name, region=primary_region)

        self.cache = SecondaryReplicationGroup(
            self,
            "Cache",
            vpc=vpc,
            vpc_subnets=DATA_SUBNETS,
            security_groups=[cache_security_group],
            global_replication_group_id=primary_output(GLOBAL_GROUP_ID_OUTPUT),
            parameter_group_family=parameter_group_family,
            replicas=cache.replicas_per_shard,
            port=cache.port,
            kms_key=self.key,
            description=f"{cache.engine} Global Datastore secondary of the catalogue cache",
            iam_auth=cache.auth == IAM,
            removal_policy=removal_for(removal_policy, Role.COPY),
        )
        self.database_connections = ec2.Connections(
            security_groups=[database_security_group], default_port=ec2.Port.tcp(database.port)
        )
        self.database_replica = self._add_database_replica(
            vpc=vpc,
            security_group=database_security_group,
            source_arn=primary_output(DATABASE_ARN_OUTPUT),
            source_region=primary_region,
            database=database,
            deletion_protection=deletion_protection,
            removal_policy=removal_for(removal_policy, Role.COPY),
        )

    def _add_database_replica(
        self,
        *,
        vpc: ec2.IVpc,
        security_group: ec2.ISecurityGroup,
        source_arn: str,
        source_region: str,
        database: DatabaseConfig,
        deletion_protection: bool,
        removal_policy: cdk.RemovalPolicy,
    ) -> rds.CfnDBInstance:
        """The cross-region read replica of the primary's writer, in this region's isolated subnets."""
        subnet_group = rds.CfnDBSubnetGroup(
            self,
            "DatabaseSubnets",
            db_subnet_group_description="Cross-region catalogue replica",
            subnet_ids=vpc.select_subnets(**DATA_SUBNETS._values).subnet_ids,
        )
        # An L1: the L2 replica takes an IDatabaseInstance of this region; the source is another region's ARN.
        replica = rds.CfnDBInstance(
            self,
            "DatabaseReplica",
            source_db_instance_identifier=source_arn,
            source_region=source_region,
            db_instance_class=f"db.{database.instance_class}",
            db_subnet_group_name=subnet_group.ref,
            vpc_security_groups=[security_group.security_group_id],
            port=str(database.port),
            # KmsKeyId encrypts a cross-region replica; CloudFormation refuses StorageEncrypted with a source.
            kms_key_id=self.key.key_arn,
            multi_az=False,
            publicly_accessible=False,
            auto_minor_version_upgrade=True,
            copy_tags_to_snapshot=True,
            deletion_protection=deletion_protection,
            enable_iam_database_authentication=True,
            enable_cloudwatch_logs_exports=["audit", "error", "general", "slowquery"],
        )
        replica.apply_removal_policy(removal_policy)
        _exempt_database_replica(replica)
        return replica

    def metric_database_replica_lag(self, **props: Any) -> cloudwatch.Metric:
        """AWS/RDS ``ReplicaLag`` (seconds, Maximum) of the cross-region replica: how far its rows trail the
        writer's. (``database_replica`` is an L1, which has no ``metric_*()`` of its own.)"""
        options: dict[str, Any] = {"statistic": "Maximum", "period": cdk.Duration.minutes(1), **props}
        return cloudwatch.Metric(
            namespace="AWS/RDS",
            metric_name="ReplicaLag",
            dimensions_map={"DBInstanceIdentifier": self.database_replica.ref},
            **options,
        )


def _exempt_database_replica(replica: rds.CfnDBInstance) -> None:
    suppress_findings(
        replica,
        [
            {
                "id": "AwsSolutions-RDS2",
                "reason": "Encrypted with this region's key (KmsKeyId); a replica may not also declare "
                "StorageEncrypted, which it inherits from its encrypted source.",
            },
            {
                "id": "AwsSolutions-RDS3",
                "reason": "A cross-region read replica: the region's availability plan is promoting it "
                "(docs/DEPLOY.md), after which it is modified to Multi-AZ.",
            },
            {
                "id": "AwsSolutions-RDS11",
                "reason": "The replica sets the writer's non-default port; it inherits the engine, "
                "which the rule reads to know the default.",
            },
        ],
    )
