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

from smoke_support import PRODUCT, SCRIPT, run_smoke_test, summary_of

pytest_plugins = ["handler_fixtures", "smoke_fixtures"]  # servers + products; the fake deployment


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


def test_without_a_product_id_the_first_catalogue_product_is_checked(deployment):
    """Prod has no sample data and no fixed id: the script finds a product through the list route."""
    base_url, behaviour = deployment
    result = run_smoke_test(base_url, SMOKE_PRODUCT_ID="")
    summary = summary_of(result)
    assert result.returncode == 0, summary
    assert "cache-hit ok: second GET was a Redis hit (X-Cache: HIT)" in summary
    assert [write["stock"] for write in behaviour.writes] == [13, 12]


def test_an_empty_catalogue_checks_the_cached_list_page_when_read_only(deployment):
    base_url, behaviour = deployment
    behaviour.catalog_empty = True
    result = run_smoke_test(base_url, "--read-only", SMOKE_PRODUCT_ID="")
    summary = summary_of(result)
    assert result.returncode == 0, summary
    assert "cache-hit ok: catalogue empty; the second list-page GET was a Redis hit" in summary


def test_an_empty_catalogue_fails_the_write_check(deployment):
    base_url, behaviour = deployment
    behaviour.catalog_empty = True
    result = run_smoke_test(base_url, SMOKE_PRODUCT_ID="")
    assert result.returncode == 1
    assert "write FAILED: the catalogue is empty: no product to read or write" in summary_of(result)
    assert behaviour.writes == []


def test_a_product_id_that_is_not_a_number_is_a_usage_error(deployment):
    base_url, _ = deployment
    result = run_smoke_test(base_url, SMOKE_PRODUCT_ID="seven")
    assert result.returncode == 2
    assert "--product-id: invalid int value: 'seven'" in result.stderr


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
        # No product id: the script finds one through the real list route, as it does in prod.
        result = run_smoke_test(static_url, SMOKE_API_URL=api_url, SMOKE_PRODUCT_ID="")
        summary = summary_of(result)
        assert result.returncode == 0, summary
        assert "cache-hit ok: second GET was a Redis hit (X-Cache: HIT)" in summary
        assert "write ok: PUT visible on the next computed GET (0 stage-cache replays" in summary
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
