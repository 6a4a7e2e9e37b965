"""``ProductApi``: the product catalogue service, the function behind every ``/products`` route.

Runtime: ``lambda/functions/product_api.py``. Reads are cache-aside through Redis with a MySQL replica behind
it; writes go to the MySQL writer, put Redis right, and queue the item's path for the edge refresher.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_

from caching_constructs.api.api_routes import ApiRoute
from caching_constructs.app.cache_auth import connect_to_data_stores
from caching_constructs.app.cachelib_environment import CacheSettings, library_environment
from caching_constructs.core.python_function import FunctionDefaults, PythonFunction
from caching_constructs.data.mysql_database import MySqlDatabase
from caching_constructs.edge.edge_refresh import EdgeRefreshQueue
from caching_constructs.elasticache.caches import REDIS_CACHES, CacheStore
from caching_contract import catalog, variables
from caching_contract.http import COLLECTION_PATH, ITEM_ROUTE, LIST_PARAMETERS
from caching_contract.services import PRODUCT_API
from constructs import Construct

PRODUCT_BODY_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "title": "Product",
    "type": "object",
    "required": ["name", "category", "price"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": catalog.NAME_MAX_LENGTH},
        "category": {"type": "string", "enum": list(catalog.CATEGORIES)},
        # A string keeps exact decimals; the handler checks the range and the two decimal places.
        "price": {"type": ["number", "string"]},
        "stock": {"type": "integer", "minimum": 0, "maximum": catalog.STOCK_MAX},
        "description": {"type": "string", "maxLength": catalog.DESCRIPTION_MAX_LENGTH},
    },
}
"""The request model of a PUT or POST body (JSON schema draft 4): API Gateway rejects what the handler's
validation (``functions.product_validation``) would, before Lambda runs."""


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
    :param cache_settings: TTLs and the near cache.
    :param write_mode: ``invalidate`` or ``write-through``.
    :param idempotency_ttl: how long an ``Idempotency-Key`` replays its first response.
    :param timeout: the function's timeout.
    :param reserved_concurrent_executions: default None (unreserved).
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
        cache_settings: CacheSettings,
        write_mode: str,
        idempotency_ttl: cdk.Duration,
        timeout: cdk.Duration,
        reserved_concurrent_executions: int | None = None,
    ) -> None:
        redis = cache if isinstance(cache, REDIS_CACHES) else None
        environment = {
            **library_environment(PRODUCT_API, cache=cache, database=database, cache_settings=cache_settings),
            variables.PRODUCT_WRITE_MODE: write_mode,
            # Redis and the database connect while Lambda initializes the container, not on the first
            # request (lambda/functions/product_api.py, connect_on_init).
            variables.CONNECT_ON_INIT: "true",
            variables.IDEMPOTENCY_TTL_SECONDS: str(int(idempotency_ttl.to_seconds())),
            variables.EDGE_REFRESH_QUEUE_URL: edge_refresh_queue.queue_url,
        }
        super().__init__(
            scope,
            construct_id,
            **defaults.props(environment=environment),
            handler=PRODUCT_API.handler,
            description="Product catalogue API: cache-aside reads through "
            f"{'Redis' if redis else 'Memcached'}, writes to MySQL",
            timeout=timeout,
            reserved_concurrent_executions=reserved_concurrent_executions,
        )
        # Only the function that writes may queue refreshes.
        edge_refresh_queue.grant_send(self)
        self.connections.allow_to_default_port(
            sqs_endpoint.connections, f"{PRODUCT_API.id} queues edge refreshes after a write"
        )
        connect_to_data_stores(
            self,
            PRODUCT_API.id,
            cache=cache,
            database=database,
            secrets_manager_endpoint=secrets_manager_endpoint,
            cache_use=": cache-aside reads and writes",
            database_use=": catalogue reads on a miss, and writes",
        )

    def routes(self, *, item_cache_ttl: cdk.Duration, list_cache_ttl: cdk.Duration) -> list[ApiRoute]:
        """The catalogue's routes: item and list reads, stage-cached for the given TTLs, and IAM-authorized
        writes whose bodies must match ``PRODUCT_BODY_SCHEMA``."""
        return catalogue_routes(self.function, item_cache_ttl=item_cache_ttl, list_cache_ttl=list_cache_ttl)


def catalogue_routes(
    handler: lambda_.IFunction,
    *,
    item_cache_ttl: cdk.Duration,
    list_cache_ttl: cdk.Duration,
) -> list[ApiRoute]:
    """The catalogue's routes on ``handler``; a Global Datastore secondary region's API serves the same ones
    (its function answers the writes with ``421 read_only_region``)."""
    return [
        ApiRoute(method="GET", path=ITEM_ROUTE, handler=handler, cache_ttl=item_cache_ttl),
        ApiRoute(
            method="GET",
            path=COLLECTION_PATH,
            handler=handler,
            cache_ttl=list_cache_ttl,
            query_parameters=LIST_PARAMETERS,
        ),
        ApiRoute(method="PUT", path=ITEM_ROUTE, handler=handler, body_schema=PRODUCT_BODY_SCHEMA),
        ApiRoute(method="POST", path=COLLECTION_PATH, handler=handler, body_schema=PRODUCT_BODY_SCHEMA),
    ]
