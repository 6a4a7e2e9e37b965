"""The local HTTP adapter, end to end over a real socket, into the real handler, Redis and MariaDB."""

from __future__ import annotations

import http.client
import json

import pytest
import redis

from scripts.local_server import local_stack, make_event, make_http_server, serve_in_thread

pytest_plugins = ["handler_fixtures"]  # fixtures shared by the handler tests


@pytest.fixture
def local_api(handler_env):
    server = make_http_server("127.0.0.1", 0)
    thread = serve_in_thread(server)
    host, port = server.server_address[:2]

    def request(method, target, body=None, headers=None):
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request(method, target, body=body, headers=headers or {})
        response = conn.getresponse()
        payload = response.read()
        conn.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, payload

    yield request
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_get_over_http_misses_then_hits(local_api):
    status, headers, body = local_api("GET", "/products/3")
    assert status == 200 and headers["x-cache"] == "MISS" and headers["content-type"] == "application/json"
    assert json.loads(body)["id"] == 3
    status, headers, again = local_api("GET", "/products/3")
    assert (status, headers["x-cache"], again) == (200, "HIT", body)
    assert headers["cache-control"] == "public, max-age=10"
    assert int(headers["content-length"]) == len(body)


def test_write_then_read_over_http(local_api):
    local_api("GET", "/products?category=toys&limit=100")
    product = {"name": "Socket Kite", "category": "toys", "price": "4.50"}
    status, headers, body = local_api(
        "POST", "/products", json.dumps(product), {"Content-Type": "application/json"}
    )
    assert status == 201 and headers["cache-control"] == "no-store"
    created = json.loads(body)
    assert headers["location"] == f"/products/{created['id']}"
    status, _, body = local_api(
        "PUT", f"/products/{created['id']}", json.dumps({**product, "name": "Renamed Kite"})
    )
    assert status == 200
    _, _, page = local_api("GET", "/products?category=toys&limit=100")
    names = {item["id"]: item["name"] for item in json.loads(page)["items"]}
    assert names[created["id"]] == "Renamed Kite"


@pytest.mark.parametrize(
    ("method", "target", "body", "expected"),
    [
        ("GET", "/products/abc", None, 400),
        ("GET", "/products/%2D1", None, 400),
        ("GET", "/products?category=toys&category=books", None, 400),
        ("GET", "/products?page=0", None, 400),
        ("GET", "/nowhere", None, 404),
        ("DELETE", "/products/1", None, 405),
        ("POST", "/products", b"\xff\xfe not utf-8", 400),
        ("POST", "/products", b"{" * 10, 400),
        ("POST", "/products", json.dumps({"name": "x" * 17_000}).encode(), 413),
    ],
)
def test_client_errors_over_http(local_api, method, target, body, expected):
    status, headers, payload = local_api(method, target, body)
    assert status == expected
    assert headers["cache-control"] == "no-store"
    assert set(json.loads(payload)) == {"error", "message", "correlationId"}


def test_correlation_id_round_trips_over_http(local_api):
    _, headers, _ = local_api("GET", "/products/1", headers={"X-Correlation-Id": "trace-42"})
    assert headers["x-correlation-id"] == "trace-42"


def test_dax_route_is_dispatched_to_the_dax_handler(local_api, monkeypatch):
    monkeypatch.delenv("DAX_TABLE_NAME", raising=False)
    status, _, payload = local_api("GET", "/dax/items/a")
    # Only the DAX handler answers this way: the product API would call the path an unknown route (404).
    assert status == 500 and json.loads(payload)["error"] == "misconfigured"


def test_event_shape_matches_api_gateway():
    event = make_event("GET", "/products/7%20?category=toys&page=1&page=2", {"Host": "x"}, b"")
    assert event["path"] == "/products/7 " and event["pathParameters"] == {"id": "7 "}
    assert event["resource"] == "/products/{id}"
    assert event["queryStringParameters"] == {"category": "toys", "page": "2"}
    assert event["multiValueQueryStringParameters"] == {"category": ["toys"], "page": ["1", "2"]}
    assert event["body"] is None and event["isBase64Encoded"] is False
    binary = make_event("POST", "/products", {}, b"\xff")
    assert binary["isBase64Encoded"] is True and binary["body"] == "/w=="


def test_local_stack_uses_the_configured_eviction_policy_and_the_schema_step():
    from config import load_environment

    expected_policy = load_environment("dev").cache.maxmemory_policy
    with local_stack(seed=5) as info:
        server = info["redis"]
        client = redis.Redis(host=server.host, port=server.port)
        assert client.config_get("maxmemory-policy")["maxmemory-policy"] == expected_policy
        assert info["seeded"] == 5
        client.close()
