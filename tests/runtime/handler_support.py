"""Helpers shared by the handler tests (issue 7): API Gateway events, calls and error assertions.

Fixtures live in ``handler_fixtures.py`` (loaded with ``pytest_plugins``).
"""

from __future__ import annotations

import json
from typing import Any

from functions import cache_warmer, dax_demo, product_api, schema_seed

SEEDED = 40


def reset_handler_state() -> None:
    for module in (product_api, cache_warmer, schema_seed, dax_demo):
        module.reset_state()


def event(
    method: str,
    path: str,
    *,
    body: Any = None,
    query: dict[str, str] | None = None,
    multi: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
    raw_body: str | None = None,
) -> dict[str, Any]:
    """An API Gateway REST proxy event, shaped like the real thing."""
    parts = path.split("/")
    path_parameters = {"id": parts[2]} if len(parts) == 3 and parts[1] in ("products", "dax") else None
    if len(parts) == 4 and parts[1] == "dax":
        path_parameters = {"id": parts[3]}
    return {
        "resource": "/products/{id}" if path_parameters else path,
        "path": path,
        "httpMethod": method,
        "headers": headers or {},
        "multiValueHeaders": {},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {"requestId": "test-request-id", "stage": "test"},
        "body": raw_body if raw_body is not None else (None if body is None else json.dumps(body)),
        "isBase64Encoded": False,
    }


def call(handler: Any, *args: Any, **kwargs: Any) -> tuple[int, dict[str, str], Any]:
    result = handler(event(*args, **kwargs), None)
    body = json.loads(result["body"]) if result.get("body") else None
    return result["statusCode"], result["headers"], body


def assert_client_error(status: int, headers: dict[str, str], body: Any, expected: int) -> None:
    assert status == expected, body
    assert headers["Cache-Control"] == "no-store"
    assert headers["Content-Type"] == "application/json"
    assert isinstance(body, dict) and set(body) == {"error", "message", "correlationId"}
    assert "Traceback" not in body["message"]
