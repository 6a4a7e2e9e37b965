"""The stateful tier: the Redis/Valkey (or Memcached) cache, RDS MySQL with read replicas, DynamoDB + DAX.

Everything sits in the network stack's isolated subnets behind the per-tier security groups. Nothing here
admits a caller: each function opens its own path, on the store's default port, from the Api stack
(``function.connections.allow_to_default_port(store.connections)``). The one caller this stack wires is the
database's secret rotation function, which the database construct creates.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_secretsmanager as secretsmanager

from caching_constructs.core.encryption_keys import customer_managed_key
from caching_constructs.core.nag import exempt_control, suppress_findings
from caching_constructs.core.removal import Role, removal_for
from caching_constructs.core.rules import SERVERLESS
from caching_constructs.data.dax_cluster import DaxCluster
from caching_constructs.data.mysql_database import MySqlDatabase
from caching_constructs.elasticache.caches import REDIS_CACHES, CacheStore
from caching_constructs.elasticache.memcached_cluster import MemcachedCluster
from caching_constructs.elasticache.redis_replication_group import RedisReplicationGroup
from caching_constructs.elasticache.serverless_cache import ServerlessCache
from config.schema import CacheConfig, DatabaseConfig, DaxConfig
from constructs import Construct
from stacks.cdk_values import log_retention

DATA_SUBNETS = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)


class DataStack(Stack):
    """Public surface for the other tiers:

    - ``cache``: ``RedisReplicationGroup``, ``ServerlessCache`` or ``MemcachedCluster`` (``connections``,
      ``endpoint_address``, ``reader_endpoint_address``, ``port``, ``metric_*()``); ``cache_auth_secret`` is
      its AUTH token secret (None for Memcached, Serverless and IAM auth) and
      ``grant_read_auth_token(grantee)`` on the replication group reads it.
    - ``database``: ``MySqlDatabase`` (``connections``, ``writer_endpoint``, ``reader_endpoint(s)``,
      ``secret``, ``database_name``, ``port``, ``grant_connect()``, ``metric_*()``).
    - ``table``: the DynamoDB table (partition key ``id``); ``dax``: ``DaxCluster`` in front of it
      (``connections``, ``endpoint_url``, ``grant_read_data()``, ``grant_write_data()``, ``metric_*()``).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        cache_security_group: ec2.ISecurityGroup,
        database_security_group: ec2.ISecurityGroup,
        dax_security_group: ec2.ISecurityGroup,
        database_rotation_security_group: ec2.ISecurityGroup,
        secrets_manager_endpoint: ec2.IInterfaceVpcEndpoint,
        cache: CacheConfig,
        database: DatabaseConfig,
        dax: DaxConfig,
        removal_policy: RemovalPolicy,
        deletion_protection: bool,
        customer_managed_keys: bool = True,
        secret_replica_regions: Sequence[str] = (),
        **kwargs,
    ) -> None:
        """
        :param database_rotation_security_group: the group of the database's secret rotation function; it is
            let in to MySQL and the Secrets Manager endpoint. From the stack that holds the database's group,
            so that the rules between the two reference nothing in this one.
        :param customer_managed_keys: one customer-managed key for the table, the database's storage and
            secret, the cache at rest, its AUTH token and its log groups. Default True.
        :param secret_replica_regions: the Global Datastore's secondary regions, where the database's secret
            is replicated for their cross-region replica's readers. Default none.
        """
        super().__init__(scope, construct_id, **kwargs)
        self.key = (
            customer_managed_key(
                self,
                "Key",
                description="Encrypts the data tier: DynamoDB table, MySQL storage and secret, cache, logs",
                # Snapshots and retained stores need the key to be read: it is kept unless all is destroyed.
                removal_policy=removal_for(removal_policy, Role.WITHOUT_SNAPSHOT),
                for_log_groups=True,
            )
            if customer_managed_keys
            else None
        )
        self.cache: CacheStore = self._cache(vpc, cache_security_group, cache, removal_policy)
        self.cache_auth_secret: secretsmanager.ISecret | None = (
            self.cache.auth_token_secret if isinstance(self.cache, REDIS_CACHES) else None
        )

        self.database = MySqlDatabase(
            self,
            "Database",
            vpc=vpc,
            vpc_subnets=DATA_SUBNETS,
            security_groups=[database_security_group],
            engine_version=database.engine_version,
            extended_support=database.accept_extended_support,
            instance_type=ec2.InstanceType(database.instance_class),
            database_name=database.database_name,
            port=database.port,
            storage_encryption_key=self.key,
            secret_encryption_key=self.key,
            allocated_storage_gib=database.allocated_storage_gib,
            max_allocated_storage_gib=database.max_allocated_storage_gib,
            multi_az=database.multi_az,
            read_replica_count=database.read_replica_count,
            backup_retention=cdk.Duration.days(database.backup_retention_days),
            rotation_interval=cdk.Duration.days(database.secret_rotation_days),
            secrets_manager_endpoint=secrets_manager_endpoint,
            rotation_security_group=database_rotation_security_group,
            performance_insights=database.performance_insights,
            monitoring_interval=cdk.Duration.seconds(database.monitoring_interval_seconds),
            log_retention=log_retention(database.log_retention_days),
            deletion_protection=deletion_protection,
            removal_policy=removal_policy,
            secret_replica_regions=secret_replica_regions,
        )

        self._add_table_and_dax(vpc, dax_security_group, dax, removal_policy, deletion_protection)
        self._suppress_environment_choices(database, dax, deletion_protection, customer_managed_keys)

    def _add_table_and_dax(
        self,
        vpc: ec2.IVpc,
        dax_security_group: ec2.ISecurityGroup,
        dax: DaxConfig,
        removal_policy: RemovalPolicy,
        deletion_protection: bool,
    ) -> None:
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED
            if self.key
            else dynamodb.TableEncryption.AWS_MANAGED,
            encryption_key=self.key,
            deletion_protection=deletion_protection,
            removal_policy=removal_for(removal_policy, Role.WITHOUT_SNAPSHOT),
        )
        self.dax = DaxCluster(
            self,
            "Dax",
            vpc=vpc,
            tables=[self.table],
            vpc_subnets=DATA_SUBNETS,
            security_groups=[dax_security_group],
            node_type=dax.node_type,
            replication_factor=dax.node_count,
            item_ttl=cdk.Duration.seconds(dax.item_ttl_seconds),
            query_ttl=cdk.Duration.seconds(dax.query_ttl_seconds),
            # DAX holds only copies of table items.
            removal_policy=removal_for(removal_policy, Role.COPY),
            description="DAX cluster in front of the catalog table",
            # One node per AZ of the VPC, round-robin: a zone outage leaves the other nodes serving.
            availability_zones=vpc.availability_zones,
        )

    def _cache(
        self,
        vpc: ec2.IVpc,
        security_group: ec2.ISecurityGroup,
        cache: CacheConfig,
        removal_policy: RemovalPolicy,
    ) -> CacheStore:
        if cache.engine == "memcached":
            return MemcachedCluster(
                self,
                "Cache",
                vpc=vpc,
                vpc_subnets=DATA_SUBNETS,
                security_groups=[security_group],
                engine_version=cache.engine_version,
                node_type=cache.node_type,
                num_nodes=cache.num_shards,
                port=cache.port,
                maintenance_window=cache.maintenance_window,
                removal_policy=removal_for(removal_policy, Role.WITHOUT_SNAPSHOT),
                description="Memcached cache in front of the catalog database",
            )
        if cache.mode == SERVERLESS:
            return ServerlessCache(
                self,
                "Cache",
                vpc=vpc,
                vpc_subnets=DATA_SUBNETS,
                security_groups=[security_group],
                engine=cache.engine,
                engine_version=cache.engine_version,
                max_data_storage_gb=cache.serverless_max_data_storage_gb,
                max_ecpu_per_second=cache.serverless_max_ecpu_per_second,
                kms_key=self.key,
                snapshot_retention_days=cache.snapshot_retention_days,
                # One snapshot setting for both modes: the window's start is when Serverless starts it.
                daily_snapshot_time=cache.snapshot_window.split("-")[0],
                removal_policy=removal_policy,
                description=f"{cache.engine} serverless cache in front of the catalog database",
            )
        return RedisReplicationGroup(
            self,
            "Cache",
            vpc=vpc,
            vpc_subnets=DATA_SUBNETS,
            security_groups=[security_group],
            engine=cache.engine,
            engine_version=cache.engine_version,
            node_type=cache.node_type,
            cluster_mode=cache.cluster_mode,
            num_shards=cache.num_shards,
            replicas_per_shard=cache.replicas_per_shard,
            port=cache.port,
            maxmemory_policy=cache.maxmemory_policy,
            auth=cache.auth,
            snapshot_retention_days=cache.snapshot_retention_days,
            snapshot_window=cache.snapshot_window,
            maintenance_window=cache.maintenance_window,
            log_retention=log_retention(cache.log_retention_days),
            kms_key=self.key,
            log_encryption_key=self.key,
            removal_policy=removal_policy,
            description=f"{cache.engine} cache in front of the catalog database",
        )

    def _suppress_environment_choices(
        self, database: DatabaseConfig, dax: DaxConfig, deletion_protection: bool, customer_managed_keys: bool
    ) -> None:
        """Findings that are deliberate per-environment cost choices, each on the one resource it concerns."""
        if isinstance(self.cache, RedisReplicationGroup) and not self.cache.multi_az_enabled:
            single_node = (
                "One cache node in this environment by config (cache.replicas_per_shard=0): a dev cache is "
                "disposable. Staging and prod run replicas with Multi-AZ automatic failover."
            )
            _suppress(self.cache.replication_group, "AwsSolutions-AEC4", single_node)
            exempt_control(self.cache.replication_group, "CT.ELASTICACHE.PR.3", single_node)
        if not database.multi_az:
            no_standby = (
                "No standby for the writer in this environment by config (database.multi_az=false); its read "
                "replica runs in another AZ. Staging and prod run a Multi-AZ writer."
            )
            _suppress(self.database.instance, "AwsSolutions-RDS3", no_standby)
            exempt_control(self.database.instance, "CT.RDS.PR.1", no_standby)
        if not deletion_protection:
            unprotected = (
                "Deletion protection is off in this environment by config (deletion_protection=false) so it "
                "can be torn down at will; prod turns it on."
            )
            for instance in (self.database.instance, *self.database.read_replicas):
                _suppress(instance, "AwsSolutions-RDS10", unprotected)
            exempt_control(self.database.instance, "CT.RDS.PR.13", unprotected)
        if database.backup_retention_days < 7:
            exempt_control(
                self.database.instance,
                "CT.RDS.PR.8",
                f"Automated backups kept {database.backup_retention_days} day(s) in this environment by "
                "config (database.backup_retention_days; the loader requires 7 or more outside dev): its "
                "sample data is re-seeded on every deploy.",
            )
        if dax.node_count < 3:
            exempt_control(
                self.dax.cluster,
                "CT.DAX.PR.2",
                f"{dax.node_count} DAX node(s) in this environment by config (dax.node_count), each in its "
                "own AZ; DAX only caches table items, so losing it costs latency, not data. Prod runs 3 "
                "nodes in 3 AZs.",
            )
        if not customer_managed_keys:
            self._exempt_aws_managed_keys()

    def _exempt_aws_managed_keys(self) -> None:
        reason = (
            "Encrypted with an AWS managed key: customer-managed keys are off in this environment by config "
            "(security.customer_managed_keys=false)."
        )
        exempt_control(self.table, "CT.DYNAMODB.PR.2", reason)
        exempt_control(self.database.instance, "CT.RDS.PR.30", reason)


def _suppress(resource: Construct, rule: str, reason: str) -> None:
    suppress_findings(resource, [{"id": rule, "reason": reason}])
