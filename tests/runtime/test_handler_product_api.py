"""Product API: every route, status code and header, against real Redis and MariaDB."""

from __future__ import annotations

import json
from decimal import Decimal

import pymysql
import pytest
import redis
from handler_support import SEEDED, assert_client_error, call, event

from functions import product_api
from functions.catalog_schema import CATEGORIES
from functions.product_store import hot_products_key

NEW_PRODUCT = {"name": "Test Lamp", "category": "home", "price": "19.99", "stock": 3, "description": "bright"}

pytest_plugins = ["handler_fixtures"]  # fixtures shared by the handler tests


def handler(*args, **kwargs):
    return call(product_api.lambda_handler, *args, **kwargs)


def test_get_product_misses_then_hits_with_edge_cache_headers(handler_env):
    status, headers, body = handler("GET", "/products/7")
    assert status == 200
    assert headers["X-Cache"] == "MISS"
    assert headers["Cache-Control"] == "public, max-age=10"
    assert headers["X-Correlation-Id"] == "test-request-id"
    assert body["id"] == 7 and body["category"] in CATEGORIES
    assert Decimal(body["price"]) > 0  # exact decimal as a string, never a float

    status, headers, again = handler("GET", "/products/7")
    assert (status, headers["X-Cache"], again) == (200, "HIT", body)


def test_correlation_id_from_the_caller_is_echoed(handler_env):
    _, headers, _ = handler("GET", "/products/1", headers={"X-Correlation-Id": "abc-123"})
    assert headers["X-Correlation-Id"] == "abc-123"


def test_stale_entry_is_served_with_stale_header_and_short_max_age(handler_env):
    handler("GET", "/products/3")
    store = product_api.store()
    key = store.cache.keys.key("product", 3)
    client = store.cache.client()
    kind, _soft, payload = client.get(key).split(b"|", 2)
    client.set(key, b"%s|%d|%s" % (kind, 1, payload), px=60_000)  # soft deadline in the past
    status, headers, body = handler("GET", "/products/3")
    assert status == 200 and body["id"] == 3
    assert headers["X-Cache"] in ("STALE", "MISS")  # one caller refreshes: this one, as it is alone
    assert headers["Cache-Control"] == (
        "public, max-age=1" if headers["X-Cache"] == "STALE" else "public, max-age=10"
    )


@pytest.mark.parametrize(
    "raw_id", ["abc", "-1", "0", "1.5", "99999999999999999999", "9223372036854775808", "%20"]
)
def test_bad_product_ids_are_400(handler_env, raw_id):
    assert_client_error(*handler("GET", f"/products/{raw_id}"), 400)


def test_missing_product_is_404_and_negatively_cached(handler_env):
    status, headers, body = handler("GET", f"/products/{SEEDED + 100}")
    assert_client_error(status, headers, body, 404)
    assert headers["X-Cache"] == "MISS"
    status, headers, _ = handler("GET", f"/products/{SEEDED + 100}")
    assert status == 404 and headers["X-Cache"] == "HIT"


def test_list_by_category_pages_and_caches(handler_env):
    status, headers, body = handler("GET", "/products", query={"category": "books", "limit": "2"})
    assert status == 200 and headers["X-Cache"] == "MISS"
    assert body["category"] == "books" and body["page"] == 1 and body["limit"] == 2
    assert all(item["category"] == "books" for item in body["items"]) and len(body["items"]) <= 2
    status, headers, again = handler("GET", "/products", query={"category": "books", "limit": "2"})
    assert headers["X-Cache"] == "HIT" and again == body


def test_list_without_category_returns_all_in_id_order(handler_env):
    status, _, body = handler("GET", "/products", query={"page": "2", "limit": "10"})
    assert status == 200
    assert [item["id"] for item in body["items"]] == list(range(11, 21))
    assert body["hasMore"] is True


@pytest.mark.parametrize(
    "query",
    [
        {"category": "weapons"},
        {"page": "0"},
        {"page": "-1"},
        {"page": "x"},
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "1e3"},
        {"page": "1001"},
        {"sort": "price"},
    ],
)
def test_bad_list_queries_are_400(handler_env, query):
    assert_client_error(*handler("GET", "/products", query=query), 400)


