"""The application tier: the four Lambda functions, the REST API with its stage cache, the warmer schedule
and the schema/seed custom resource. Stateless: it can be destroyed and redeployed at any time.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import custom_resources as cr

from caching_constructs.cached_rest_api import ApiRoute, CachedRestApi
from caching_constructs.dax_cluster import DaxCluster
from caching_constructs.edge_refresh import EdgeRefreshQueue
from caching_constructs.keys import customer_managed_key
from caching_constructs.mysql_database import MySqlDatabase
from caching_constructs.nag import exempt_control, nag_form, suppress_findings
from caching_constructs.python_bundling import PythonBundleSpec, python_lambda_code
from caching_constructs.python_function import PYTHON_RUNTIME, VpcPythonFunction, architecture_named
from caching_constructs.redis_replication_group import RedisReplicationGroup
from caching_constructs.web_acl import ManagedRulesWebAcl
from config.schema import ApiConfig, FunctionsConfig, SecurityConfig
from constructs import Construct
from stacks.cdk_values import log_retention
from stacks.monitoring_application import ENVIRONMENT_VARIABLE

LAMBDA_ROOT = Path(__file__).resolve().parents[1] / "lambda"
METRICS_NAMESPACE = "CachingArchitecture"
SOURCE_DIRS = ("cachelib", "functions")
CORE_HANDLERS = (
    "functions.product_api",
    "functions.cache_warmer",
    "functions.schema_seed",
    "functions.edge_refresh",
)
ITEM_ROUTE = "/products/{id}"
"""The item route: stage-cached, and the one route the edge refresher refreshes after a write."""
DAX_HANDLERS = ("functions.dax_demo",)
# redis-py's Redis Stack module clients (search, JSON, time series, probabilistic, vector sets) and its
# multi-database client: ~1.1 MB the handlers never import (redis-py loads the module clients only when
# ``client.ft()``/``json()``/... is called). The bundle test proves what the handlers do import still loads.
PRUNED = (
    "redis/commands/bf",
    "redis/commands/json",
    "redis/commands/search",
    "redis/commands/timeseries",
    "redis/commands/vectorset",
    "redis/multidb",
)


def load_lambda_module(name: str) -> ModuleType:
    """A runtime module of ``lambda/functions`` that imports only the standard library at module level,
    loaded from its file: the CDK app reads its constants instead of retyping them."""
    path = LAMBDA_ROOT / "functions" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_{name}_for_synth", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lambda_constant(module: str, name: str) -> Any:
    """A literal module-level constant of ``lambda/functions/<module>.py``, read from its source without
    importing it (handlers import the caching library and drivers, which the CDK app does not install)."""
    tree = ast.parse((LAMBDA_ROOT / "functions" / f"{module}.py").read_text())
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if any(isinstance(target, ast.Name) and target.id == name for target in targets):
            return ast.literal_eval(node.value)
    raise LookupError(f"lambda/functions/{module}.py has no literal module-level {name}")


def load_catalog_schema() -> ModuleType:
    """The runtime's schema module: the API's body model uses its categories and limits, and the custom
    resource its version, so the API and the handler never disagree."""
    return load_lambda_module("catalog_schema")


def schema_version(catalog_schema: ModuleType) -> str:
    """``SCHEMA_VERSION`` plus a digest of the DDL file: any change to it re-runs the idempotent step."""
    digest = hashlib.sha256((LAMBDA_ROOT / "functions" / "catalog_schema.py").read_bytes()).hexdigest()[:12]
    return f"{catalog_schema.SCHEMA_VERSION}-{digest}"


def product_body_schema(catalog_schema: ModuleType) -> dict:
    """JSON schema (draft 4) of a PUT/POST body, mirroring ``functions.product_validation``."""
    return {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "title": "Product",
        "type": "object",
        "required": ["name", "category", "price"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": catalog_schema.NAME_MAX_LENGTH},
            "category": {"type": "string", "enum": list(catalog_schema.CATEGORIES)},
            # A string keeps exact decimals; the handler checks the range and the two decimal places.
            "price": {"type": ["number", "string"]},
            "stock": {"type": "integer", "minimum": 0, "maximum": catalog_schema.STOCK_MAX},
            "description": {"type": "string", "maxLength": catalog_schema.DESCRIPTION_MAX_LENGTH},
        },
    }


def core_bundle(architecture: str, python_version: str) -> PythonBundleSpec:
    """The asset of the product API, the warmer and the schema step."""
    return PythonBundleSpec(
        asset_root=LAMBDA_ROOT,
        source_dirs=SOURCE_DIRS,
        requirements=("requirements.txt",),
        lock="requirements.lock",
        handler_modules=CORE_HANDLERS,
        architecture=architecture,
        python_version=python_version,
        prune=PRUNED,
    )


def dax_bundle(architecture: str, python_version: str) -> PythonBundleSpec:
    """The DAX demo's asset: the core requirements plus the DAX client (an sdist-only package)."""
    return PythonBundleSpec(
        asset_root=LAMBDA_ROOT,
        source_dirs=SOURCE_DIRS,
        requirements=("requirements.txt", "requirements-dax.txt"),
        lock="requirements-dax.lock",
        handler_modules=DAX_HANDLERS,
        architecture=architecture,
        python_version=python_version,
        sdist_packages=("amazon-dax-client",),
        prune=PRUNED,
    )


