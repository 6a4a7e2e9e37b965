#!/usr/bin/env python3
"""Post-deploy smoke test of one environment: caches answer, writes invalidate, static files carry headers.

Standard library only, so a pipeline step runs it with the image's ``python3`` and nothing installed; where
botocore is importable, signed writes use its credential chain (profiles, SSO, roles: ``sigv4.find_signer``).

Checks, against a stage's outputs (the API URL and the CloudFront domain):

The product is ``--product-id`` (``SMOKE_PRODUCT_ID``) or, when none is given, the first product of
``GET /products?page=1&limit=1``, so an environment without sample data (prod) needs no fixed id. If that
catalogue is empty, the cache check reads the list page instead and the write check fails.

1. ``cache-hit``: ``GET /products/{id}`` twice; the second answer must come from a cache. The product API says
   ``X-Cache: HIT`` when Redis answered. API Gateway's stage cache replays a stored response with its
   original headers, so a replay is recognised by its ``X-Correlation-Id``: the API echoes the id each request
   sends, and a replayed answer carries the id of the request that filled the cache.
2. ``write`` (skipped with ``--read-only``): ``PUT`` the product with its ``stock`` changed (SigV4-signed:
   writes on the API require IAM), then ``GET`` it.
   Any answer the API computes after the PUT must show the new value (a stale one means the write left the
   old entry in Redis: fail at once). Replays from API Gateway's stage cache, which a write cannot invalidate,
   are tolerated for ``--settle-seconds`` (the stage cache TTL). The original value is written back.
3. ``static``: ``GET https://<distribution>/<static path>`` must answer 200 with a ``Cache-Control`` carrying
   ``max-age``.

Prints one summary line and exits 0 when every check passed, 1 when any failed, 2 on bad arguments.
Every option also reads an environment variable (``SMOKE_API_URL`` ...), which is how the CDK pipeline passes
the stage's CloudFormation outputs; ``--outputs-file`` reads them from ``cdk deploy --outputs-file`` instead
(the GitHub workflow's way).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sigv4 import CredentialsError, Signer, execute_api_region, find_signer

CORRELATION_HEADER = "X-Correlation-Id"
_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-)?max-age=(\d+)\s*(?:,|$)", re.IGNORECASE)
_WRITABLE_FIELDS = ("name", "category", "price", "stock", "description")
_STOCK_MAX = 2_147_483_647
# CfnOutput ids of the Api and Edge stacks; CloudFormation appends a hash when the output sits in a construct.
_OUTPUT_KEYS = {"api_url": "ApiUrl", "distribution": "DistributionDomainName"}


class CheckFailed(Exception):
    """One check's failure, with a message that says what was expected and what came back."""


@dataclass(frozen=True)
class Options:
    api_url: str
    distribution: str
    product_id: int | None
    static_path: str
    read_only: bool
    signing_region: str | None
    timeout: float
    settle_seconds: float
    poll_interval: float


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    sent_correlation_id: str

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def replayed(self) -> bool:
        """Served by a cache that stores whole responses (API Gateway's stage cache), not computed for us."""
        echoed = self.header(CORRELATION_HEADER)
        return echoed is not None and echoed != self.sent_correlation_id

    def json(self, what: str) -> dict:
        try:
            document = json.loads(self.body)
        except ValueError:
            raise CheckFailed(f"{what} answered a body that is not JSON: {self.body[:80]!r}") from None
        if not isinstance(document, dict):
            raise CheckFailed(f"{what} answered {type(document).__name__}, expected a JSON object")
        return document


