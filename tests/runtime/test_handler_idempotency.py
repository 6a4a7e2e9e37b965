"""Retried writes never duplicate: Idempotency-Key on POST and PUT, through the handler, on real servers.

Covers a repeat, a conflicting body, concurrent duplicates (with a sabotage run), Redis down during the
write, key expiry and purge, and the reproduction from the issue: a POST whose cache could not be
confirmed now says the product was created (id and Location) and never invites a duplicating retry.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pymysql
import pytest
from handler_support import SEEDED, call

from functions import idempotency, product_api

pytest_plugins = ["handler_fixtures"]

BODY = {"name": "Kettle", "category": "home", "price": "39.90"}


def products_named(mysql_server, name: str) -> int:
    conn = pymysql.connect(**mysql_server.connect_kwargs())
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM products WHERE name = %s", (name,))
        (count,) = cur.fetchone()
    conn.close()
    return count


def post(body=BODY, key: str | None = None):
    headers = {"Idempotency-Key": key} if key is not None else {}
    return call(product_api.lambda_handler, "POST", "/products", body=body, headers=headers)


def test_a_repeated_post_returns_the_first_response_and_creates_one_product(handler_env, mysql_server):
    first = post(key="order-1")
    again = post(key="order-1")
    assert first[0] == again[0] == 201
    assert again[2] == first[2] and again[1]["Location"] == first[1]["Location"]
    assert again[1]["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first[1]
    assert products_named(mysql_server, "Kettle") == 1


def test_the_same_body_written_differently_is_the_same_request(handler_env, mysql_server):
    assert post(key="k")[0] == 201
    status, headers, _ = post(body={**BODY, "price": "39.9"}, key="k")
    assert status == 201 and headers["Idempotent-Replayed"] == "true"


def test_the_same_key_with_a_different_body_is_a_422(handler_env, mysql_server):
    assert post(key="order-2")[0] == 201
    status, headers, body = post(body={**BODY, "name": "Toaster"}, key="order-2")
    assert (
        status == 422 and body["error"] == "idempotency_key_reused" and headers["Cache-Control"] == "no-store"
    )
    assert products_named(mysql_server, "Toaster") == 0


def test_the_same_key_on_another_route_is_a_422(handler_env):
    assert post(key="shared")[0] == 201
    status, _, body = call(
        product_api.lambda_handler, "PUT", "/products/1", body=BODY, headers={"Idempotency-Key": "shared"}
    )
    assert status == 422 and body["error"] == "idempotency_key_reused"


@pytest.mark.parametrize("key", ["", " ", "a b", "x" * 256, "é"])
def test_a_malformed_key_is_a_400(handler_env, key):
    status, _, body = post(key=key)
    assert status == 400 and body["error"] == "invalid_idempotency_key"


def test_a_repeated_put_changes_nothing_the_second_time(handler_env, mysql_server):
    headers = {"Idempotency-Key": "put-1"}
    first = call(
        product_api.lambda_handler, "PUT", "/products/2", body={**BODY, "name": "Renamed"}, headers=headers
    )
    again = call(
        product_api.lambda_handler, "PUT", "/products/2", body={**BODY, "name": "Renamed"}, headers=headers
    )
    assert first[0] == again[0] == 200 and again[2] == first[2]  # same updated_at: not written twice
    assert again[1]["Idempotent-Replayed"] == "true"


def concurrent_duplicates(mysql_server, monkeypatch, *, protected: bool) -> int:
    """8 identical POSTs with one key, released together; returns how many products they created."""
    if not protected:  # sabotage: check the key without claiming it in the write's transaction

        def check_only(cursor, request, ttl_seconds):
            cursor.execute(
                "SELECT status, response FROM idempotency_keys WHERE idem_key = %s", (request.key,)
            )
            row = cursor.fetchone()
            time.sleep(0.05)  # the network round trip between checking and writing
            return None if row is None else idempotency.Recorded(int(row[0]), json.loads(row[1]), None)

        def record_after(cursor, request, status, body, after_commit):
            cursor.execute(
                "INSERT INTO idempotency_keys (idem_key, request_hash, status, response, expires_at) "
                "VALUES (%s, %s, %s, %s, NOW(6) + INTERVAL 1 DAY) ON DUPLICATE KEY UPDATE status = status",
                (request.key, request.request_hash, status, body),
            )

        from functions import product_store

        monkeypatch.setattr(product_store, "claim_idempotency", check_only)
        monkeypatch.setattr(product_store, "record_idempotency", record_after)
    product_api.store()  # one container, as Lambda would have... and 8 threads in it
    barrier = threading.Barrier(8)

    def one(_):
        barrier.wait()
        return post(body={**BODY, "name": "Racer"}, key="race-1")

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(8)))
    assert all(status == 201 for status, _, _ in results)
    if protected:
        assert len({body["id"] for _, _, body in results}) == 1  # everyone got the same product
    return products_named(mysql_server, "Racer")


def test_identical_requests_in_flight_at_once_produce_one_write(handler_env, mysql_server, monkeypatch):
    assert concurrent_duplicates(mysql_server, monkeypatch, protected=True) == 1


def test_sabotage_a_key_checked_outside_the_write_transaction_lets_duplicates_through(
    handler_env, mysql_server, monkeypatch
):
    assert concurrent_duplicates(mysql_server, monkeypatch, protected=False) > 1


def test_the_issue_reproduction_a_post_without_a_key_during_a_redis_outage_is_created_once_and_says_so(
    handler_env, mysql_server, redis_outage
):
    product_api.store()
    redis_outage.stop()
    status, headers, body = post(body={**BODY, "name": "Outage"})
    assert status == 503 and body["error"] == "cache_not_confirmed"
    assert (
        f"product {body['id']} was created" in body["message"]
        and "do not repeat this POST" in body["message"]
    )
    assert headers["Location"] == f"/products/{body['id']}" and headers["Retry-After"] == "1"
    assert "retry the same request" not in body["message"]
    assert products_named(mysql_server, "Outage") == 1


def test_with_a_key_the_retry_after_a_redis_outage_confirms_the_write_and_creates_nothing_more(
    handler_env, mysql_server, redis_outage, redis_client
):
    store = product_api.store()
    status, _, body = call(
        product_api.lambda_handler, "GET", "/products", query={"category": "home", "limit": "50"}
    )
    assert status == 200 and all(item["name"] != "Outage" for item in body["items"])  # a page is cached
    redis_outage.stop()
    status, _, body = post(body={**BODY, "name": "Outage"}, key="outage-1")
    assert status == 503 and "same Idempotency-Key is safe" in body["message"]
    created_id = body["id"]
    redis_outage.start()
    store.cache.breaker.record_success()  # skip the breaker's pause; the retry would come after it anyway
    status, headers, body = post(body={**BODY, "name": "Outage"}, key="outage-1")
    assert status == 201 and body["id"] == created_id and headers["Idempotent-Replayed"] == "true"
    assert products_named(mysql_server, "Outage") == 1
    status, _, page = call(
        product_api.lambda_handler, "GET", "/products", query={"category": "home", "limit": "50"}
    )
    assert any(item["id"] == created_id for item in page["items"])  # the replay put the list pages right


def test_expired_keys_are_taken_over_and_purged_by_index_range(handler_env, mysql_server, monkeypatch):
    monkeypatch.setenv("IDEMPOTENCY_TTL_SECONDS", "1")
    product_api.reset_state()
    assert post(key="old-key")[0] == 201
    time.sleep(1.1)
    status, headers, _ = post(body={**BODY, "name": "Second"}, key="old-key")
    assert status == 201 and "Idempotent-Replayed" not in headers  # expired: a new request
    assert post(key="another")[0] == 201
    time.sleep(1.1)
    conn = pymysql.connect(**mysql_server.connect_kwargs(), autocommit=True)
    with conn.cursor() as cur:
        cur.execute(
            "EXPLAIN DELETE FROM idempotency_keys WHERE expires_at < NOW(6) ORDER BY expires_at LIMIT 500"
        )
        plan = cur.fetchone()
    assert "idempotency_keys_expires_at" in str(plan)  # an index range, not a table scan
    assert idempotency.purge_expired(conn) == 2
    conn.close()


def test_no_retry_advice_invites_a_duplicate(handler_env, mysql_outage):
    product_api.store()
    mysql_outage.stop()
    status, _, body = post()
    assert status == 503 and "may or may not have been created" in body["message"]
    status, _, body = post(key="k")
    assert status == 503 and "repeating this request is safe" in body["message"]
    status, _, body = call(product_api.lambda_handler, "PUT", f"/products/{SEEDED}", body=BODY)
    assert status == 503 and "repeating this request is safe" in body["message"]