def test_repeated_query_parameter_is_400(handler_env):
    status, headers, body = handler("GET", "/products", query={"page": "2"}, multi={"page": ["1", "2"]})
    assert_client_error(status, headers, body, 400)


def test_put_replaces_and_every_cached_view_shows_the_new_row(handler_env):
    _, _, before = handler("GET", "/products/5")
    old_category = before["category"]
    new_category = next(c for c in CATEGORIES if c != old_category)
    handler("GET", "/products", query={"category": old_category, "limit": "100"})
    handler("GET", "/products", query={"category": new_category, "limit": "100"})
    handler("GET", "/products", query={"limit": "100"})

    replacement = {**NEW_PRODUCT, "category": new_category, "name": "Renamed"}
    status, headers, body = handler("PUT", "/products/5", body=replacement)
    assert status == 200 and headers["Cache-Control"] == "no-store"
    assert body["name"] == "Renamed" and body["price"] == "19.99"

    _, headers, fresh = handler("GET", "/products/5")
    assert fresh["name"] == "Renamed" and headers["X-Cache"] == "MISS"
    _, _, old_list = handler("GET", "/products", query={"category": old_category, "limit": "100"})
    assert 5 not in [item["id"] for item in old_list["items"]]
    _, _, new_list = handler("GET", "/products", query={"category": new_category, "limit": "100"})
    assert {"id": 5, "name": "Renamed"}.items() <= next(i for i in new_list["items"] if i["id"] == 5).items()
    _, _, all_list = handler("GET", "/products", query={"limit": "100"})
    assert next(i for i in all_list["items"] if i["id"] == 5)["name"] == "Renamed"


def test_put_unknown_product_is_404_and_writes_nothing(handler_env):
    status, headers, body = handler("PUT", f"/products/{SEEDED + 1}", body=NEW_PRODUCT)
    assert_client_error(status, headers, body, 404)


def test_post_creates_and_invalidates_a_negative_entry(handler_env):
    next_id = SEEDED + 1
    assert handler("GET", f"/products/{next_id}")[0] == 404  # cached as "does not exist"
    status, headers, body = handler("POST", "/products", body=NEW_PRODUCT)
    assert status == 201 and headers["Location"] == f"/products/{body['id']}"
    assert headers["Cache-Control"] == "no-store"
    assert body["id"] == next_id
    status, _, fetched = handler("GET", f"/products/{next_id}")
    assert status == 200 and fetched == body
    _, _, page = handler("GET", "/products", query={"category": "home", "limit": "100"})
    assert next_id in [item["id"] for item in page["items"]]


@pytest.mark.parametrize(
    "body",
    [
        [],
        "text",
        {"name": "x", "category": "home"},
        {**NEW_PRODUCT, "category": "weapons"},
        {**NEW_PRODUCT, "price": "-1"},
        {**NEW_PRODUCT, "price": "1.234"},
        {**NEW_PRODUCT, "price": "NaN"},
        {**NEW_PRODUCT, "price": True},
        {**NEW_PRODUCT, "stock": -1},
        {**NEW_PRODUCT, "stock": 1.5},
        {**NEW_PRODUCT, "name": ""},
        {**NEW_PRODUCT, "name": "x" * 201},
        {**NEW_PRODUCT, "name": "bad\x00name"},
        {**NEW_PRODUCT, "colour": "red"},
    ],
)
def test_invalid_bodies_are_400(handler_env, body):
    assert_client_error(*handler("POST", "/products", body=body), 400)
    assert_client_error(*handler("PUT", "/products/1", body=body), 400)


@pytest.mark.parametrize(
    "raw", ["{", "", "null x", '{"name": "\\ud800", "category": "home", "price": 1}', "NaN"]
)
def test_malformed_json_is_400(handler_env, raw):
    status, headers, body = handler("POST", "/products", raw_body=raw)
    assert_client_error(status, headers, body, 400)


def test_oversized_body_is_413(handler_env):
    huge = json.dumps({**NEW_PRODUCT, "description": "x" * 20_000})
    assert_client_error(*handler("POST", "/products", raw_body=huge), 413)


