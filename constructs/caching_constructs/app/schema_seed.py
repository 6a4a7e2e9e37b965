"""``SchemaSeed``: the deploy step that creates the catalogue schema and seeds sample rows.

Runtime: ``lambda/functions/schema_seed.py`` (idempotent; a delete keeps the data). It runs as the
``Custom::CatalogSchema`` resource through the CDK's Provider framework, on every deploy that changes its
seed count or schema version.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr

from caching_constructs.app.cachelib_environment import database_environment, service_environment
from caching_constructs.core.logical_ids import keep_logical_ids
from caching_constructs.core.nag import BASIC_EXECUTION_ROLE, exempt_control, nag_form, suppress_findings
from caching_constructs.core.python_function import FunctionDefaults, PythonFunction
from caching_constructs.data.mysql_database import MySqlDatabase
from caching_contract import variables
from caching_contract.services import SCHEMA_SEED
from constructs import Construct

RESOURCE_TYPE = "Custom::CatalogSchema"


class SchemaSeed(PythonFunction):
    """The schema function, its provider (``provider``) and the custom resource (``schema``) that runs it.
    It reaches MySQL and the Secrets Manager endpoint, nothing else (it never touches the cache).

    :param defaults: the props every function of the application shares; needs a ``vpc``.
    :param database: where the schema goes.
    :param secrets_manager_endpoint: where it reads the database credentials.
    :param seed_product_count: sample rows to upsert.
    :param schema_version: changes whenever the DDL does, so that the step runs again.
    :param timeout: the function's timeout.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        defaults: FunctionDefaults,
        database: MySqlDatabase,
        secrets_manager_endpoint: ec2.IConnectable,
        seed_product_count: int,
        schema_version: str,
        timeout: cdk.Duration,
    ) -> None:
        environment = {
            **service_environment(SCHEMA_SEED),
            **database_environment(database),
            variables.SEED_PRODUCT_COUNT: str(seed_product_count),
        }
        super().__init__(
            scope,
            construct_id,
            **defaults.props(environment=environment),
            handler=SCHEMA_SEED.handler,
            description="Custom resource: creates the products schema and seeds sample rows (idempotent)",
            timeout=timeout,
        )
        self.connections.allow_to_default_port(
            database.connections, f"{SCHEMA_SEED.id} creates the schema and seeds rows"
        )
        database.grant_read_secret(self)
        self.connections.allow_to_default_port(
            secrets_manager_endpoint.connections, f"{SCHEMA_SEED.id} reads the database credentials"
        )
        provider_logs = logs.LogGroup(
            self,
            "SchemaProviderLogs",
            retention=defaults.log_retention,
            removal_policy=defaults.log_removal_policy,
            encryption_key=defaults.log_encryption_key,
        )
        self.provider = cr.Provider(
            self, "SchemaProvider", on_event_handler=self.function, log_group=provider_logs
        )
        self.schema = cdk.CustomResource(
            self,
            "Schema",
            service_token=self.provider.service_token,
            resource_type=RESOURCE_TYPE,
            properties={"SeedProductCount": str(seed_product_count), "SchemaVersion": schema_version},
        )
        # All three were deployed at the stack's root before this construct existed. CloudFormation refuses a
        # custom resource a new ServiceToken, which a new logical id for the provider's function would be.
        for moved in (provider_logs, self.provider, self.schema):
            keep_logical_ids(moved, old_path=[moved.node.id])
        self._suppress_provider_findings()

    def _suppress_provider_findings(self) -> None:
        suppress_findings(
            self.provider,
            [
                {
                    "id": "AwsSolutions-IAM4",
                    "reason": "The Provider framework's function logs via AWSLambdaBasicExecutionRole.",
                    "applies_to": [BASIC_EXECUTION_ROLE],
                },
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "The framework may invoke any version of the schema function (ARN ':*').",
                    "applies_to": [f"Resource::{nag_form(self, self.function_arn)}:*"],
                },
            ],
            apply_to_children=True,
        )
        exempt_control(
            self.provider.node.find_child("framework-onEvent"),
            "CT.LAMBDA.PR.3",
            "The Provider framework's handler only invokes the schema function and answers CloudFormation; "
            "the schema function itself runs in the VPC.",
        )