class Client:
    def __init__(self, options: Options) -> None:
        self.options = options
        # Writes on the deployed API require IAM (SigV4); a local server takes them unsigned.
        self.signing_region = options.signing_region or execute_api_region(options.api_url)
        self._signer: Signer | None = None

    def _signature(self, method: str, url: str, data: bytes, region: str) -> dict[str, str]:
        if self._signer is None:
            try:
                self._signer = find_signer(self.options.timeout)
            except (CredentialsError, OSError, ValueError, KeyError) as error:
                raise CheckFailed(f"could not read AWS credentials for a signed {method}: {error}") from None
            if self._signer is None:
                raise CheckFailed(
                    f"{method} needs IAM credentials (with botocore installed: AWS_PROFILE, SSO, a role ...; "
                    "without it: AWS_ACCESS_KEY_ID or a CodeBuild role); none found"
                )
        return self._signer.headers(method, url, data, region=region)

    def request(self, method: str, url: str, body: dict | None = None) -> Reply:
        correlation_id = f"smoke-{uuid.uuid4()}"
        headers = {CORRELATION_HEADER: correlation_id, "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.signing_region and method != "GET":
            headers.update(self._signature(method, url, data or b"", self.signing_region))
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.options.timeout) as response:
                return Reply(
                    response.status, _lower(response.headers.items()), response.read(), correlation_id
                )
        except urllib.error.HTTPError as error:
            return Reply(error.code, _lower(error.headers.items()), error.read(), correlation_id)
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise CheckFailed(
                f"{method} {url} failed: {reason} (timeout {self.options.timeout:g}s)"
            ) from None

    @property
    def first_page_url(self) -> str:
        return f"{self.options.api_url.rstrip('/')}/products?page=1&limit=1"

    @functools.cached_property
    def product_id(self) -> int | None:
        """The configured product, else the catalogue's first one; None when the catalogue is empty."""
        if self.options.product_id is not None:
            return self.options.product_id
        reply = self.request("GET", self.first_page_url)
        if reply.status != 200:
            raise CheckFailed(f"GET {self.first_page_url} answered {reply.status}: {reply.body[:120]!r}")
        items = reply.json("the first catalogue page").get("items")
        if not isinstance(items, list):
            raise CheckFailed("the first catalogue page has no items list")
        if not items:
            return None
        product_id = items[0].get("id") if isinstance(items[0], dict) else None
        if not isinstance(product_id, int):
            raise CheckFailed(f"the first catalogue page lists a product without an integer id: {items[0]!r}")
        return product_id

    def product_url(self) -> str:
        if self.product_id is None:
            raise CheckFailed("the catalogue is empty: no product to read or write (set SMOKE_PRODUCT_ID)")
        return f"{self.options.api_url.rstrip('/')}/products/{self.product_id}"

    def get_product(self, what: str) -> Reply:
        reply = self.request("GET", self.product_url())
        if reply.status != 200:
            raise CheckFailed(
                f"{what}: GET {self.product_url()} answered {reply.status}: {reply.body[:120]!r}"
            )
        return reply


def _lower(items) -> dict[str, str]:
    return {name.lower(): value for name, value in items}


def check_cache_hit(client: Client) -> str:
    if client.product_id is None:
        return _check_list_page_hit(client)
    client.get_product("first GET")
    second = client.get_product("second GET")
    if second.replayed:
        return "second GET served by the API Gateway stage cache"
    x_cache = second.header("X-Cache")
    if x_cache != "HIT":
        raise CheckFailed(
            f"second GET /products/{client.product_id} was not a cache hit (X-Cache: {x_cache})"
        )
    return "second GET was a Redis hit (X-Cache: HIT)"


def _check_list_page_hit(client: Client) -> str:
    """An empty catalogue still has a cached (empty) first page."""
    url = client.first_page_url
    second = client.request("GET", url)
    if second.status != 200:
        raise CheckFailed(f"GET {url} answered {second.status}: {second.body[:120]!r}")
    if second.replayed:
        return "catalogue empty; the list page was served by the API Gateway stage cache"
    if second.header("X-Cache") != "HIT":
        raise CheckFailed(f"second GET {url} was not a cache hit (X-Cache: {second.header('X-Cache')})")
    return "catalogue empty; the second list-page GET was a Redis hit (X-Cache: HIT)"


def check_write_invalidates(client: Client) -> str:
    original = client.get_product("GET before PUT").json("GET before PUT")
    missing = [name for name in _WRITABLE_FIELDS if name not in original]
    if missing:
        raise CheckFailed(f"GET before PUT: the product has no {', '.join(missing)}")
    stock = original["stock"]
    changed = {name: original[name] for name in _WRITABLE_FIELDS}
    changed["stock"] = stock + 1 if stock < _STOCK_MAX else stock - 1
    _put(client, changed, "PUT")
    try:
        return _await_new_value(client, changed["stock"], stock)
    finally:
        _put(client, {name: original[name] for name in _WRITABLE_FIELDS}, "PUT restoring the original")


def _put(client: Client, body: dict, what: str) -> None:
    reply = client.request("PUT", client.product_url(), body)
    if reply.status != 200:
        raise CheckFailed(f"{what}: PUT {client.product_url()} answered {reply.status}: {reply.body[:120]!r}")


def _await_new_value(client: Client, new_stock: int, old_stock: int) -> str:
    started = time.monotonic()
    replays = 0
    while True:
        reply = client.get_product("GET after PUT")
        stock = reply.json("GET after PUT").get("stock")
        if stock == new_stock:
            waited = time.monotonic() - started
            return f"PUT visible on the next computed GET ({replays} stage-cache replays, {waited:.1f}s)"
        if not reply.replayed:
            raise CheckFailed(
                f"GET after PUT returned stale stock {stock} (expected {new_stock}, was {old_stock}; "
                f"X-Cache: {reply.header('X-Cache')}): the write did not invalidate the cache"
            )
        replays += 1
        if time.monotonic() - started >= client.options.settle_seconds:
            raise CheckFailed(
                f"API Gateway stage cache still replayed stock {stock} "
                f"{client.options.settle_seconds:g}s after PUT"
            )
        time.sleep(client.options.poll_interval)


