"""What a ``MySqlDatabase`` is made of around its writer: the engine's settings (parameter and option
groups), the enhanced-monitoring role, the in-VPC rotation of the master secret and the read replicas.

``mysql_database`` composes them; each builder creates its constructs under the database, with the ids and in
the order the templates have always had.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager

from caching_constructs.core.nag import suppress_findings
from constructs import Construct

if TYPE_CHECKING:
    from caching_constructs.data.mysql_database import MySqlDatabase

LOG_EXPORTS = ("audit", "error", "general", "slowquery")
"""Every log type RDS for MySQL can export (Control Tower CT.RDS.PR.14). ``general`` stays empty unless
``general_log`` is switched on for a diagnosis (it logs every statement); ``audit`` carries connections only
(``AUDIT_EVENTS``)."""
AUDIT_EVENTS = "CONNECT"
"""MariaDB Audit Plugin events: logins, logouts and failed logins. QUERY events would log every cache miss."""
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


def engine_groups(
    scope: Construct, engine: rds.IInstanceEngine, major: str
) -> tuple[rds.ParameterGroup, rds.OptionGroup]:
    """The parameter group (``PARAMETERS``) and the option group with the connection audit plugin."""
    parameter_group = rds.ParameterGroup(
        scope,
        "ParameterGroup",
        engine=engine,
        description=f"MySQL {major}: TLS only, GTIDs, slow-query log to CloudWatch Logs",
        parameters=dict(PARAMETERS),
    )
    option_group = rds.OptionGroup(
        scope,
        "OptionGroup",
        engine=engine,
        description=f"MySQL {major}: connection audit log (MariaDB Audit Plugin)",
        configurations=[
            rds.OptionConfiguration(
                name="MARIADB_AUDIT_PLUGIN", settings={"SERVER_AUDIT_EVENTS": AUDIT_EVENTS}
            )
        ],
    )
    return parameter_group, option_group


def monitoring_role(scope: Construct) -> iam.Role:
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


def add_rotation(
    database: MySqlDatabase,
    *,
    vpc: ec2.IVpc,
    vpc_subnets: ec2.SubnetSelection,
    interval: cdk.Duration,
    secrets_manager_endpoint: ec2.IInterfaceVpcEndpoint | None,
    security_group: ec2.ISecurityGroup | None,
) -> tuple[ec2.ISecurityGroup, secretsmanager.RotationSchedule]:
    """Rotation of the master secret by a function inside the VPC, let in to the database and to the
    Secrets Manager endpoint: its security group and its schedule."""
    rotation_security_group = security_group or ec2.SecurityGroup(
        database,
        "RotationSecurityGroup",
        vpc=vpc,
        description="MySQL secret rotation function",
        # With an endpoint the function needs exactly two destinations, and the connections below open
        # them; without one it must reach Secrets Manager's public endpoint through a NAT.
        allow_all_outbound=secrets_manager_endpoint is None,
    )
    database.connections.allow_default_port_from(
        rotation_security_group, "Members of the rotation function's security group to MySQL"
    )
    if secrets_manager_endpoint is not None:
        secrets_manager_endpoint.connections.allow_default_port_from(
            rotation_security_group, "Secret rotation to Secrets Manager"
        )
    # Hosted rotation rather than add_rotation_single_user(): that one opens the database with the
    # instance's port *token*, a reference back into this stack from the stack owning the database's
    # security group, which is a dependency cycle whenever that is another stack.
    schedule = database.secret.add_rotation_schedule(
        "Rotation",
        automatically_after=interval,
        hosted_rotation=secretsmanager.HostedRotation.mysql_single_user(
            vpc=vpc, vpc_subnets=vpc_subnets, security_groups=[rotation_security_group]
        ),
    )
    return rotation_security_group, schedule


def add_read_replicas(
    database: MySqlDatabase,
    *,
    count: int,
    availability_zones: list[str],
    max_allocated_storage_gib: int,
    backup_retention: cdk.Duration,
    deletion_protection: bool,
    removal_policy: cdk.RemovalPolicy,
    instance_settings: dict[str, Any],
) -> list[rds.DatabaseInstanceReadReplica]:
    """``count`` replicas of the writer, round-robin over ``availability_zones``; ``removal_policy`` is
    already the replicas' own (they hold copies)."""
    replicas = [
        rds.DatabaseInstanceReadReplica(
            database,
            f"Replica{index + 1}",
            source_database_instance=database.instance,
            # Encryption (and its key) is inherited from the writer: CloudFormation refuses
            # StorageEncrypted/KmsKeyId on a same-region replica.
            storage_type=rds.StorageType.GP3,
            max_allocated_storage=max_allocated_storage_gib,
            # Round-robin over the AZs after the writer's: one zone outage never takes the pinned writer
            # and its replicas together.
            availability_zone=availability_zones[index % len(availability_zones)],
            # Replicas can be promoted; they keep their own backups so a promoted one is protected.
            backup_retention=backup_retention,
            deletion_protection=deletion_protection,
            removal_policy=removal_policy,
            **instance_settings,
        )
        for index in range(count)
    ]
    for replica in replicas:
        suppress_findings(replica, _REPLICA_FINDINGS)
    return replicas


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
