"""API Gateway proxy plumbing shared by the HTTP handlers: responses, errors, bodies, request logs.

Standard library only, so importing it costs nothing at cold start.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any

from cachelib import logs
from caching_contract.http import CORRELATION_HEADER

MAX_BODY_BYTES = 16 * 1024
_CORRELATION_MAX = 128

# Errors and writes must never be stored by API Gateway's stage cache or CloudFront.
NO_STORE = "no-store"


class HttpError(Exception):
    """A client-facing error: becomes a JSON body ``{"error": code, "message": ...}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.extra: dict[str, Any] = {}
        """More fields for the JSON body (e.g. the id of a product that was saved)."""


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # Prices are exact decimals: keep them as strings, never floats. Integral values are plain ints.
        # A non-negative exponent means no fractional digits (NaN and Infinity have a str exponent).
        exponent = value.as_tuple().exponent
        return int(value) if isinstance(exponent, int) and exponent >= 0 else str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


_ENCODER = json.JSONEncoder(default=_json_default, separators=(",", ":"), ensure_ascii=False)


def to_json(body: Any) -> str:
    return _ENCODER.encode(body)  # one encoder for the container: json.dumps with options builds one per call


def response(status: int, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return json_response(status, to_json(body), headers)


def json_response(status: int, body_json: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A proxy response whose body is already JSON text."""
    merged = {"Content-Type": "application/json"}
    if headers:
        merged.update(headers)
    return {"statusCode": status, "headers": merged, "body": body_json, "isBase64Encoded": False}


def json_scalar(value: Any) -> str:
    """One scalar as ``to_json`` writes it (exact decimals as ints or strings, datetimes as ISO 8601), for a
    caller that builds a fixed-shape document by hand."""
    if isinstance(value, str):
        return encode_basestring(value)
    if isinstance(value, Decimal | datetime):
        return json_scalar(_json_default(value))
    return to_json(value)


def error_response(error: HttpError, correlation_id: str) -> dict[str, Any]:
    headers = {"Cache-Control": NO_STORE, "X-Correlation-Id": correlation_id, **error.headers}
    body = {"error": error.code, "message": error.message, **error.extra, "correlationId": correlation_id}
    return response(error.status, body, headers)


def header(event: dict[str, Any], name: str) -> str | None:
    headers = event.get("headers") or {}
    if not isinstance(headers, dict):
        return None
    lowered = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == lowered and isinstance(value, str):
            return value
    return None


def correlation_id(event: dict[str, Any], context: Any) -> str:
    """The caller's ``X-Correlation-Id`` if sane, else API Gateway's request id, else a new UUID."""
    supplied = header(event, CORRELATION_HEADER)
    if supplied and len(supplied) <= _CORRELATION_MAX and supplied.isprintable() and supplied.isascii():
        return supplied
    request_context = event.get("requestContext")
    if isinstance(request_context, dict) and isinstance(request_context.get("requestId"), str):
        return request_context["requestId"]
    aws_request_id = getattr(context, "aws_request_id", None)
    return aws_request_id if isinstance(aws_request_id, str) else str(uuid.uuid4())


def json_body(event: dict[str, Any], max_bytes: int = MAX_BODY_BYTES) -> Any:
    """The decoded JSON body; 413 when larger than ``max_bytes``, 400 when absent or invalid."""
    raw = event.get("body")
    if raw is None or raw == "":
        raise HttpError(400, "invalid_body", "a JSON request body is required")
    if not isinstance(raw, str):
        raise HttpError(400, "invalid_body", "the request body must be text")
    if event.get("isBase64Encoded"):
        if len(raw) > (max_bytes * 4) // 3 + 4:
            raise HttpError(413, "body_too_large", f"the request body exceeds {max_bytes} bytes")
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise HttpError(400, "invalid_body", "the request body is not valid base64") from None
    else:
        data = raw.encode("utf-8", errors="surrogatepass")
    if len(data) > max_bytes:
        raise HttpError(413, "body_too_large", f"the request body exceeds {max_bytes} bytes")
    try:
        return json.loads(data.decode("utf-8"), parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise HttpError(400, "invalid_json", "the request body is not valid JSON") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


@dataclass
class RequestLog:
    """Collects the fields of the one structured line written per request (``cachelib.logs``)."""

    correlation_id: str
    method: str
    path: str
    started: float = field(default_factory=time.perf_counter)
    fields: dict[str, Any] = field(default_factory=dict)
    cold_start: bool = False

    @classmethod
    def begin(cls, event: dict[str, Any], context: Any, metrics: Any = None) -> RequestLog:
        """The request's log, started: its correlation id is every log line's until the next request.
        ``metrics``: the container's ``CacheMetrics``, if it has one yet (``logs.begin_invocation``)."""
        method = event.get("httpMethod")
        path = event.get("path")
        request_id = correlation_id(event, context)
        return cls(
            request_id,
            method.upper() if isinstance(method, str) else "",
            path if isinstance(path, str) else "",
            cold_start=logs.begin_invocation(request_id, context, metrics),
        )

    def line(self, status: int, metrics: Any = None) -> str:
        """The request's line (JSON, with its newline); with ``metrics`` (a ``CacheMetrics``), also the
        invocation's EMF document."""
        members = logs.request_members(
            status, self.method, self.path, self.started, self.cold_start, self.fields
        )
        return logs.request_line(members, metrics)

    def emit(self, status: int, metrics: Any = None, *, routine: bool = False) -> None:
        """Write the request's line, carrying the container's pending metrics, in one write. A ``routine``
        request (a fast successful cache hit) may leave both for a later line (``cachelib.logs``)."""
        if logs.line_due(routine and not self.cold_start, self.started):
            logs.write(self.line(status, metrics))
