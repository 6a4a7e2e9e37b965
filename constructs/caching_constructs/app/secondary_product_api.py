"""``SecondaryProductApi``: the product API function of a Global Datastore secondary region.

Runtime: ``lambda/functions/product_api.py`` with ``CACHE_ROLE=secondary`` (``functions/secondary_store.py``):
hits from this region's read-only cache member, misses from the cross-region database replica, unstored and
queued to the primary region's ``SecondaryRefill``; writes answered ``421 read_only_region``.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam

from caching_constructs.app.cachelib_environment import CacheSettings, service_environment
from caching_constructs.app.product_api import HANDLER
from caching_constructs.app.python_function import FunctionDefaults, PythonFunction
from caching_constructs.app.secondary_refill import SecondaryRefill, sign_in
from caching_constructs.elasticache.cache_access import _CONNECTION, CacheAccess
from caching_constructs.elasticache.global_datastore import SecondaryReplicationGroup
from constructs import Construct

SECONDARY_ACCESS = CacheAccess(
    commands={**_CONNECTION, "get": "reads an entry or a list's version counter; it never writes"}
)
"""What a secondary function may send: reads only (``cachelib/secondary.py`` calls ``GET`` and nothing
else), so even a bug cannot try a write on the member ElastiCache keeps read-only anyway."""


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
            **service_environment("ProductApi"),  # the same service dimension as the primary's
            **cache_settings.environment(),
            "CACHE_L1_ENABLED": "false",
            "CACHE_ROLE": "secondary",
            "CACHE_REFILL_QUEUE_URL": refill_queue_url,
            "REDIS_HOST": cache.endpoint_address,
            "REDIS_PORT": str(cache.port),
            "REDIS_TLS": "true",
            "REDIS_CLUSTER_MODE": "false",
            "DB_WRITER_HOST": database_host,
            "DB_READER_HOSTS": database_host,
            "DB_READER_HOST": database_host,
            "DB_PORT": str(database_port),
            "DB_NAME": database_name,
            "DB_SECRET_ARN": database_secret_arn,
            "DB_TLS": "true",
            "CONNECT_ON_INIT": "true",
        }
        super().__init__(
            scope,
            construct_id,
            **defaults.props(environment=environment),
            handler=HANDLER,
            description="Product catalogue API, secondary region: reads from the local Global Datastore "
            "member and database replica; writes refused",
            timeout=timeout,
            reserved_concurrent_executions=reserved_concurrent_executions,
        )
        self.connections.allow_to_default_port(cache.connections, "ProductApi reads the cache member")
        sign_in(self, cache, construct_id, SECONDARY_ACCESS)
        self.connections.allow_to(
            database_connections, ec2.Port.tcp(database_port), "ProductApi reads the database replica"
        )
        iam.Grant.add_to_principal(
            grantee=self, actions=["secretsmanager:GetSecretValue"], resource_arns=[database_secret_arn]
        )
        self.connections.allow_to_default_port(
            secrets_manager_endpoint.connections, "ProductApi reads the database credentials"
        )
        SecondaryRefill.grant_send_to(self, refill_queue_arn)
        self.connections.allow_to_any_ipv4(
            ec2.Port.tcp(443), "ProductApi queues refills to SQS in the primary region, through the NAT"
        )
