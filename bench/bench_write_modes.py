"""Invalidate-on-write vs write-through under a write-heavy mix, side by side in one run.

Workload: Zipf(s=1.0) over 10k products, 30% writes (PUT of the whole product through ``ProductStore``,
as the handler does), 70% reads, one client thread, real Redis and MariaDB. Both modes run the same
request sequence, interleaved in rounds so machine drift hits both alike. Reported per mode: database reads
per write (reads the cache could not answer, counted by MariaDB's ``Com_select`` minus the writes' own
selects), hit ratio, and p50/p99 of the first read of a product right after it was written.

    .venv/bin/python bench/bench_write_modes.py [--products 10000] [--requests 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from decimal import Decimal

import pymysql
from _support import settings_for, start_mariadb, start_redis
from bench_db_load import zipf_sampler

from cachelib import Cache, CacheStatus, Database
from functions import catalog_schema
from functions.product_store import ProductStore
from functions.product_validation import ProductInput

WRITE_SHARE = 0.30
SELECTS_PER_WRITE = 2  # replace(): SELECT ... FOR UPDATE, then the row read back under the lock


def com_select(mysql) -> int:
    return int(mysql.admin_sql("SHOW GLOBAL STATUS LIKE 'Com_select'").split()[1])


def run_mode(store: ProductStore, mysql, plan: list[tuple[str, int]]) -> dict[str, float]:
    writes = reads = hits = 0
    after_write_us: list[float] = []
    written: set[int] = set()
    before = com_select(mysql)
    for action, product_id in plan:
        if action == "w":
            product = ProductInput(
                name=f"Product {product_id} v{writes}",
                category="books",
                price=Decimal("9.99"),
                stock=writes,
                description="",
            )
            store.replace(product_id, product)
            written.add(product_id)
            writes += 1
            continue
        started = time.perf_counter()
        result = store.get(product_id)
        elapsed = (time.perf_counter() - started) * 1e6
        reads += 1
        hits += result.status in (CacheStatus.HIT, CacheStatus.L1_HIT)
        if product_id in written:  # the first read after a write of this product
            after_write_us.append(elapsed)
            written.discard(product_id)
    db_reads = com_select(mysql) - before - SELECTS_PER_WRITE * writes
    after_write_us.sort()
    return {
        "db_reads_per_write": db_reads / writes,
        "hit_ratio": hits / reads,
        "after_write_p50_us": statistics.median(after_write_us),
        "after_write_p99_us": after_write_us[int(0.99 * (len(after_write_us) - 1))],
        "after_write_reads": len(after_write_us),
    }


def describe(r: dict[str, float]) -> str:
    return (
        f"DB reads/write {r['db_reads_per_write']:.2f}, hit ratio {r['hit_ratio']:.1%}, first read after a "
        f"write p50 {r['after_write_p50_us']:.0f} us, p99 {r['after_write_p99_us']:.0f} us"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    redis_server = start_redis()
    mysql = start_mariadb()
    try:
        settings = settings_for(redis_server, mysql)
        db = Database(settings)
        conn = pymysql.connect(**mysql.connect_kwargs(), autocommit=True)
        catalog_schema.apply_schema(conn)
        catalog_schema.seed_products(conn, args.products)
        conn.close()
        rng = random.Random(7)
        sample, _ = zipf_sampler(args.products, 1.0, rng)
        stores = {
            "invalidate": ProductStore(Cache.from_settings(settings), db, write_through=False),
            "write-through": ProductStore(Cache.from_settings(settings), db, write_through=True),
        }
        results: dict[str, list[dict[str, float]]] = {mode: [] for mode in stores}
        print(
            f"workload: Zipf(1.0) over {args.products} products, {args.requests} requests per mode and "
            f"round, {WRITE_SHARE:.0%} writes, {args.rounds} rounds, modes interleaved"
        )
        for round_no in range(args.rounds):
            plan = [("w" if rng.random() < WRITE_SHARE else "r", sample()) for _ in range(args.requests)]
            for mode, store in stores.items():
                store.cache.client().flushall()
                for product_id in range(1, 2001):  # the same warm start for both: the hottest ids cached
                    store.get(product_id)
                results[mode].append(run_mode(store, mysql, plan))
                r = results[mode][-1]
                print(f"  round {round_no + 1} {mode:13s}: {describe(r)} ({r['after_write_reads']} reads)")
        print("median over rounds:")
        for mode, rounds in results.items():
            med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
            print(f"  {mode:13s}: {describe(med)}")
        for store in stores.values():
            store.cache.close()
        db.close()
    finally:
        redis_server.stop()
        mysql.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
