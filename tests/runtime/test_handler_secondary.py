"""The deployed handlers of the Global Datastore read path: the product API in a secondary region
(``CACHE_ROLE=secondary``) refuses writes untouched, and the primary region's refill consumer fills."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest
import redis
from handler_support import SEEDED, assert_client_error, call

from functions import product_api, secondary_refill
from functions.product_store import product_key

NEW_PRODUCT = {"name": "Test Lamp", "category": "home", "price": "19.99", "stock": 3, "description": "bright"}

pytest_plugins = ["handler_fixtures"]


@pytest.fixture
def secondary_env(handler_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("CACHE_ROLE", "secondary")
    monkeypatch.setenv("PRIMARY_API_URL", "https://api.example.com")
    return handler_env


@pytest.fixture
def refill_env(handler_env: dict[str, str]) -> Iterator[dict[str, str]]:
    secondary_refill.reset_state()
    yield handler_env
    secondary_refill.reset_state()


def redis_client(env: dict[str, str]) -> redis.Redis:
    return redis.Redis(host=env["REDIS_HOST"], port=int(env["REDIS_PORT"]))


def state(env: dict[str, str], mysql_server: Any) -> tuple[set[bytes], tuple]:
    """Every Redis key and every catalogue row: what a refused write must leave as it was."""
    keys = set(redis_client(env).scan_iter(count=1000))
    conn = pymysql.connect(**mysql_server.connect_kwargs(), charset="utf8mb4")
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT * FROM products ORDER BY id")
            rows = tuple(cursor.fetchall())
    finally:
        conn.close()
    return keys, rows


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("PUT", "/products/5", {}),
        ("PUT", f"/products/{SEEDED + 1}", {"Idempotency-Key": "k-put-1"}),
        ("POST", "/products", {}),
        ("POST", "/products", {"Idempotency-Key": "k-post-1"}),
    ],
)
def test_a_write_in_a_secondary_region_gets_421_and_touches_nothing(
    secondary_env, mysql_server, method, path, headers
):
    call(product_api.lambda_handler, "GET", "/products/3")  # a read first: the connections exist
    before = state(secondary_env, mysql_server)

    status, response_headers, body = call(
        product_api.lambda_handler, method, path, body=NEW_PRODUCT, headers=headers
    )

    assert_client_error(status, response_headers, body, 421)
    assert body["error"] == "read_only_region"
    assert "https://api.example.com" in body["message"] and "Nothing was written" in body["message"]
    assert state(secondary_env, mysql_server) == before


def test_a_read_in_a_secondary_region_is_served_and_stores_nothing(secondary_env):
    client = redis_client(secondary_env)
    before = set(client.scan_iter(count=1000))

    status, headers, body = call(product_api.lambda_handler, "GET", "/products/7")

    assert (status, body["id"]) == (200, 7)
    assert headers["X-Cache"] == "MISS"
    assert set(client.scan_iter(count=1000)) == before  # filled by the primary region, never here


def test_the_refill_consumer_fills_each_requested_product_and_drops_malformed_requests(refill_env):
    records = [
        {"messageId": "m1", "body": json.dumps({"product": 7})},
        {"messageId": "m2", "body": "not json"},
        {"messageId": "m3", "body": json.dumps({"product": True})},
        {"messageId": "m4", "body": json.dumps({"product": 8})},
    ]

    assert secondary_refill.lambda_handler({"Records": records}) == {"batchItemFailures": []}

    cache = secondary_refill.store().cache
    client = redis_client(refill_env)
    assert client.get(product_key(cache, 7)) is not None
    assert client.get(product_key(cache, 8)) is not None
