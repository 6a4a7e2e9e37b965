"""Issue 7 benchmarks: the warmer against the seed-style warm, its memory, and the handler's cold import.

    .venv/bin/python bench/bench_warmer.py               # 100k-row rounds, RSS at 100k and 1M, import time
    .venv/bin/python bench/bench_warmer.py --repeats 5   # more alternating rounds on a noisy machine

Starts its own throwaway redis-server and mariadbd (``tests/runtime/servers.py``), seeds 1M products
through the schema step's code, ranks them in the hot set, then alternates, round by round:

* **seed-style warm** (the source document's): ``fetchall()`` of the rows, then one ``SETEX`` round trip per
  row, writing the same entry bytes ``cachelib`` writes;
* **the warmer** (``functions.cache_warmer.warm``): unbuffered cursor, database-rendered entries, one
  EVALSHA per 1,000 keys, read and write overlapped.

Both overwrite the same existing keys with TTLs. Peak RSS is measured in fresh child processes warming
100k and 1M rows. Results go to ``bench/out/warmer.json``; the table printed at the end is what
``bench/RESULTS.md`` records.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# tests/runtime holds the throwaway-server launcher (servers.py) shared with the test suite.
for _path in (str(ROOT), str(ROOT / "lambda"), str(ROOT / "tests" / "runtime")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

OUT = ROOT / "bench" / "out"


def seed_style_warm(cache, db, rows: int) -> float:
    """fetchall() + one SETEX round trip per row (same entry bytes as cachelib). Returns rows/s."""
    from cachelib import codec
    from cachelib.database import ReadEndpoint
    from functions.catalog_schema import SELECT_COLUMNS, row_to_product
    from functions.product_store import product_key

    client = cache.client()
    started = time.perf_counter()
    with db.cursor(ReadEndpoint.READER) as cursor:
        cursor.execute(f"SELECT {SELECT_COLUMNS} FROM products ORDER BY id LIMIT %s", (rows,))
        fetched = cursor.fetchall()
    ttl = cache.settings.cache_ttl_seconds
    stale = cache.settings.cache_stale_seconds
    for row in fetched:
        product = row_to_product(row)
        entry = codec.encode_entry(codec.KIND_VALUE, int(time.time() * 1000) + ttl * 1000, product)
        client.setex(product_key(cache, product["id"]), ttl + stale, entry)
    return len(fetched) / (time.perf_counter() - started)


def _peak_rss_kb() -> int:
    """VmHWM of this process. (ru_maxrss is inherited across fork+exec on Linux, so a child would report
    its parent's peak; VmHWM belongs to the process image and starts afresh at exec.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def rss_child(rows: int) -> None:
    """Run in a fresh process: warm ``rows`` and print peak RSS before/after (kB) as JSON."""
    from functions import cache_warmer

    cache, db = cache_warmer._state()
    cache.client().ping()
    before = _peak_rss_kb()
    result = cache_warmer.warm(cache, db, rows)
    peak = _peak_rss_kb()
    print(
        json.dumps(
            {
                "rows": result.warmed,
                "rss_before_kb": before,
                "peak_rss_kb": peak,
                "rate": result.rowsPerSecond,
            }
        )
    )


def import_times(runs: int = 10) -> dict[str, float]:
    """``python -X importtime -c 'import functions.product_api'`` with lambda/ on the path, in ms."""
    samples = []
    for _ in range(runs):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import functions.product_api"],
            cwd=ROOT / "lambda",
            capture_output=True,
            text=True,
            check=True,
        )
        last = [line for line in proc.stderr.splitlines() if line.endswith("| functions.product_api")][-1]
        samples.append(int(last.split("|")[1]) / 1000)
    return {"median_ms": round(statistics.median(samples), 1), "min_ms": round(min(samples), 1)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--big-rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(args.rss_child)
        return 0

    from servers import function_env, start_mariadb, start_redis

    workdir = Path(tempfile.mkdtemp(prefix="bench-warmer-"))
    redis_server = start_redis(workdir / "redis")
    mariadb = start_mariadb(workdir / "mariadb", database="catalog")
    try:
        env = function_env(redis_server, mariadb, CACHE_TTL_SECONDS="300", POWERTOOLS_METRICS_DISABLED="true")
        os.environ.update(env)
        from cachelib import Cache, Database, Settings
        from functions import cache_warmer
        from functions.product_store import product_key

        settings = Settings.from_env()
        cache, db = Cache.from_settings(settings), Database(settings)
        _seed(cache, db, args.big_rows)
        cache_warmer.warm(cache, db, args.rows)  # both paths then overwrite existing keys
        baseline, warmer = _rounds(cache, db, args.rows, args.repeats)
        ratios = [w / b for w, b in zip(warmer, baseline, strict=True)]
        ttl_check = {
            "pttl_ms": cache.client().pttl(product_key(cache, 1)),
            "configured_ttl_ms": settings.cache_ttl_seconds * 1000,
            "stale_ms": settings.cache_stale_seconds * 1000,
        }
        rss = _peak_rss(env, (args.rows, args.big_rows))
        growth_mb = (rss[args.big_rows]["peak_rss_kb"] - rss[args.rows]["peak_rss_kb"]) / 1024
        results = {
            "rows": args.rows,
            "seed_style_rows_per_s": [round(x) for x in baseline],
            "warmer_rows_per_s": [round(x) for x in warmer],
            "ratio_per_round": [round(x, 1) for x in ratios],
            "ratio_median": round(statistics.median(ratios), 1),
            "ttl_check": ttl_check,
            "rss": rss,
            "rss_growth_mb_100k_to_1m": round(growth_mb, 1),
            "import_time": import_times(),
            "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        }
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "warmer.json").write_text(json.dumps(results, indent=2))
        _print_summary(results, settings)
        cache.close()
        db.close()
    finally:
        redis_server.stop()
        mariadb.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _seed(cache, db, rows: int) -> None:
    """``rows`` products in the database, every one of them ranked in the hot-products set."""
    from functions import catalog_schema
    from functions.product_store import hot_products_key

    connection = db.connection()
    catalog_schema.apply_schema(connection)
    started = time.perf_counter()
    catalog_schema.seed_products(connection, rows, batch_size=5000)
    print(f"seeded {rows} products in {time.perf_counter() - started:.1f}s", flush=True)
    client = cache.client()
    for start in range(0, rows, 50_000):
        ids = range(start + 1, min(start + 50_000, rows) + 1)
        client.zadd(hot_products_key(cache), {str(i): rows - i for i in ids})


def _rounds(cache, db, rows: int, repeats: int) -> tuple[list[float], list[float]]:
    """Rows per second of the seed-style warm and of the warmer, alternating, ``repeats`` times."""
    from functions import cache_warmer

    baseline, warmer = [], []
    for round_number in range(repeats):
        baseline.append(seed_style_warm(cache, db, rows))
        warmer.append(cache_warmer.warm(cache, db, rows).rowsPerSecond)
        print(f"round {round_number + 1}: seed-style {baseline[-1]:,.0f}, warmer {warmer[-1]:,.0f} rows/s")
    return baseline, warmer


def _peak_rss(env: dict, row_counts: tuple[int, ...]) -> dict[int, dict]:
    """Peak RSS of one warm of each row count, each in a fresh process so one cannot inflate the next."""
    rss = {}
    for rows in row_counts:
        proc = subprocess.run(
            [sys.executable, __file__, "--rss-child", str(rows)],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=True,
        )
        rss[rows] = json.loads(proc.stdout.strip().splitlines()[-1])
    return rss


def _print_summary(results: dict, settings) -> None:
    ttl_check, rss = results["ttl_check"], results["rss"]
    print(f"ratio per round {results['ratio_per_round']}, median {results['ratio_median']}")
    fresh_and_stale = f"fresh {settings.cache_ttl_seconds} s jittered down <= 10%"
    fresh_and_stale += f" + {settings.cache_stale_seconds} s stale"
    print(f"ttl check (product 1 after the last warm): PTTL {ttl_check['pttl_ms']:,} ms = {fresh_and_stale}")
    print(
        "rss: "
        + "; ".join(
            f"{rows:,} rows peak {r['peak_rss_kb']:,} kB ({r['rss_before_kb']:,} kB before the warm)"
            for rows, r in rss.items()
        )
        + f"; growth {results['rss_growth_mb_100k_to_1m']} MB"
    )
    times = results["import_time"]
    print(f"import functions.product_api: median {times['median_ms']} ms, min {times['min_ms']} ms")
    print(f"results in {OUT / 'warmer.json'}")


if __name__ == "__main__":
    sys.exit(main())
