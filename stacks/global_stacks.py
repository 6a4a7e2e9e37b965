"""The Global Datastore part of a stage: the global group in the primary region, and per secondary region
its Network and SecondaryData stacks (docs/DEPLOY.md, "Secondary regions")."""

from __future__ import annotations

import aws_cdk as cdk

from caching_constructs.app.cachelib_environment import CacheSettings
from caching_constructs.app.secondary_refill import SecondaryRefill
from caching_constructs.core.encryption_keys import log_group_key
from caching_constructs.elasticache.engine_families import parameter_group_family
from caching_constructs.elasticache.global_datastore import GlobalDatastore
from caching_constructs.elasticache.redis_replication_group import RedisReplicationGroup
from caching_contract import services
from config.schema import EnvironmentConfig
from constructs import Construct
from stacks.cdk_values import removal_policy
from stacks.data_stack import DataStack
from stacks.function_defaults import function_defaults
from stacks.network_stack import NetworkStack
from stacks.secondary_api_stack import SecondaryApiStack, secret_full_name
from stacks.secondary_data_stack import (
    DATABASE_ARN_OUTPUT,
    DATABASE_SECRET_OUTPUT,
    GLOBAL_GROUP_ID_OUTPUT,
    REFILL_QUEUE_ARN_OUTPUT,
    REFILL_QUEUE_URL_OUTPUT,
    SecondaryDataStack,
)
from stacks.secondary_monitoring_stack import SecondaryMonitoringStack

API_URL_OUTPUT = "ApiUrl"
"""The secondary Api stack's output the Edge stack's origin group fails over to."""


def secondary_stack_prefix(stage_name: str, region: str) -> str:
    """``<env>-<region>``: a secondary region's stacks are named like the primary's (``<env>-Network``), with
    the region; left to the CDK, the nested scope would hash them."""
    return f"{stage_name}-{region}"


def failover_api_url(stage_name: str, config: EnvironmentConfig) -> str | None:
    """The first secondary region's ``ApiUrl``, as a stack in any region reads it when it deploys
    (``Fn::GetStackOutput``; that stack must depend on the secondary Api stack). None when single-region.
    The first only: a CloudFront origin group holds two origins."""
    regions = config.global_datastore.secondary_regions
    if not regions:
        return None
    stack_name = f"{secondary_stack_prefix(stage_name, regions[0])}-Api"
    return cdk.Fn.get_stack_output(stack_name, API_URL_OUTPUT, region=regions[0])


