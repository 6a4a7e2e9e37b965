"""The whole product handler on a Redis hit vs raw ``redis.get`` + ``json.loads``, side by side in one run.

As deployed: metrics on (one EMF line per invocation), one JSON request log line, the access counts the
warmer needs, stdout going to a real file descriptor (``/dev/null``, as Lambda's stdout is a pipe to its
log agent). The event is an API Gateway proxy event for ``GET /products/{id}``; the response is built in
full. Target (issue 14): median handler hit <= 1.5x the raw read.

    .venv/bin/python bench/bench_handler_hit.py [--ops 10000]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys

import pymysql
import redis
from _support import side_by_side, start_mariadb, start_redis
from handler_support import event
from servers import function_env


@contextlib.contextmanager
def stdout_to_devnull():
    """File descriptor 1 itself, so loggers that captured ``sys.stdout`` at import write there too."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(devnull)
        os.close(saved)


def run(ops: int, block: int = 500) -> dict[str, float]:
    redis_server, mysql = start_redis(), start_mariadb()
    try:
        os.environ.update(
            function_env(redis_server, mysql, POWERTOOLS_SERVICE_NAME="bench", APP_ENVIRONMENT="bench")
        )
        os.environ.pop("POWERTOOLS_METRICS_DISABLED", None)
        from functions import catalog_schema, product_api

        conn = pymysql.connect(**mysql.connect_kwargs(), autocommit=True)
        catalog_schema.apply_schema(conn)
        catalog_schema.seed_products(conn, 10)
        conn.close()
        request = event("GET", "/products/7")
        client = redis.Redis(host=redis_server.host, port=redis_server.port)
        raw_key = "raw:product:7"
        with stdout_to_devnull():
            first = product_api.lambda_handler(request, None)
            assert first["statusCode"] == 200
            client.set(raw_key, json.loads(first["body"]) and first["body"])
            for _ in range(200):
                assert product_api.lambda_handler(request, None)["headers"]["X-Cache"] == "HIT"
                json.loads(client.get(raw_key))
            get, loads, handler = client.get, json.loads, product_api.lambda_handler
            raw_us, ours_us, response = side_by_side(
                lambda: loads(get(raw_key)), lambda: handler(request, None), ops, block
            )
            if response["headers"]["X-Cache"] != "HIT":
                raise AssertionError("expected hits")
        product_api.reset_state()
        return {"raw_us": raw_us, "ours_us": ours_us, "ops": ops}
    finally:
        redis_server.stop()
        mysql.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=10_000)
    args = parser.parse_args()
    r = run(args.ops)
    ratio = r["ours_us"] / r["raw_us"]
    verdict = "PASS" if ratio <= 1.5 else "MISS"
    print(f"handler on a hit, median of {r['ops']} each (interleaved blocks of 500, stdout to /dev/null):")
    print(f"  raw redis.get + json.loads      : {r['raw_us']:.1f} us")
    print(f"  product_api.lambda_handler (HIT): {r['ours_us']:.1f} us")
    print(f"  ratio {ratio:.2f}x (target <= 1.5x) -> {verdict}")


if __name__ == "__main__":
    main()
