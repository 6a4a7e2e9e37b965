"""scripts/smoke_test.py signs its writes with SigV4 when the API's write routes use IAM authorization.

The fake deployment verifies signatures the way API Gateway does (``smoke_support.signature_is_valid``).
"""

from __future__ import annotations

import sys

from smoke_support import SCRIPT, SIGNING_ENV, run_smoke_test, summary_of

pytest_plugins = ["smoke_fixtures"]


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
