"""The whole product handler on a Redis hit vs raw ``redis.get`` + ``json.loads``, side by side in one run.

As deployed: metrics on, the request line and its EMF document (``cachelib.logs``: a fast hit's line is
summarized, at most one per second per container), the access counts the warmer needs, stdout going to a
real file descriptor (``/dev/null``, as Lambda's stdout is a pipe to its log agent). The event is an API
Gateway proxy event for ``GET /products/{id}``; the response is built in full. Also measured, in the same
run: every request writing its line (``REQUEST_LOG_ALL=true``), and a hit whose entry changed since the
last one (the decoded-entry and response-body memos cleared before each call: the first hit after a
write). Target (issue 14): median handler hit <= 1.5x the raw read.

    .venv/bin/python bench/bench_handler_hit.py [--ops 12000]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys

import pymysql
import redis
from _support import interleaved, start_mariadb, start_redis
from handler_support import event
from servers import function_env

from cachelib import logs


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
            cache = product_api.store().cache

            def every_line():
                logs._INVOCATION.debug_sampled = True  # what REQUEST_LOG_ALL=true does, without a re-read
                try:
                    return handler(request, None)
                finally:
                    logs._INVOCATION.debug_sampled = False

            def changed_entry():
                cache.entries.forget()
                product_api._bodies.clear()
                return handler(request, None)

            medians, results = interleaved(
                {
                    "raw": lambda: loads(get(raw_key)),
                    "handler": lambda: handler(request, None),
                    "every_line": every_line,
                    "changed_entry": changed_entry,
                },
                ops,
                block,
            )
            for name in ("handler", "every_line", "changed_entry"):
                if results[name]["headers"]["X-Cache"] != "HIT":
                    raise AssertionError(f"{name}: expected hits")
        product_api.reset_state()
        return {**medians, "ops": ops}
    finally:
        redis_server.stop()
        mysql.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=12_000)
    args = parser.parse_args()
    r = run(args.ops)
    raw = r["raw"]
    print(f"handler on a hit, median of {r['ops']} each (interleaved blocks of 500, stdout to /dev/null):")
    print(f"  raw redis.get + json.loads                 : {raw:7.1f} us")
    for name, label in (
        ("handler", "handler as deployed"),
        ("every_line", "handler, every request's line written"),
        ("changed_entry", "handler, entry changed since the last hit"),
    ):
        print(f"  {label:43s}: {r[name]:7.1f} us  {r[name] / raw:.2f}x")
    ratio = r["handler"] / raw
    print(f"  as deployed: {ratio:.2f}x (target <= 1.5x) -> {'PASS' if ratio <= 1.5 else 'MISS'}")


if __name__ == "__main__":
    main()
