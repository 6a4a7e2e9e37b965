"""scripts/smoke_test.py signs its writes with SigV4 when the API's write routes use IAM authorization.

The fake deployment verifies signatures the way API Gateway does (``smoke_support.signature_is_valid``).
This venv has botocore, so a plain run signs with botocore's credential chain; ``-S`` (no site-packages)
runs the script as a Python without botocore does, on the standard-library signer.
"""

from __future__ import annotations

import subprocess
import sys

from smoke_support import SCRIPT, SIGNING_ENV, run_smoke_test, summary_of

pytest_plugins = ["smoke_fixtures"]


WITHOUT_BOTOCORE = ("-S",)


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


def test_with_botocore_a_named_profile_signs_as_on_a_laptop(deployment, tmp_path):
    base_url, behaviour = deployment
    behaviour.require_signature = True
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[smoke]\n"
        f"aws_access_key_id = {SIGNING_ENV['AWS_ACCESS_KEY_ID']}\n"
        f"aws_secret_access_key = {SIGNING_ENV['AWS_SECRET_ACCESS_KEY']}\n"
        f"aws_session_token = {SIGNING_ENV['AWS_SESSION_TOKEN']}\n"
    )
    profile = {"AWS_SHARED_CREDENTIALS_FILE": str(credentials), "AWS_PROFILE": "smoke"}
    result = run_smoke_test(base_url, SMOKE_SIGNING_REGION="eu-west-1", **profile)
    assert result.returncode == 0, summary_of(result)
    assert len(behaviour.writes) == 2
    # The standard-library fallback reads no profiles: the same run without botocore has no credentials.
    fallback = run_smoke_test(
        base_url, python_options=WITHOUT_BOTOCORE, SMOKE_SIGNING_REGION="eu-west-1", **profile
    )
    assert "write FAILED: PUT needs IAM credentials" in summary_of(fallback)


def test_with_botocore_a_profile_that_does_not_exist_fails_the_write_in_one_line(deployment):
    base_url, _ = deployment
    result = run_smoke_test(base_url, SMOKE_SIGNING_REGION="eu-west-1", AWS_PROFILE="absent")
    assert result.returncode == 1
    assert "write FAILED: could not read AWS credentials for a signed PUT:" in summary_of(result)
    assert "absent" in summary_of(result)


def test_without_botocore_the_standard_library_signs_with_environment_credentials(deployment):
    base_url, behaviour = deployment
    behaviour.require_signature = True
    probe = run_smoke_test(base_url, "--help", python_options=WITHOUT_BOTOCORE)
    assert probe.returncode == 0  # the script itself needs nothing but the standard library
    result = run_smoke_test(base_url, python_options=WITHOUT_BOTOCORE, **SIGNING_ENV)
    assert result.returncode == 0, summary_of(result)
    assert len(behaviour.writes) == 2


def test_without_botocore_the_standard_library_reads_codebuilds_container_credentials(deployment):
    base_url, behaviour = deployment
    behaviour.require_signature = True
    result = run_smoke_test(
        base_url,
        python_options=WITHOUT_BOTOCORE,
        SMOKE_SIGNING_REGION="eu-west-1",
        AWS_CONTAINER_CREDENTIALS_FULL_URI=f"{base_url}/container-credentials",
        AWS_CONTAINER_AUTHORIZATION_TOKEN="container-token",
    )
    assert result.returncode == 0, summary_of(result)
    assert len(behaviour.writes) == 2


def test_without_botocore_the_module_really_cannot_import_it():
    result = subprocess.run(
        [sys.executable, "-S", "-c", "import botocore"], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0 and "No module named 'botocore'" in result.stderr
