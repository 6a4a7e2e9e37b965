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

from caching_constructs import rules
from caching_constructs.data_store_network import DEFAULT_SUBNETS, security_groups_or_closed
from caching_constructs.keys import grant_secret_read
from caching_constructs.nag import exempt_control, suppress_findings
from caching_constructs.validation import fail, require
from constructs import Construct

LOG_EXPORTS = ("audit", "error", "general", "slowquery")
"""Every log type RDS for MySQL can export (Control Tower CT.RDS.PR.14). ``general`` stays empty unless
``general_log`` is switched on for a diagnosis (it logs every statement); ``audit`` carries connections only
(``AUDIT_EVENTS``)."""
AUDIT_EVENTS = "CONNECT"
"""MariaDB Audit Plugin events: logins, logouts and failed logins. QUERY events would log every cache miss."""
MASTER_USERNAME = "catalog_admin"
"""Not ``admin``, the name every scanner tries first (Control Tower CT.RDS.PR.22); clients read it from the
secret, never from code."""
REMOVED_IN_MYSQL_84 = frozenset(
    {
        # MySQL 8.4.0 removed these server variables (dev.mysql.com "Option and Variable Changes for MySQL
        # 8.4", checked 2026-11-30); RDS rejects a mysql8.4 parameter group that sets them.
        "default_authentication_plugin",
        "binlog_transaction_dependency_tracking",
        "avoid_temporal_upgrade",
        "have_openssl",
        "have_ssl",
        "expire_logs_days",
        "master_info_repository",
        "relay_log_info_repository",
        "log_bin_use_v1_row_events",
        "transaction_write_set_extraction",
        "skip_host_cache",
        "keyring_encrypted_file_data",
        "keyring_encrypted_file_password",
        "admin-ssl",
    }
)
"""Parameters that MySQL 8.4 no longer has; ``PARAMETERS`` must never contain one of them."""
PARAMETERS = {
    # The server refuses unencrypted connections, whatever a client asks for.
    "require_secure_transport": "ON",
    "slow_query_log": "1",
    "long_query_time": "1",
    # The slowquery export reads the log file, not the mysql.slow_log table.
    "log_output": "FILE",
    # GTIDs let a cache miss prove the replica has every committed write before reading it
    # (cachelib/replication.py: @@GLOBAL.gtid_executed, WAIT_FOR_EXECUTED_GTID_SET). Without them the
    # library cannot prove freshness and sends every miss to the writer.
    "gtid-mode": "ON",
    "enforce_gtid_consistency": "ON",
}
"""The parameter group's settings; every name exists in both mysql8.0 and mysql8.4."""
EXTENDED_SUPPORT = rds.EngineLifecycleSupport.OPEN_SOURCE_RDS_EXTENDED_SUPPORT
NO_EXTENDED_SUPPORT = rds.EngineLifecycleSupport.OPEN_SOURCE_RDS_EXTENDED_SUPPORT_DISABLED


