"""The handlers on memcached: the product API (items, list pages, writes in both modes, idempotency), its
access counts and the warmer, built by ``Cache.from_settings`` from ``CACHE_ENGINE=memcached``.

The warmer's guarantee (a write between a batch's read and its fill is never overwritten) also runs with
its protection switched off and must then fail.
"""

from __future__ import annotations

import time

import pymysql
import pytest
from handler_support import SEEDED, call
from pymemcache.client.base import Client

from cachelib import CacheStatus, codec
from cachelib.memcached_backend import MemcachedBackend, wire_key
from functions import cache_warmer, hot_counts, product_api
from functions.bulk_memcached_writer import MemcachedBulkWriter
from functions.product_store import product_key

pytest_plugins = ["memcached_fixtures", "handler_fixtures"]

NEW = {"name": "Lamp", "category": "home", "price": "19.99", "stock": 3, "description": "bright"}


def handler(*args, **kwargs):
    return call(product_api.lambda_handler, *args, **kwargs)


@pytest.fixture
def raw(memcached_server):
    client = Client((memcached_server.host, memcached_server.port), connect_timeout=2, timeout=2)
    yield client
    client.close()


def cached_name(client: Client, product_id: int) -> str:
    entry = client.get(product_key(product_api.store().cache, product_id))
    if entry is None or entry.startswith(b"L|"):
        return "<not cached>"
    return codec.decode_entry(entry)[2]["name"]


def test_the_product_api_runs_on_memcached(mc_handler_env, raw):
    assert isinstance(product_api.store().cache.backend, MemcachedBackend)
    status, headers, body = handler("GET", "/products/7")
    assert (status, headers["X-Cache"], body["id"]) == (200, "MISS", 7)
    status, headers, again = handler("GET", "/products/7")
    assert (status, headers["X-Cache"], again) == (200, "HIT", body)
    assert raw.get(product_key(product_api.store().cache, 7)).startswith(b"V|")


def test_a_missing_product_is_404_and_negatively_cached(mc_handler_env):
    assert handler("GET", f"/products/{SEEDED + 100}")[1]["X-Cache"] == "MISS"
    status, headers, _ = handler("GET", f"/products/{SEEDED + 100}")
    assert (status, headers["X-Cache"]) == (404, "HIT")


def test_a_put_is_read_back_at_once_and_moves_the_list_pages(mc_handler_env):
    handler("GET", "/products/3")
    before = handler("GET", "/products", query={"category": "home", "limit": "50"})[2]
    assert handler("GET", "/products", query={"category": "home", "limit": "50"})[1]["X-Cache"] == "HIT"
    status, headers, body = handler("PUT", "/products/3", body=NEW)
    assert status == 200 and headers["Cache-Control"] == "no-store" and body["name"] == "Lamp"
    status, headers, body = handler("GET", "/products/3")
    assert (status, headers["X-Cache"], body["name"]) == (200, "MISS", "Lamp")
    status, headers, after = handler("GET", "/products", query={"category": "home", "limit": "50"})
    assert headers["X-Cache"] == "MISS"  # the category's version moved: a new page key
    assert 3 in [item["id"] for item in after["items"]] and after != before


def test_write_through_mode_makes_the_next_read_a_hit_with_the_new_row(mc_handler_env, monkeypatch):
    monkeypatch.setenv("PRODUCT_WRITE_MODE", "write-through")
    handler("GET", "/products/4")
    assert handler("PUT", "/products/4", body=NEW)[0] == 200
    status, headers, body = handler("GET", "/products/4")
    assert (status, headers["X-Cache"], body["name"]) == (200, "HIT", "Lamp")


def test_a_post_with_an_idempotency_key_is_created_once_and_replayed(mc_handler_env, mysql_server):
    first = handler("POST", "/products", body=NEW, headers={"Idempotency-Key": "mc-1"})
    again = handler("POST", "/products", body=NEW, headers={"Idempotency-Key": "mc-1"})
    assert first[0] == again[0] == 201 and again[2] == first[2]
    assert again[1]["Idempotent-Replayed"] == "true"
    conn = pymysql.connect(**mysql_server.connect_kwargs())
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM products WHERE name = 'Lamp'")
        assert cur.fetchone()[0] == 1
    conn.close()
    status, _, body = handler("GET", f"/products/{first[2]['id']}")
    assert status == 200 and body["name"] == "Lamp"


def test_with_memcached_down_reads_answer_from_the_database_and_a_write_says_it_is_unconfirmed(
    mc_handler_env, memcached_server, capsys
):
    handler("GET", "/products/5")
    memcached_server.kill()
    capsys.readouterr()
    status, headers, body = handler("GET", "/products/5")
    assert (status, headers["X-Cache"], body["id"]) == (200, "MISS", 5)
    assert '"cache":"BYPASS"' in capsys.readouterr().out  # an outage, never counted as a miss
    status, _, body = handler("PUT", "/products/5", body=NEW)
    assert status == 503 and body["error"] == "cache_not_confirmed"
    memcached_server.start()
    time.sleep(5.1)  # the breaker's reset period
    assert handler("GET", "/products/5")[2]["name"] == "Lamp"


