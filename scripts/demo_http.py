"""`make demo`'s workload against a deployed API (``--url``), measured at the client. Standard library only.

GETs on the product API need no credentials (only writes are signed), so nothing here reads any. Each worker
keeps one connection open (keep-alive) and times each request from sending it to reading the whole body;
opening a connection is left out of the timing, as a long-lived client pays it once.

How an answer is classified, in this order:

- ``REPLAY``: the echoed ``X-Correlation-Id`` is not the one sent, so a cache that stores whole responses
  (API Gateway's stage cache, CloudFront) answered with another request's response. No Lambda, no query.
- ``EDGE_HIT`` / ``EDGE_MISS``: the ``X-Cache`` header is CloudFront's (``Hit from cloudfront``). On a
  CloudFront miss the API's own ``X-Cache`` is not visible, so it counts as one query: an upper bound.
  Use the stack's ``ApiUrl`` output (API Gateway itself) to see Redis's answer on every request.
- ``HIT`` / ``STALE`` / ``MISS``: the product API's ``X-Cache``; a ``MISS`` is one database query.
- ``HTTP <status>``: anything but 200 or 404 (429: the stage's throttle; 403: the web ACL's rate rule).
"""

from __future__ import annotations

import http.client
import ssl
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from demo_stats import MISS, Phase

CORRELATION_HEADER = "X-Correlation-Id"
ANSWERED = (200, 404)  # 404 is the API's answer for an id it does not hold, cached like a product
_STALE_CONNECTION = (
    http.client.RemoteDisconnected,
    http.client.CannotSendRequest,
    ConnectionResetError,
    BrokenPipeError,
)


def classify(status: int, headers: dict[str, str], sent_id: str) -> tuple[str, int]:
    """``(outcome, database queries)`` of one answer; ``headers`` with lower-case names."""
    if status not in ANSWERED:
        return f"HTTP {status}", 0
    echoed = headers.get(CORRELATION_HEADER.lower())
    if echoed is not None and echoed != sent_id:
        return "REPLAY", 0
    x_cache = headers.get("x-cache", "")
    if "cloudfront" in x_cache.lower():
        hit = x_cache.lower().startswith(("hit", "refreshhit"))
        return ("EDGE_HIT", 0) if hit else ("EDGE_MISS", 1)
    if x_cache in ("HIT", "STALE"):
        return x_cache, 0
    if x_cache == MISS:
        return MISS, 1
    raise SystemExit(f"GET answered {status} without the product API's X-Cache header: is the URL the API's?")


class Client:
    """One keep-alive connection to the API's host; reopened when the server has closed it."""

    def __init__(self, base_url: str, timeout: float) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SystemExit(f"--url must be http(s)://host[:port][/stage], got {base_url!r}")
        self.prefix = parts.path.rstrip("/")
        self._scheme, self._host, self._port = parts.scheme, parts.hostname, parts.port
        self._timeout = timeout
        self._connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._scheme == "https":
            context = ssl.create_default_context()
            return http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout, context=context)
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)

    def get(self, path: str) -> tuple[str, float, int]:
        """``(outcome, latency ms, queries)`` of ``GET <prefix><path>``."""
        sent_id = f"demo-{uuid.uuid4().hex}"
        headers = {CORRELATION_HEADER: sent_id, "Accept": "application/json", "User-Agent": "caching-demo"}
        for attempt in (1, 2):
            connection = self._connection = self._connection or self._connect()
            try:
                if connection.sock is None:
                    connection.connect()
                started = time.perf_counter()
                connection.request("GET", self.prefix + path, headers=headers)
                response = connection.getresponse()
                response.read()
                elapsed = (time.perf_counter() - started) * 1000
            except _STALE_CONNECTION:
                # a keep-alive connection the server closed while idle: retry once on a new one
                connection.close()
                self._connection = None
                if attempt == 2:
                    raise
                continue
            answer = {name.lower(): value for name, value in response.getheaders()}
            outcome, queries = classify(response.status, answer, sent_id)
            return outcome, elapsed, queries
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()


def run_http_workload(
    name: str,
    base_url: str,
    ids: list[int],
    *,
    concurrency: int = 1,
    rate: float | None = None,
    timeout: float = 10.0,
) -> Phase:
    """GET /products/{id} for each id, in ``concurrency`` workers, at most ``rate`` requests per second
    in all (the deployed stage throttles; see the module docstring)."""
    results: list[tuple[str, float, int] | None] = [None] * len(ids)
    interval = concurrency / rate if rate else 0.0
    failures: list[BaseException] = []
    lock = threading.Lock()

    def worker(offset: int) -> None:
        client = Client(base_url, timeout)
        next_at = time.monotonic()
        try:
            for index in range(offset, len(ids), concurrency):
                if interval:
                    next_at += interval
                    time.sleep(max(0.0, next_at - time.monotonic()))
                results[index] = client.get(f"/products/{ids[index]}")
        except (OSError, http.client.HTTPException, SystemExit) as error:
            with lock:
                failures.append(error)
        finally:
            client.close()

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="demo-client") as pool:
        list(pool.map(worker, range(concurrency)))
    if failures:
        raise SystemExit(f"GET {base_url}/products/...: {failures[0]!r}")
    phase = Phase(name)
    for result in results:
        if result is not None:
            phase.add(*result)
    return phase