@jsii.implements(ec2.IConnectable)
class MySqlDatabase(Construct):
    """A MySQL writer plus ``read_replica_count`` replicas, sharing one security group setup and secret.

    Writes go to ``writer_endpoint``; cache misses read from ``reader_endpoints`` (one per replica).
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
        """
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
        backup_retention = backup_retention or cdk.Duration.days(7)
        rotation_interval = rotation_interval or cdk.Duration.days(30)
        monitoring_interval = monitoring_interval or cdk.Duration.seconds(60)
        instance_type = instance_type or ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.MICRO)
        # The rules the project's config checks too (caching_constructs.rules).
        require("engine_version", engine_version, rules.MYSQL_VERSION)
        support = rules.mysql_support(engine_version, extended_support, switch="extended_support=True")
        if support:
            raise fail("engine_version", engine_version, support)
        major = engine_version.rsplit(".", 1)[0]
        require("database_name", database_name, rules.DATABASE_NAME)
        require("port", port, rules.service_port("mysql"))
        require("allocated_storage_gib", allocated_storage_gib, rules.ALLOCATED_STORAGE_GIB)
        require(
            "max_allocated_storage_gib",
            max_allocated_storage_gib,
            rules.max_allocated_storage(allocated_storage_gib),
        )
        require("read_replica_count", read_replica_count, rules.READ_REPLICA_COUNT)
        require("backup_retention (days)", int(backup_retention.to_days()), rules.BACKUP_RETENTION_DAYS)
        require("rotation_interval (days)", int(rotation_interval.to_days()), rules.SECRET_ROTATION_DAYS)
        require(
            "monitoring_interval (seconds)",
            int(monitoring_interval.to_seconds()),
            rules.MONITORING_INTERVAL_SECONDS,
        )
        super().__init__(scope, construct_id)

        self.port = port
        self.database_name = database_name
        self._secret_encryption_key = secret_encryption_key
        self.security_groups = security_groups_or_closed(
            self, vpc=vpc, description="MySQL", given=security_groups
        )
        self.connections = ec2.Connections(
            security_groups=self.security_groups, default_port=ec2.Port.tcp(port)
        )
        """Network access to the writer and every replica: ``db.connections.allow_default_port_from(fn)``."""
        self.engine_version = engine_version
        self.parameter_group_family = f"mysql{major}"
        self.engine_lifecycle_support = EXTENDED_SUPPORT if extended_support else NO_EXTENDED_SUPPORT
        engine = rds.DatabaseInstanceEngine.mysql(version=rds.MysqlEngineVersion.of(engine_version, major))
        self.parameter_group = rds.ParameterGroup(
            self,
            "ParameterGroup",
            engine=engine,
            description=f"MySQL {major}: TLS only, GTIDs, slow-query log to CloudWatch Logs",
            parameters=dict(PARAMETERS),
        )
        self.option_group = rds.OptionGroup(
            self,
            "OptionGroup",
            engine=engine,
            description=f"MySQL {major}: connection audit log (MariaDB Audit Plugin)",
            configurations=[
                rds.OptionConfiguration(
                    name="MARIADB_AUDIT_PLUGIN", settings={"SERVER_AUDIT_EVENTS": AUDIT_EVENTS}
                )
            ],
        )
        self.monitoring_role = _monitoring_role(self) if monitoring_interval.to_seconds() else None
        subnets = vpc_subnets or DEFAULT_SUBNETS
        azs = vpc.availability_zones
        common: dict[str, Any] = {
            "vpc": vpc,
            "vpc_subnets": subnets,
            "security_groups": self.security_groups,
            "instance_type": instance_type,
            "port": port,
            "parameter_group": self.parameter_group,
            "option_group": self.option_group,
            "engine_lifecycle_support": self.engine_lifecycle_support,
            "iam_authentication": True,
            "publicly_accessible": False,
            "auto_minor_version_upgrade": True,
            "cloudwatch_logs_exports": list(LOG_EXPORTS),
            "cloudwatch_logs_retention": log_retention,
            "enable_performance_insights": performance_insights,
            "monitoring_interval": monitoring_interval if self.monitoring_role else None,
            "monitoring_role": self.monitoring_role,
            "copy_tags_to_snapshot": True,
        }
        self.instance = rds.DatabaseInstance(
            self,
            "Writer",
            engine=engine,
            credentials=rds.Credentials.from_generated_secret(
                MASTER_USERNAME,
                encryption_key=secret_encryption_key,
                # Same name in every region, and rotation reaches the copies; each copy is encrypted with
                # Secrets Manager's key of its region (a customer key here lives in this region only).
                replica_regions=[secretsmanager.ReplicaRegion(region=r) for r in secret_replica_regions],
            ),
            database_name=database_name,
            storage_encrypted=True,
            storage_encryption_key=storage_encryption_key,
            storage_type=rds.StorageType.GP3,
            allocated_storage=allocated_storage_gib,
            max_allocated_storage=max_allocated_storage_gib,
            multi_az=multi_az,
            # A Multi-AZ writer picks its own AZ; a single-AZ one is pinned so replicas can avoid it.
            availability_zone=None if multi_az else azs[0],
            backup_retention=backup_retention,
            deletion_protection=deletion_protection,
            delete_automated_backups=removal_policy == cdk.RemovalPolicy.DESTROY,
            removal_policy=removal_policy,
            **common,
        )
        self.secret: secretsmanager.ISecret = self.instance.secret  # type: ignore[assignment]
        """Master credentials (JSON: username, password, host, port, dbname, engine). Read at run time."""
        self.rotation_security_group = rotation_security_group or ec2.SecurityGroup(
            self,
            "RotationSecurityGroup",
            vpc=vpc,
            description="MySQL secret rotation function",
            # With an endpoint the function needs exactly two destinations, and the connections below open
            # them; without one it must reach Secrets Manager's public endpoint through a NAT.
            allow_all_outbound=secrets_manager_endpoint is None,
        )
        self.connections.allow_default_port_from(
            self.rotation_security_group, "Members of the rotation function's security group to MySQL"
        )
        if secrets_manager_endpoint is not None:
            secrets_manager_endpoint.connections.allow_default_port_from(
                self.rotation_security_group, "Secret rotation to Secrets Manager"
            )
        # Hosted rotation rather than add_rotation_single_user(): that one opens the database with the
        # instance's port *token*, a reference back into this stack from the stack owning the database's
        # security group, which is a dependency cycle whenever that is another stack.
        self.rotation = self.secret.add_rotation_schedule(
            "Rotation",
            automatically_after=rotation_interval,
            hosted_rotation=secretsmanager.HostedRotation.mysql_single_user(
                vpc=vpc, vpc_subnets=subnets, security_groups=[self.rotation_security_group]
            ),
        )

        replica_azs = azs[1:] or azs
        replica_removal = (
            cdk.RemovalPolicy.RETAIN
            if removal_policy == cdk.RemovalPolicy.RETAIN
            else cdk.RemovalPolicy.DESTROY
        )
        self.read_replicas: list[rds.DatabaseInstanceReadReplica] = [
            rds.DatabaseInstanceReadReplica(
                self,
                f"Replica{index + 1}",
                source_database_instance=self.instance,
                # Encryption (and its key) is inherited from the writer: CloudFormation refuses
                # StorageEncrypted/KmsKeyId on a same-region replica.
                storage_type=rds.StorageType.GP3,
                max_allocated_storage=max_allocated_storage_gib,
                # Round-robin over the AZs after the writer's: one zone outage never takes the pinned writer
                # and its replicas together.
                availability_zone=replica_azs[index % len(replica_azs)],
                # Replicas can be promoted; they keep their own backups so a promoted one is protected.
                backup_retention=backup_retention,
                deletion_protection=deletion_protection,
                removal_policy=replica_removal,
                **common,
            )
            for index in range(read_replica_count)
        ]

        for replica in self.read_replicas:
            suppress_findings(replica, _REPLICA_FINDINGS)
        _suppress_log_retention_provider(cdk.Stack.of(self))

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


