"""The source document's "performance comparison", done properly, through the real handler.

    .venv/bin/python scripts/demo.py                      # writes bench/out/demo-latency.png
    .venv/bin/python scripts/demo.py --requests 50000 --chart /tmp/demo.png
    .venv/bin/python scripts/demo.py --db-latency-ms 2    # every database query 2 ms slower (simulated)
    .venv/bin/python scripts/demo.py --url https://<api-id>.execute-api.<region>.amazonaws.com/api

Locally, starts throwaway Redis (eviction policy from config) and MariaDB with the schema and sample products
(``scripts/local_server.local_stack``), then sends a Zipf(s=1.0) workload of ``GET /products/{id}`` as API
Gateway proxy events to ``functions.product_api.lambda_handler``:

1. **cold**: an empty cache fills as requests arrive;
2. **warmer**: the cache is emptied (a deploy, a failover), then ``functions.cache_warmer`` loads the hot set
   the handler counted in phase 1;
3. **warm**: the same workload again, starting from the warmed cache.

The headline is the database queries each phase caused (the handler's ``ProductStore.db_queries``: one per
loader call) against one per request without a cache, and how the cold phase's hit ratio climbs, window by
window from the first request. Latency comes second, with the reason a hit looks no faster than a bare
query on loopback; ``--db-latency-ms`` adds a fixed delay to each query to show a distant, loaded database.

``--url`` sends the same workload to a deployed API instead (``scripts/demo_http.py``: two passes, the
outcome read from ``X-Cache``, latency measured at the client); no AWS credentials are needed for GETs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from demo_stats import MISS, Phase, headline_lines, p50_p99, percentile, phase_lines, window_size  # noqa: E402
from local_server import local_stack, make_event  # noqa: E402 - path set up above

DEFAULT_CHART = ROOT / "bench" / "out" / "demo-latency.png"
LOCAL_REQUESTS = 20_000
URL_REQUESTS = 2_000  # a deployed dev stage throttles at 50 requests/s and its web ACL rate-limits an IP


def zipf_ids(products: int, requests: int, s: float, seed: int) -> list[int]:
    """Product ids drawn from Zipf(s) over ranks 1..products; hot ranks map to scattered ids."""
    import numpy as np

    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, products + 1) ** s
    ranks = rng.choice(products, size=requests, p=weights / weights.sum())
    id_of_rank = rng.permutation(products) + 1
    return [int(i) for i in id_of_rank[ranks]]


def run_workload(name: str, ids: list[int]) -> Phase:
    """Each request's X-Cache outcome, handler latency and the loader calls it made."""
    from functions import product_api

    store = product_api.store()
    phase = Phase(name)
    # The handler writes a JSON line for every miss: the report would drown in them.
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        for product_id in ids:
            event = make_event("GET", f"/products/{product_id}", {}, b"")
            queries_before = store.db_queries
            started = time.perf_counter()
            result = product_api.lambda_handler(event, None)
            elapsed = (time.perf_counter() - started) * 1000
            if result["statusCode"] != 200:
                raise SystemExit(
                    f"unexpected {result['statusCode']} for product {product_id}: {result['body']}"
                )
            phase.add(result["headers"]["X-Cache"], elapsed, store.db_queries - queries_before)
    return phase


def add_query_latency(database: Any, milliseconds: float) -> None:
    """Make every query through ``database.cursor`` ``milliseconds`` slower: a stand-in for the network
    round trip and queueing of a remote, loaded database. Simulated, and labelled so wherever it shows."""
    cursor: Callable[..., Any] = database.cursor

    @contextlib.contextmanager
    def slowed(*args: Any, **kwargs: Any) -> Iterator[Any]:
        time.sleep(milliseconds / 1000)
        with cursor(*args, **kwargs) as opened:
            yield opened

    setattr(database, "cursor", slowed)  # noqa: B010 - mypy forbids assigning to a method by name


