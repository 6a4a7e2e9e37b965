"""Stampede: 64 concurrent cold misses on one key. Database queries made by cachelib vs naive cache-aside.

Both sides run the same point query on a real MariaDB through one connection per thread (opened
before the race), in the same run; queries are counted by the server (``Com_select`` delta), not by us.

    .venv/bin/python bench/bench_stampede.py [--threads 64] [--rounds 10] [--query-ms 0]
"""

from __future__ import annotations

import argparse
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pymysql
import redis
from _support import settings_for, start_mariadb, start_redis

from cachelib import Cache, Database, ReadEndpoint


def com_select(admin: pymysql.connections.Connection) -> int:
    with admin.cursor() as cur:
        cur.execute("SHOW GLOBAL STATUS LIKE 'Com_select'")
        return int(cur.fetchone()[1])


def run(threads: int, rounds: int, query_ms: int) -> dict[str, list[int]]:
    rs, my = start_redis(), start_mariadb()
    try:
        settings = settings_for(rs, my)
        admin = pymysql.connect(**my.connect_kwargs(), autocommit=True)
        with admin.cursor() as cur:
            cur.execute("CREATE TABLE products (id INT PRIMARY KEY, name VARCHAR(64), price DECIMAL(10,2))")
            cur.executemany(
                "INSERT INTO products VALUES (%s, %s, %s)", [(i, f"p{i}", i) for i in range(1, 101)]
            )
        db = Database(settings)
        cache = Cache(lambda: redis.Redis(host=rs.host, port=rs.port, max_connections=threads * 2), settings)
        naive = redis.Redis(host=rs.host, port=rs.port, max_connections=threads * 2)
        sleep = f", SLEEP({query_ms / 1000})" if query_ms else ""
        sql = f"SELECT id, name, price{sleep} FROM products WHERE id = %s"

        def query(endpoint: ReadEndpoint, pid: int):
            with db.cursor(endpoint) as cur:
                cur.execute(sql, (pid,))
                row = cur.fetchone()
            return {"id": row[0], "name": row[1], "price": row[2]}

        def naive_read(pid: int):
            key = f"naive:product:{pid}"
            raw = naive.get(key)
            if raw is not None:
                return json.loads(raw)
            value = query(ReadEndpoint.READER, pid)
            naive.set(key, json.dumps(value, default=str), ex=300)
            return value

        def ours_read(pid: int):
            return cache.get_or_load(cache.keys.key("product", pid), lambda ep: query(ep, pid), ttl=300).value

        gate = threading.Barrier(threads)

        def race(read, pid):
            gate.wait()
            return read(pid)

        results: dict[str, list[int]] = {"cachelib": [], "naive": []}
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda _: (gate.wait(), db.connection(ReadEndpoint.READER)), range(threads)))
            for r in range(rounds):
                for name, read in (("naive", naive_read), ("cachelib", ours_read)):
                    pid = r + 1
                    before = com_select(admin)
                    values = list(pool.map(lambda _, read=read, pid=pid: race(read, pid), range(threads)))
                    results[name].append(com_select(admin) - before)  # SHOW STATUS is not a Com_select
                    assert all(v["id"] == pid for v in values)
        admin.close()
        return results
    finally:
        rs.stop()
        my.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--query-ms", type=int, default=0, help="add SLEEP() to the query (a slower DB)")
    args = parser.parse_args()
    res = run(args.threads, args.rounds, args.query_ms)
    print(
        f"stampede: {args.threads} concurrent cold misses x {args.rounds} rounds, query +{args.query_ms} ms"
    )
    for name in ("naive", "cachelib"):
        q = res[name]
        print(f"  {name:9s} DB queries per stampede: min {min(q)} max {max(q)} per round {q}")
    verdict = "PASS" if all(q == 1 for q in res["cachelib"]) else "MISS"
    print(f"  target: cachelib makes exactly 1 query per stampede -> {verdict}")


if __name__ == "__main__":
    main()