DAX_ITEM_SCHEMA = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "title": "DaxItem",
    "type": "object",
}


class ApiStack(cdk.Stack):
    """Lambda functions in the application subnets, fronted by a REST API whose stage cache keys on exactly
    the parameters each response depends on.

    Request path: CloudFront (Edge stack) -> API Gateway stage cache -> product API function -> Redis
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
        application_security_group: ec2.ISecurityGroup,
        cache: RedisReplicationGroup,
        database: MySqlDatabase,
        dax: DaxCluster,
        table: dynamodb.ITable,
        removal_policy: cdk.RemovalPolicy,
        environment_name: str,
        security: SecurityConfig,
        **kwargs,
    ) -> None:
        """
        :param environment_name: the deployment environment (``APP_ENVIRONMENT`` of every function, which the
            caching library publishes as its metrics' ``environment`` dimension).
        :param security: customer-managed key for the log groups, and the regional web ACL.
        """
        if not isinstance(cache, RedisReplicationGroup):
            raise ValueError(
                f"the product API's cache library speaks Redis; {type(cache).__name__} is not supported"
            )
        super().__init__(scope, construct_id, **kwargs)
        self._functions_config = functions
        self._environment_name = environment_name
        self._vpc = vpc
        self._security_groups = [application_security_group]
        self._log_removal_policy = removal_policy
        self.log_key = (
            customer_managed_key(
                self,
                "LogKey",
                description="Encrypts the Api stack's log groups (functions, API access, custom resources)",
                # Retained log groups stay readable only as long as their key exists.
                removal_policy=removal_policy,
                for_log_groups=True,
            )
            if security.customer_managed_keys
            else None
        )
        catalog_schema = load_catalog_schema()

        python_version = PYTHON_RUNTIME.name.removeprefix("python")
        self.core_code = python_lambda_code(core_bundle(functions.architecture, python_version))
        self.dax_code = python_lambda_code(dax_bundle(functions.architecture, python_version))

        redis_env = {
            "REDIS_HOST": cache.endpoint_address,
            "REDIS_PORT": str(cache.port),
            "REDIS_TLS": "true",
            "REDIS_CLUSTER_MODE": "true" if cache.cluster_mode_enabled else "false",
            "REDIS_AUTH_SECRET_ARN": cache.auth_token_secret.secret_arn,
            # A write returns only once every replica has its invalidation, so a failover cannot bring
            # the old value back (cachelib/writes.py).
            "CACHE_REPLICA_ACKS": str(cache.replicas_per_shard),
        }
        database_env = {
            "DB_WRITER_HOST": database.writer_endpoint.hostname,
            # Every replica, comma-separated (all on DB_PORT), so misses spread over them; the writer's when
            # there is none. DB_READER_HOST, the first, stays for clients that read only one.
            "DB_READER_HOSTS": cdk.Fn.join(",", [endpoint.hostname for endpoint in database.read_endpoints]),
            "DB_READER_HOST": database.reader_endpoint.hostname,
            "DB_PORT": str(database.port),
            "DB_NAME": database.database_name,
            "DB_SECRET_ARN": database.secret.secret_arn,
            "DB_TLS": "true",
        }
        cache_env = {
            "CACHE_TTL_SECONDS": str(functions.cache_ttl_seconds),
            "CACHE_NEGATIVE_TTL_SECONDS": str(functions.negative_ttl_seconds),
            "CACHE_L1_ENABLED": "true" if functions.l1_enabled else "false",
            "CACHE_L1_TTL_SECONDS": str(functions.l1_ttl_seconds),
        }

        # Drained by the edge refresher in the Edge stack, which knows the distribution: that stack depends
        # on this one, never the reverse.
        self.edge_refresh_queue = EdgeRefreshQueue(self, "EdgeRefreshQueue")
        write_env = {
            "PRODUCT_WRITE_MODE": functions.product_write_mode,
            "IDEMPOTENCY_TTL_SECONDS": str(functions.idempotency_ttl_hours * 3600),
            load_lambda_module("edge_refresh").QUEUE_URL_VARIABLE: self.edge_refresh_queue.queue_url,
        }
        self.product_api = self._function(
            "ProductApi",
            handler="functions.product_api.lambda_handler",
            description="Product catalogue API: cache-aside reads through Redis, writes to MySQL",
            environment={**redis_env, **database_env, **cache_env, **write_env},
            timeout_seconds=functions.timeout_seconds,
            reserved_concurrency=functions.reserved_concurrency,
        )
        # Only the function that writes may queue refreshes (through the Network stack's SQS endpoint).
        self.edge_refresh_queue.grant_send(self.product_api.function)
        self.failure_queue = sqs.Queue(
            self,
            "WarmerFailures",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        dead_letter_queue = (
            "This queue is itself the dead-letter destination of the warmer's failed asynchronous "
            "invocations and of its schedule target."
        )
        suppress_findings(self.failure_queue, [{"id": "AwsSolutions-SQS3", "reason": dead_letter_queue}])
        exempt_control(self.failure_queue, "CT.SQS.PR.1", dead_letter_queue)
        self.cache_warmer = self._function(
            "CacheWarmer",
            handler="functions.cache_warmer.lambda_handler",
            description="Loads the hottest products into Redis off-peak (schedule or manual invoke)",
            environment={**redis_env, **database_env, **cache_env, "WARM_TOP_N": str(functions.warm_top_n)},
            timeout_seconds=functions.warmer_timeout_seconds,
            # One warmer at a time, when the account has concurrency to reserve (see reserved_concurrency).
            reserved_concurrency=1 if functions.reserved_concurrency is not None else None,
            failure_queue=self.failure_queue,
        )
        self.schema_seed = self._function(
            "SchemaSeed",
            handler="functions.schema_seed.on_event",
            description="Custom resource: creates the products schema and seeds sample rows (idempotent)",
            environment={**database_env, "SEED_PRODUCT_COUNT": str(functions.seed_product_count)},
            timeout_seconds=functions.schema_seed_timeout_seconds,
        )
        self.dax_demo = self._function(
            "DaxDemo",
            handler="functions.dax_demo.lambda_handler",
            description="DAX demo: item reads and writes through the DAX cluster",
            environment={"DAX_ENDPOINT": dax.endpoint_url, "DAX_TABLE_NAME": table.table_name},
            timeout_seconds=functions.timeout_seconds,
            code=self.dax_code,
        )

        for function in (self.product_api, self.cache_warmer):
            cache.connections.allow_default_port_from(function.function, "Cache-aside reads and writes")
            cache.grant_read_auth_token(function.function)
        for function in (self.product_api, self.cache_warmer, self.schema_seed):
            database.connections.allow_default_port_from(function.function, "Catalogue queries")
            database.grant_read_secret(function.function)
        dax.connections.allow_default_port_from(self.dax_demo.function, "DAX item reads and writes")
        dax.grant_read_data(self.dax_demo.function)
        dax.grant_write_data(self.dax_demo.function)

        self._schedule_warmer(functions.warm_schedule)
        self._run_schema_step(functions.seed_product_count, schema_version(catalog_schema))

        # The regional endpoint is reachable directly, bypassing CloudFront and its web ACL: it gets its own.
        web_acl_arn = api.waf_web_acl_arn
        self.web_acl: ManagedRulesWebAcl | None = None
        if web_acl_arn is None and security.web_acls:
            self.web_acl = ManagedRulesWebAcl(
                self,
                "WebAcl",
                scope_name="REGIONAL",
                rate_limit=security.waf_rate_limit,
                metric_prefix=f"{self.stack_name}-api",
            )
            web_acl_arn = self.web_acl.web_acl_arn

        item_ttl = cdk.Duration.seconds(api.item_cache_ttl_seconds)
        list_ttl = cdk.Duration.seconds(api.list_cache_ttl_seconds)
        body = product_body_schema(catalog_schema)
        self.rest_api = CachedRestApi(
            self,
            "Api",
            # The ApiName metric dimension: one per environment, so their alarms never mix.
            rest_api_name=f"{self.stack_name}-products",
            description="Product catalogue with stage caching",
            cache_cluster_size=api.cache_cluster_size,
            throttle_rate_limit=api.throttle_rate_limit,
            throttle_burst_limit=api.throttle_burst_limit,
            web_acl_arn=web_acl_arn,
            access_log_retention=log_retention(functions.log_retention_days),
            log_removal_policy=removal_policy,
            log_encryption_key=self.log_key,
            routes=[
                ApiRoute(
                    method="GET", path=ITEM_ROUTE, handler=self.product_api.function, cache_ttl=item_ttl
                ),
                ApiRoute(
                    method="GET",
                    path="/products",
                    handler=self.product_api.function,
                    cache_ttl=list_ttl,
                    query_parameters=("category", "page", "limit"),
                ),
                ApiRoute(method="PUT", path=ITEM_ROUTE, handler=self.product_api.function, body_schema=body),
                ApiRoute(
                    method="POST", path="/products", handler=self.product_api.function, body_schema=body
                ),
                # Not stage-cached: the demo shows DAX's own item cache, which a stage cache would hide.
                ApiRoute(method="GET", path="/dax/items/{id}", handler=self.dax_demo.function),
                ApiRoute(
                    method="PUT",
                    path="/dax/items/{id}",
                    handler=self.dax_demo.function,
                    body_schema=DAX_ITEM_SCHEMA,
                ),
            ],
        )
        # Attached to the edge refresher's role in the Edge stack: it may refresh item entries only.
        self.edge_refresh_policy = self.rest_api.add_cache_refresh_policy(
            "EdgeRefreshPolicy", paths=[ITEM_ROUTE]
        )
        cdk.CfnOutput(self, "ApiUrl", value=self.rest_api.url, description="Invoke URL of the REST API stage")
        cdk.CfnOutput(
            self, "CacheWarmerFunctionName", value=self.cache_warmer.function.function_name,
            description="Invoke by hand: aws lambda invoke --function-name <this> --invocation-type Event",
        )  # fmt: skip

    def _function(
        self,
        construct_id: str,
        *,
        handler: str,
        description: str,
        environment: dict[str, str],
        timeout_seconds: int,
        reserved_concurrency: int | None = None,
        failure_queue: sqs.IQueue | None = None,
        code=None,
    ) -> VpcPythonFunction:
        config = self._functions_config
        service = "".join(("-" + c.lower()) if c.isupper() else c for c in construct_id).lstrip("-")
        return VpcPythonFunction(
            self,
            construct_id,
            code=code or self.core_code,
            handler=handler,
            description=description,
            vpc=self._vpc,
            security_groups=self._security_groups,
            architecture=architecture_named(config.architecture),
            timeout=cdk.Duration.seconds(timeout_seconds),
            memory_size=config.memory_mb,
            reserved_concurrent_executions=reserved_concurrency,
            environment={
                **environment,
                "POWERTOOLS_SERVICE_NAME": service,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                ENVIRONMENT_VARIABLE: self._environment_name,
            },
            log_retention=log_retention(config.log_retention_days),
            log_removal_policy=self._log_removal_policy,
            log_encryption_key=self.log_key,
            failure_queue=failure_queue,
        )

    def _schedule_warmer(self, schedule: str) -> None:
        self.warm_rule = events.Rule(
            self,
            "WarmSchedule",
            description="Warm the cache off-peak",
            schedule=events.Schedule.expression(schedule),
        )
        self.warm_rule.add_target(
            targets.LambdaFunction(
                self.cache_warmer.function,
                dead_letter_queue=self.failure_queue,
                retry_attempts=2,
                max_event_age=cdk.Duration.hours(1),
            )
        )

    def _run_schema_step(self, seed_count: int, version: str) -> None:
        provider_logs = logs.LogGroup(
            self,
            "SchemaProviderLogs",
            retention=log_retention(self._functions_config.log_retention_days),
            removal_policy=self._log_removal_policy,
            encryption_key=self.log_key,
        )
        self.schema_provider = cr.Provider(
            self, "SchemaProvider", on_event_handler=self.schema_seed.function, log_group=provider_logs
        )
        self.schema = cdk.CustomResource(
            self,
            "Schema",
            service_token=self.schema_provider.service_token,
            resource_type="Custom::CatalogSchema",
            properties={"SeedProductCount": str(seed_count), "SchemaVersion": version},
        )
        suppress_findings(
            self.schema_provider,
            [
                {
                    "id": "AwsSolutions-IAM4",
                    "reason": "The Provider framework's function logs via AWSLambdaBasicExecutionRole.",
                    "applies_to": [
                        "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
                    ],
                },
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "The framework may invoke any version of the schema function (ARN ':*').",
                    "applies_to": [f"Resource::{nag_form(self, self.schema_seed.function.function_arn)}:*"],
                },
            ],
            apply_to_children=True,
        )
        exempt_control(
            self.schema_provider.node.find_child("framework-onEvent"),
            "CT.LAMBDA.PR.3",
            "The Provider framework's handler only invokes the schema function and answers CloudFormation; "
            "the schema function itself runs in the VPC.",
        )