# --- access counts and the warmer -------------------------------------------------------------------------


def rank(scores: dict[int, int]) -> None:
    """What the product API's reads would have counted."""
    cache, _db = cache_warmer._state()
    hot_counts.add(cache, scores)


def test_reads_are_counted_per_product_and_ranked_hottest_first(mc_handler_env):
    for product_id, reads in ((3, 5), (9, 2), (4, 9)):
        for _ in range(reads):
            handler("GET", f"/products/{product_id}")
    assert product_api.store().flush_hot_counts(force=True) == 3
    cache, db = cache_warmer._state()
    assert hot_counts.ranked(cache, hot_counts.product_id_batches(db, size=7), 2) == [4, 3]


def test_the_previous_epoch_counts_half(mc_handler_env, monkeypatch):
    cache, db = cache_warmer._state()
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now - hot_counts.HOT_EPOCH_SECONDS)
    hot_counts.add(cache, {1: 10})  # last epoch: 5 now
    monkeypatch.undo()
    hot_counts.add(cache, {2: 6})
    assert hot_counts.ranked(cache, hot_counts.product_id_batches(db), 5) == [2, 1]


def test_the_warmer_fills_the_hottest_with_the_library_format_and_the_api_hits(mc_handler_env, raw):
    rank({i: 100 - i for i in range(1, 21)})
    result = cache_warmer.lambda_handler({"topN": 5})
    assert (result["warmed"], result["skipped"], result["requested"]) == (5, 0, 5)
    cache, _db = cache_warmer._state()
    for product_id in range(1, 6):
        kind, soft_ms, value = codec.decode_entry(raw.get(wire_key(product_key(cache, product_id))))
        assert kind == codec.KIND_VALUE and value["id"] == product_id
        assert 0.9 * 300_000 - 5_000 <= soft_ms - time.time() * 1000 <= 300_000
    assert raw.get(product_key(cache, 6)) is None
    status, headers, body = handler("GET", "/products/1")
    assert (status, headers["X-Cache"], body["id"]) == (200, "HIT", 1)


def test_the_warmer_refreshes_cached_entries_and_leaves_a_readers_lease_alone(mc_handler_env, raw):
    handler("GET", "/products/1")  # cached by a read
    cache, _db = cache_warmer._state()
    deadline = int(time.time() * 1000) + 60_000
    raw.set(product_key(cache, 2), b"L|%d|a-reader" % deadline, expire=60)  # a reader is loading it
    rank({1: 3, 2: 2, 3: 1})
    assert cache_warmer.lambda_handler({"topN": 3})["warmed"] == 2
    assert raw.get(product_key(cache, 2)).startswith(b"L|")


def warm_with_a_write_between_read_and_fill(monkeypatch, raw: Client, *, protected: bool) -> str:
    """Warm product 2 while a PUT commits and invalidates after the batch was read but before its fill;
    returns the name the cache then holds. ``protected=False`` re-takes the revoked leases first."""
    original_write = MemcachedBulkWriter.write

    def write_after_a_racing_put(self, batch, ids, token):
        assert handler("PUT", "/products/2", body={**NEW, "name": "Raced"})[0] == 200
        if not protected:  # sabotage: lease again what the write revoked, as a fence-less fill would
            self.lease(ids, token, 60_000)
        return original_write(self, batch, ids, token)

    monkeypatch.setattr(MemcachedBulkWriter, "write", write_after_a_racing_put)
    cache, db = cache_warmer._state()
    rank({2: 1})
    cache_warmer.warm(cache, db, 1)
    return cached_name(raw, 2)


def test_a_write_between_the_warmers_read_and_its_fill_is_never_overwritten(mc_handler_env, monkeypatch, raw):
    cached = warm_with_a_write_between_read_and_fill(monkeypatch, raw, protected=True)
    assert cached in ("<not cached>", "Raced")
    assert handler("GET", "/products/2")[2]["name"] == "Raced"


def test_sabotage_without_the_lease_the_warmer_overwrites_the_write(mc_handler_env, monkeypatch, raw):
    cached = warm_with_a_write_between_read_and_fill(monkeypatch, raw, protected=False)
    assert cached not in ("<not cached>", "Raced")
    assert handler("GET", "/products/2")[2]["name"] != "Raced"


def test_the_warmer_decay_is_a_no_op_and_the_handler_purges_idempotency_keys(mc_handler_env):
    rank({1: 1})
    result = cache_warmer.lambda_handler({"topN": 1})
    assert result["warmed"] == 1 and "idempotencyKeysPurged" in result
    assert handler("GET", "/products/1")[1]["X-Cache"] == "HIT"
    assert product_api.store().get(1).status is CacheStatus.HIT
