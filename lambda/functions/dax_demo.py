"""DAX demo: read and write one item through DynamoDB Accelerator, behind ``GET|PUT /dax/items/{id}``.

Reads and writes go through ``amazon-dax-client`` (``AmazonDaxClient.resource(endpoint_url=...)``) when
``DAX_ENDPOINT`` is set: plain boto3 never talks to DAX. Without an endpoint the handler falls back to
DynamoDB directly and logs why once per container, so a missing DAX wiring is visible, not silent.

The table's partition key is the string attribute ``id``. Items hold a few user attributes (strings,
numbers, booleans) next to it; ``updated_at`` is set by the handler.
"""

from __future__ import annotations

import logging
import os
import re
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from cachelib import logs
from caching_contract import variables
from functions.apigw import (
    NO_STORE,
    HttpError,
    RequestLog,
    error_response,
    json_body,
    response,
)

LOGGER = logging.getLogger("dax_demo")
logs.configure_logging()  # every record in the one log shape (cachelib.logs)

ITEM_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
ATTRIBUTE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
MAX_ATTRIBUTES = 20
MAX_STRING = 1024
RESERVED = frozenset({"id", "updated_at"})
_PATH = re.compile(r"/dax/items/([^/]+)")

_table = None  # the Table resource (DAX-backed or DynamoDB), created on first use
_source = None  # "dax" or "dynamodb"


class Misconfigured(Exception):
    """The function's deployment is missing a setting: no retry can help, so it is no store outage."""


def _open_table() -> tuple[Any, str]:
    table_name = os.environ.get(variables.DAX_TABLE_NAME, "").strip()
    if not table_name:
        raise Misconfigured(f"{variables.DAX_TABLE_NAME} is not set")
    endpoint = os.environ.get(variables.DAX_ENDPOINT, "").strip()
    if endpoint:
        from amazondax import AmazonDaxClient

        return AmazonDaxClient.resource(endpoint_url=endpoint).Table(table_name), "dax"
    import boto3

    LOGGER.warning(
        "DAX_ENDPOINT is not set; reading and writing DynamoDB directly, without DAX",
        extra={"table": table_name},
    )
    return boto3.resource("dynamodb").Table(table_name), "dynamodb"


def table() -> tuple[Any, str]:
    global _table, _source
    if _table is None:
        _table, _source = _open_table()
    return _table, _source


def reset_state() -> None:
    """Forget the module-level table (tests)."""
    global _table, _source
    _table = _source = None


def _item_id(event: dict[str, Any]) -> str:
    params = event.get("pathParameters") or {}
    raw = params.get("id") if isinstance(params, dict) else None
    if raw is None:
        match = _PATH.fullmatch(str(event.get("path") or ""))
        raw = match.group(1) if match else None
    if not isinstance(raw, str) or not ITEM_ID.fullmatch(raw):
        raise HttpError(400, "invalid_id", "the item id must be 1-64 letters, digits, '-' or '_'")
    return raw


def _storable_number(number: Decimal) -> bool:
    """A number this demo stores: 38 significant digits, 0 or a magnitude from 1E-130 (DynamoDB's smallest)
    to below 1E+38. Anything else is the client's mistake (400); sent on, the store would reject it and the
    client would see a 503."""
    if not number.is_finite():
        return False
    if number == 0:
        return True
    return Decimal("1e-130") <= abs(number) < Decimal("1e38") and len(number.as_tuple().digits) <= 38


def _attributes(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise HttpError(400, "invalid_body", "the body must be a JSON object of attributes")
    if len(body) > MAX_ATTRIBUTES:
        raise HttpError(400, "invalid_body", f"at most {MAX_ATTRIBUTES} attributes")
    attributes: dict[str, Any] = {}
    for name, value in body.items():
        if name in RESERVED or not ATTRIBUTE_NAME.fullmatch(name):
            raise HttpError(400, "invalid_attribute", f"attribute name {name[:70]!r} is not allowed")
        if isinstance(value, bool) or (isinstance(value, str) and len(value) <= MAX_STRING):
            attributes[name] = value
        elif isinstance(value, (int, Decimal)) and not isinstance(value, bool):
            number = Decimal(value)
            if not _storable_number(number):
                raise HttpError(
                    400, "invalid_attribute", f"attribute {name!r} is out of DynamoDB's number range"
                )
            attributes[name] = number
        else:
            raise HttpError(
                400,
                "invalid_attribute",
                f"attribute {name!r} must be a string (<= {MAX_STRING}), number or boolean",
            )
    return attributes


def _dependency_error(exc: Exception) -> HttpError:
    LOGGER.error("item store unavailable", extra={"error": type(exc).__name__})
    return HttpError(
        503, "store_unavailable", "the item store is unavailable; retry later", {"Retry-After": "1"}
    )


def _configured_table() -> tuple[Any, str]:
    """The table, or a non-retryable 500 when the deployment left it unnamed (retrying cannot fix that)."""
    try:
        return table()
    except Misconfigured as exc:
        LOGGER.error("function misconfigured", extra={"reason": str(exc)})
        raise HttpError(500, "misconfigured", "the item store is not configured") from exc
    except Exception as exc:  # the DAX client could not reach its cluster: an outage, worth a retry
        raise _dependency_error(exc) from exc


def _get(item_id: str) -> tuple[int, dict[str, Any], str]:
    tbl, source = _configured_table()
    try:
        found = tbl.get_item(Key={"id": item_id}).get("Item")
    except Exception as exc:
        raise _dependency_error(exc) from exc
    if found is None:
        raise HttpError(404, "not_found", f"item {item_id} does not exist")
    return 200, found, source


def _put(item_id: str, event: dict[str, Any]) -> tuple[int, dict[str, Any], str]:
    item = {**_attributes(json_body(event)), "id": item_id}
    item["updated_at"] = datetime.now(UTC).isoformat()
    tbl, source = _configured_table()
    try:
        tbl.put_item(Item=item)
    except Exception as exc:
        raise _dependency_error(exc) from exc
    return 200, item, source


def lambda_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    if not isinstance(event, dict):
        event = {}
    log = RequestLog.begin(event, context)
    method = log.method
    try:
        item_id = _item_id(event)
        if method == "GET":
            status, item, source = _get(item_id)
        elif method == "PUT":
            status, item, source = _put(item_id, event)
        else:
            raise HttpError(405, "method_not_allowed", "use GET or PUT", {"Allow": "GET, PUT"})
        started = log.started
        log.fields.update(source=source, item_id=item_id)
        result = response(
            status,
            item,
            {
                "X-Data-Source": source,
                "X-Correlation-Id": log.correlation_id,
                # DAX is the cache here; keep the edge layers out of the way of the demo's writes.
                "Cache-Control": NO_STORE,
                "Server-Timing": f"store;dur={(time.perf_counter() - started) * 1000:.2f}",
            },
        )
    except HttpError as exc:
        result = error_response(exc, log.correlation_id)
    except Exception:
        # Our fault, not the caller's: a JSON 500 with the correlation id, the traceback only in the log.
        LOGGER.exception("unhandled error")  # the record carries the correlation id
        result = error_response(HttpError(500, "internal_error", "internal error"), log.correlation_id)
    log.emit(result["statusCode"])
    return result
