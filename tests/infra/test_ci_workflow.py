"""The GitHub Actions workflow: valid YAML, the same steps as .ci/run, a diff per environment on pull
requests, the supported host Pythons, ordered deploys, OIDC only."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from config import ENVIRONMENT_NAMES
from tests.infra.conftest import ROOT

WORKFLOW_PATH = ROOT / ".github" / "workflows" / "ci.yml"
DEPLOY_JOBS = [f"deploy-{name}" for name in ENVIRONMENT_NAMES]


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW_PATH.read_text())


def _runs(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def _uses(job: dict, action: str) -> list[dict]:
    return [step for step in job["steps"] if step.get("uses", "").startswith(f"{action}@")]


def _needs(job: dict) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else needs


def test_jobs_lint_test_synth_then_diff_or_deploy_each_environment(workflow):
    assert list(workflow["jobs"]) == ["lint", "test", "host-python", "synth", "diff", *DEPLOY_JOBS]


def test_every_pull_request_from_this_repository_gets_a_diff_per_environment(workflow):
    diff = workflow["jobs"]["diff"]
    assert _needs(diff) == ["synth"]
    assert "github.event_name == 'pull_request'" in diff["if"]
    assert "head.repo.full_name == github.repository" in diff["if"]  # forks get no OIDC token
    matrix = diff["strategy"]["matrix"]["include"]
    assert [entry["environment"] for entry in matrix] == list(ENVIRONMENT_NAMES)
    assert "environment" not in diff  # prod's required reviewers gate deploys, not diffs
    assert diff["permissions"] == {"id-token": "write", "contents": "read"}


def test_the_diff_compares_the_tested_assembly_with_a_read_only_role_and_publishes_it(workflow):
    diff = workflow["jobs"]["diff"]
    assert diff["env"]["DIFF_ROLE_ARN"] == "${{ vars[format('AWS_DIFF_ROLE_ARN_{0}', matrix.variables)] }}"
    (credentials,) = _uses(diff, "aws-actions/configure-aws-credentials")
    assert credentials["with"]["role-to-assume"] == "${{ env.DIFF_ROLE_ARN }}"
    (download,) = _uses(diff, "actions/download-artifact")
    assert download["with"] == {"name": "cloud-assembly", "path": "cdk.out"}
    runs = _runs(diff)
    assert "npx cdk diff --app cdk.out --no-change-set '${{ matrix.environment }}/**'" in runs
    assert "npx cdk deploy" not in runs
    assert '>> "$GITHUB_STEP_SUMMARY"' in runs
    (upload,) = _uses(diff, "actions/upload-artifact")
    assert upload["with"]["name"] == "cdk-diff-${{ matrix.environment }}"
    # Every step but the notice waits for the role; without one the job only says so.
    assert all(step["if"] == "env.DIFF_ROLE_ARN != ''" for step in diff["steps"][1:])


def test_the_oldest_and_newest_supported_host_python_set_up_and_bundle(workflow):
    host_pythons = re.search(r"^HOST_PYTHONS := (.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)[
        1
    ].split()
    job = workflow["jobs"]["host-python"]
    assert job["strategy"]["matrix"]["python-version"] == [host_pythons[0], host_pythons[-1]]
    (python,) = _uses(job, "actions/setup-python")
    assert python["with"]["python-version"] == "${{ matrix.python-version }}"
    assert "make setup" in _runs(job) and "tests/infra/test_bundle.py" in _runs(job)


def test_lint_test_and_synth_run_the_same_make_targets_as_ci_run(workflow):
    ci_run = (ROOT / ".ci" / "run").read_text()
    jobs = workflow["jobs"]
    for job, target in (("lint", "make lint"), ("test", "make test"), ("synth", "make synth")):
        assert target in ci_run
        assert target in _runs(jobs[job])


def test_synth_waits_for_lint_and_test_and_uploads_the_cloud_assembly(workflow):
    synth = workflow["jobs"]["synth"]
    assert sorted(_needs(synth)) == ["lint", "test"]
    (upload,) = _uses(synth, "actions/upload-artifact")
    assert upload["with"]["path"] == "cdk.out"
    assert upload["with"]["if-no-files-found"] == "error"


def test_environments_deploy_in_order_and_only_from_main(workflow):
    jobs = workflow["jobs"]
    previous = "synth"
    for job_name in DEPLOY_JOBS:
        assert _needs(jobs[job_name]) == [previous]
        previous = job_name
    assert "refs/heads/main" in jobs["deploy-dev"]["if"] and "push" in jobs["deploy-dev"]["if"]


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_each_deploy_assumes_its_environments_role_through_oidc(workflow, name):
    job = workflow["jobs"][f"deploy-{name}"]
    assert job["environment"] == name  # prod's protection rules (reviewers) apply to this job
    assert job["permissions"] == {"id-token": "write", "contents": "read"}
    (credentials,) = _uses(job, "aws-actions/configure-aws-credentials")
    assert re.fullmatch(r"\$\{\{ vars\.[A-Z_]+ \}\}", credentials["with"]["role-to-assume"])
    assert not {"aws-access-key-id", "aws-secret-access-key"} & set(credentials["with"])


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_each_deploy_ships_the_tested_assembly_and_smoke_tests_it(workflow, name):
    job = workflow["jobs"][f"deploy-{name}"]
    (download,) = _uses(job, "actions/download-artifact")
    assert download["with"] == {"name": "cloud-assembly", "path": "cdk.out"}
    runs = _runs(job)
    assert f"npx cdk deploy --app cdk.out '{name}/**'" in runs
    assert "--outputs-file cdk-outputs.json" in runs
    assert "python3 scripts/smoke_test.py --outputs-file cdk-outputs.json" in runs
    assert ("--read-only" in runs) == (name == "prod")


def test_the_workflow_holds_no_long_lived_aws_keys(workflow):
    text = WORKFLOW_PATH.read_text()
    assert "AWS_SECRET_ACCESS_KEY" not in text.upper().replace("-", "_")
    assert "AWS_ACCESS_KEY_ID" not in text.upper().replace("-", "_")
    assert "secrets." not in text
    assert workflow["permissions"] == {"contents": "read"}  # id-token only where a deploy needs it


def test_the_workflow_matches_githubs_workflow_schema():
    """check-jsonschema ships GitHub's workflow schema, so this runs offline."""
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("check-jsonschema")),
            "--builtin-schema",
            "vendor.github-workflows",
            str(WORKFLOW_PATH),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
