"""The application tier, one construct per concern (``caching_constructs.<module>``, whose runtime is
``lambda/functions/<module>``). Stateless: it can be destroyed and redeployed at any time.

* ``ProductApi`` (``product_api``): the product catalogue API and its routes;
* ``CacheWarmer`` (``cache_warmer``): the warmer, its schedule and its dead-letter queue;
* ``SchemaSeed`` (``schema_seed``): the schema/seed deploy step (``Custom::CatalogSchema``);
* ``DaxDemo`` (``dax_demo``): the DAX demo and its routes;
* ``CachedRestApi`` and ``ManagedRulesWebAcl``: the REST API, its stage cache and its regional web ACL;
* ``EdgeRefreshQueue``: the paths of written items, drained by the Edge stack's refresher.

Each function has its own security group and opens its own paths to the data stores and endpoints, so the
rules live here, beside the function, and the Network and Data stacks never reference this one.
"""

from __future__ import annotations

import dataclasses

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events

from caching_constructs.app.cache_warmer import CacheWarmer
from caching_constructs.app.cachelib_environment import CacheSettings
from caching_constructs.app.dax_demo import DaxDemo
from caching_constructs.app.product_api import ProductApi
from caching_constructs.app.schema_seed import SchemaSeed
from caching_constructs.core.encryption_keys import log_group_key
from caching_constructs.core.python_function import FunctionDefaults
from caching_constructs.data.dax_cluster import DaxCluster
from caching_constructs.data.mysql_database import MySqlDatabase
from caching_constructs.edge.edge_refresh import EdgeRefreshQueue
from caching_constructs.elasticache.caches import CacheStore
from caching_contract import services
from caching_contract.http import ITEM_ROUTE
from config.schema import ApiConfig, FunctionsConfig, SecurityConfig
from constructs import Construct
from stacks.function_defaults import function_defaults
from stacks.lambda_assets import dax_code, schema_version
from stacks.regional_api import regional_rest_api


