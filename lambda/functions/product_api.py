"""Product API behind API Gateway (REST, Lambda proxy integration).

Routes: ``GET /products/{id}``, ``GET /products?category=&page=&limit=``, ``PUT /products/{id}``,
``POST /products``. Statuses: 200/201, 400 (bad id, paging, category, body), 404 (no such product or
route), 405, 413 (body over 16 KiB), 503 (database unreachable on a miss, or a write whose cache
invalidation could not be confirmed; both carry ``Retry-After``). A client's mistake is never a 500.

Headers: ``X-Cache: HIT|MISS|STALE`` on reads; ``Cache-Control: public, max-age=10`` on fresh GET 200s
(short, because API Gateway's stage cache and CloudFront cannot be invalidated by a write), ``max-age=1``
on a stale answer, ``no-store`` on writes and errors; ``X-Correlation-Id`` on everything. One JSON log line
per request.

The Redis client, database connections and Powertools metrics are module-level and created on first use.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from cachelib import Cache, Database, DatabaseUnavailable, InvalidationFailed, Settings, trace_if_enabled
from functions.apigw import (
    NO_STORE,
    HttpError,
    RequestLog,
    correlation_id,
    error_response,
    json_body,
    response,
)
from functions.product_store import ProductNotFound, ProductStore
from functions.product_validation import parse_list_query, parse_product_body, parse_product_id

LOGGER = logging.getLogger("product_api")

EDGE_MAX_AGE_SECONDS = 10
STALE_MAX_AGE_SECONDS = 1
_ITEM_PATH = re.compile(r"/products/([^/]*)")
_COLLECTION_PATH = "/products"

_store: ProductStore | None = None
_metrics: Any = None


def store() -> ProductStore:
    """The container's ProductStore (Redis client and DB connections inside are lazy too)."""
    global _store
    if _store is None:
        settings = Settings.from_env()
        _store = ProductStore(Cache.from_settings(settings), Database(settings))
    return _store


def reset_state() -> None:
    """Close and forget module-level clients (tests, local server restarts)."""
    global _store, _metrics
    if _store is not None:
        _store.cache.close()
        _store.db.close()
    _store = None
    _metrics = None


def _emit_metrics(current: ProductStore) -> None:
    global _metrics
    if _metrics is None:
        from aws_lambda_powertools import Metrics

        _metrics = Metrics(namespace=current.cache.settings.metrics_namespace)
    current.cache.metrics.flush(_metrics)
    _metrics.flush_metrics()  # one EMF line per invocation
    # With POWERTOOLS_METRICS_DISABLED (local runs, tests) flush_metrics keeps the values, and Powertools
    # would print them anyway once 100 pile up: drop them here.
    _metrics.clear_metrics()


def _cache_headers(x_cache: str) -> dict[str, str]:
    max_age = STALE_MAX_AGE_SECONDS if x_cache == "STALE" else EDGE_MAX_AGE_SECONDS
    return {"X-Cache": x_cache, "Cache-Control": f"public, max-age={max_age}"}


def _get_product(event: dict[str, Any], raw_id: str, log: RequestLog) -> dict[str, Any]:
    product_id = parse_product_id(raw_id)
    result = store().get(product_id)
    log.fields["cache"] = result.status.value
    if result.value is None:
        raise HttpError(404, "not_found", f"product {product_id} does not exist", {"X-Cache": result.x_cache})
    return response(200, result.value, _cache_headers(result.x_cache))


def _list_products(event: dict[str, Any], log: RequestLog) -> dict[str, Any]:
    query = parse_list_query(event.get("queryStringParameters"), event.get("multiValueQueryStringParameters"))
    result = store().list(query)
    log.fields["cache"] = result.status.value
    page = result.value or {"items": [], "hasMore": False}
    body = {"category": query.category, "page": query.page, "limit": query.limit, **page}
    return response(200, body, _cache_headers(result.x_cache))


def _put_product(event: dict[str, Any], raw_id: str) -> dict[str, Any]:
    product_id = parse_product_id(raw_id)
    product = parse_product_body(json_body(event))
    try:
        updated = store().replace(product_id, product)
    except ProductNotFound:
        raise HttpError(404, "not_found", f"product {product_id} does not exist") from None
    return response(200, updated, {"Cache-Control": NO_STORE})


def _post_product(event: dict[str, Any]) -> dict[str, Any]:
    product = parse_product_body(json_body(event))
    created = store().create(product)
    return response(201, created, {"Cache-Control": NO_STORE, "Location": f"/products/{created['id']}"})


def _route(event: dict[str, Any], method: str, path: str, log: RequestLog) -> dict[str, Any]:
    if path == _COLLECTION_PATH:
        if method == "GET":
            return _list_products(event, log)
        if method == "POST":
            return _post_product(event)
        raise HttpError(405, "method_not_allowed", "use GET or POST", {"Allow": "GET, POST"})
    match = _ITEM_PATH.fullmatch(path)
    if match is None:
        raise HttpError(404, "no_route", "no such resource")
    params = event.get("pathParameters")
    raw_id = (
        params.get("id") if isinstance(params, dict) and isinstance(params.get("id"), str) else match.group(1)
    )
    if method == "GET":
        return _get_product(event, raw_id, log)
    if method == "PUT":
        return _put_product(event, raw_id)
    raise HttpError(405, "method_not_allowed", "use GET or PUT", {"Allow": "GET, PUT"})


def lambda_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    trace_if_enabled()  # before the first connection opens, so Redis and MySQL calls get subsegments
    if not isinstance(event, dict):
        event = {}
    method = event.get("httpMethod") if isinstance(event.get("httpMethod"), str) else ""
    path = event.get("path") if isinstance(event.get("path"), str) else ""
    log = RequestLog(correlation_id(event, context), method.upper(), path)
    try:
        result = _route(event, method.upper(), path, log)
    except HttpError as exc:
        result = error_response(exc, log.correlation_id)
    except DatabaseUnavailable as exc:
        log.fields["error"] = f"database unavailable: {exc}"
        result = error_response(
            HttpError(
                503, "database_unavailable", "the database is unavailable; retry later", {"Retry-After": "1"}
            ),
            log.correlation_id,
        )
    except InvalidationFailed as exc:
        log.fields["error"] = f"invalidation failed: {exc}"
        result = error_response(
            HttpError(
                503,
                "cache_invalidation_failed",
                "the write was saved but may not be visible yet; retry the same request",
                {"Retry-After": "1"},
            ),
            log.correlation_id,
        )
    except Exception:
        LOGGER.exception("unhandled error (correlation id %s)", log.correlation_id)
        result = error_response(HttpError(500, "internal_error", "internal error"), log.correlation_id)
    result["headers"]["X-Correlation-Id"] = log.correlation_id
    log.emit(result["statusCode"])
    current = _store  # None when the request was rejected before touching Redis or MySQL
    if current is not None:
        current.flush_hot_counts()
        try:
            _emit_metrics(current)
        except Exception:
            LOGGER.exception("metrics flush failed")
    return result