def bare_database_latency(ids: list[int], extra_ms: float) -> list[float]:
    """The query a miss runs, without the handler or the cache: what every request costs with no cache."""
    from functions import product_api
    from functions.catalog_schema import SELECT_COLUMNS

    connection = product_api.store().db.connection()
    latencies = []
    with connection.cursor() as cursor:
        for product_id in ids:
            started = time.perf_counter()
            if extra_ms:
                time.sleep(extra_ms / 1000)
            cursor.execute(f"SELECT {SELECT_COLUMNS} FROM products WHERE id = %s", (product_id,))
            cursor.fetchone()
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies


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


def why_note(hit: list[float], bare: list[float], db_latency_ms: float) -> str:
    """Why a hit does or does not beat the bare query in this run: the chart's footnote and the report's."""
    hit_p50, bare_p50 = percentile(hit, 50), percentile(bare, 50)
    if db_latency_ms:
        return (
            f"SIMULATED: {db_latency_ms:g} ms added to every database query (--db-latency-ms) stands in "
            "for the network round trip to RDS and the queueing of a loaded database. A hit "
            f"({hit_p50:.2f} ms p50) never pays it; a bare query ({bare_p50:.2f} ms) and every miss do. "
            "Measure the real figure with --url against a deployed stage."
        )
    return (
        f"On loopback a primary-key query on an idle MariaDB ({bare_p50:.2f} ms p50) costs about one "
        f"Redis round trip, so a hit through the whole handler ({hit_p50:.2f} ms) is no faster: here "
        "the cache's win is the database queries avoided. In AWS each query crosses the network to RDS "
        "and waits behind the database's other work while a hit stays one round trip to ElastiCache; "
        "--db-latency-ms N simulates that, --url measures a deployed stage."
    )


def run_local(args: argparse.Namespace, requests: int) -> int:
    with local_stack(args.products) as info:
        from functions import cache_warmer, product_api

        simulated = f"; SIMULATED +{args.db_latency_ms:g} ms per database query" if args.db_latency_ms else ""
        print(
            f"local stack: {info['seeded']} products in MariaDB, "
            f"Redis maxmemory-policy {info['maxmemory_policy']}; "
            f"Zipf(s={args.zipf_s}) over {args.products} products, {requests} requests per phase{simulated}"
        )
        ids = zipf_ids(args.products, requests, args.zipf_s, args.seed)
        if args.db_latency_ms:
            add_query_latency(product_api.store().db, args.db_latency_ms)
        window = window_size(requests, args.window)

        cold = run_workload("cold", ids)
        print("\n".join(phase_lines(cold, window)))
        empty_cache_keeping_hot_set()
        warmed = cache_warmer.lambda_handler({"topN": args.warm_top})
        print(
            f"warmer: cache emptied (as after a failover), then {warmed['warmed']} hottest products "
            f"loaded in {warmed['durationMs']:.0f} ms = {warmed['rowsPerSecond']:,.0f} rows/s"
        )
        warm = run_workload("warm", ids)
        print("\n".join(phase_lines(warm, window)))

        notes = {"warm": f", after the warmer read {warmed['warmed']} rows in bulk"}
        print("\n".join(headline_lines([cold, warm], notes)))
        print("  the source document claims 60-80% less database load")

        hits = cold.latencies("HIT", "STALE") + warm.latencies("HIT", "STALE")
        misses = cold.latencies(MISS) + warm.latencies(MISS)
        bare = bare_database_latency(ids[:2000], args.db_latency_ms)
        print(
            f"latency through the handler, p50 / p99 ms{simulated}: hit {p50_p99(hits)}, "
            f"miss {p50_p99(misses)}; bare SQL point query (no handler, no cache) {p50_p99(bare)}"
        )
        note = why_note(hits, bare, args.db_latency_ms)
        print(f"  {note}")
        if args.chart:
            from demo_chart import chart

            chart(
                args.chart,
                [cold, warm],
                [
                    ("cache hit (Redis)", hits),
                    ("cache miss (Redis + MySQL)", misses),
                    ("bare SQL query", bare),
                ],
                title=f"Product API, Zipf(s={args.zipf_s}) over {args.products} products{simulated}: "
                f"{1 - cold.queries_per_request:.0%} of database queries avoided cold, "
                f"{1 - warm.queries_per_request:.0%} after the warmer",
                note=note,
                latency_label="handler latency",
            )
            print(f"chart written to {args.chart}")
    return 0


