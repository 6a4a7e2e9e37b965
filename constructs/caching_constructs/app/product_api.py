"""``ProductApi``: the product catalogue service, the function behind every ``/products`` route.

Runtime: ``lambda/functions/product_api.py``. Reads are cache-aside through Redis with a MySQL replica behind
it; writes go to the MySQL writer, put Redis right, and queue the item's path for the edge refresher.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_

from caching_constructs.api.api_routes import ApiRoute
from caching_constructs.app.cache_auth import connect_to_data_stores
from caching_constructs.app.cachelib_environment import (
    CacheSettings,
    MemcachedVariables,
    library_environment,
)
from caching_constructs.app.python_function import FunctionDefaults, PythonFunction
from caching_constructs.data.mysql_database import MySqlDatabase
from caching_constructs.edge.edge_refresh import EdgeRefreshQueue
from caching_constructs.elasticache.caches import REDIS_CACHES, CacheStore
from constructs import Construct

HANDLER = "functions.product_api.lambda_handler"
ITEM_ROUTE = "/products/{id}"
"""The item route: stage-cached, and the one route the edge refresher refreshes after a write."""
LIST_ROUTE = "/products"
LIST_QUERY_STRINGS = ("category", "page", "limit")
"""What a list page depends on: its stage-cache key (and CloudFront's, in the Edge stack)."""


class ProductApi(PythonFunction):
    """The product API function, with exactly the network paths and permissions it uses: Redis (and its
    AUTH token), MySQL (and its credentials), the Secrets Manager endpoint, and sending to the edge refresh
    queue through the SQS endpoint. ``routes()`` are the API routes it serves.

    :param defaults: the props every function of the application shares; needs a ``vpc``.
    :param cache: the Redis (or Valkey) replication group of the cache-aside reads, or a Memcached cluster.
    :param database: MySQL: writes to the writer, misses read a replica.
    :param secrets_manager_endpoint: where it reads the AUTH token and the database credentials.
    :param edge_refresh_queue: where it queues a written item's path.
    :param sqs_endpoint: the endpoint it reaches that queue through.
    :param queue_url_variable: the variable the handler reads the queue's URL from.
    :param cache_settings: TTLs and the near cache.
    :param write_mode: ``invalidate`` or ``write-through``.
    :param idempotency_ttl: how long an ``Idempotency-Key`` replays its first response.
    :param timeout: the function's timeout.
    :param reserved_concurrent_executions: default None (unreserved).
    :param memcached_variables: the library's variable names for memcached; required when ``cache`` is a
        ``MemcachedCluster``. Default None.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        defaults: FunctionDefaults,
        cache: CacheStore,
        database: MySqlDatabase,
        secrets_manager_endpoint: ec2.IConnectable,
        edge_refresh_queue: EdgeRefreshQueue,
        sqs_endpoint: ec2.IConnectable,
        queue_url_variable: str,
        cache_settings: CacheSettings,
        write_mode: str,
        idempotency_ttl: cdk.Duration,
        timeout: cdk.Duration,
        reserved_concurrent_executions: int | None = None,
        memcached_variables: MemcachedVariables | None = None,
    ) -> None:
        redis = cache if isinstance(cache, REDIS_CACHES) else None
        environment = {
            **library_environment(
                construct_id,
                cache=cache,
                database=database,
                cache_settings=cache_settings,
                memcached_variables=memcached_variables,
            ),
            "PRODUCT_WRITE_MODE": write_mode,
            # Redis and the database connect while Lambda initializes the container, not on the first
            # request (lambda/functions/product_api.py, connect_on_init).
            "CONNECT_ON_INIT": "true",
            "IDEMPOTENCY_TTL_SECONDS": str(int(idempotency_ttl.to_seconds())),
            queue_url_variable: edge_refresh_queue.queue_url,
        }
        super().__init__(
            scope,
            construct_id,
            **defaults.props(environment=environment),
            handler=HANDLER,
            description="Product catalogue API: cache-aside reads through "
            f"{'Redis' if redis else 'Memcached'}, writes to MySQL",
            timeout=timeout,
            reserved_concurrent_executions=reserved_concurrent_executions,
        )
        # Only the function that writes may queue refreshes.
        edge_refresh_queue.grant_send(self)
        self.connections.allow_to_default_port(
            sqs_endpoint.connections, "ProductApi queues edge refreshes after a write"
        )
        connect_to_data_stores(
            self,
            "ProductApi",
            cache=cache,
            database=database,
            secrets_manager_endpoint=secrets_manager_endpoint,
            cache_use=": cache-aside reads and writes",
            database_use=": catalogue reads on a miss, and writes",
        )

    def routes(
        self, *, item_cache_ttl: cdk.Duration, list_cache_ttl: cdk.Duration, body_schema: Mapping[str, Any]
    ) -> list[ApiRoute]:
        """The catalogue's routes: item and list reads, stage-cached for the given TTLs, and IAM-authorized
        writes whose bodies must match ``body_schema``."""
        return catalogue_routes(
            self.function,
            item_cache_ttl=item_cache_ttl,
            list_cache_ttl=list_cache_ttl,
            body_schema=body_schema,
        )


def catalogue_routes(
    handler: lambda_.IFunction,
    *,
    item_cache_ttl: cdk.Duration,
    list_cache_ttl: cdk.Duration,
    body_schema: Mapping[str, Any],
) -> list[ApiRoute]:
    """The catalogue's routes on ``handler``; a Global Datastore secondary region's API serves the same ones
    (its function answers the writes with ``421 read_only_region``)."""
    return [
        ApiRoute(method="GET", path=ITEM_ROUTE, handler=handler, cache_ttl=item_cache_ttl),
        ApiRoute(
            method="GET",
            path=LIST_ROUTE,
            handler=handler,
            cache_ttl=list_cache_ttl,
            query_parameters=LIST_QUERY_STRINGS,
        ),
        ApiRoute(method="PUT", path=ITEM_ROUTE, handler=handler, body_schema=body_schema),
        ApiRoute(method="POST", path=LIST_ROUTE, handler=handler, body_schema=body_schema),
    ]
