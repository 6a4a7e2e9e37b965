"""The read path of one Global Datastore secondary region: the product API function (``CACHE_ROLE=secondary``)
and its REST API with the same routes and stage cache as the primary's. Writes reach the function only when
a client calls this API directly (CloudFront fails over GET and HEAD only) and are answered ``421``.

It reads the primary region's refill queue and database secret from the ``GlobalDatastore`` stack's outputs
with ``Fn::GetStackOutput``, as ``stacks/secondary_data_stack.py`` does.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms

from caching_constructs.app.cachelib_environment import CacheSettings
from caching_constructs.app.product_api import catalogue_routes
from caching_constructs.app.secondary_product_api import SecondaryProductApi
from caching_constructs.core.encryption_keys import log_group_key
from caching_contract import services
from config.schema import ApiConfig, DatabaseConfig, FunctionsConfig, SecurityConfig
from constructs import Construct
from stacks.function_defaults import function_defaults
from stacks.regional_api import regional_rest_api
from stacks.secondary_data_stack import (
    DATABASE_SECRET_OUTPUT,
    REFILL_QUEUE_ARN_OUTPUT,
    REFILL_QUEUE_URL_OUTPUT,
    SecondaryDataStack,
)


def secret_full_name(secret_arn: str) -> str:
    """A secret's name with its random suffix (``name-AbCdEf``), which its replicas keep in every region."""
    # Joined with a trailing ":" first: cfn-lint's schema takes no Fn::GetStackOutput (a weak reference to
    # another stack's secret) directly inside Fn::Split.
    return cdk.Fn.select(6, cdk.Fn.split(":", cdk.Fn.join(":", [secret_arn, ""])))


def replicated_secret_arn(full_name: str) -> str:
    """The ARN of a replicated secret in this stack's region, from its ``secret_full_name``."""
    return cdk.Fn.join(
        "",
        [
            "arn:",
            cdk.Aws.PARTITION,
            ":secretsmanager:",
            cdk.Aws.REGION,
            ":",
            cdk.Aws.ACCOUNT_ID,
            ":secret:",
            full_name,
        ],
    )


class SecondaryApiStack(cdk.Stack):
    """``product_api`` (``SecondaryProductApi``) and ``rest_api`` (``CachedRestApi``) of one region."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        secrets_manager_endpoint: ec2.IConnectable,
        data: SecondaryDataStack,
        primary_stack_name: str,
        primary_region: str,
        functions: FunctionsConfig,
        api: ApiConfig,
        database: DatabaseConfig,
        security: SecurityConfig,
        removal_policy: cdk.RemovalPolicy,
        environment_name: str,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)

        def primary_output(name: str) -> str:
            return cdk.Fn.get_stack_output(primary_stack_name, name, region=primary_region)

        defaults = function_defaults(
            functions=functions,
            vpc=vpc,
            removal_policy=removal_policy,
            environment_name=environment_name,
            log_encryption_key=log_group_key(
                self,
                description=f"Encrypts the {self.node.id} stack's log groups",
                removal_policy=removal_policy,
                enabled=security.customer_managed_keys,
            ),
        )
        replica = data.database_replica
        self.product_api = SecondaryProductApi(
            self,
            services.PRODUCT_API.id,
            defaults=defaults,
            cache=data.cache,
            database_host=replica.attr_endpoint_address,
            database_port=database.port,
            database_name=database.database_name,
            database_connections=data.database_connections,
            database_secret_arn=replicated_secret_arn(primary_output(DATABASE_SECRET_OUTPUT)),
            secrets_manager_endpoint=secrets_manager_endpoint,
            refill_queue_url=primary_output(REFILL_QUEUE_URL_OUTPUT),
            refill_queue_arn=primary_output(REFILL_QUEUE_ARN_OUTPUT),
            cache_settings=CacheSettings(
                ttl=cdk.Duration.seconds(functions.cache_ttl_seconds),
                negative_ttl=cdk.Duration.seconds(functions.negative_ttl_seconds),
            ),
            timeout=cdk.Duration.seconds(functions.timeout_seconds),
            reserved_concurrent_executions=functions.reserved_concurrency,
        )
        self._add_rest_api(api, functions, security, removal_policy, defaults.log_encryption_key)

    def _add_rest_api(
        self,
        api: ApiConfig,
        functions: FunctionsConfig,
        security: SecurityConfig,
        removal_policy: cdk.RemovalPolicy,
        log_encryption_key: kms.IKey | None,
    ) -> None:
        self.rest_api, _ = regional_rest_api(
            self,
            api=api,
            security=security,
            routes=catalogue_routes(
                self.product_api.function,
                item_cache_ttl=cdk.Duration.seconds(api.item_cache_ttl_seconds),
                list_cache_ttl=cdk.Duration.seconds(api.list_cache_ttl_seconds),
            ),
            description="Product catalogue with stage caching (secondary region: reads)",
            log_retention_days=functions.log_retention_days,
            removal_policy=removal_policy,
            log_encryption_key=log_encryption_key,
        )
        # Its name is what the Edge stack reads for its failover origin (global_stacks.API_URL_OUTPUT).
        cdk.CfnOutput(self, "ApiUrl", value=self.rest_api.url, description="Invoke URL of this region's API")