def check_static(client: Client) -> str:
    distribution = client.options.distribution
    base = distribution if "://" in distribution else f"https://{distribution}"
    url = f"{base.rstrip('/')}/{client.options.static_path.lstrip('/')}"
    reply = client.request("GET", url)
    if reply.status != 200:
        raise CheckFailed(f"GET {url} answered {reply.status}")
    cache_control = reply.header("Cache-Control")
    if not cache_control or not _MAX_AGE.search(cache_control):
        raise CheckFailed(f"GET {url}: Cache-Control {cache_control!r} has no max-age")
    return f"{client.options.static_path} Cache-Control: {cache_control}"


def run(options: Options) -> tuple[bool, str]:
    """Run every check (a failed one does not stop the others); return success and the summary line."""
    client = Client(options)
    checks: list[tuple[str, Callable[[Client], str]]] = [("cache-hit", check_cache_hit)]
    if not options.read_only:
        checks.append(("write", check_write_invalidates))
    checks.append(("static", check_static))
    started = time.monotonic()
    results, failures = [], 0
    for name, check in checks:
        try:
            results.append(f"{name} ok: {check(client)}")
        except CheckFailed as failure:
            failures += 1
            results.append(f"{name} FAILED: {failure}")
    elapsed = time.monotonic() - started
    verdict = "PASSED" if failures == 0 else f"FAILED ({failures} of {len(checks)} checks)"
    return failures == 0, f"smoke test {verdict} in {elapsed:.1f}s: " + "; ".join(results)


def outputs_from_file(path: str) -> dict[str, str]:
    """``api_url`` and ``distribution`` from a ``cdk deploy --outputs-file`` JSON ({stack: {key: value}})."""
    with open(path, encoding="utf-8") as handle:
        stacks = json.load(handle)
    found: dict[str, list[str]] = {option: [] for option in _OUTPUT_KEYS}
    for outputs in stacks.values():
        for key, value in outputs.items():
            for option, output_id in _OUTPUT_KEYS.items():
                if re.fullmatch(rf"{output_id}([0-9A-F]{{8}})?", key):
                    found[option].append(value)
    problems = [
        f"{_OUTPUT_KEYS[option]} found {len(values)} times"
        for option, values in found.items()
        if len(values) != 1
    ]
    if problems:
        raise ValueError(f"{path}: " + ", ".join(problems) + " (expected once)")
    return {option: values[0] for option, values in found.items()}


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


def parse_options(argv: Sequence[str] | None = None) -> Options:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-url", default=env("SMOKE_API_URL"), help="API base URL (env SMOKE_API_URL)")
    parser.add_argument(
        "--distribution",
        default=env("SMOKE_DISTRIBUTION_DOMAIN"),
        help="CloudFront domain, or a base URL (env SMOKE_DISTRIBUTION_DOMAIN)",
    )
    parser.add_argument(
        "--outputs-file", help="read the API URL and distribution from `cdk deploy --outputs-file`"
    )
    parser.add_argument(
        "--product-id",
        type=int,
        # A string default goes through `type` too, so a bad SMOKE_PRODUCT_ID is a usage error (exit 2).
        default=env("SMOKE_PRODUCT_ID") or None,
        help="product to read and write (env SMOKE_PRODUCT_ID; default: the first product of the catalogue)",
    )
    parser.add_argument("--static-path", default=env("SMOKE_STATIC_PATH", "/index.html"))
    parser.add_argument(
        "--read-only", action="store_true", default=_env_flag("SMOKE_READ_ONLY"), help="skip the write check"
    )
    parser.add_argument(
        "--signing-region",
        default=env("SMOKE_SIGNING_REGION"),
        help="sign writes with SigV4 for this region (default: the execute-api URL's region; none locally)",
    )
    parser.add_argument("--timeout", type=float, default=float(env("SMOKE_TIMEOUT_SECONDS", "10")))
    parser.add_argument(
        "--settle-seconds",
        type=float,
        default=float(env("SMOKE_SETTLE_SECONDS", "90")),
        help="how long API Gateway's stage cache may replay the old value after a PUT (its TTL)",
    )
    parser.add_argument("--poll-interval", type=float, default=float(env("SMOKE_POLL_SECONDS", "2")))
    args = parser.parse_args(argv)
    if args.outputs_file:
        try:
            outputs = outputs_from_file(args.outputs_file)
        except (OSError, ValueError) as error:
            parser.error(str(error))
        args.api_url, args.distribution = outputs["api_url"], outputs["distribution"]
    if not args.api_url or not args.distribution:
        parser.error(
            "--api-url and --distribution (or SMOKE_API_URL and SMOKE_DISTRIBUTION_DOMAIN) are required"
        )
    if args.timeout <= 0 or args.settle_seconds < 0 or args.poll_interval <= 0:
        parser.error("--timeout and --poll-interval must be positive, --settle-seconds not negative")
    return Options(
        api_url=args.api_url,
        distribution=args.distribution,
        product_id=args.product_id,
        static_path=args.static_path,
        read_only=args.read_only,
        signing_region=args.signing_region,
        timeout=args.timeout,
        settle_seconds=args.settle_seconds,
        poll_interval=args.poll_interval,
    )


def main(argv: Sequence[str] | None = None) -> int:
    passed, summary = run(parse_options(argv))
    print(summary)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
