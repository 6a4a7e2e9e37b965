"""scripts/smoke_test.py against a local server behaving like the product API behind API Gateway + CloudFront.

The script runs as the pipeline runs it: a subprocess, configured by the same environment variables the
pipeline's smoke step sets, judged by its exit code and its one summary line.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotocoreCredentials

from tests.conftest import ROOT

pytest_plugins = ["handler_fixtures"]  # the handler tests' fixtures: throwaway Redis + MariaDB with products

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
            }
            self._send(200, json.dumps(credentials).encode(), {"Content-Type": "application/json"})
            return
        if self.path == "/index.html":
            headers = {"Content-Type": "text/html"}
            if behaviour.static_cache_control:
                headers["Cache-Control"] = behaviour.static_cache_control
            self._send(200, b"<html></html>", headers)
            return
        if self.path != f"/prod/products/{PRODUCT['id']}":
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


@pytest.fixture
def deployment() -> Iterator[tuple[str, Behaviour]]:
    behaviour = Behaviour()
    handler = type(
        "Handler",
        (FakeDeployment,),
        {"behaviour": behaviour, "cached": None, "stored_response": None, "replays_left": 0},
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", behaviour
    finally:
        server.shutdown()
        server.server_close()


def run_smoke_test(base_url: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    """Run the script with only the variables the pipeline step would set (plus PATH)."""
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "SMOKE_API_URL": f"{base_url}/prod/",
        "SMOKE_DISTRIBUTION_DOMAIN": base_url,
        "SMOKE_PRODUCT_ID": str(PRODUCT["id"]),
        "SMOKE_SETTLE_SECONDS": "5",
        "SMOKE_POLL_SECONDS": "0.05",
        "SMOKE_TIMEOUT_SECONDS": "5",
        **env,
    }
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
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


def test_a_healthy_deployment_passes_every_check_and_restores_the_product(deployment):
    base_url, behaviour = deployment
    result = run_smoke_test(base_url)
    summary = summary_of(result)
    assert result.returncode == 0, summary
    assert summary.startswith("smoke test PASSED")
    assert "cache-hit ok: second GET was a Redis hit (X-Cache: HIT)" in summary
    assert "write ok" in summary
    assert "static ok: /index.html Cache-Control: public, max-age=60" in summary
    assert [write["stock"] for write in behaviour.writes] == [13, 12]
    assert behaviour.product == PRODUCT


def test_no_hit_header_on_the_second_read_fails(deployment):
    base_url, behaviour = deployment
    behaviour.redis_hits = False
    result = run_smoke_test(base_url)
    assert result.returncode == 1
    assert "cache-hit FAILED: second GET /products/7 was not a cache hit (X-Cache: MISS)" in summary_of(
        result
    )


def test_a_stale_value_after_put_fails(deployment):
    base_url, behaviour = deployment
    behaviour.invalidate_on_write = False
    result = run_smoke_test(base_url)
    summary = summary_of(result)
    assert result.returncode == 1
    assert re.search(
        r"write FAILED: GET after PUT returned stale stock 12 \(expected 13, was 12; X-Cache: HIT\)", summary
    )
    # The product is put back even when the check fails.
    assert behaviour.writes[-1]["stock"] == 12


def test_stage_cache_replays_within_the_settle_time_are_tolerated(deployment):
    base_url, behaviour = deployment
    behaviour.stage_cache_replays_after_write = 3
    result = run_smoke_test(base_url)
    summary = summary_of(result)
    assert result.returncode == 0, summary
    assert "PUT visible on the next computed GET (3 stage-cache replays" in summary


def test_stage_cache_replays_beyond_the_settle_time_fail(deployment):
    base_url, behaviour = deployment
    behaviour.stage_cache_replays_after_write = 10_000
    result = run_smoke_test(base_url, SMOKE_SETTLE_SECONDS="0.3")
    assert result.returncode == 1
    assert "API Gateway stage cache still replayed stock 12 0.3s after PUT" in summary_of(result)


def test_a_second_read_replayed_by_the_stage_cache_counts_as_a_hit(deployment):
    base_url, behaviour = deployment
    behaviour.redis_hits = False  # the replay carries the first answer's X-Cache: MISS
    behaviour.stage_cache_always = True
    result = run_smoke_test(base_url, "--read-only")
    assert result.returncode == 0, summary_of(result)
    assert "cache-hit ok: second GET served by the API Gateway stage cache" in summary_of(result)


def test_static_file_without_max_age_fails(deployment):
    base_url, behaviour = deployment
    behaviour.static_cache_control = None
    result = run_smoke_test(base_url, "--read-only")
    assert result.returncode == 1
    assert "static FAILED: GET " in summary_of(result)
    assert "Cache-Control None has no max-age" in summary_of(result)


def test_read_only_mode_never_writes(deployment):
    base_url, behaviour = deployment
    result = run_smoke_test(base_url, SMOKE_READ_ONLY="1")
    assert result.returncode == 0, summary_of(result)
    assert "write" not in summary_of(result)
    assert behaviour.writes == []


def test_writes_are_signed_for_iam_when_a_signing_region_applies(deployment):
    base_url, behaviour = deployment
    behaviour.require_signature = True
    unsigned = run_smoke_test(base_url)
    assert unsigned.returncode == 1
    assert "write FAILED: PUT: PUT " in summary_of(unsigned) and "answered 403" in summary_of(unsigned)
    signed = run_smoke_test(base_url, **SIGNING_ENV)
    assert signed.returncode == 0, summary_of(signed)
    assert len(behaviour.writes) == 2


def test_writes_are_signed_with_container_credentials_as_in_codebuild(deployment):
    base_url, behaviour = deployment
    behaviour.require_signature = True
    result = run_smoke_test(
        base_url,
        SMOKE_SIGNING_REGION="eu-west-1",
        AWS_CONTAINER_CREDENTIALS_FULL_URI=f"{base_url}/container-credentials",
        AWS_CONTAINER_AUTHORIZATION_TOKEN="container-token",
    )
    assert result.returncode == 0, summary_of(result)
    assert len(behaviour.writes) == 2


def test_the_signing_region_comes_from_an_execute_api_url():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from sigv4 import execute_api_region
    finally:
        sys.path.remove(str(SCRIPT.parent))
    assert execute_api_region("https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/prod/") == "eu-west-1"
    assert execute_api_region("https://d111111abcdef8.cloudfront.net/") is None
    assert execute_api_region("http://127.0.0.1:8080/") is None


def test_a_signing_region_without_credentials_fails_the_write_clearly(deployment):
    base_url, _ = deployment
    result = run_smoke_test(base_url, SMOKE_SIGNING_REGION="eu-west-1")
    assert result.returncode == 1
    assert "write FAILED: PUT needs IAM credentials" in summary_of(result)


def test_an_unreachable_api_fails_within_the_timeout():
    result = run_smoke_test("http://127.0.0.1:9", "--read-only", SMOKE_TIMEOUT_SECONDS="2")
    assert result.returncode == 1
    assert "cache-hit FAILED: GET http://127.0.0.1:9/prod/products/7 failed" in summary_of(result)


def test_missing_outputs_are_a_usage_error():
    result = subprocess.run(
        [sys.executable, str(SCRIPT)],
        env={"PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "SMOKE_API_URL" in result.stderr


def test_outputs_come_from_a_cdk_deploy_outputs_file(deployment, tmp_path):
    base_url, _ = deployment
    outputs = tmp_path / "cdk-outputs.json"
    outputs.write_text(
        json.dumps(
            {
                "dev-Api": {"ApiUrl": f"{base_url}/prod/", "FunctionName": "ignored"},
                "dev-Edge": {"DistributionDomainNameA1B2C3D4": base_url, "StaticBucketName": "b"},
            }
        )
    )
    result = run_smoke_test(
        base_url, "--outputs-file", str(outputs), SMOKE_API_URL="", SMOKE_DISTRIBUTION_DOMAIN=""
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert summary_of(result).startswith("smoke test PASSED")


def test_an_outputs_file_without_the_api_url_is_a_usage_error(tmp_path):
    outputs = tmp_path / "cdk-outputs.json"
    outputs.write_text(json.dumps({"dev-Edge": {"DistributionDomainName": "d.cloudfront.net"}}))
    result = run_smoke_test("http://127.0.0.1:9", "--outputs-file", str(outputs))
    assert result.returncode == 2
    assert "ApiUrl found 0 times" in result.stderr


def test_the_real_handler_behind_the_local_adapter_passes_the_smoke_test(handler_env, deployment):
    """The product API itself (scripts/local_server.py -> handler -> real Redis and MariaDB); the fake server
    only plays CloudFront for the static file, which the local adapter does not serve."""
    from scripts.local_server import make_http_server, serve_in_thread

    static_url, _ = deployment
    server = make_http_server("127.0.0.1", 0)
    thread = serve_in_thread(server)
    try:
        api_url = f"http://127.0.0.1:{server.server_address[1]}/"
        result = run_smoke_test(static_url, SMOKE_API_URL=api_url, SMOKE_PRODUCT_ID="3")
        summary = summary_of(result)
        assert result.returncode == 0, summary
        assert "cache-hit ok: second GET was a Redis hit (X-Cache: HIT)" in summary
        assert "write ok: PUT visible on the next computed GET (0 stage-cache replays" in summary
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
