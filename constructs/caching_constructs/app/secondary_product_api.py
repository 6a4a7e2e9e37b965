"""``SecondaryProductApi``: the product API function of a Global Datastore secondary region.

Runtime: ``lambda/functions/product_api.py`` with ``CACHE_ROLE=secondary`` (``functions/secondary_store.py``):
hits from this region's read-only cache member, misses from the cross-region database replica, unstored and
queued to the primary region's ``SecondaryRefill``; writes answered ``421 read_only_region``.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam

from caching_constructs.app.cache_auth import sign_in
from caching_constructs.app.cachelib_environment import CacheSettings, service_environment
from caching_constructs.app.secondary_refill import SecondaryRefill
from caching_constructs.core.python_function import FunctionDefaults, PythonFunction
from caching_constructs.elasticache.cache_access import SECONDARY_PRODUCT_API
from caching_constructs.elasticache.global_datastore import SecondaryReplicationGroup
from caching_contract import variables
from caching_contract.services import PRODUCT_API
from constructs import Construct


class SecondaryProductApi(PythonFunction):
    """The product API in a secondary region: reaches this region's cache member and database replica
    through their security groups, the Secrets Manager endpoint, and, over the NAT gateways, SQS in the
    primary region (interface endpoints serve their own region only).

    :param defaults: the props every function of the application shares; needs a ``vpc``.
    :param cache: this region's Global Datastore member (IAM-authenticated RBAC user of its own).
    :param cache_connections: the member's network access.
    :param database_host: the cross-region replica's address: reads and, nominally, the writer (never used).
    :param database_port: its port.
    :param database_name: the catalogue's schema.
    :param database_connections: the replica's network access.
    :param database_secret_arn: the replicated master secret in this region.
    :param secrets_manager_endpoint: where it reads that secret.
    :param refill_queue_url: the primary region's ``SecondaryRefill`` queue.
    :param refill_queue_arn: its ARN, for the grant.
    :param cache_settings: TTLs as in the primary (the near cache is off: it needs pub/sub, a write).
    :param timeout: the function's timeout.
    :param reserved_concurrent_executions: default None (unreserved).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        defaults: FunctionDefaults,
        cache: SecondaryReplicationGroup,
        database_host: str,
        database_port: int,
        database_name: str,
        database_connections: ec2.IConnectable,
        database_secret_arn: str,
        secrets_manager_endpoint: ec2.IConnectable,
        refill_queue_url: str,
        refill_queue_arn: str,
        cache_settings: CacheSettings,
        timeout: cdk.Duration,
        reserved_concurrent_executions: int | None = None,
    ) -> None:
        environment = {
            **service_environment(PRODUCT_API),  # the same service dimension as the primary's
            **cache_settings.environment(),
            variables.CACHE_L1_ENABLED: "false",
            variables.CACHE_ROLE: variables.ROLE_SECONDARY,
            variables.CACHE_REFILL_QUEUE_URL: refill_queue_url,
            variables.REDIS_HOST: cache.endpoint_address,
            variables.REDIS_PORT: str(cache.port),
            variables.REDIS_TLS: "true",
            variables.REDIS_CLUSTER_MODE: "false",
            variables.DB_WRITER_HOST: database_host,
            variables.DB_READER_HOSTS: database_host,
            variables.DB_READER_HOST: database_host,
            variables.DB_PORT: str(database_port),
            variables.DB_NAME: database_name,
            variables.DB_SECRET_ARN: database_secret_arn,
            variables.DB_TLS: "true",
            variables.CONNECT_ON_INIT: "true",
        }
        super().__init__(
            scope,
            construct_id,
            **defaults.props(environment=environment),
            handler=PRODUCT_API.handler,
            description="Product catalogue API, secondary region: reads from the local Global Datastore "
            "member and database replica; writes refused",
            timeout=timeout,
            reserved_concurrent_executions=reserved_concurrent_executions,
        )
        self.connections.allow_to_default_port(cache.connections, f"{PRODUCT_API.id} reads the cache member")
        sign_in(self, cache, construct_id, SECONDARY_PRODUCT_API)
        self.connections.allow_to(
            database_connections, ec2.Port.tcp(database_port), f"{PRODUCT_API.id} reads the database replica"
        )
        iam.Grant.add_to_principal(
            grantee=self, actions=["secretsmanager:GetSecretValue"], resource_arns=[database_secret_arn]
        )
        self.connections.allow_to_default_port(
            secrets_manager_endpoint.connections, f"{PRODUCT_API.id} reads the database credentials"
        )
        SecondaryRefill.grant_send_to(self, refill_queue_arn)
        self.connections.allow_to_any_ipv4(
            ec2.Port.tcp(443),
            f"{PRODUCT_API.id} queues refills to SQS in the primary region, through the NAT",
        )
