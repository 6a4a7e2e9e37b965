"""A local stand-in for a deployed stage (API Gateway + CloudFront) and a runner for scripts/smoke_test.py.

Shared by ``test_smoke_test.py`` (cache, write and static checks, outputs) and ``test_smoke_signing.py``
(IAM-signed writes). The ``deployment`` fixture serving it lives in ``smoke_fixtures.py`` (a plugin).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotocoreCredentials

from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "smoke_test.py"
SIGNING_ENV = {
    "SMOKE_SIGNING_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "AKIDSMOKETEST",
    "AWS_SECRET_ACCESS_KEY": "smoke-test-secret",  # a fake credential for the fake server
    "AWS_SESSION_TOKEN": "smoke-session",
}
PRODUCT = {
    "id": 7,
    "name": "Smart Kettle 7",
    "category": "home",
    "price": "24.99",
    "stock": 12,
    "description": "Sample home product number 7.",
    "updated_at": "2026-01-01T00:00:00+00:00",
}


@dataclass
class Behaviour:
    """How the fake deployment misbehaves; the defaults are a healthy stack."""

    redis_hits: bool = True
    """Second read of an unchanged product says X-Cache: HIT."""
    invalidate_on_write: bool = True
    """A PUT drops the cached entry; when False, later GETs keep serving the old row as a HIT."""
    stage_cache_replays_after_write: int = 0
    """How many GETs after a PUT API Gateway's stage cache answers with the stored pre-PUT response."""
    stage_cache_always: bool = False
    """Every GET after the first is answered by API Gateway's stage cache (within its TTL)."""
    static_cache_control: str | None = "public, max-age=60"
    require_signature: bool = False
    """Writes without a SigV4 Authorization header get 403, as the IAM-authorized write methods do."""
    catalog_empty: bool = False
    """GET /products lists nothing (an environment without sample data) and no product exists."""
    product: dict = field(default_factory=lambda: dict(PRODUCT))
    writes: list[dict] = field(default_factory=list)


def signature_is_valid(handler: BaseHTTPRequestHandler, body: bytes) -> bool:
    """Recompute the request's SigV4 signature with botocore, the reference implementation."""
    authorization = handler.headers.get("Authorization", "")
    amz_date = handler.headers.get("X-Amz-Date")
    if not authorization.startswith("AWS4-HMAC-SHA256 ") or not amz_date:
        return False
    url = f"http://{handler.headers['Host']}{handler.path}"
    token = handler.headers.get("X-Amz-Security-Token")
    headers = {"X-Amz-Date": amz_date, **({"X-Amz-Security-Token": token} if token else {})}
    return authorization == botocore_authorization(handler.command, url, body, headers, amz_date)


def botocore_authorization(method: str, url: str, body: bytes, headers: dict[str, str], amz_date: str) -> str:
    auth = SigV4Auth(
        BotocoreCredentials(
            SIGNING_ENV["AWS_ACCESS_KEY_ID"],
            SIGNING_ENV["AWS_SECRET_ACCESS_KEY"],
            headers.get("X-Amz-Security-Token"),
        ),
        "execute-api",
        SIGNING_ENV["SMOKE_SIGNING_REGION"],
    )
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    request.context["timestamp"] = amz_date
    canonical = auth.canonical_request(request)
    signature = auth.signature(auth.string_to_sign(request, canonical), request)
    scope = f"{amz_date[:8]}/{SIGNING_ENV['SMOKE_SIGNING_REGION']}/execute-api/aws4_request"
    signed = auth.signed_headers(auth.headers_to_sign(request))
    credential = f"{SIGNING_ENV['AWS_ACCESS_KEY_ID']}/{scope}"
    return f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={signed}, Signature={signature}"


