"""Hit path: ``Cache.get_or_load`` on a hit vs raw ``redis.get`` + ``json.loads`` on the same connection,
and the same on memcached (``CACHE_ENGINE=memcached``) vs the same pymemcache client's ``get`` +
``json.loads``.

Target: median cost of a hit <= 1.25x the raw read (20k ops each, interleaved in blocks so drift in
machine load affects both sides equally).

    .venv/bin/python bench/bench_hit_path.py [--ops 20000] [--engine redis|memcached|both]
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from decimal import Decimal

import redis
from _support import interleaved, settings_for, start_memcached, start_redis

from cachelib import Cache, CacheStatus, Settings
from cachelib.connections import create_memcached_client

PRODUCT = {
    "id": 4711,
    "name": "Portable Kettle 4711",
    "category": "home",
    "price": Decimal("39.90"),
    "stock": 120,
    "description": "Sample home product number 4711.",
    "updated_at": datetime(2026, 11, 24, 12, 0, 0, 123456, tzinfo=UTC),
}
RAW_PRODUCT = {**PRODUCT, "price": "39.90", "updated_at": PRODUCT["updated_at"].isoformat()}


def run(ops: int, block: int = 1000) -> dict[str, float]:
    server = start_redis()
    try:
        client = redis.Redis(host=server.host, port=server.port)
        cache = Cache(client, settings_for(server))
        raw_key = "raw:product:4711"
        client.set(raw_key, json.dumps(RAW_PRODUCT))
        return measure(cache, client.get, raw_key, ops, block)
    finally:
        server.stop()


def run_memcached(ops: int, block: int = 1000) -> dict[str, float]:
    server = start_memcached()
    try:
        settings = Settings.from_env(
            {"CACHE_ENGINE": "memcached", "CACHE_NODES": server.node, "CACHE_KEY_PREFIX": "bench"}
        )
        client = create_memcached_client(settings)  # what Cache.from_settings builds: the ring, pooled
        cache = Cache(client, settings)
        raw_key = "raw:product:4711"
        client.set(raw_key, json.dumps(RAW_PRODUCT).encode())
        return measure(cache, client.get, raw_key, ops, block)
    finally:
        server.stop()


def measure(cache: Cache, get, raw_key: str, ops: int, block: int) -> dict[str, float]:
    """Median µs of ``get(raw_key)`` + ``json.loads`` and of a ``Cache.get_or_load`` hit, side by side."""
    try:
        key = cache.keys.key("product", 4711)

        def loader(_endpoint):
            return PRODUCT

        assert cache.get_or_load(key, loader, ttl=3600).status is CacheStatus.MISS
        assert cache.get_or_load(key, loader, ttl=3600).value == PRODUCT
        loads = json.loads
        for _ in range(200):  # warm-up: connection, caches, branch predictors
            loads(get(raw_key))
            cache.get_or_load(key, loader, 3600)

        def changed_entry():
            cache.entries.forget()  # the first hit after the entry's bytes changed: decoded again
            return cache.get_or_load(key, loader, 3600)

        medians, results = interleaved(
            {
                "raw": lambda: loads(get(raw_key)),
                "ours": lambda: cache.get_or_load(key, loader, 3600),
                "changed": changed_entry,
            },
            ops,
            block,
        )
        for result in (results["ours"], results["changed"]):
            if result.status is not CacheStatus.HIT:
                raise AssertionError(f"expected hits, got {result.status}")
        cache.metrics.drain()
        return {
            "raw_us": medians["raw"],
            "ours_us": medians["ours"],
            "changed_us": medians["changed"],
            "ops": ops,
        }
    finally:
        cache.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=20_000)
    parser.add_argument("--engine", choices=("redis", "memcached", "both"), default="both")
    args = parser.parse_args()
    runs = {"redis": (run, "redis.get"), "memcached": (run_memcached, "pymemcache get")}
    for engine in ("redis", "memcached") if args.engine == "both" else (args.engine,):
        measure_engine, raw_name = runs[engine]
        r = measure_engine(args.ops)
        ratio = r["ours_us"] / r["raw_us"]
        verdict = "PASS" if ratio <= 1.25 else "MISS"
        print(f"{engine} hit path, median of {r['ops']} ops each (same client, interleaved blocks of 1000):")
        print(f"  raw {raw_name} + json.loads : {r['raw_us']:.1f} us")
        print(f"  Cache.get_or_load (HIT){' ' * (len(raw_name) - 7)} : {r['ours_us']:.1f} us")
        print(f"  first hit after a change{' ' * (len(raw_name) - 8)} : {r['changed_us']:.1f} us")
        print(
            f"  ratio {ratio:.3f}x, {r['changed_us'] / r['raw_us']:.3f}x after a change"
            f" (target <= 1.25x) -> {verdict}"
        )


if __name__ == "__main__":
    main()