def test_unknown_route_is_404_and_wrong_method_is_405(handler_env):
    assert_client_error(*handler("GET", "/orders"), 404)
    status, headers, body = handler("DELETE", "/products/1")
    assert_client_error(status, headers, body, 405)
    assert headers["Allow"] == "GET, PUT"
    status, headers, body = handler("PATCH", "/products")
    assert_client_error(status, headers, body, 405)
    assert headers["Allow"] == "GET, POST"


def test_database_down_on_a_miss_is_503_but_hits_are_served(handler_env, mysql_outage):
    assert handler("GET", "/products/2")[0] == 200
    mysql_outage.stop()
    product_api.store().db.close()
    status, headers, body = handler("GET", "/products/2")
    assert status == 200 and headers["X-Cache"] == "HIT"
    status, headers, body = handler("GET", "/products/3")
    assert_client_error(status, headers, body, 503)
    assert headers["Retry-After"] == "1"
    assert body["error"] == "database_unavailable"


def test_redis_down_reads_still_answer_from_the_database(handler_env, redis_outage):
    redis_outage.stop()
    status, headers, body = handler("GET", "/products/4")
    assert status == 200 and body["id"] == 4 and headers["X-Cache"] == "MISS"
    assert product_api.store().cache.metrics.snapshot()["CacheMiss"] == 0  # an outage is not a miss


def test_reads_are_counted_for_the_warmer(handler_env, redis_server):
    for _ in range(3):
        handler("GET", "/products/9")
    handler("GET", "/products/8")
    store = product_api.store()
    assert store.flush_hot_counts(force=True) == 2
    client = redis.Redis(host=redis_server.host, port=redis_server.port)
    ranking = client.zrevrange(hot_products_key(store.cache), 0, -1, withscores=True)
    assert ranking == [(b"9", 3.0), (b"8", 1.0)]


def test_sql_injection_in_a_body_is_stored_as_text(handler_env, mysql_server):
    payload = {**NEW_PRODUCT, "name": "x'); DROP TABLE products; --"}
    status, _, body = handler("POST", "/products", body=payload)
    assert status == 201 and body["name"] == payload["name"]
    conn = pymysql.connect(**mysql_server.connect_kwargs())
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM products")
        assert cur.fetchone()[0] == SEEDED + 1
    conn.close()


def test_non_dict_event_is_a_404_not_a_crash(handler_env):
    result = product_api.lambda_handler(event("GET", "/"), None)
    assert result["statusCode"] == 404


def test_a_list_read_whose_version_is_unreadable_bypasses_the_cache(handler_env, mysql_server, monkeypatch):
    import time

    from cachelib import CacheStatus, codec, scripts
    from caching_contract.metrics import CACHE_ERROR, CACHE_MISS
    from functions.product_validation import ListQuery

    store = product_api.store()
    cache = store.cache
    # A page filled under the placeholder version during an earlier Redis blip, before a write changed it.
    placeholder = cache.keys.key("products", category="books", page=1, limit=20, v=0)
    old_page = {"items": [{"id": 999999, "name": "old"}], "hasMore": False}
    entry = codec.encode_entry(codec.KIND_VALUE, int(time.time() * 1000) + 60_000, old_page)
    cache.client().set(placeholder, entry, px=60_000)

    real_script = cache.redis.script

    def version_read_times_out(source):
        if source != scripts.VERSION_READ:
            return real_script(source)

        def fail(**_kwargs):
            raise redis.TimeoutError("version counter read timed out")

        return fail

    monkeypatch.setattr(cache.redis, "script", version_read_times_out)
    result = store.list(ListQuery("books", 1, 20))

    conn = pymysql.connect(**mysql_server.connect_kwargs())
    with conn.cursor() as cur:
        cur.execute("SELECT id FROM products WHERE category = 'books' ORDER BY id LIMIT 20")
        expected_ids = [row[0] for row in cur.fetchall()]
    conn.close()
    assert expected_ids and [item["id"] for item in result.value["items"]] == expected_ids
    assert result.status is CacheStatus.BYPASS
    counts = cache.metrics.snapshot()
    assert (counts[CACHE_ERROR], counts[CACHE_MISS]) == (1, 0)  # an outage, counted once, never a miss
    assert cache.client().get(placeholder) == entry  # read around, not refilled
