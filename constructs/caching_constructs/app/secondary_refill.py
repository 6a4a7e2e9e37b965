"""``SecondaryRefill``: in the primary region, fills the cache entries the Global Datastore secondary regions
missed, so that replication brings them back there.

Runtime: ``lambda/functions/secondary_refill.py``. A secondary region's product API cannot write its
read-only cache; it sends ``{"product": <id>}`` to this construct's queue, across regions, and the function
reads each id through the ordinary lease-guarded ``ProductStore.get`` here.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_event_sources as event_sources

from caching_constructs.app.cache_auth import authorize_cache_access
from caching_constructs.app.cachelib_environment import (
    CacheSettings,
    database_environment,
    redis_environment,
    service_environment,
)
from caching_constructs.core.python_function import FunctionDefaults, PythonFunction
from caching_constructs.data.mysql_database import MySqlDatabase
from caching_constructs.edge.edge_refresh import EdgeRefreshQueue
from caching_constructs.elasticache import cache_access
from caching_constructs.elasticache.redis_replication_group import RedisReplicationGroup
from caching_contract import services, variables
from constructs import Construct

BATCH_SIZE = 10
MAX_BATCHING_WINDOW = cdk.Duration.seconds(1)
"""A refill only shortens the secondary's misses: a second of batching costs a second more of them."""
QUEUE_RETENTION = cdk.Duration.hours(1)
"""A request older than this is not worth filling: the secondary has asked again on its next miss."""


class SecondaryRefill(PythonFunction):
    """The refill queue (``queue``: SSE, TLS-only, with a dead-letter queue) and the function draining it.
    It reaches Redis, MySQL and the Secrets Manager endpoint, nothing else.

    :param defaults: the props every function of the application shares; needs a ``vpc``.
    :param cache: the Global Datastore's primary member, which it fills.
    :param database: where it reads each product (GTID-proven replica reads, as the product API).
    :param secrets_manager_endpoint: where it reads the database credentials.
    :param cache_settings: TTLs, as the product API caches.
    :param timeout: the function's timeout (the queue's visibility timeout is six times it).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        defaults: FunctionDefaults,
        cache: RedisReplicationGroup,
        database: MySqlDatabase,
        secrets_manager_endpoint: ec2.IConnectable,
        cache_settings: CacheSettings,
        timeout: cdk.Duration,
    ) -> None:
        environment = {
            **service_environment(services.SECONDARY_REFILL),
            **redis_environment(cache),
            **database_environment(database),
            **cache_settings.environment(),
            # The near cache listens on pub/sub; a refill never serves a second read, so it has none.
            variables.CACHE_L1_ENABLED: "false",
        }
        super().__init__(
            scope,
            construct_id,
            **defaults.props(environment=environment),
            handler=services.SECONDARY_REFILL.handler,
            description="Fills the cache entries the Global Datastore secondary regions missed",
            timeout=timeout,
        )
        # The same shape as the edge refresh queue: SSE, TLS-only, a dead-letter queue, and a visibility
        # timeout of six times the consumer's.
        self.queue = EdgeRefreshQueue(self, "Queue", consumer_timeout=timeout, retention=QUEUE_RETENTION)
        self.function.add_event_source(
            event_sources.SqsEventSource(
                self.queue.queue,
                batch_size=BATCH_SIZE,
                max_batching_window=MAX_BATCHING_WINDOW,
                report_batch_item_failures=True,
            )
        )
        self.connections.allow_to_default_port(
            cache.connections, f"{services.SECONDARY_REFILL.id} fills the cache"
        )
        authorize_cache_access(self, cache, services.SECONDARY_REFILL.id, cache_access.SECONDARY_REFILL)
        self.connections.allow_to_default_port(
            database.connections, f"{services.SECONDARY_REFILL.id} reads the products"
        )
        database.grant_read_secret(self)
        self.connections.allow_to_default_port(
            secrets_manager_endpoint.connections,
            f"{services.SECONDARY_REFILL.id} reads the database credentials",
        )

    @property
    def queue_url(self) -> str:
        return self.queue.queue_url

    @property
    def queue_arn(self) -> str:
        return self.queue.queue.queue_arn

    @staticmethod
    def grant_send_to(grantee: iam.IGrantable, queue_arn: str) -> iam.Grant:
        """``sqs:SendMessage`` on the queue ``queue_arn`` for a role in another region (IAM is global; the
        queue's own policy only denies plain HTTP)."""
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
            resource_arns=[queue_arn],
        )
