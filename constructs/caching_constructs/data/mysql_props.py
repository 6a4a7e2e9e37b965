"""``MySqlDatabase``'s props once their defaults are filled in, and the rules they must meet.

The props are documented on ``MySqlDatabase``. Its builders read them from one ``MySqlProps`` because most
reach more than one resource (the writer and every replica share storage, backup and removal settings), and
the rules read ten of them before anything is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs

from caching_constructs.core import rules
from caching_constructs.core.validation import fail, require


@dataclass(frozen=True)
class MySqlProps:
    """``MySqlDatabase``'s keyword arguments with their defaults filled in (documented there)."""

    vpc: ec2.IVpc
    engine_version: str
    extended_support: bool
    instance_type: ec2.InstanceType
    database_name: str
    port: int
    allocated_storage_gib: int
    max_allocated_storage_gib: int
    multi_az: bool
    read_replica_count: int
    backup_retention: cdk.Duration
    vpc_subnets: ec2.SubnetSelection
    security_groups: Sequence[ec2.ISecurityGroup] | None
    storage_encryption_key: kms.IKey | None
    secret_encryption_key: kms.IKey | None
    rotation_interval: cdk.Duration
    secrets_manager_endpoint: ec2.IInterfaceVpcEndpoint | None
    rotation_security_group: ec2.ISecurityGroup | None
    performance_insights: bool
    monitoring_interval: cdk.Duration
    log_retention: logs.RetentionDays
    deletion_protection: bool
    removal_policy: cdk.RemovalPolicy
    secret_replica_regions: Sequence[str]

    def validate(self) -> None:
        """The rules from ``caching_constructs.core.rules``: the ones the project's config checks too."""
        require("engine_version", self.engine_version, rules.MYSQL_VERSION)
        support = rules.mysql_support(
            self.engine_version, self.extended_support, switch="extended_support=True"
        )
        if support:
            raise fail("engine_version", self.engine_version, support)
        require("database_name", self.database_name, rules.DATABASE_NAME)
        require("port", self.port, rules.service_port("mysql"))
        require("allocated_storage_gib", self.allocated_storage_gib, rules.ALLOCATED_STORAGE_GIB)
        require(
            "max_allocated_storage_gib",
            self.max_allocated_storage_gib,
            rules.max_allocated_storage(self.allocated_storage_gib),
        )
        require("read_replica_count", self.read_replica_count, rules.READ_REPLICA_COUNT)
        require("backup_retention (days)", int(self.backup_retention.to_days()), rules.BACKUP_RETENTION_DAYS)
        require("rotation_interval (days)", int(self.rotation_interval.to_days()), rules.SECRET_ROTATION_DAYS)
        require(
            "monitoring_interval (seconds)",
            int(self.monitoring_interval.to_seconds()),
            rules.MONITORING_INTERVAL_SECONDS,
        )