class GlobalDatastoreStack(cdk.Stack):
    """The global replication group over the Data stack's cache, the refill function the secondaries' misses
    queue to (``refill``), and what the secondaries read from here."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        network: NetworkStack,
        data: DataStack,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        if not isinstance(data.cache, RedisReplicationGroup):
            raise ValueError("Global Datastore needs a Redis OSS or Valkey replication group")
        self.global_datastore = GlobalDatastore(
            self, "GlobalDatastore", primary=data.cache, id_suffix=f"{self.stack_name}-catalogue".lower()
        )
        cdk.CfnOutput(
            self,
            GLOBAL_GROUP_ID_OUTPUT,
            value=self.global_datastore.global_replication_group_id,
            description="The global group the secondary regions' cache members join (Fn::GetStackOutput)",
        )
        cdk.CfnOutput(
            self,
            DATABASE_ARN_OUTPUT,
            value=data.database.instance.instance_arn,
            description="The MySQL writer the secondary regions replicate from (Fn::GetStackOutput)",
        )
        functions = config.functions
        logs_removal = removal_policy(config.removal_policy, supports_snapshot=False)
        self.refill = SecondaryRefill(
            self,
            services.SECONDARY_REFILL.id,
            defaults=function_defaults(
                functions=functions,
                vpc=network.vpc,
                removal_policy=logs_removal,
                environment_name=config.name,
                log_encryption_key=log_group_key(
                    self,
                    description=f"Encrypts the {self.node.id} stack's log groups",
                    removal_policy=logs_removal,
                    enabled=config.security.customer_managed_keys,
                ),
            ),
            cache=data.cache,
            database=data.database,
            secrets_manager_endpoint=network.secrets_manager_endpoint,
            cache_settings=CacheSettings(
                ttl=cdk.Duration.seconds(functions.cache_ttl_seconds),
                negative_ttl=cdk.Duration.seconds(functions.negative_ttl_seconds),
            ),
            timeout=cdk.Duration.seconds(functions.timeout_seconds),
        )
        outputs = {
            DATABASE_SECRET_OUTPUT: (secret_full_name(data.database.secret.secret_arn), "The database "
                                     "secret's name, replicated to the secondary regions under it"),
            REFILL_QUEUE_URL_OUTPUT: (self.refill.queue_url, "Where the secondary regions queue misses"),
            REFILL_QUEUE_ARN_OUTPUT: (self.refill.queue_arn, "The refill queue, for the secondaries' grant"),
        }  # fmt: skip
        for name, (value, description) in outputs.items():
            cdk.CfnOutput(self, name, value=value, description=f"{description} (Fn::GetStackOutput)")


class SecondaryRegion(Construct):
    """One secondary region's stacks (``network``, ``data``, ``api``, ``monitoring``), scoped by the region so
    their ids stay the primary's."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        region: str,
        primary: GlobalDatastoreStack,
        primary_region: str,
        stack_props: dict,
    ) -> None:
        super().__init__(scope, construct_id)
        env = cdk.Environment(account=config.account, region=region)
        prefix = secondary_stack_prefix(cdk.Stage.of(self).stage_name, region)  # type: ignore[union-attr]
        self.network = NetworkStack(
            self,
            "Network",
            network=config.network,
            removal_policy=removal_policy(config.removal_policy, supports_snapshot=False),
            customer_managed_keys=config.security.customer_managed_keys,
            env=env,
            stack_name=f"{prefix}-Network",
            description=f"Caching architecture, secondary region {region}: VPC, endpoints, security groups",
            **stack_props,
        )
        self.data = SecondaryDataStack(
            self,
            "Data",
            vpc=self.network.vpc,
            cache_security_group=self.network.cache_security_group,
            database_security_group=self.network.database_security_group,
            primary_stack_name=primary.stack_name,
            primary_region=primary_region,
            parameter_group_family=parameter_group_family(config.cache.engine, config.cache.engine_version),
            cache=config.cache,
            database=config.database,
            deletion_protection=config.deletion_protection,
            removal_policy=removal_policy(config.removal_policy, supports_snapshot=True),
            env=env,
            stack_name=f"{prefix}-Data",
            description=f"Caching architecture, secondary region {region}: Global Datastore member and "
            "cross-region MySQL replica",
            **stack_props,
        )
        self.data.add_stack_dependency(primary, "reads the global group and the writer's ARN at deploy time")
        self.api = SecondaryApiStack(
            self,
            "Api",
            vpc=self.network.vpc,
            secrets_manager_endpoint=self.network.secrets_manager_endpoint,
            data=self.data,
            primary_stack_name=primary.stack_name,
            primary_region=primary_region,
            functions=config.functions,
            api=config.api,
            database=config.database,
            security=config.security,
            removal_policy=removal_policy(config.removal_policy, supports_snapshot=False),
            environment_name=config.name,
            env=env,
            stack_name=f"{prefix}-Api",
            description=f"Caching architecture, secondary region {region}: the product API's read path",
            **stack_props,
        )
        self.api.add_stack_dependency(
            primary, "reads the refill queue and the database secret at deploy time"
        )
        self.monitoring = SecondaryMonitoringStack(
            self,
            "Monitoring",
            monitoring=config.monitoring,
            data=self.data,
            api=self.api,
            env=env,
            stack_name=f"{prefix}-Monitoring",
            description=f"Caching architecture, secondary region {region}: dashboard and alarms (replication "
            "lag, the read path) to this region's encrypted SNS topic",
            **stack_props,
        )


def add_global_datastore(
    stage: Construct, config: EnvironmentConfig, network: NetworkStack, data: DataStack, stack_props: dict
) -> tuple[GlobalDatastoreStack | None, list[SecondaryRegion]]:
    """Nothing for a single-region environment; else the global group (with the refill) and every secondary
    region."""
    settings = config.global_datastore
    if not settings.secondary_regions:
        return None, []
    primary_region = settings.primary_region or config.region
    assert primary_region is not None  # the loader requires one with secondary regions
    primary = GlobalDatastoreStack(
        stage,
        "GlobalDatastore",
        config=config,
        network=network,
        data=data,
        description="Caching architecture: ElastiCache Global Datastore over the Data stack's cache",
        **stack_props,
    )
    primary.add_stack_dependency(data, "makes the Data stack's cache the global group's primary")
    return primary, [
        SecondaryRegion(
            stage,
            "".join(part.capitalize() for part in region.split("-")),
            config=config,
            region=region,
            primary=primary,
            primary_region=primary_region,
            stack_props=stack_props,
        )
        for region in settings.secondary_regions
    ]
