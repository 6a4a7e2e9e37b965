"""Cache warmer: the hot keys end up cached, readable by the library, with the library's TTLs."""

from __future__ import annotations

import dataclasses
import threading
import time
from decimal import Decimal

import pymysql
import pytest
import redis
from handler_support import SEEDED, call

from cachelib import Cache, CacheUnavailable, Database, DatabaseUnavailable, codec
from functions import cache_warmer, product_api
from functions.bulk_cache_writer import BulkEntryWriter
from functions.catalog_schema import SELECT_COLUMNS, row_to_product
from functions.product_store import hot_products_key, product_key

TTL_MS = 300_000
STALE_MS = 60_000

pytest_plugins = ["handler_fixtures"]  # fixtures shared by the handler tests


def _rank(client: redis.Redis, cache: Cache, scores: dict[int, float]) -> None:
    client.zadd(hot_products_key(cache), {str(k): v for k, v in scores.items()})


def _db_product(mysql_server, product_id: int) -> dict:
    conn = pymysql.connect(**mysql_server.connect_kwargs(), charset="utf8mb4")
    with conn.cursor() as cur:
        cur.execute(f"SELECT {SELECT_COLUMNS} FROM products WHERE id = %s", (product_id,))
        row = cur.fetchone()
    conn.close()
    return row_to_product(row)


def test_warms_the_top_n_with_the_library_ttls_and_format(handler_env, redis_client, mysql_server):
    cache, _db = cache_warmer._state()
    _rank(redis_client, cache, {i: 100 - i for i in range(1, 21)})  # 1 is hottest
    result = cache_warmer.lambda_handler({"topN": 5})
    assert result["warmed"] == 5 and result["skipped"] == 0 and result["requested"] == 5
    assert result["rowsPerSecond"] > 0

    for product_id in range(1, 6):
        raw = redis_client.get(product_key(cache, product_id))
        kind, soft_ms, value = codec.decode_entry(raw)
        assert kind == codec.KIND_VALUE and value == _db_product(mysql_server, product_id)
        pttl = redis_client.pttl(product_key(cache, product_id))
        fresh_ms = soft_ms - time.time() * 1000
        assert 0.9 * TTL_MS - 5_000 <= fresh_ms <= TTL_MS  # fresh lifetime, jittered down by up to 10%
        assert abs(pttl - fresh_ms - STALE_MS) < 5_000  # hard TTL = fresh + the stale window, as cachelib
    assert not any(redis_client.exists(product_key(cache, i)) for i in range(6, 21))

    status, headers, body = call(product_api.lambda_handler, "GET", "/products/1")
    assert (status, headers["X-Cache"]) == (200, "HIT")
    assert body["id"] == 1


def test_ttls_are_jittered_so_a_warm_does_not_expire_at_once(handler_env, redis_client):
    cache, _db = cache_warmer._state()
    _rank(redis_client, cache, {i: i for i in range(1, SEEDED + 1)})
    cache_warmer.lambda_handler({"topN": SEEDED})
    ttls = {redis_client.pttl(product_key(cache, i)) // 1000 for i in range(1, SEEDED + 1)}
    assert len(ttls) > SEEDED // 2


def test_defaults_to_warm_top_n_from_the_environment(handler_env, redis_client):
    cache, _db = cache_warmer._state()
    _rank(redis_client, cache, {i: i for i in range(1, SEEDED + 1)})
    assert cache_warmer.lambda_handler({})["warmed"] == 10  # WARM_TOP_N=10 in handler_env


def test_a_write_before_the_warm_is_what_the_warm_stores(handler_env, redis_client):
    cache, _db = cache_warmer._state()
    _rank(redis_client, cache, {1: 3, 2: 2})
    status, _, _ = call(
        product_api.lambda_handler, "PUT", "/products/2", body={"name": "New", "category": "toys", "price": 1}
    )
    assert status == 200
    result = cache_warmer.lambda_handler({"topN": 2})
    assert (result["warmed"], result["skipped"]) == (2, 0)
    assert codec.decode_entry(redis_client.get(product_key(cache, 2)))[2]["name"] == "New"


def _warm_with_a_write_between_read_and_fill(cache, db, client, monkeypatch, *, protected: bool) -> str:
    """Warm product 2 while a PUT commits and invalidates after the batch was read but before its fill;
    returns the name the cache then holds. ``protected=False`` switches the lease check off."""
    original_write = BulkEntryWriter.write

    def write_after_a_racing_put(self, batch, ids, token):
        status, _, _ = call(
            product_api.lambda_handler,
            "PUT",
            "/products/2",
            body={"name": "Raced", "category": "toys", "price": 1},
        )
        assert status == 200
        if not protected:  # sabotage: re-take the leases the invalidation revoked, as a fence-less fill would
            self.lease(ids, token, 60_000)
        return original_write(self, batch, ids, token)

    monkeypatch.setattr(BulkEntryWriter, "write", write_after_a_racing_put)
    cache_warmer.warm(cache, db, 2)
    raw = client.get(product_key(cache, 2))
    return "<not cached>" if raw is None else codec.decode_entry(raw)[2]["name"]


def test_a_write_between_the_batch_read_and_its_fill_is_never_overwritten(
    handler_env, redis_client, monkeypatch
):
    """Whatever the batch's age and the replica's lag: the write's invalidation revoked the warmer's lease."""
    cache, db = cache_warmer._state()
    _rank(redis_client, cache, {2: 1})
    cached = _warm_with_a_write_between_read_and_fill(cache, db, redis_client, monkeypatch, protected=True)
    assert cached in ("<not cached>", "Raced")
    assert call(product_api.lambda_handler, "GET", "/products/2")[2]["name"] == "Raced"


def test_sabotage_without_the_lease_check_the_warmer_overwrites_the_write(
    handler_env, redis_client, monkeypatch
):
    """Proves the test above can fail: with the revoked leases re-taken, the old row lands after the write."""
    cache, db = cache_warmer._state()
    _rank(redis_client, cache, {2: 1})
    cached = _warm_with_a_write_between_read_and_fill(cache, db, redis_client, monkeypatch, protected=False)
    assert cached != "Raced"
    assert call(product_api.lambda_handler, "GET", "/products/2")[2]["name"] != "Raced"


def test_ids_not_in_the_database_are_ignored(handler_env, redis_client):
    cache, _db = cache_warmer._state()
    _rank(redis_client, cache, {SEEDED + 5: 10, 1: 1})
    redis_client.zadd(hot_products_key(cache), {"not-a-number": 50})
    assert cache_warmer.lambda_handler({"topN": 10})["warmed"] == 1


@pytest.mark.parametrize(
    "name",
    [
        'quote " and \\ backslash',
        "tab\tnewline\ncr\r",
        "emoji \U0001f680 and ünïcödé",
        "</script>",
        "\x01\x1f ctl",
    ],
)
def test_database_rendered_entries_equal_the_library_encoding(handler_env, mysql_server, redis_client, name):
    conn = pymysql.connect(**mysql_server.connect_kwargs(), autocommit=True, charset="utf8mb4")
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE products SET name = %s, description = %s, price = %s WHERE id = 1",
            (name, name[::-1], Decimal("0.10")),
        )
    conn.close()
    cache, _db = cache_warmer._state()
    _rank(redis_client, cache, {1: 1})
    cache_warmer.lambda_handler({"topN": 1})
    _kind, _soft, warmed = codec.decode_entry(redis_client.get(product_key(cache, 1)))
    expected = _db_product(mysql_server, 1)
    assert warmed == expected
    assert codec.loads(codec.dumps(expected)) == warmed


