"""Cold start from the built asset: import time and the first request, side by side in one run.

Builds the core asset exactly as ``cdk synth`` does (``LocalPythonBundler``, Lambda's platform and Python)
and runs each case in a fresh ``python3.12`` process with only the asset (and, for the request, the Lambda
runtime's boto3, which the first request never needs) on the path, bytecode writing off (Lambda's code
directory is read-only):

* **venv-like**: the same asset with every module compiled, as a virtualenv has it (the baseline);
* **as deployed**: the asset as shipped (bytecode for the cold path: ours next to its source, the libraries'
  sourceless);
* **no bytecode**: the asset as it was before (every import compiles).

Targets (issue 14): the deployed import <= 1.2x the venv-like import, and the first request after a cold
start <= 20x a warm hit.

    .venv/bin/python bench/bench_cold_start.py [--runs 15]
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
from pathlib import Path

import pymysql
from _support import ROOT, start_mariadb, start_redis

sys.path.insert(0, str(ROOT / "constructs"))
from servers import function_env

from lambda_bundling.bundling import LocalPythonBundler
from lambda_bundling.bytecode import find_interpreter
from stacks.lambda_assets import core_bundle

_IMPORT = """
import sys, time
sys.path[:0] = [sys.argv[1]]
t = time.perf_counter()
import functions.product_api
print((time.perf_counter() - t) * 1000)
"""

_REQUESTS = """
import json, sys, time
sys.path[:0] = [sys.argv[1]]
t = time.perf_counter()
from functions import product_api
imported = time.perf_counter()
event = json.loads(sys.argv[2])
first_start = time.perf_counter()
status = product_api.lambda_handler(event, None)["statusCode"]
first = time.perf_counter() - first_start
warm = []
for _ in range(200):
    s = time.perf_counter()
    product_api.lambda_handler(event, None)
    warm.append(time.perf_counter() - s)
warm.sort()
if status != 200:
    raise SystemExit(f"first request answered {status}")
print(json.dumps({"import_ms": (imported - t) * 1000, "first_ms": first * 1000, "warm_ms": warm[100] * 1000}))
"""


def run(
    interpreter: str, asset: Path, script: str, *args: str, optimize: int = 0, env: dict | None = None
) -> str:
    command = [interpreter, "-I", "-B", *(["-OO"] if optimize == 2 else []), "-c", script, str(asset), *args]
    result = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    return result.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    interpreter = find_interpreter("3.12")
    if interpreter is None:
        raise SystemExit("bench_cold_start needs python3.12 (Lambda's runtime version) on this host")
    work = Path(tempfile.mkdtemp(prefix="cold-start-"))
    deployed, bare = work / "deployed", work / "bare"
    LocalPythonBundler(core_bundle("arm64", "3.12")).bundle(deployed)  # pure Python: runs on this host
    without_bytecode = LocalPythonBundler(core_bundle("arm64", "3.12"))
    without_bytecode._compile_cold_path = lambda output_dir: None  # type: ignore[method-assign]
    without_bytecode.bundle(bare)
    venv_like = work / "venv-like"
    shutil.copytree(bare, venv_like)
    subprocess.run([interpreter, "-m", "compileall", "-q", str(venv_like)], check=True)
    cases = {"venv-like": venv_like, "as deployed": deployed, "no bytecode": bare}
    imports: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.runs):  # interleaved: drift hits every case alike
        for name, asset in cases.items():
            imports[name].append(float(run(interpreter, asset, _IMPORT)))
    med = {name: statistics.median(values) for name, values in imports.items()}
    print(f"import functions.product_api from the asset, median of {args.runs} fresh python3.12 runs:")
    for name, value in med.items():
        print(f"  {name:12s}: {value:6.1f} ms = {value / med['venv-like']:.2f}x venv-like")

    redis_server, mysql = start_redis(), start_mariadb()
    try:
        from handler_support import event

        from functions import catalog_schema

        conn = pymysql.connect(**mysql.connect_kwargs(), autocommit=True)
        catalog_schema.apply_schema(conn)
        catalog_schema.seed_products(conn, 10)
        conn.close()
        env = {
            **os.environ,
            **function_env(redis_server, mysql),
            "POWERTOOLS_METRICS_DISABLED": "true",
            "CONNECT_ON_INIT": "true",  # as deployed: Redis and the database connect during init
        }
        request = json.dumps(event("GET", "/products/3"))
        print(
            "first request after a cold start vs a warm hit (fresh process each; the connections open"
            " during init, as deployed):"
        )
        for name, asset in cases.items():
            rows = []
            for _ in range(max(3, args.runs // 3)):
                rows.append(json.loads(run(interpreter, asset, _REQUESTS, request, env=env)))
            first = statistics.median(r["first_ms"] for r in rows)
            warm = statistics.median(r["warm_ms"] for r in rows)
            init = statistics.median(r["import_ms"] for r in rows)
            print(
                f"  {name:12s}: init (import + connect) {init:6.1f} ms, first {first:6.2f} ms,"
                f" warm hit {warm:5.3f} ms = {first / warm:5.1f}x"
            )
    finally:
        redis_server.stop()
        mysql.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
