"""Product API behind API Gateway (REST, Lambda proxy integration).

Routes: ``GET /products/{id}``, ``GET /products?category=&page=&limit=``, ``PUT /products/{id}``,
``POST /products``. Statuses: 200/201, 400 (bad id, paging, category, body, Idempotency-Key), 404 (no such
product or route), 405, 413 (body over 16 KiB), 422 (an Idempotency-Key reused for a different request),
503 (database unreachable, or a write saved whose cache could not be confirmed up to date; both carry
``Retry-After``, and their message says whether repeating the request is safe). A client's mistake is never
a 500.

Writes accept ``Idempotency-Key``: a repeat with the same key and body returns the first response (with
``Idempotent-Replayed: true``) and changes nothing (``functions.idempotency``). ``PRODUCT_WRITE_MODE``
(``invalidate``, the default, or ``write-through``) chooses how a write puts the cache right.

Headers: ``X-Cache: HIT|MISS|STALE`` on reads; ``Cache-Control: public, max-age=10`` on fresh GET 200s
(short, because API Gateway's stage cache and CloudFront cannot be invalidated by a write), ``max-age=1``
on a stale answer, ``no-store`` on writes and errors; ``X-Correlation-Id`` on everything. One JSON log line
per request.

The Redis client, database connections and the metrics aggregate are module-level and created on first use.
"""

from __future__ import annotations

import logging
import os
import re
import time
from datetime import UTC, datetime
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any

from cachelib import (
    Cache,
    CacheMetrics,
    CacheStatus,
    Database,
    DatabaseUnavailable,
    ReadEndpoint,
    Settings,
    codec,
    logs,
    trace_if_enabled,
)
from caching_contract import variables
from caching_contract.http import (
    COLLECTION_PATH,
    EDGE_MAX_AGE_SECONDS,
    IDEMPOTENCY_KEY_HEADER,
    IDEMPOTENT_REPLAYED_HEADER,
    STALE_MAX_AGE_SECONDS,
    WRITE_MODES,
    item_path,
)
from functions.apigw import (
    NO_STORE,
    HttpError,
    RequestLog,
    error_response,
    header,
    json_body,
    json_response,
    json_scalar,
    response,
)
from functions.edge_refresh import EdgeRefreshQueue
from functions.idempotency import (
    DEFAULT_TTL_SECONDS,
    IdempotencyConflict,
    IdempotentRequest,
    InvalidIdempotencyKey,
)
from functions.product_store import ProductNotFound, ProductStore, SavedNotConfirmed, WriteOutcome, is_product
from functions.product_validation import parse_list_query, parse_product_body, parse_product_id
from functions.secondary_store import for_role

LOGGER = logging.getLogger("product_api")
logs.configure_logging()  # every record in the one log shape (cachelib.logs)

_ITEM_PATH = re.compile(re.escape(COLLECTION_PATH) + r"/([^/]*)")
_ROUTINE_READS = frozenset({CacheStatus.HIT.value, CacheStatus.L1_HIT.value})
"""Reads whose request line may be summarized (``cachelib.logs``): fresh hits, nothing else."""

_store: ProductStore | None = None
_edge: EdgeRefreshQueue | None = None


def store() -> ProductStore:
    """The container's ProductStore (Redis client and DB connections inside are lazy too)."""
    global _store
    if _store is None:
        settings = Settings.from_env()
        mode = os.environ.get(variables.PRODUCT_WRITE_MODE, WRITE_MODES[0])
        if mode not in WRITE_MODES:
            raise ValueError(
                f"{variables.PRODUCT_WRITE_MODE}: {mode!r} is not one of {', '.join(WRITE_MODES)}"
            )
        _store = ProductStore(
            Cache.from_settings(settings),
            Database(settings),
            write_through=mode == "write-through",
            idempotency_ttl_seconds=int(
                os.environ.get(variables.IDEMPOTENCY_TTL_SECONDS, DEFAULT_TTL_SECONDS)
            ),
        )
        _store = for_role(_store, settings)  # a Global Datastore secondary region reads only
    return _store


def connect_on_init() -> None:
    """Open the Redis connection and the database connections a miss uses while Lambda initializes the
    container, as AWS advises for clients outside the handler: the TCP and TLS handshakes, the database
    login and its secret move out of the first request. Nothing here may fail the container: a store that
    cannot be reached now is reached by the first request instead."""
    try:
        current = store()
        current.cache.connect()
        for endpoint in (ReadEndpoint.WRITER, ReadEndpoint.READER):  # a miss checks the writer's position
            current.db.connection(endpoint)
        _prime_hit_path()
    except Exception as exc:  # a warm-up, never a crash
        LOGGER.warning("connecting on init failed; the first request connects", extra={"error": repr(exc)})


