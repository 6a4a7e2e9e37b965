"""``make diff|deploy|destroy ENV=...``: one environment, one synthesized assembly, a question first.

A stand-in CLI (``CDK=``) records each call instead of reaching AWS; ``-o setup`` keeps make from
re-running setup around it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.infra.conftest import ROOT


@pytest.fixture
def run_make(tmp_path):
    calls = tmp_path / "calls"
    fake = tmp_path / "cdk"
    fake.write_text('#!/bin/sh\necho "$*" >> "$CDK_CALLS"\necho "fake cdk $1"\n')
    fake.chmod(0o755)
    out = tmp_path / "cdk.out"

    def run(*arguments: str, answer: str | None = None) -> tuple[subprocess.CompletedProcess, list[str]]:
        result = subprocess.run(
            ["make", "--no-print-directory", "-o", "setup", *arguments, f"CDK={fake}", f"CDK_OUT={out}"],
            cwd=ROOT,
            input=answer,
            stdin=None if answer is not None else subprocess.DEVNULL,
            env={**os.environ, "CDK_CALLS": str(calls)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        recorded = calls.read_text().splitlines() if calls.exists() else []
        return result, [line.replace(str(out), "OUT") for line in recorded]

    return run


@pytest.mark.parametrize("target", ["diff", "deploy", "destroy"])
def test_each_target_needs_an_environment_and_says_so_in_one_line(run_make, target):
    result, calls = run_make(target)
    assert result.returncode != 0
    assert result.stderr.splitlines()[0] == f"make {target}: name the environment, e.g. make {target} ENV=dev"
    assert calls == []


def test_diff_synthesizes_the_environment_once_and_diffs_that_assembly(run_make):
    result, calls = run_make("diff", "ENV=dev")
    assert result.returncode == 0, result.stderr
    assert calls == ["synth --quiet --output OUT.dev -c env=dev", "diff --app OUT.dev dev/**"]


@pytest.mark.parametrize("answer", ["n\n", "", "yes\n"])
def test_deploy_shows_the_diff_and_deploys_nothing_without_a_yes(run_make, answer):
    result, calls = run_make("deploy", "ENV=staging", answer=answer)
    assert result.returncode != 0
    assert "Not deployed." in result.stderr
    assert calls == ["synth --quiet --output OUT.staging -c env=staging", "diff --app OUT.staging staging/**"]


def test_deploy_after_a_y_deploys_exactly_the_assembly_it_diffed(run_make):
    result, calls = run_make("deploy", "ENV=staging", answer="y\n")
    assert result.returncode == 0, result.stderr
    assert calls == [
        "synth --quiet --output OUT.staging -c env=staging",
        "diff --app OUT.staging staging/**",
        "deploy --app OUT.staging staging/** --require-approval never "
        "--outputs-file OUT.staging/outputs.json",
    ]


def test_yes_1_answers_the_question_for_scripts(run_make):
    result, calls = run_make("deploy", "ENV=dev", "YES=1")
    assert result.returncode == 0, result.stderr
    assert calls[-1].startswith("deploy --app OUT.dev dev/**")


@pytest.mark.parametrize(("yes", "force"), [((), ""), (("YES=1",), " --force")])
def test_destroy_leaves_the_question_to_cdk_destroy_unless_yes_1(run_make, yes, force):
    result, calls = run_make("destroy", "ENV=dev", *yes)
    assert result.returncode == 0, result.stderr
    assert calls == [f"destroy -c env=dev dev/**{force}"]


def test_the_readme_and_the_deploy_guide_document_the_targets():
    for document in (ROOT / "README.md", ROOT / "docs" / "DEPLOY.md"):
        text = Path(document).read_text()
        for target in ("make diff ENV=", "make deploy ENV=", "make destroy ENV="):
            assert target in text, f"{document.name} does not mention {target}"