def run_remote(args: argparse.Namespace, requests: int) -> int:
    from demo_http import run_http_workload

    base = args.url.rstrip("/")
    rate = f", at most {args.rate:g} requests/s" if args.rate else ""
    print(
        f"target: {base}; Zipf(s={args.zipf_s}) over product ids 1..{args.products}, {requests} requests per "
        f"pass, {args.concurrency} connection(s){rate}; latency measured at this client"
    )
    ids = zipf_ids(args.products, requests, args.zipf_s, args.seed)
    window = window_size(requests, args.window)
    phases = []
    for name in ("pass 1", "pass 2"):
        phase = run_http_workload(name, base, ids, concurrency=args.concurrency, rate=args.rate)
        phases.append(phase)
        print("\n".join(phase_lines(phase, window)))
        print("  answers: " + ", ".join(f"{outcome} {count}" for outcome, count in phase.counts().items()))
    print("\n".join(headline_lines(phases)))
    print("  (a MISS is one database query; pass 1 starts from whatever the deployed caches already held)")
    outcomes = list(dict.fromkeys(outcome for phase in phases for outcome in phase.outcomes))
    groups = [(outcome, [ms for phase in phases for ms in phase.latencies(outcome)]) for outcome in outcomes]
    print("latency at the client, p50 / p99 ms: " + ", ".join(f"{o} {p50_p99(v)}" for o, v in groups))
    if args.chart:
        from demo_chart import chart

        chart(
            args.chart,
            phases,
            groups,
            title=f"Deployed product API {base}, Zipf(s={args.zipf_s}) over {args.products} ids",
            note="Outcomes from X-Cache and the echoed X-Correlation-Id (REPLAY: a whole-response cache "
            "answered); a MISS counts as one database query. Latency includes the network between this "
            "client and the API.",
            latency_label="client latency",
        )
        print(f"chart written to {args.chart}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--products", type=int, default=10_000, help="product ids 1..N the workload draws from"
    )
    parser.add_argument(
        "--requests",
        type=int,
        help=f"requests per phase (default {LOCAL_REQUESTS}, {URL_REQUESTS} with --url)",
    )
    parser.add_argument("--zipf-s", type=float, default=1.0)
    parser.add_argument("--warm-top", type=int, default=2_000, help="products the warmer loads (WARM_TOP_N)")
    parser.add_argument("--window", type=int, help="requests per window of the report (default: a tenth)")
    parser.add_argument("--chart", type=Path, default=DEFAULT_CHART, help="PNG to write")
    parser.add_argument("--no-chart", dest="chart", action="store_const", const=None)
    parser.add_argument("--seed", type=int, default=7, help="random seed of the workload")
    parser.add_argument(
        "--db-latency-ms",
        type=float,
        default=0.0,
        help="SIMULATED extra delay per database query, as for a remote, loaded database (local runs only)",
    )
    remote = parser.add_argument_group("a deployed API")
    remote.add_argument(
        "--url", help="the API's base URL (the ApiUrl output, e.g. https://.../api): GETs only"
    )
    remote.add_argument("--concurrency", type=int, default=1, help="connections in parallel (with --url)")
    remote.add_argument(
        "--rate", type=float, help="at most this many requests per second in all (with --url)"
    )
    args = parser.parse_args(argv)
    if args.url and args.db_latency_ms:
        parser.error("--db-latency-ms simulates a local database; it has no meaning with --url")
    if args.concurrency < 1:
        parser.error(f"--concurrency must be at least 1, got {args.concurrency}")
    requests = args.requests or (URL_REQUESTS if args.url else LOCAL_REQUESTS)
    return run_remote(args, requests) if args.url else run_local(args, requests)


if __name__ == "__main__":
    sys.exit(main())