# cdk-nag reads a replica's own properties; a replica inherits engine, port semantics and encryption from its
# source, which the rules cannot see.
_REPLICA_FINDINGS = [
    {
        "id": "AwsSolutions-RDS2",
        "reason": "A same-region read replica inherits storage encryption from its encrypted writer; "
        "CloudFormation rejects StorageEncrypted on it.",
    },
    {
        "id": "AwsSolutions-RDS11",
        "reason": "The replica sets the same non-default Port as its writer; the rule recognises MySQL "
        "only by the Engine property, which a replica inherits instead of declaring.",
    },
    {
        "id": "AwsSolutions-RDS3",
        "reason": "A read replica serves reads; availability comes from the writer's standby and from each "
        "replica sitting in a different AZ, not from a standby per replica.",
    },
]

_LOG_RETENTION_PROVIDER = "LogRetentionaae0aa3c5b4d4f87b02d85b201efdd8a"
"""The id aws-cdk-lib gives its per-stack singleton that sets retention on service-created log groups."""


def _monitoring_role(scope: Construct) -> iam.Role:
    """One enhanced-monitoring role for the writer and every replica (the L2 would make one each)."""
    role = iam.Role(
        scope,
        "MonitoringRole",
        assumed_by=iam.ServicePrincipal("monitoring.rds.amazonaws.com"),
        managed_policies=[
            iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AmazonRDSEnhancedMonitoringRole")
        ],
    )
    suppress_findings(
        role,
        [
            {
                "id": "AwsSolutions-IAM4",
                "reason": "AmazonRDSEnhancedMonitoringRole is the policy RDS documents for enhanced "
                "monitoring; it only writes the RDSOSMetrics log group and AWS keeps it current.",
                "applies_to": [
                    "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
                ],
            }
        ],
    )
    return role


def _suppress_log_retention_provider(stack: cdk.Stack) -> None:
    """RDS creates its log groups itself, named after the instance id CloudFormation generates; the CDK's
    retention provider sets their retention after the fact and needs these two findings accepted."""
    provider = stack.node.try_find_child(_LOG_RETENTION_PROVIDER)
    if provider is None:
        return
    suppress_findings(
        provider,
        [
            {
                "id": "AwsSolutions-IAM4",
                "reason": "The CDK's log-retention provider logs through AWSLambdaBasicExecutionRole.",
                "applies_to": [
                    "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
                ],
            },
            {
                "id": "AwsSolutions-IAM5",
                "reason": "logs:PutRetentionPolicy/DeleteRetentionPolicy on '*': the RDS log group names "
                "embed instance ids that only exist at deploy time.",
                "applies_to": ["Resource::*"],
            },
        ],
        apply_to_children=True,
    )
    exempt_control(
        provider.node.find_child("Resource"),
        "CT.LAMBDA.PR.3",
        "The CDK's log-retention handler only calls the CloudWatch Logs API; it reads no data in the VPC, "
        "and inside it would need a NAT route or an endpoint just for that call.",
    )


def _cfn_instance(instance: rds.DatabaseInstanceBase) -> rds.CfnDBInstance:
    return instance.node.default_child  # type: ignore[return-value]