class ApiStack(cdk.Stack):
    """The functions in the application subnets, fronted by a REST API whose stage cache keys on exactly
    the parameters each response depends on.

    Request path: CloudFront (Edge stack) -> API Gateway stage cache -> ``ProductApi`` -> Redis or Memcached
    (cache-aside, Data stack) -> MySQL read replica on a miss.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: FunctionsConfig,
        api: ApiConfig,
        vpc: ec2.IVpc,
        secrets_manager_endpoint: ec2.IConnectable,
        sqs_endpoint: ec2.IConnectable,
        cache: CacheStore,
        database: MySqlDatabase,
        dax: DaxCluster,
        table: dynamodb.ITable,
        removal_policy: cdk.RemovalPolicy,
        environment_name: str,
        security: SecurityConfig,
        **kwargs,
    ) -> None:
        """
        :param secrets_manager_endpoint: the functions read secrets through it; each opens its own path.
        :param sqs_endpoint: the product API queues edge refreshes through it.
        :param environment_name: the deployment environment (``APP_ENVIRONMENT`` of every function, which the
            caching library publishes as its metrics' ``environment`` dimension).
        :param security: customer-managed key for the log groups, and the regional web ACL.
        """
        super().__init__(scope, construct_id, **kwargs)
        self.log_key = log_group_key(
            self,
            description="Encrypts the Api stack's log groups (functions, API access, custom resources)",
            removal_policy=removal_policy,
            enabled=security.customer_managed_keys,
        )
        core = function_defaults(
            functions=functions,
            vpc=vpc,
            removal_policy=removal_policy,
            environment_name=environment_name,
            log_encryption_key=self.log_key,
        )
        # The DAX client is an sdist-only package the other functions do without: the demo has its own asset.
        with_dax_client = dataclasses.replace(core, code=dax_code(functions.architecture))
        # Drained by the edge refresher in the Edge stack, which knows the distribution: that stack depends
        # on this one, never the reverse.
        self.edge_refresh_queue = EdgeRefreshQueue(self, "EdgeRefreshQueue")
        self._add_catalog_functions(functions, core, cache, database, secrets_manager_endpoint, sqs_endpoint)
        self.dax_demo = DaxDemo(
            self,
            services.DAX_DEMO.id,
            defaults=with_dax_client,
            dax=dax,
            table=table,
            timeout=cdk.Duration.seconds(functions.timeout_seconds),
        )
        self._add_rest_api(api, security, functions.log_retention_days, removal_policy)
        cdk.CfnOutput(self, "ApiUrl", value=self.rest_api.url, description="Invoke URL of the REST API stage")
        cdk.CfnOutput(
            self, "CacheWarmerFunctionName", value=self.cache_warmer.function_name,
            description="Invoke by hand: aws lambda invoke --function-name <this> --invocation-type Event",
        )  # fmt: skip

    def _add_catalog_functions(
        self,
        functions: FunctionsConfig,
        defaults: FunctionDefaults,
        cache: CacheStore,
        database: MySqlDatabase,
        secrets_manager_endpoint: ec2.IConnectable,
        sqs_endpoint: ec2.IConnectable,
    ) -> None:
        """The three functions of the catalogue: the product API, the warmer and the schema step."""
        cache_settings = CacheSettings(
            ttl=cdk.Duration.seconds(functions.cache_ttl_seconds),
            negative_ttl=cdk.Duration.seconds(functions.negative_ttl_seconds),
            near_cache=functions.l1_enabled,
            near_cache_ttl=cdk.Duration.seconds(functions.l1_ttl_seconds),
        )
        self.product_api = ProductApi(
            self,
            services.PRODUCT_API.id,
            defaults=defaults,
            cache=cache,
            database=database,
            secrets_manager_endpoint=secrets_manager_endpoint,
            edge_refresh_queue=self.edge_refresh_queue,
            sqs_endpoint=sqs_endpoint,
            cache_settings=cache_settings,
            write_mode=functions.product_write_mode,
            idempotency_ttl=cdk.Duration.hours(functions.idempotency_ttl_hours),
            timeout=cdk.Duration.seconds(functions.timeout_seconds),
            reserved_concurrent_executions=functions.reserved_concurrency,
        )
        self.cache_warmer = CacheWarmer(
            self,
            services.CACHE_WARMER.id,
            defaults=defaults,
            cache=cache,
            database=database,
            secrets_manager_endpoint=secrets_manager_endpoint,
            cache_settings=cache_settings,
            top_n=functions.warm_top_n,
            schedule=events.Schedule.expression(functions.warm_schedule),
            timeout=cdk.Duration.seconds(functions.warmer_timeout_seconds),
            # One warmer at a time, when the account has concurrency to reserve (see reserved_concurrency).
            reserved_concurrent_executions=1 if functions.reserved_concurrency is not None else None,
        )
        self.schema_seed = SchemaSeed(
            self,
            services.SCHEMA_SEED.id,
            defaults=defaults,
            database=database,
            secrets_manager_endpoint=secrets_manager_endpoint,
            seed_product_count=functions.seed_product_count,
            schema_version=schema_version(),
            timeout=cdk.Duration.seconds(functions.schema_seed_timeout_seconds),
        )

    def _add_rest_api(
        self,
        api: ApiConfig,
        security: SecurityConfig,
        log_retention_days: int,
        removal_policy: cdk.RemovalPolicy,
    ) -> None:
        product_routes = self.product_api.routes(
            item_cache_ttl=cdk.Duration.seconds(api.item_cache_ttl_seconds),
            list_cache_ttl=cdk.Duration.seconds(api.list_cache_ttl_seconds),
        )
        self.rest_api, self.web_acl = regional_rest_api(
            self,
            api=api,
            security=security,
            routes=[*product_routes, *self.dax_demo.routes()],
            description="Product catalogue with stage caching",
            log_retention_days=log_retention_days,
            removal_policy=removal_policy,
            log_encryption_key=self.log_key,
            web_acl_arn=api.waf_web_acl_arn,
        )
        # Attached to the edge refresher's role in the Edge stack: it may refresh item entries only.
        self.edge_refresh_policy = self.rest_api.add_cache_refresh_policy(
            "EdgeRefreshPolicy", paths=[ITEM_ROUTE]
        )
