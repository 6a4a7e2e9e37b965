"""Serve the product API (and the DAX demo route) on localhost, exactly as API Gateway would call it.

Each HTTP request becomes an API Gateway REST proxy event and goes to the same handler function the
Lambda runs. By default it starts its own throwaway redis-server (with the ``maxmemory-policy`` of
``config.load_environment("dev")``, the value the ElastiCache parameter group gets) and mariadbd, and loads
the schema and sample products through the schema step's own ``on_event``. ``--external`` uses the
``REDIS_*``/``DB_*`` variables already in the environment instead.

    .venv/bin/python scripts/local_server.py --port 8080 --seed 1000
    curl -i localhost:8080/products/1
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
# tests/runtime holds the throwaway-server launcher (servers.py) shared with the test suite.
for _path in (str(ROOT), str(ROOT / "lambda"), str(ROOT / "tests" / "runtime")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from caching_contract import http  # noqa: E402 - after the asset folder is on the path

MAX_REQUEST_BYTES = 1024 * 1024  # API Gateway accepts up to 10 MB; the handlers reject far less
LOCAL_REDIS_MAXMEMORY = "128mb"

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


# --- HTTP <-> API Gateway proxy event ------------------------------------------------------------------


def make_event(method: str, target: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """The REST API (v1) proxy event API Gateway sends for this request."""
    parts = urlsplit(target)
    path = unquote(parts.path) or "/"
    multi = parse_qs(parts.query, keep_blank_values=True) if parts.query else {}
    segments = path.split("/")
    resource, path_parameters = path, None
    if len(segments) == 3 and segments[1] == "products" and segments[2]:
        resource, path_parameters = http.ITEM_ROUTE, {"id": segments[2]}
    elif len(segments) == 4 and segments[1:3] == ["dax", "items"] and segments[3]:
        resource, path_parameters = http.DAX_ITEM_ROUTE, {"id": segments[3]}
    try:
        text, is_base64 = (body.decode("utf-8"), False) if body else (None, False)
    except UnicodeDecodeError:
        text, is_base64 = base64.b64encode(body).decode("ascii"), True
    request_id = str(uuid.uuid4())
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": dict(headers),
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in multi.items()} or None,
        "multiValueQueryStringParameters": multi or None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "requestId": request_id,
            "stage": "local",
            "httpMethod": method,
            "path": f"/local{path}",
            "resourcePath": resource,
        },
        "body": text,
        "isBase64Encoded": is_base64,
    }


def default_router() -> Callable[[str], Handler]:
    from functions import dax_demo, product_api

    def route(path: str) -> Handler:
        return dax_demo.lambda_handler if path.startswith("/dax/") else product_api.lambda_handler

    return route


class _ProxyHandler(BaseHTTPRequestHandler):
    router: Callable[[str], Handler]
    # HTTP/1.0 (the stdlib default): one request per connection, so a client holding a connection open can
    # never starve this single-threaded server, which runs requests one at a time like one Lambda container.

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BYTES:
            self._reply(413, {"Content-Type": "application/json"}, b'{"error":"body_too_large"}')
            return
        body = self.rfile.read(length) if length else b""
        event = make_event(self.command, self.path, {k: v for k, v in self.headers.items()}, body)
        result = self.router(event["path"])(event, None)
        payload = result.get("body") or ""
        raw = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode("utf-8")
        self._reply(result["statusCode"], result.get("headers") or {}, raw)

    def _reply(self, status: int, headers: dict[str, str], raw: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the handler already writes one JSON line per request


def make_http_server(host: str, port: int, router: Callable[[str], Handler] | None = None) -> HTTPServer:
    """One request at a time, like one Lambda container; ``port=0`` picks a free port."""
    handler_class = type(
        "ProxyHandler", (_ProxyHandler,), {"router": staticmethod(router or default_router())}
    )
    return HTTPServer((host, port), handler_class)


# --- local Redis + MariaDB with schema and sample data ------------------------------------------------


@contextlib.contextmanager
def local_stack(
    seed: int, workdir: Path | None = None, redis_maxmemory: str = LOCAL_REDIS_MAXMEMORY
) -> Iterator[dict]:
    """Start redis-server and mariadbd, export the handler environment, create schema + ``seed`` products."""
    from servers import function_env, start_mariadb, start_redis

    base = workdir or Path(tempfile.mkdtemp(prefix="caching-local-"))
    redis_server = mariadb = None
    saved_environ = dict(os.environ)
    try:
        redis_server = start_redis(base / "redis", maxmemory=redis_maxmemory)  # policy from config (dev)
        mariadb = start_mariadb(base / "mariadb", database="catalog")
        env = function_env(
            redis_server,
            mariadb,
            SEED_PRODUCT_COUNT=str(seed),
            POWERTOOLS_SERVICE_NAME="product-api-local",
            POWERTOOLS_METRICS_DISABLED="true",
        )
        os.environ.update(env)
        yield {
            "env": env,
            "redis": redis_server,
            "mariadb": mariadb,
            "seeded": load_schema(seed),
            "maxmemory_policy": redis_server.maxmemory_policy,
        }
    finally:
        for server in (redis_server, mariadb):
            if server is not None:
                server.stop()
        os.environ.clear()
        os.environ.update(saved_environ)
        if workdir is None:
            shutil.rmtree(base, ignore_errors=True)


def load_schema(seed: int) -> int:
    """Create the schema and upsert ``seed`` products through the custom resource's own handler."""
    from functions import schema_seed

    created = schema_seed.on_event(
        {"RequestType": "Create", "ResourceProperties": {"SeedProductCount": seed}}
    )
    schema_seed.reset_state()
    return created["Data"]["SeededProducts"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--seed", type=int, default=1000, help="sample products to load (default 1000)")
    parser.add_argument(
        "--external",
        action="store_true",
        help="use REDIS_*/DB_* from the environment (schema step still runs)",
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))

    stack: contextlib.AbstractContextManager[dict]
    if args.external:
        stack = contextlib.nullcontext(
            {"seeded": load_schema(args.seed), "maxmemory_policy": "as configured"}
        )
    else:
        stack = local_stack(args.seed)
    with stack as info:
        server = make_http_server(args.host, args.port)
        host, port = args.host, server.server_port
        print(
            json.dumps(
                {
                    "message": "product API listening",
                    "url": f"http://{host}:{port}/products/1",
                    "seeded": info["seeded"],
                    "maxmemoryPolicy": info["maxmemory_policy"],
                }
            ),
            flush=True,
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
    return 0


def serve_in_thread(server: HTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="local-api", daemon=True)
    thread.start()
    return thread


if __name__ == "__main__":
    sys.exit(main())