class FakeDeployment(BaseHTTPRequestHandler):
    behaviour: Behaviour
    cached: dict | None
    stored_response: (
        tuple[dict, str] | None
    )  # API Gateway's stage cache: body and the correlation id it carries
    replays_left: int
    list_reads: int

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _api(
        self, status: int, document: dict, headers: dict[str, str], correlation_id: str | None = None
    ) -> None:
        sent = correlation_id or self.headers.get("X-Correlation-Id", "generated-id")
        headers = {"Content-Type": "application/json", "X-Correlation-Id": sent, **headers}
        self._send(status, json.dumps(document).encode(), headers)

    def do_GET(self) -> None:
        server = type(self)
        behaviour = server.behaviour
        if self.path == "/container-credentials":  # what CodeBuild's credentials endpoint answers
            if self.headers.get("Authorization") != "container-token":
                self._send(401, b"", {})
                return
            credentials = {
                "AccessKeyId": SIGNING_ENV["AWS_ACCESS_KEY_ID"],
                "SecretAccessKey": SIGNING_ENV["AWS_SECRET_ACCESS_KEY"],
                "Token": SIGNING_ENV["AWS_SESSION_TOKEN"],
                # Real endpoints send it, and botocore's container provider requires it.
                "Expiration": (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            self._send(200, json.dumps(credentials).encode(), {"Content-Type": "application/json"})
            return
        if self.path == "/index.html":
            headers = {"Content-Type": "text/html"}
            if behaviour.static_cache_control:
                headers["Cache-Control"] = behaviour.static_cache_control
            self._send(200, b"<html></html>", headers)
            return
        if self.path == "/prod/products?page=1&limit=1":
            items = [] if behaviour.catalog_empty else [behaviour.product]
            x_cache = "HIT" if server.list_reads and behaviour.redis_hits else "MISS"
            server.list_reads += 1
            self._api(200, {"items": items, "hasMore": False}, {"X-Cache": x_cache})
            return
        if behaviour.catalog_empty or self.path != f"/prod/products/{PRODUCT['id']}":
            self._api(404, {"error": "not_found"}, {"Cache-Control": "no-store"})
            return
        if server.stored_response is not None and (behaviour.stage_cache_always or server.replays_left):
            server.replays_left = max(0, server.replays_left - 1)
            body, correlation_id = server.stored_response
            self._api(200, body, {"X-Cache": "MISS", "Cache-Control": "public, max-age=10"}, correlation_id)
            return
        if server.cached is not None and behaviour.redis_hits:
            document, x_cache = server.cached, "HIT"
        else:
            document, x_cache = dict(behaviour.product), "MISS"
            server.cached = document
        server.stored_response = (document, self.headers.get("X-Correlation-Id", "generated-id"))
        self._api(200, document, {"X-Cache": x_cache, "Cache-Control": "public, max-age=10"})

    def do_PUT(self) -> None:
        server = type(self)
        behaviour = server.behaviour
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        if behaviour.require_signature and not signature_is_valid(self, raw):
            self._api(403, {"message": "Missing Authentication Token"}, {})
            return
        body = json.loads(raw)
        behaviour.writes.append(body)
        behaviour.product = {**behaviour.product, **body}
        if behaviour.invalidate_on_write:
            server.cached = None
        server.replays_left = behaviour.stage_cache_replays_after_write
        self._api(200, behaviour.product, {"Cache-Control": "no-store"})


def run_smoke_test(
    base_url: str, *args: str, python_options: tuple[str, ...] = (), **env: str
) -> subprocess.CompletedProcess:
    """Run the script with only the variables the pipeline step would set (plus PATH). botocore, importable
    in this venv, finds no credentials of the machine's: no shared files, no instance metadata.
    ``python_options=("-S",)`` runs it on a Python without site-packages, so without botocore."""
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "SMOKE_API_URL": f"{base_url}/prod/",
        "SMOKE_DISTRIBUTION_DOMAIN": base_url,
        "SMOKE_PRODUCT_ID": str(PRODUCT["id"]),
        "SMOKE_SETTLE_SECONDS": "5",
        "SMOKE_POLL_SECONDS": "0.05",
        "SMOKE_TIMEOUT_SECONDS": "5",
        **env,
    }
    return subprocess.run(
        [sys.executable, *python_options, str(SCRIPT), *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def summary_of(result: subprocess.CompletedProcess) -> str:
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout + result.stderr
    return lines[0]
