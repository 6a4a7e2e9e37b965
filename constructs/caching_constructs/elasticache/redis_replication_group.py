"""``RedisReplicationGroup``: an ElastiCache (Redis OSS or Valkey) replication group, secure by default.

aws-cdk-lib has no L2 for replication groups; this one follows the shape of its ``ServerlessCache``:
keyword-only props with documented defaults, ``connections``, ``metric*()``, ``grant*()`` and endpoint
attributes. Defaults: TLS required, encrypted at rest, AUTH token from Secrets Manager (dynamic reference,
never in the template), isolated subnets, non-default port, daily snapshots, slow and engine logs in
CloudWatch Logs, Multi-AZ with automatic failover whenever there is a replica to fail over to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager

from caching_constructs.core.encryption_keys import grant_secret_read
from caching_constructs.core.removal import Role, removal_for
from caching_constructs.core.rules import (
    CACHE_NODE_TYPE,
    DAILY_WINDOW,
    MAXMEMORY_POLICY,
    NUM_SHARDS,
    REPLICAS_PER_SHARD,
    SNAPSHOT_RETENTION_DAYS,
    WEEKLY_WINDOW,
    redis_topology,
    service_port,
)
from caching_constructs.core.validation import fail, require, require_none
from caching_constructs.elasticache.cache_access import IAM
from caching_constructs.elasticache.cache_users import CacheUser, CacheUserGroup, group_id_for
from caching_constructs.elasticache.elasticache_base import ElastiCacheBase
from caching_constructs.elasticache.engine_families import (
    CacheEngine,
    parameter_group_family,
    parse_engine,
    supports_transit_encryption_mode,
)
from caching_constructs.elasticache.redis_auth import (
    AUTH_TOKEN_LENGTH,
    auth_token_secret,
    exempt_auth_choice,
    require_engine_and_auth,
)
from caching_constructs.elasticache.redis_metrics import ReplicationGroupMetrics
from constructs import Construct

MAXMEMORY_POLICIES = MAXMEMORY_POLICY.allowed

_MANAGED_PARAMETERS = ("maxmemory-policy", "cluster-enabled")


class RedisReplicationGroup(ReplicationGroupMetrics, ElastiCacheBase):
    """A Redis OSS / Valkey replication group in a VPC, optionally sharded (cluster mode enabled).

    Wire callers with ``group.connections.allow_default_port_from(caller)`` and let them read the token with
    ``group.grant_read_auth_token(caller)``; clients connect with TLS to ``endpoint_address:port``. Its
    nodes and metrics (``member_cluster_ids``, ``metric*()``) come from ``ReplicationGroupMetrics``.

    :param vpc: The VPC to place the nodes in.
    :param engine: ``redis`` (Redis OSS) or ``valkey``. Default: Redis OSS.
    :param engine_version: Engine version; the parameter group family is derived from it. Default: 7.1.
    :param node_type: Node instance type. Default: cache.t4g.micro.
    :param cluster_mode: Shard the key space over ``num_shards`` node groups. Default: False.
    :param num_shards: Node groups; must be 1 unless ``cluster_mode``. Default: 1.
    :param replicas_per_shard: Replicas per node group (0-5). 1 or more turns on Multi-AZ and automatic
        failover; cluster mode needs at least 1. Default: 1.
    :param port: Port on every node; the well-known 6379 is refused. Default: 6380.
    :param maxmemory_policy: Eviction policy set in the parameter group. Default: allkeys-lru.
    :param parameters: Further engine parameters (not maxmemory-policy / cluster-enabled). Default: none.
    :param vpc_subnets: Where the subnet group places nodes. Default: the VPC's isolated subnets.
    :param security_groups: Security groups for the nodes. Default: a new one with no ingress, no egress.
    :param kms_key: Customer managed key for encryption at rest and for the AUTH token secret.
        Default: the AWS managed keys.
    :param log_encryption_key: Customer managed key of the slow-log and engine-log groups (CloudWatch Logs
        must be allowed to use it). Default: none (CloudWatch Logs' own encryption).
    :param auth: ``iam``: an RBAC user group whose ``default`` user is disabled; callers get their
        own IAM-authenticated user (``add_iam_user``), no secret exists. ``token``: one AUTH token in
        Secrets Manager (rotated by hand, docs/DEPLOY.md). Default: iam (Redis OSS / Valkey 7+ only).
    :param auth_token_length: Length of the generated AUTH token (32-128), with ``auth="token"``.
        Default: 64.
    :param snapshot_retention_days: Daily snapshots kept (0 turns backups off). Default: 1.
    :param snapshot_window: Daily UTC snapshot window. Default: 03:00-04:00.
    :param maintenance_window: Weekly UTC maintenance window. Default: sun:05:00-sun:06:00.
    :param log_retention: Retention of the slow-log and engine-log groups. Default: one month.
    :param removal_policy: On stack deletion. SNAPSHOT takes a final snapshot. Default: RETAIN.
    :param description: Description of the group, its subnet group and security group.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        engine: CacheEngine | str = CacheEngine.REDIS,
        engine_version: str = "7.1",
        node_type: str = "cache.t4g.micro",
        cluster_mode: bool = False,
        num_shards: int = 1,
        replicas_per_shard: int = 1,
        port: int = 6380,
        maxmemory_policy: str = "allkeys-lru",
        parameters: Mapping[str, str] | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: Sequence[ec2.ISecurityGroup] | None = None,
        kms_key: kms.IKey | None = None,
        log_encryption_key: kms.IKey | None = None,
        auth: str = IAM,
        auth_token_length: int = 64,
        snapshot_retention_days: int = 1,
        snapshot_window: str = "03:00-04:00",
        maintenance_window: str = "sun:05:00-sun:06:00",
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
        description: str = "Redis replication group",
    ) -> None:
        self.engine = parse_engine(engine)
        require_engine_and_auth(self.engine, engine_version, auth)
        self.parameter_group_family = parameter_group_family(self.engine, engine_version)
        """The parameter group family, derived from engine and version (e.g. ``redis7``, ``valkey8``)."""
        _validate(
            engine=self.engine,
            node_type=node_type,
            cluster_mode=cluster_mode,
            num_shards=num_shards,
            replicas_per_shard=replicas_per_shard,
            port=port,
            maxmemory_policy=maxmemory_policy,
            parameters=parameters or {},
            auth_token_length=auth_token_length,
            snapshot_retention_days=snapshot_retention_days,
            snapshot_window=snapshot_window,
            maintenance_window=maintenance_window,
        )
        super().__init__(
            scope,
            construct_id,
            vpc=vpc,
            port=port,
            description=description,
            vpc_subnets=vpc_subnets,
            security_groups=security_groups,
        )
        self.engine_version = engine_version
        self._kms_key = kms_key
        self.cluster_mode_enabled = cluster_mode
        self.num_shards = num_shards
        self.replicas_per_shard = replicas_per_shard
        self.multi_az_enabled = cluster_mode or replicas_per_shard >= 1
        """Multi-AZ and automatic failover: on whenever a replica exists to take over."""

        self.parameter_group = self._parameter_group(description, maxmemory_policy, parameters or {})
        self._add_auth(auth, description, auth_token_length, removal_policy)
        self._add_log_groups(log_retention, removal_policy, log_encryption_key)
        self.replication_group = self._replication_group(
            description=description,
            node_type=node_type,
            snapshot_retention_days=snapshot_retention_days,
            snapshot_window=snapshot_window,
            maintenance_window=maintenance_window,
        )
        self.replication_group.apply_removal_policy(removal_policy)
        self.node.default_child = self.replication_group
        exempt_auth_choice(self.replication_group, self.engine, self.user_group)
        self._expose_endpoints()

    def _add_auth(
        self, auth: str, description: str, token_length: int, removal_policy: cdk.RemovalPolicy
    ) -> None:
        """How clients authenticate: an RBAC user group (``iam``) or one AUTH token (``token``)."""
        self.auth = auth
        self.user_group: CacheUserGroup | None = (
            CacheUserGroup(self, "Users", group_id=group_id_for(self)) if auth == IAM else None
        )
        """The RBAC group (``auth="iam"``): a disabled ``default`` user plus one user per ``add_iam_user``."""
        self.auth_token_secret: secretsmanager.ISecret | None = (
            None
            if auth == IAM
            else auth_token_secret(self, description, self._kms_key, token_length, removal_policy)
        )
        """The AUTH token (``auth="token"``; None with IAM). Clients read it at run time; the template only
        holds a ``{{resolve:secretsmanager:...}}`` reference."""

    def _expose_endpoints(self) -> None:
        """What clients connect to, which depends on the cluster mode."""
        self.replication_group_id: str = self.replication_group.ref
        """The replication group id (generated by CloudFormation)."""
        if self.cluster_mode_enabled:
            self.endpoint_address: str = self.replication_group.attr_configuration_end_point_address
            self.reader_endpoint_address: str | None = None
        else:
            self.endpoint_address = self.replication_group.attr_primary_end_point_address
            self.reader_endpoint_address = self.replication_group.attr_reader_end_point_address
        """``endpoint_address``: the primary endpoint, or the configuration endpoint in cluster mode.
        ``reader_endpoint_address``: spreads reads over the replicas; None in cluster mode (use READONLY)."""

    def _parameter_group(
        self, description: str, maxmemory_policy: str, parameters: Mapping[str, str]
    ) -> elasticache.CfnParameterGroup:
        return elasticache.CfnParameterGroup(
            self,
            "ParameterGroup",
            cache_parameter_group_family=self.parameter_group_family,
            description=f"{description}: {maxmemory_policy}",
            properties={
                **parameters,
                "maxmemory-policy": maxmemory_policy,
                "cluster-enabled": "yes" if self.cluster_mode_enabled else "no",
            },
        )

    def _add_log_groups(
        self, retention: logs.RetentionDays, removal_policy: cdk.RemovalPolicy, key: kms.IKey | None
    ) -> None:
        """The slow-log and engine-log groups the replication group delivers to."""
        settings: dict[str, Any] = {
            "retention": retention,
            "removal_policy": removal_for(removal_policy, Role.WITHOUT_SNAPSHOT),
            "encryption_key": key,
        }
        self.slow_log_group = logs.LogGroup(self, "SlowLog", **settings)
        self.engine_log_group = logs.LogGroup(self, "EngineLog", **settings)

    def _replication_group(
        self,
        *,
        description: str,
        node_type: str,
        snapshot_retention_days: int,
        snapshot_window: str,
        maintenance_window: str,
    ) -> elasticache.CfnReplicationGroup:
        transit_mode: dict[str, Any] = (
            {"transit_encryption_mode": "required"}
            if supports_transit_encryption_mode(self.engine, self.engine_version)
            else {}
        )
        topology: dict[str, Any] = (
            {
                "cluster_mode": "enabled",
                "num_node_groups": self.num_shards,
                "replicas_per_node_group": self.replicas_per_shard,
            }
            if self.cluster_mode_enabled
            else {"num_cache_clusters": 1 + self.replicas_per_shard}
        )
        return elasticache.CfnReplicationGroup(
            self,
            "Resource",
            replication_group_description=description,
            engine=self.engine.value,
            engine_version=self.engine_version,
            cache_node_type=node_type,
            port=self.port,
            cache_parameter_group_name=self.parameter_group.ref,
            cache_subnet_group_name=self.subnet_group.ref,
            security_group_ids=[group.security_group_id for group in self.security_groups],
            automatic_failover_enabled=self.multi_az_enabled,
            multi_az_enabled=self.multi_az_enabled,
            at_rest_encryption_enabled=True,
            kms_key_id=self._kms_key.key_arn if self._kms_key else None,
            transit_encryption_enabled=True,
            auth_token=self.auth_token_secret.secret_value.unsafe_unwrap()
            if self.auth_token_secret
            else None,
            user_group_ids=[self.user_group.resource.ref] if self.user_group else None,
            snapshot_retention_limit=snapshot_retention_days,
            snapshot_window=snapshot_window if snapshot_retention_days else None,
            preferred_maintenance_window=maintenance_window,
            auto_minor_version_upgrade=True,
            log_delivery_configurations=[
                _log_delivery("slow-log", self.slow_log_group),
                _log_delivery("engine-log", self.engine_log_group),
            ],
            **transit_mode,
            **topology,
        )

    @property
    def primary_endpoint_address(self) -> str | None:
        """The primary's endpoint (writes); None in cluster mode, where clients use ``endpoint_address``."""
        return None if self.cluster_mode_enabled else self.endpoint_address

    @property
    def replication_group_arn(self) -> str:
        return cdk.Stack.of(self).format_arn(
            service="elasticache",
            resource="replicationgroup",
            resource_name=self.replication_group_id,
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )

    # --- grants ---------------------------------------------------------------------------------------------

    def add_iam_user(self, name: str, *, access_string: str) -> CacheUser:
        """An IAM-authenticated user ``<group id>-<name>`` with ``access_string`` (``auth="iam"`` only); its
        ``grant_connect(grantee)`` lets one role sign in as it."""
        if self.user_group is None:
            raise fail("auth", self.auth, "'iam' to add IAM users")
        return self.user_group.add_iam_user(
            name, access_string=access_string, cache_arn=self.replication_group_arn
        )

    def grant_read_auth_token(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` read the AUTH token (secretsmanager:GetSecretValue on this secret, and decrypt);
        ``auth="token"`` only."""
        if self.auth_token_secret is None:
            raise fail("auth", self.auth, "'token' to read an AUTH token")
        return grant_secret_read(grantee, self.auth_token_secret, self._kms_key)


def _log_delivery(
    log_type: str, group: logs.ILogGroup
) -> elasticache.CfnReplicationGroup.LogDeliveryConfigurationRequestProperty:
    return elasticache.CfnReplicationGroup.LogDeliveryConfigurationRequestProperty(
        destination_type="cloudwatch-logs",
        destination_details=elasticache.CfnReplicationGroup.DestinationDetailsProperty(
            cloud_watch_logs_details=elasticache.CfnReplicationGroup.CloudWatchLogsDestinationDetailsProperty(
                log_group=group.log_group_name
            )
        ),
        log_format="json",
        log_type=log_type,
    )


def _validate(
    *,
    engine: CacheEngine,
    node_type: str,
    cluster_mode: bool,
    num_shards: int,
    replicas_per_shard: int,
    port: int,
    maxmemory_policy: str,
    parameters: Mapping[str, str],
    auth_token_length: int,
    snapshot_retention_days: int,
    snapshot_window: str,
    maintenance_window: str,
) -> None:
    """The props' rules, from ``caching_constructs.core.rules``: the ones the project's config checks too."""
    require("node_type", node_type, CACHE_NODE_TYPE)
    require("replicas_per_shard", replicas_per_shard, REPLICAS_PER_SHARD)
    require("num_shards", num_shards, NUM_SHARDS)
    require_none(redis_topology(cluster_mode, num_shards, replicas_per_shard))
    require("port", port, service_port(engine.value))
    require("maxmemory_policy", maxmemory_policy, MAXMEMORY_POLICY)
    for name in _MANAGED_PARAMETERS:
        if name in parameters:
            raise fail(
                f"parameters[{name!r}]", parameters[name], "no value here: set it through its own prop"
            )
    require("auth_token_length", auth_token_length, AUTH_TOKEN_LENGTH)
    require("snapshot_retention_days", snapshot_retention_days, SNAPSHOT_RETENTION_DAYS)
    require("snapshot_window", snapshot_window, DAILY_WINDOW, optional=True)
    require("maintenance_window", maintenance_window, WEEKLY_WINDOW, optional=True)