def test_the_hot_set_decays_and_stays_bounded(handler_env, redis_client):
    cache, _db = cache_warmer._state()
    _rank(redis_client, cache, {i: 2 * i for i in range(1, 20_011)})
    cache_warmer.lambda_handler({"topN": 1})
    assert redis_client.zcard(hot_products_key(cache)) == 10_000
    assert redis_client.zscore(hot_products_key(cache), "20010") == 20_010


def test_database_down_fails_the_invocation_loudly(handler_env, redis_client, mysql_outage):
    cache, _db = cache_warmer._state()
    _rank(redis_client, cache, {1: 1})
    mysql_outage.stop()
    with pytest.raises(DatabaseUnavailable):
        cache_warmer.lambda_handler({"topN": 1})


@pytest.mark.parametrize("bad", [{"topN": 0}, {"topN": "many"}, {"topN": 2_000_000}])
def test_invalid_top_n_is_rejected(handler_env, bad):
    with pytest.raises(ValueError, match="WARM_TOP_N"):
        cache_warmer.lambda_handler(bad)


def test_cluster_mode_groups_keys_by_node_and_keeps_ttls(handler_env, settings, redis_cluster):
    host, port = redis_cluster.startup
    cluster_settings = dataclasses.replace(
        settings, redis_host=host, redis_port=port, redis_cluster_mode=True
    )
    cache = Cache.from_settings(cluster_settings)
    db = Database(cluster_settings)
    try:
        client = cache.client()
        client.zadd(hot_products_key(cache), {str(i): i for i in range(1, SEEDED + 1)})
        result = cache_warmer.warm(cache, db, SEEDED)
        assert result.warmed == SEEDED
        owners = {
            client.nodes_manager.get_node_from_slot(client.keyslot(product_key(cache, i))).name
            for i in range(1, SEEDED + 1)
        }
        assert len(owners) == 3  # the batch really spanned every master
        for i in range(1, SEEDED + 1):
            assert 0.9 * TTL_MS <= client.pttl(product_key(cache, i)) <= TTL_MS + STALE_MS
            assert codec.decode_entry(client.get(product_key(cache, i)))[2]["id"] == i
    finally:
        cache.close()
        db.close()


def test_a_redis_failure_mid_warm_raises_at_once_and_stops_the_reader(handler_env, redis_client, monkeypatch):
    cache, db = cache_warmer._state()
    _rank(redis_client, cache, {i: 100 - i for i in range(1, SEEDED + 1)})
    monkeypatch.setattr(cache_warmer, "BATCH_ROWS", 1)  # many batches...
    monkeypatch.setattr(cache_warmer, "QUEUE_BATCHES", 1)  # ...and a queue the reader keeps full

    def redis_gone(self, batch, ids, token):
        time.sleep(0.2)  # let the reader fill the queue and block on it
        raise redis.ConnectionError("Redis went away mid-warm")

    monkeypatch.setattr(BulkEntryWriter, "write", redis_gone)
    started = time.monotonic()
    with pytest.raises(CacheUnavailable, match="mid-warm"):
        cache_warmer.warm(cache, db, SEEDED)
    assert time.monotonic() - started < 5  # not the 30 s join timeout of a reader stuck on a full queue
    assert not [t for t in threading.enumerate() if t.name == "warm-reader"]
