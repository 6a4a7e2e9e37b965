"""Database load under a Zipf(s=1.0) workload over 100k products, Redis maxmemory ~10% of the data set.

"Data set" = the Redis memory all 100k products take when every one is cached in cachelib's entry format
(measured first on a scratch server). The bench server gets ``maxmemory`` = its empty-server baseline +
10% of that, with the dev environment's ``maxmemory-policy`` (allkeys-lru). After a warm-up, database
queries are counted by the server (``Com_select``). A second configuration in the same run shows the
memory fraction needed to reach the target. Single client thread, real MariaDB and Redis.

    .venv/bin/python bench/bench_db_load.py [--products 100000] [--warmup 200000] [--requests 200000]
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import random
import time

import pymysql
import redis
from _support import settings_for, start_mariadb, start_redis

from cachelib import Cache, CacheStatus, Database, ReadEndpoint, Settings, codec
from functions.catalog_schema import DDL, SEED_UPSERT, SELECT_COLUMNS, row_to_product, sample_products


def zipf_sampler(n: int, s: float, rng: random.Random):
    cumulative = list(itertools.accumulate(1.0 / (rank**s) for rank in range(1, n + 1)))
    total = cumulative[-1]
    ids = list(range(1, n + 1))
    rng.shuffle(ids)  # popularity rank -> a random product id

    def sample() -> int:
        return ids[bisect.bisect_left(cumulative, rng.random() * total)]

    return sample, cumulative


def ideal_hit_ratio(cumulative: list[float], cached: int) -> float:
    """Hit ratio of a perfect cache that always holds the ``cached`` most popular items."""
    return cumulative[max(0, min(cached, len(cumulative)) - 1)] / cumulative[-1]


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def measure_data_set(products: int, db: Database) -> int:
    """Bytes of Redis memory the whole data set takes in cachelib's format."""
    scratch = start_redis(maxmemory_policy="noeviction")
    try:
        client = redis.Redis(host=scratch.host, port=scratch.port)
        cache = Cache(client, settings_for(scratch))
        base = used_memory(client)
        with db.cursor(ReadEndpoint.READER) as cur:
            cur.execute(f"SELECT {SELECT_COLUMNS} FROM products")
            pipe = client.pipeline(transaction=False)
            for row in cur:
                product = row_to_product(row)
                entry = codec.encode_entry(codec.KIND_VALUE, 0, product)
                pipe.set(cache.keys.key("product", product["id"]), entry, px=3_600_000)
                if len(pipe) >= 1000:
                    pipe.execute()
            pipe.execute()
        assert client.dbsize() == products
        return used_memory(client) - base
    finally:
        scratch.stop()


def db_settings(mysql) -> Settings:
    return Settings.from_env(
        {
            "DB_WRITER_HOST": mysql.host,
            "DB_PORT": str(mysql.port),
            "DB_NAME": mysql.database,
            "DB_USER": mysql.user,
            "DB_PASSWORD": mysql.password,
            "DB_TLS": "false",
        }
    )


def run_workload(
    mysql, db, data_set: int, fraction: float, sample, warmup: int, requests: int, policy: str | None
) -> dict:
    # Without an explicit policy: the dev config's maxmemory-policy (allkeys-lru), as in production.
    server = start_redis(**({"maxmemory_policy": policy} if policy else {}))
    try:
        client = redis.Redis(host=server.host, port=server.port)
        maxmemory = used_memory(client) + int(data_set * fraction)
        client.config_set("maxmemory", maxmemory)
        cache = Cache(client, settings_for(server, mysql))
        sql = f"SELECT {SELECT_COLUMNS} FROM products WHERE id = %s"

        def load(endpoint: ReadEndpoint, pid: int):
            with db.cursor(endpoint) as cur:
                cur.execute(sql, (pid,))
                row = cur.fetchone()
            return None if row is None else row_to_product(row)

        def read(pid: int) -> CacheStatus:
            result = cache.get_or_load(cache.keys.key("product", pid), lambda ep: load(ep, pid), ttl=3600)
            return result.status

        for _ in range(warmup):
            read(sample())
        admin = pymysql.connect(**mysql.connect_kwargs(), autocommit=True)
        with admin.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS LIKE 'Com_select'")
            before = int(cur.fetchone()[1])
        statuses: dict[CacheStatus, int] = {}
        started = time.perf_counter()
        for _ in range(requests):
            status = read(sample())
            statuses[status] = statuses.get(status, 0) + 1
        elapsed = time.perf_counter() - started
        with admin.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS LIKE 'Com_select'")
            queries = int(cur.fetchone()[1]) - before
        admin.close()
        info = client.info()
        return {
            "policy": client.config_get("maxmemory-policy")["maxmemory-policy"],
            "fraction": fraction,
            "maxmemory": maxmemory,
            "keys": client.dbsize(),
            "evicted": info["evicted_keys"],
            "queries": queries,
            "requests": requests,
            "statuses": {s.value: n for s, n in statuses.items()},
            "rps": requests / elapsed,
        }
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--warmup", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument(
        "--configs",
        default="0.10,0.30,0.50,0.10:allkeys-lfu",
        help="comma-separated maxmemory fractions of the data set, each optionally ':policy'",
    )
    args = parser.parse_args()

    mysql = start_mariadb()
    try:
        conn = pymysql.connect(**mysql.connect_kwargs())
        with conn.cursor() as cur:
            for statement in DDL:
                cur.execute(statement)
            batch = []
            for row in sample_products(args.products):
                batch.append(row)
                if len(batch) == 5000:
                    cur.executemany(SEED_UPSERT, batch)
                    batch.clear()
            if batch:
                cur.executemany(SEED_UPSERT, batch)
        conn.commit()
        conn.close()
        db = Database(db_settings(mysql))
        data_set = measure_data_set(args.products, db)
        print(f"data set: {args.products} products = {data_set / 1e6:.1f} MB of Redis memory when all cached")
        print(
            f"workload: Zipf(s=1.0), {args.warmup} warm-up + {args.requests} measured reads, 1 client thread"
        )
        sample, cumulative = zipf_sampler(args.products, 1.0, random.Random(7))
        for config in args.configs.split(","):
            fraction_text, _, policy = config.partition(":")
            fraction = float(fraction_text)
            r = run_workload(
                mysql, db, data_set, fraction, sample, args.warmup, args.requests, policy or None
            )
            db_share = r["queries"] / r["requests"]
            verdict = "PASS" if db_share <= 0.10 else "MISS"
            print(
                f"  {r['policy']}, maxmemory {fraction:.0%} of data set ({r['maxmemory'] / 1e6:.1f} MB, "
                f"{r['keys']} keys held, {r['evicted']} evicted): "
                f"hit ratio {1 - db_share:.1%}, DB queries {db_share:.1%} of requests -> {verdict} "
                f"(ideal top-{r['keys']} cache: {ideal_hit_ratio(cumulative, r['keys']):.1%}; "
                f"{r['rps']:.0f} req/s; statuses {r['statuses']})"
            )
    finally:
        mysql.stop()


if __name__ == "__main__":
    main()
