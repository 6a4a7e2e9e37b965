"""``MySqlDatabase``: an RDS MySQL 8.4 LTS (or 8.0) writer with read replicas in other AZs, secure by default.

Wraps the aws-cdk-lib L2s (``DatabaseInstance``, ``DatabaseInstanceReadReplica``) with the settings this
architecture relies on: generated credentials in Secrets Manager rotated from inside the VPC, storage
encryption, TLS required by the server (``require_secure_transport``), IAM database authentication, every
log type in CloudWatch Logs (connection audit through the MariaDB Audit Plugin), no public access, isolated
subnets, a non-default port and a non-default master user name, and an explicit engine lifecycle support
(RDS Extended Support is opted into, never the silent default).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager

from caching_constructs.core.encryption_keys import grant_secret_read
from caching_constructs.core.removal import Role, is_disposable, removal_for
from caching_constructs.core.validation import fail
from caching_constructs.data.data_store_network import DEFAULT_SUBNETS, security_groups_or_closed
from caching_constructs.data.mysql_parts import (
    LOG_EXPORTS,
    add_read_replicas,
    add_rotation,
    engine_groups,
    monitoring_role,
)
from caching_constructs.data.mysql_props import MySqlProps
from constructs import Construct

MASTER_USERNAME = "catalog_admin"
"""Not ``admin``, the name every scanner tries first (Control Tower CT.RDS.PR.22); clients read it from the
secret, never from code."""
EXTENDED_SUPPORT = rds.EngineLifecycleSupport.OPEN_SOURCE_RDS_EXTENDED_SUPPORT
NO_EXTENDED_SUPPORT = rds.EngineLifecycleSupport.OPEN_SOURCE_RDS_EXTENDED_SUPPORT_DISABLED


@jsii.implements(ec2.IConnectable)
class MySqlDatabase(Construct):
    """A MySQL writer plus ``read_replica_count`` replicas, sharing one security group setup and secret.

    Writes go to ``writer_endpoint``; cache misses read from ``reader_endpoints`` (one per replica).

    :param vpc: The VPC to place the instances in.
    :param engine_version: Full MySQL 8.4 or 8.0 version (CloudFormation rejects a bare '8.4'); the
        parameter group family follows it (``mysql8.4``). Default: 8.4.10.
    :param extended_support: EngineLifecycleSupport of every instance: True opts into RDS Extended
        Support (billed once the major version leaves standard support; required for 8.0 since
        2026-07-31), False disables it (RDS upgrades the instance at the end of standard support).
        Default: False.
    :param instance_type: Instance type of writer and replicas. Default: t4g.micro.
    :param database_name: Database created on the writer. Default: app.
    :param port: Port of every instance; the well-known 3306 is refused. Default: 3307.
    :param allocated_storage_gib: Initial storage. Default: 20.
    :param max_allocated_storage_gib: Storage autoscaling limit (>= allocated). Default: 100.
    :param multi_az: Synchronous standby for the writer in another AZ. Default: False.
    :param read_replica_count: Read replicas (0-5), placed in AZs other than the writer's. Default: 1.
    :param backup_retention: Automated backups of the writer (1-35 days). Default: 7 days.
    :param vpc_subnets: Subnets of every instance. Default: the VPC's isolated subnets.
    :param security_groups: Security groups of every instance. Default: a new one without ingress.
    :param storage_encryption_key: Customer managed key for storage. Default: the AWS managed key.
    :param secret_encryption_key: Customer managed key for the master secret. Default: the AWS
        managed key.
    :param rotation_interval: Rotation of the master secret (1-365 days). Default: 30 days.
    :param secrets_manager_endpoint: Interface endpoint the in-VPC rotation function calls Secrets
        Manager through (it is allowed in on 443). Default: none (the function needs another route).
    :param rotation_security_group: Security group of the in-VPC rotation function; it is allowed in to
        the database and the endpoint. When ``security_groups`` come from another stack, pass a group
        from that stack too, so the ingress rule references nothing in this one. Default: a new one,
        whose only egress is to the database and ``secrets_manager_endpoint`` when that is given.
    :param performance_insights: Performance Insights (not on the smallest classes). Default: False.
    :param monitoring_interval: Enhanced monitoring interval (1, 5, 10, 15, 30 or 60 s; 0 turns it
        off). Default: 60 s.
    :param log_retention: Retention of the error and slow-query log groups. Default: one month.
    :param deletion_protection: Refuse deletion of the writer. Default: True.
    :param removal_policy: Writer on stack deletion; replicas hold no data of their own and are deleted
        unless this is RETAIN. Default: SNAPSHOT.
    :param secret_replica_regions: Regions the master secret is replicated to (a cross-region read
        replica's readers sign in with it there). Default: none.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        engine_version: str = "8.4.10",
        extended_support: bool = False,
        instance_type: ec2.InstanceType | None = None,
        database_name: str = "app",
        port: int = 3307,
        allocated_storage_gib: int = 20,
        max_allocated_storage_gib: int = 100,
        multi_az: bool = False,
        read_replica_count: int = 1,
        backup_retention: cdk.Duration | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: Sequence[ec2.ISecurityGroup] | None = None,
        storage_encryption_key: kms.IKey | None = None,
        secret_encryption_key: kms.IKey | None = None,
        rotation_interval: cdk.Duration | None = None,
        secrets_manager_endpoint: ec2.IInterfaceVpcEndpoint | None = None,
        rotation_security_group: ec2.ISecurityGroup | None = None,
        performance_insights: bool = False,
        monitoring_interval: cdk.Duration | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        deletion_protection: bool = True,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.SNAPSHOT,
        secret_replica_regions: Sequence[str] = (),
    ) -> None:
        props = MySqlProps(
            vpc=vpc,
            engine_version=engine_version,
            extended_support=extended_support,
            instance_type=instance_type or ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.MICRO),
            database_name=database_name,
            port=port,
            allocated_storage_gib=allocated_storage_gib,
            max_allocated_storage_gib=max_allocated_storage_gib,
            multi_az=multi_az,
            read_replica_count=read_replica_count,
            backup_retention=backup_retention or cdk.Duration.days(7),
            vpc_subnets=vpc_subnets or DEFAULT_SUBNETS,
            security_groups=security_groups,
            storage_encryption_key=storage_encryption_key,
            secret_encryption_key=secret_encryption_key,
            rotation_interval=rotation_interval or cdk.Duration.days(30),
            secrets_manager_endpoint=secrets_manager_endpoint,
            rotation_security_group=rotation_security_group,
            performance_insights=performance_insights,
            monitoring_interval=monitoring_interval or cdk.Duration.seconds(60),
            log_retention=log_retention,
            deletion_protection=deletion_protection,
            removal_policy=removal_policy,
            secret_replica_regions=secret_replica_regions,
        )
        props.validate()
        super().__init__(scope, construct_id)

        self.port = props.port
        self.database_name = props.database_name
        self._secret_encryption_key = props.secret_encryption_key
        self.security_groups = security_groups_or_closed(
            self, vpc=props.vpc, description="MySQL", given=props.security_groups
        )
        self.connections = ec2.Connections(
            security_groups=self.security_groups, default_port=ec2.Port.tcp(props.port)
        )
        """Network access to the writer and every replica: ``db.connections.allow_default_port_from(fn)``."""
        engine = self._engine(props.engine_version, props.extended_support)
        self.monitoring_role = monitoring_role(self) if props.monitoring_interval.to_seconds() else None
        settings = self._instance_settings(props)
        self._add_writer(props, engine, settings)
        self._add_rotation(props)
        self._add_read_replicas(props, settings)

    def _engine(self, engine_version: str, extended_support: bool) -> rds.IInstanceEngine:
        """The engine of every instance, with its parameter and option groups."""
        major = engine_version.rsplit(".", 1)[0]
        self.engine_version = engine_version
        self.parameter_group_family = f"mysql{major}"
        self.engine_lifecycle_support = EXTENDED_SUPPORT if extended_support else NO_EXTENDED_SUPPORT
        engine = rds.DatabaseInstanceEngine.mysql(version=rds.MysqlEngineVersion.of(engine_version, major))
        self.parameter_group, self.option_group = engine_groups(self, engine, major)
        return engine

    def _instance_settings(self, props: MySqlProps) -> dict[str, Any]:
        """What the writer and every replica share: network, engine settings, logs, monitoring."""
        return {
            "vpc": props.vpc,
            "vpc_subnets": props.vpc_subnets,
            "security_groups": self.security_groups,
            "instance_type": props.instance_type,
            "port": self.port,
            "parameter_group": self.parameter_group,
            "option_group": self.option_group,
            "engine_lifecycle_support": self.engine_lifecycle_support,
            "iam_authentication": True,
            "publicly_accessible": False,
            "auto_minor_version_upgrade": True,
            "cloudwatch_logs_exports": list(LOG_EXPORTS),
            "cloudwatch_logs_retention": props.log_retention,
            "enable_performance_insights": props.performance_insights,
            "monitoring_interval": props.monitoring_interval if self.monitoring_role else None,
            "monitoring_role": self.monitoring_role,
            "copy_tags_to_snapshot": True,
        }

    def _add_writer(self, props: MySqlProps, engine: rds.IInstanceEngine, settings: dict[str, Any]) -> None:
        """The writer and its generated master secret."""
        self.instance = rds.DatabaseInstance(
            self,
            "Writer",
            engine=engine,
            credentials=_credentials(props.secret_encryption_key, props.secret_replica_regions),
            database_name=props.database_name,
            **_storage(
                props.storage_encryption_key, props.allocated_storage_gib, props.max_allocated_storage_gib
            ),
            multi_az=props.multi_az,
            # A Multi-AZ writer picks its own AZ; a single-AZ one is pinned so replicas can avoid it.
            availability_zone=None if props.multi_az else props.vpc.availability_zones[0],
            backup_retention=props.backup_retention,
            deletion_protection=props.deletion_protection,
            delete_automated_backups=is_disposable(props.removal_policy),
            removal_policy=props.removal_policy,
            **settings,
        )
        self.secret: secretsmanager.ISecret = self.instance.secret  # type: ignore[assignment]
        """Master credentials (JSON: username, password, host, port, dbname, engine). Read at run time."""

    def _add_rotation(self, props: MySqlProps) -> None:
        self.rotation_security_group, self.rotation = add_rotation(
            self,
            vpc=props.vpc,
            vpc_subnets=props.vpc_subnets,
            interval=props.rotation_interval,
            secrets_manager_endpoint=props.secrets_manager_endpoint,
            security_group=props.rotation_security_group,
        )

    def _add_read_replicas(self, props: MySqlProps, settings: dict[str, Any]) -> None:
        azs = props.vpc.availability_zones
        self.read_replicas: list[rds.DatabaseInstanceReadReplica] = add_read_replicas(
            self,
            count=props.read_replica_count,
            availability_zones=azs[1:] or azs,
            max_allocated_storage_gib=props.max_allocated_storage_gib,
            backup_retention=props.backup_retention,
            deletion_protection=props.deletion_protection,
            removal_policy=removal_for(props.removal_policy, Role.COPY),
            instance_settings=settings,
        )

    # --- endpoints ------------------------------------------------------------------------------------------

    @property
    def writer_endpoint(self) -> rds.Endpoint:
        return self.instance.instance_endpoint

    @property
    def reader_endpoints(self) -> list[rds.Endpoint]:
        """One endpoint per replica; empty when there are none (read from the writer then)."""
        return [replica.instance_endpoint for replica in self.read_replicas]

    @property
    def read_endpoints(self) -> list[rds.Endpoint]:
        """Where reads go: every replica's endpoint, or the writer's alone when there is no replica."""
        return self.reader_endpoints or [self.writer_endpoint]

    @property
    def reader_endpoint(self) -> rds.Endpoint:
        """The first replica's endpoint, or the writer's when there is no replica."""
        return self.reader_endpoints[0] if self.read_replicas else self.writer_endpoint

    # --- grants ---------------------------------------------------------------------------------------------

    def grant_connect(self, grantee: iam.IGrantable, db_user: str) -> iam.Grant:
        """IAM database authentication as ``db_user`` (rds-db:connect) to the writer and every replica.

        The ARNs are built from each instance's DbiResourceId: the replica L2's own grant uses its ARN
        unless a feature flag is set, and that ARN never matches an IAM authentication request.
        """
        stack = cdk.Stack.of(self)
        instances = [self.instance, *self.read_replicas]
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["rds-db:connect"],
            resource_arns=[
                stack.format_arn(
                    service="rds-db",
                    resource="dbuser",
                    resource_name=f"{_cfn_instance(instance).attr_dbi_resource_id}/{db_user}",
                    arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                )
                for instance in instances
            ],
        )

    def grant_read_secret(self, grantee: iam.IGrantable) -> iam.Grant:
        """Read the master credentials (GetSecretValue on this secret, and decrypt)."""
        return grant_secret_read(grantee, self.secret, self._secret_encryption_key)

    # --- metrics (the L2's own, plus replica lag) -----------------------------------------------------------

    def metric(self, metric_name: str, **props: Any) -> cloudwatch.Metric:
        """Metric ``metric_name`` of the writer (``AWS/RDS``, DBInstanceIdentifier); Average, 5 min."""
        return self.instance.metric(metric_name, **props)

    def metric_cpu_utilization(self, **props: Any) -> cloudwatch.Metric:
        return self.instance.metric_cpu_utilization(**props)

    def metric_freeable_memory(self, **props: Any) -> cloudwatch.Metric:
        return self.instance.metric_freeable_memory(**props)

    def metric_database_connections(self, **props: Any) -> cloudwatch.Metric:
        return self.instance.metric_database_connections(**props)

    def metric_free_storage_space(self, **props: Any) -> cloudwatch.Metric:
        return self.instance.metric_free_storage_space(**props)

    def metric_replica_lag(self, replica: int = 0, **props: Any) -> cloudwatch.Metric:
        """ReplicaLag (seconds, Maximum) of replica number ``replica`` (0-based)."""
        if not 0 <= replica < len(self.read_replicas):
            raise fail("replica", replica, f"an index below read_replica_count ({len(self.read_replicas)})")
        return self.read_replicas[replica].metric("ReplicaLag", **{"statistic": "Maximum", **props})

    def metric_replica_lags(self, **props: Any) -> list[cloudwatch.Metric]:
        """ReplicaLag of every replica, in replica order."""
        return [self.metric_replica_lag(index, **props) for index in range(len(self.read_replicas))]


def _credentials(key: kms.IKey | None, replica_regions: Sequence[str]) -> rds.Credentials:
    """The generated master secret, named ``MASTER_USERNAME``."""
    return rds.Credentials.from_generated_secret(
        MASTER_USERNAME,
        encryption_key=key,
        # Same name in every region, and rotation reaches the copies; each copy is encrypted with Secrets
        # Manager's key of its region (a customer key here lives in this region only).
        replica_regions=[secretsmanager.ReplicaRegion(region=region) for region in replica_regions],
    )


def _storage(key: kms.IKey | None, allocated_gib: int, max_allocated_gib: int) -> dict[str, Any]:
    """The writer's storage: encrypted gp3 that grows up to ``max_allocated_gib``."""
    return {
        "storage_encrypted": True,
        "storage_encryption_key": key,
        "storage_type": rds.StorageType.GP3,
        "allocated_storage": allocated_gib,
        "max_allocated_storage": max_allocated_gib,
    }


def _cfn_instance(instance: rds.DatabaseInstanceBase) -> rds.CfnDBInstance:
    return instance.node.default_child  # type: ignore[return-value]