def _prime_hit_path() -> None:
    """Run a hit's own steps once on a sample product, outside any request: decoding, the shape check, the
    body, the request line and its EMF document. A step's first run costs many times its later ones (what
    AWS calls priming), and this moves that cost into init. Writes nothing and counts nothing."""
    sample = {
        "id": 1,
        "name": "sample",
        "category": "sample",
        "price": Decimal("1.00"),
        "stock": 0,
        "description": "",
        "updated_at": datetime.now(UTC),
    }
    value = codec.decode_entry(codec.encode_entry(codec.KIND_VALUE, 0, sample))[2]
    if not is_product(value):
        raise AssertionError("the sample product does not have the schema's shape")
    json_response(200, product_json(value), _cache_headers(CacheStatus.HIT.x_cache))
    members = logs.request_members(
        200, "GET", "/", time.perf_counter(), False, {"cache": CacheStatus.HIT.value}
    )
    logs.request_line(members, CacheMetrics(service="priming"))


def edge() -> EdgeRefreshQueue:
    """The container's queue to the edge refresher (a no-op without ``EDGE_REFRESH_QUEUE_URL``)."""
    global _edge
    if _edge is None:
        _edge = EdgeRefreshQueue()
    return _edge


def reset_state() -> None:
    """Close and forget module-level clients (tests, local server restarts)."""
    global _store, _edge
    if _store is not None:
        _store.cache.close()
        _store.db.close()
    _store = None
    _edge = None
    _bodies.clear()
    logs.reset()


def _cache_headers(x_cache: str) -> dict[str, str]:
    max_age = STALE_MAX_AGE_SECONDS if x_cache == "STALE" else EDGE_MAX_AGE_SECONDS
    return {"X-Cache": x_cache, "Cache-Control": f"public, max-age={max_age}"}


_bodies: dict[int, tuple[dict[str, Any], str]] = {}
"""Each product id's last response body and the value it was written from: the cache serves a hot key's
same value object until its entry changes (``cachelib.entries``), so the identity check is exact."""
_REMEMBERED_BODIES = 1024


def _product_body(product: dict[str, Any]) -> str:
    remembered = _bodies.get(product["id"])
    if remembered is not None and remembered[0] is product:
        return remembered[1]
    body = product_json(product)
    if len(_bodies) >= _REMEMBERED_BODIES:
        _bodies.clear()
    _bodies[product["id"]] = (product, body)
    return body


def product_json(product: dict[str, Any]) -> str:
    """``to_json(product)`` for a product of the schema's shape (``is_product``), written directly: the one
    encode on the hit path, where the generic encoder's ``default`` callbacks for the price and the date
    cost more than the rest of the document. ``test_handler_product_api`` checks the two agree."""
    return (
        f'{{"id":{product["id"]:d},"name":{encode_basestring(product["name"])}'
        f',"category":{encode_basestring(product["category"])},"price":{json_scalar(product["price"])}'
        f',"stock":{product["stock"]:d},"description":{encode_basestring(product["description"])}'
        f',"updated_at":"{product["updated_at"].isoformat()}"}}'
    )


def _get_product(event: dict[str, Any], raw_id: str, log: RequestLog) -> dict[str, Any]:
    product_id = parse_product_id(raw_id)
    result = store().get(product_id)
    log.fields["cache"] = result.status.value
    if result.value is None:
        raise HttpError(404, "not_found", f"product {product_id} does not exist", {"X-Cache": result.x_cache})
    return json_response(200, _product_body(result.value), _cache_headers(result.x_cache))


def _list_products(event: dict[str, Any], log: RequestLog) -> dict[str, Any]:
    query = parse_list_query(event.get("queryStringParameters"), event.get("multiValueQueryStringParameters"))
    result = store().list(query)
    log.fields["cache"] = result.status.value
    page = result.value or {"items": [], "hasMore": False}
    body = {"category": query.category, "page": query.page, "limit": query.limit, **page}
    return response(200, body, _cache_headers(result.x_cache))


def _idempotency(event: dict[str, Any], method: str, route: str, product: Any) -> IdempotentRequest | None:
    try:
        return IdempotentRequest.of(header(event, IDEMPOTENCY_KEY_HEADER), method, route, product.canonical())
    except InvalidIdempotencyKey as exc:
        raise HttpError(400, "invalid_idempotency_key", str(exc)) from None


def _written(outcome: WriteOutcome) -> dict[str, Any]:
    # L1 and Redis are right; now the stage cache and CloudFront (queued: never fails the write).
    edge().enqueue(item_path(outcome.product["id"]))
    headers = {"Cache-Control": NO_STORE}
    if outcome.status == 201:
        headers["Location"] = item_path(outcome.product["id"])
    if outcome.replayed:
        headers[IDEMPOTENT_REPLAYED_HEADER] = "true"
    return response(outcome.status, outcome.product, headers)


