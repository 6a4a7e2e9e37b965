"""Compressed entries: do they pay? 100k products under Zipf(1.0), with and without compression, one run.

For each mode (off, and compression of every value whose JSON is at least ``--threshold`` bytes):
bytes per entry, keys held at the same ``maxmemory`` (10% of the uncompressed data set, allkeys-lru), hit
ratio there next to the ideal static top-k for the keys held, and the hit path's cost against raw
``redis.get`` + ``json.loads`` of the uncompressed value. List pages (20 products) are measured for size too:
they are where compression has something to work with.

    .venv/bin/python bench/bench_compression.py [--products 100000] [--requests 100000] [--threshold 1]
"""

from __future__ import annotations

import argparse
import json
import random

import pymysql
import redis
from _support import settings_for, side_by_side, start_mariadb, start_redis
from bench_db_load import ideal_hit_ratio, used_memory, zipf_sampler

from cachelib import Cache, CacheStatus, Database, ReadEndpoint, codec
from functions.catalog_schema import DDL, SELECT_COLUMNS, row_to_product, seed_products
from functions.product_store import ProductStore
from functions.product_validation import ListQuery


def data_set_bytes(products: list[dict], threshold: int) -> tuple[int, int]:
    """(Redis memory for all products, mean framed entry bytes) with this compression threshold."""
    scratch = start_redis(maxmemory_policy="noeviction")
    try:
        client = redis.Redis(host=scratch.host, port=scratch.port)
        base = used_memory(client)
        total = 0
        pipe = client.pipeline(transaction=False)
        for product in products:
            entry = codec.encode_entry(codec.KIND_VALUE, 0, product, compress_min_bytes=threshold)
            total += len(entry)
            pipe.set(f"bench:1:{{product:{product['id']}}}", entry, px=3_600_000)
            if len(pipe) >= 1000:
                pipe.execute()
        pipe.execute()
        return used_memory(client) - base, total // len(products)
    finally:
        scratch.stop()


def workload(mysql, db, maxmemory_extra: int, threshold: int, sample, requests: int) -> dict:
    server = start_redis()
    try:
        client = redis.Redis(host=server.host, port=server.port)
        client.config_set("maxmemory", used_memory(client) + maxmemory_extra)
        cache = Cache(client, settings_for(server, mysql, CACHE_COMPRESS_MIN_BYTES=str(threshold)))
        sql = f"SELECT {SELECT_COLUMNS} FROM products WHERE id = %s"

        def load(endpoint: ReadEndpoint, pid: int):
            with db.cursor(endpoint) as cur:
                cur.execute(sql, (pid,))
                return row_to_product(cur.fetchone())

        def read(pid: int) -> CacheStatus:
            return cache.get_or_load(
                cache.keys.key("product", pid), lambda ep: load(ep, pid), ttl=3600
            ).status

        for _ in range(requests):  # warm-up
            read(sample())
        hits = sum(read(sample()) is CacheStatus.HIT for _ in range(requests))
        return {"keys": client.dbsize(), "hit_ratio": hits / requests}
    finally:
        server.stop()


def hit_path(product: dict, threshold: int, ops: int = 20_000, block: int = 1000) -> tuple[float, float]:
    server = start_redis()
    try:
        client = redis.Redis(host=server.host, port=server.port)
        cache = Cache(client, settings_for(server, CACHE_COMPRESS_MIN_BYTES=str(threshold)))
        key = cache.keys.key("product", product["id"])
        cache.get_or_load(key, lambda _ep: product, ttl=3600)
        client.set("raw", json.dumps(product, default=str))
        raw_us, ours_us, _ = side_by_side(
            lambda: json.loads(client.get("raw")),
            lambda: cache.get_or_load(key, lambda _ep: product, 3600),
            ops,
            block,
        )
        return raw_us, ours_us
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--threshold", type=int, default=1)
    args = parser.parse_args()
    mysql = start_mariadb(database="catalog")
    try:
        conn = pymysql.connect(**mysql.connect_kwargs(), autocommit=True)
        with conn.cursor() as cur:
            for statement in DDL:
                cur.execute(statement)
        seed_products(conn, args.products, batch_size=5000)
        with conn.cursor() as cur:
            cur.execute(f"SELECT {SELECT_COLUMNS} FROM products")
            products = [row_to_product(row) for row in cur.fetchall()]
        conn.close()
        db = Database(settings_for(start_redis(), mysql))
        store_settings = settings_for(start_redis(), mysql)
        page = ProductStore(Cache.from_settings(store_settings), db)._load_page(
            ReadEndpoint.WRITER, ListQuery(None, 1, 20)
        )
        page_plain = len(codec.encode_entry(codec.KIND_VALUE, 0, page))
        page_packed = len(codec.encode_entry(codec.KIND_VALUE, 0, page, compress_min_bytes=1))
        print(f"list page of 20 products: {page_plain} B plain, {page_packed} B compressed")
        plain_bytes, plain_entry = data_set_bytes(products, 0)
        packed_bytes, packed_entry = data_set_bytes(products, args.threshold)
        print(
            f"{args.products} products: {plain_entry} B per entry plain, {packed_entry} B compressed; "
            f"Redis memory {plain_bytes / 2**20:.1f} MiB plain, {packed_bytes / 2**20:.1f} MiB compressed"
        )
        budget = plain_bytes // 10
        for label, threshold in (("plain", 0), (f"compressed (>= {args.threshold} B)", args.threshold)):
            rng = random.Random(3)
            sample, cumulative = zipf_sampler(args.products, 1.0, rng)
            result = workload(mysql, db, budget, threshold, sample, args.requests)
            raw_us, ours_us = hit_path(products[41], threshold)
            ideal = ideal_hit_ratio(cumulative, result["keys"])
            print(
                f"  {label:28s}: {result['keys']} keys held in {budget / 2**20:.1f} MiB, hit ratio "
                f"{result['hit_ratio']:.1%} (ideal top-{result['keys']}: {ideal:.1%}); "
                f"hit {ours_us:.1f} us vs raw {raw_us:.1f} us = {ours_us / raw_us:.2f}x"
            )
    finally:
        mysql.stop()


if __name__ == "__main__":
    main()
