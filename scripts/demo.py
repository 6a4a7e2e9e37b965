"""The source document's "performance comparison", done properly, through the real handler.

    .venv/bin/python scripts/demo.py                      # writes bench/out/demo-latency.png
    .venv/bin/python scripts/demo.py --requests 50000 --chart /tmp/demo.png

Starts throwaway Redis (eviction policy from config) and MariaDB with the schema and sample products
(``scripts/local_server.local_stack``), then sends a Zipf(s=1.0) workload of ``GET /products/{id}`` as API
Gateway proxy events to ``functions.product_api.lambda_handler``:

1. **cold**: an empty cache fills as requests arrive;
2. **warmer**: the cache is emptied (a deploy, a failover), then ``functions.cache_warmer`` loads the hot set
   the handler counted in phase 1;
3. **warm**: the same workload again, starting from the warmed cache.

Prints the hit ratio, database queries avoided, p50/p99 latency of hits vs misses (and of the bare database
query the cache replaces), and the warmer's rows/s; writes a PNG of the latency distributions.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from local_server import local_stack, make_event  # noqa: E402 - path set up above

DEFAULT_CHART = ROOT / "bench" / "out" / "demo-latency.png"


def zipf_ids(products: int, requests: int, s: float, seed: int) -> list[int]:
    """Product ids drawn from Zipf(s) over ranks 1..products; hot ranks map to scattered ids."""
    import numpy as np

    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, products + 1) ** s
    ranks = rng.choice(products, size=requests, p=weights / weights.sum())
    id_of_rank = rng.permutation(products) + 1
    return [int(i) for i in id_of_rank[ranks]]


def run_workload(ids: list[int]) -> dict[str, list[float]]:
    """Latency (ms) per X-Cache outcome, plus the running hit flags in request order."""
    from functions import product_api

    samples: dict[str, list[float]] = {"HIT": [], "MISS": [], "STALE": [], "order": []}
    for product_id in ids:
        event = make_event("GET", f"/products/{product_id}", {}, b"")
        started = time.perf_counter()
        result = product_api.lambda_handler(event, None)
        elapsed = (time.perf_counter() - started) * 1000
        if result["statusCode"] != 200:
            raise SystemExit(f"unexpected {result['statusCode']} for product {product_id}: {result['body']}")
        outcome = result["headers"]["X-Cache"]
        samples[outcome].append(elapsed)
        samples["order"].append(1.0 if outcome != "MISS" else 0.0)
    return samples


def bare_database_latency(ids: list[int]) -> list[float]:
    """The query a miss runs, without the cache: what every request costs with no cache at all."""
    from functions import product_api
    from functions.catalog_schema import SELECT_COLUMNS

    connection = product_api.store().db.connection()
    latencies = []
    with connection.cursor() as cursor:
        for product_id in ids:
            started = time.perf_counter()
            cursor.execute(f"SELECT {SELECT_COLUMNS} FROM products WHERE id = %s", (product_id,))
            cursor.fetchone()
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def empty_cache_keeping_hot_set() -> None:
    """Drop every cached entry but keep the access counts, as after a failover to an empty node."""
    from functions import product_api
    from functions.product_store import hot_products_key

    store = product_api.store()
    store.flush_hot_counts(force=True)
    client = store.cache.client()
    key = hot_products_key(store.cache)
    ranking = client.zrange(key, 0, -1, withscores=True)
    client.flushdb()
    if ranking:
        client.zadd(key, dict(ranking))


def report(name: str, samples: dict[str, list[float]], db_queries: int) -> dict[str, float]:
    total = len(samples["order"])
    hits = len(samples["HIT"]) + len(samples["STALE"])
    stats = {
        "requests": total,
        "hit_ratio": hits / total,
        "db_queries": db_queries,
        "avoided": 1 - db_queries / total,
        "hit_p50": percentile(samples["HIT"], 50),
        "hit_p99": percentile(samples["HIT"], 99),
        "miss_p50": percentile(samples["MISS"], 50),
        "miss_p99": percentile(samples["MISS"], 99),
    }
    print(
        f"{name:>5}: {total} requests, hit ratio {stats['hit_ratio']:.1%}, "
        f"{db_queries} database queries ({stats['avoided']:.1%} avoided); "
        f"hit p50 {stats['hit_p50']:.3f} ms p99 {stats['hit_p99']:.3f} ms | "
        f"miss p50 {stats['miss_p50']:.3f} ms p99 {stats['miss_p99']:.3f} ms"
    )
    return stats


def chart(path: Path, cold: dict, warm: dict, bare_db: list[float], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    hits = cold["HIT"] + warm["HIT"]
    misses = cold["MISS"] + warm["MISS"]
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    low = max(min(hits + misses + bare_db), 1e-3)
    bins = np.logspace(np.log10(low), np.log10(max(hits + misses + bare_db)), 60)
    for label, values, colour in (
        ("cache hit (Redis)", hits, "tab:green"),
        ("cache miss (Redis + MySQL)", misses, "tab:red"),
        ("bare SQL query (no handler, no cache)", bare_db, "tab:grey"),
    ):
        if values:
            p50, p99 = percentile(values, 50), percentile(values, 99)
            left.hist(
                values,
                bins=bins,
                alpha=0.55,
                color=colour,
                label=f"{label}: p50 {p50:.2f} / p99 {p99:.2f} ms",
            )
    left.set_xscale("log")
    left.set_xlabel("handler latency (ms, log scale)")
    left.set_ylabel("requests")
    left.set_title("Latency distribution")
    left.legend(fontsize=8)

    window = 500
    for label, samples, colour in (
        ("cold start", cold, "tab:blue"),
        ("after the warmer", warm, "tab:orange"),
    ):
        flags = np.array(samples["order"])
        if len(flags) >= window:
            rolling = np.convolve(flags, np.ones(window) / window, mode="valid")
            right.plot(np.arange(window, len(flags) + 1), rolling, label=label, color=colour)
    right.set_ylim(0, 1)
    right.set_xlabel("request number")
    right.set_ylabel(f"hit ratio (rolling {window})")
    right.set_title("Hit ratio over the run")
    right.legend()
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--zipf-s", type=float, default=1.0)
    parser.add_argument("--warm-top", type=int, default=2_000, help="products the warmer loads (WARM_TOP_N)")
    parser.add_argument("--chart", type=Path, default=DEFAULT_CHART)
    parser.add_argument("--seed", type=int, default=7, help="random seed of the workload")
    args = parser.parse_args(argv)

    with local_stack(args.products) as info:
        from functions import cache_warmer, product_api

        logging.getLogger("request").setLevel(
            logging.WARNING
        )  # per-request JSON lines would drown the report

        print(
            f"local stack: {info['seeded']} products in MariaDB, "
            f"Redis maxmemory-policy {info['maxmemory_policy']}; "
            f"Zipf(s={args.zipf_s}) over {args.products} products, {args.requests} requests per phase"
        )
        ids = zipf_ids(args.products, args.requests, args.zipf_s, args.seed)
        store = product_api.store()

        cold = run_workload(ids)
        cold_stats = report("cold", cold, store.db_queries)

        empty_cache_keeping_hot_set()
        warm_result = cache_warmer.lambda_handler({"topN": args.warm_top})
        print(
            f"warmer: {warm_result['warmed']} hottest products in {warm_result['durationMs']:.0f} ms "
            f"= {warm_result['rowsPerSecond']:,.0f} rows/s"
        )

        queries_before = store.db_queries
        warm = run_workload(ids)
        warm_stats = report("warm", warm, store.db_queries - queries_before)

        bare_db = bare_database_latency(ids[:2000])
        print(
            f"bare SQL point query (no handler, no cache): p50 {percentile(bare_db, 50):.3f} ms, "
            f"p99 {percentile(bare_db, 99):.3f} ms "
            f"per query; the source document claims 60-80% less database load, "
            f"measured here {cold_stats['avoided']:.1%} (cold) and {warm_stats['avoided']:.1%} (warmed)"
        )
        chart(
            args.chart,
            cold,
            warm,
            bare_db,
            f"Product API, Zipf(s={args.zipf_s}) over {args.products} products: "
            f"{warm_stats['hit_ratio']:.1%} hits after warming",
        )
        print(f"chart written to {args.chart}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