def _put_product(event: dict[str, Any], raw_id: str, log: RequestLog) -> dict[str, Any]:
    product_id = parse_product_id(raw_id)
    product = parse_product_body(json_body(event))
    idempotency = _idempotency(event, "PUT", item_path(product_id), product)
    log.fields["idempotent"] = idempotency is not None
    try:
        return _written(store().replace(product_id, product, idempotency=idempotency))
    except ProductNotFound:
        raise HttpError(404, "not_found", f"product {product_id} does not exist") from None


def _post_product(event: dict[str, Any], log: RequestLog) -> dict[str, Any]:
    product = parse_product_body(json_body(event))
    idempotency = _idempotency(event, "POST", COLLECTION_PATH, product)
    log.fields["idempotent"] = idempotency is not None
    return _written(store().create(product, idempotency=idempotency))


def _not_confirmed(exc: SavedNotConfirmed) -> HttpError:
    """503 for a write that is saved but whose cache could not be confirmed: says what was saved and never
    invites a repeat that would write twice."""
    product_id = exc.product.get("id")
    location = item_path(exc.product["id"]) if exc.created else None
    if exc.idempotent:
        advice = f"repeating the request with the same {IDEMPOTENCY_KEY_HEADER} is safe and confirms it"
    elif location is not None:
        advice = (
            f"do not repeat this POST, it would create another product: read {location}, "
            f"and send an {IDEMPOTENCY_KEY_HEADER} with POSTs to make them safe to repeat"
        )
    else:
        advice = "repeating this PUT is safe"
    verb = "created" if exc.created else "updated"
    headers = {"Retry-After": "1"}
    if location is not None:
        headers["Location"] = location
    error = HttpError(
        503,
        "cache_not_confirmed",
        f"product {product_id} was {verb}, but the cache could not be confirmed up to date yet; {advice}",
        headers,
    )
    error.extra = {"id": product_id}
    return error


def _database_unavailable(method: str, idempotent: bool) -> HttpError:
    if method == "POST" and not idempotent:
        message = (
            f"the database is unavailable; the product may or may not have been created. Repeat this POST "
            f"only with an {IDEMPOTENCY_KEY_HEADER}, or look the product up first"
        )
    else:
        message = "the database is unavailable; retry later (repeating this request is safe)"
    return HttpError(503, "database_unavailable", message, {"Retry-After": "1"})


def _route(event: dict[str, Any], method: str, path: str, log: RequestLog) -> dict[str, Any]:
    if path == COLLECTION_PATH:
        if method == "GET":
            return _list_products(event, log)
        if method == "POST":
            return _post_product(event, log)
        raise HttpError(405, "method_not_allowed", "use GET or POST", {"Allow": "GET, POST"})
    match = _ITEM_PATH.fullmatch(path)
    if match is None:
        raise HttpError(404, "no_route", "no such resource")
    params = event.get("pathParameters")
    from_params = params.get("id") if isinstance(params, dict) else None
    raw_id: str = from_params if isinstance(from_params, str) else match.group(1)
    if method == "GET":
        return _get_product(event, raw_id, log)
    if method == "PUT":
        return _put_product(event, raw_id, log)
    raise HttpError(405, "method_not_allowed", "use GET or PUT", {"Allow": "GET, PUT"})


def lambda_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    trace_if_enabled()  # before the first connection opens, so Redis and MySQL calls get subsegments
    if not isinstance(event, dict):
        event = {}
    log = RequestLog.begin(event, context, None if _store is None else _store.cache.metrics)
    method = log.method
    try:
        result = _route(event, method, log.path, log)
    except HttpError as exc:
        result = error_response(exc, log.correlation_id)
    except DatabaseUnavailable as exc:
        log.fields["error"] = f"database unavailable: {exc}"
        idempotent = bool(log.fields.get("idempotent"))
        result = error_response(_database_unavailable(method, idempotent), log.correlation_id)
    except SavedNotConfirmed as exc:
        log.fields["error"] = f"cache not confirmed: {exc.__cause__}"
        result = error_response(_not_confirmed(exc), log.correlation_id)
    except IdempotencyConflict:
        result = error_response(
            HttpError(
                422,
                "idempotency_key_reused",
                f"this {IDEMPOTENCY_KEY_HEADER} was already used for a different request; send a new key "
                "with a new one",
            ),
            log.correlation_id,
        )
    except Exception:
        LOGGER.exception("unhandled error")  # the record carries the correlation id
        result = error_response(HttpError(500, "internal_error", "internal error"), log.correlation_id)
    result["headers"]["X-Correlation-Id"] = log.correlation_id
    current = _store  # None when the request was rejected before touching Redis or MySQL
    metrics = None
    if current is not None:
        current.flush_hot_counts()
        metrics = current.cache.metrics
    status = result["statusCode"]
    routine = status == 200 and method == "GET" and log.fields.get("cache") in _ROUTINE_READS
    log.emit(status, metrics, routine=routine)  # the request's line is also its EMF document
    return result


# ``true`` on the deployed function (the CDK app sets it).
if os.environ.get(variables.CONNECT_ON_INIT, "").strip().lower() == "true":
    connect_on_init()
