"""The checked toolchain: mypy in ``make lint`` over the sources, and git hooks running the same tools."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

from tests.infra.conftest import ROOT

PRE_COMMIT = Path(sys.executable).with_name("pre-commit")


def test_make_lint_runs_ruff_and_mypy():
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", "-o", "setup", "lint"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert [line.split()[0].rsplit("/", 1)[-1] for line in result.stdout.splitlines()] == [
        "ruff",
        "ruff",
        "mypy",
    ]


def test_mypy_checks_the_infrastructure_the_scripts_and_the_lambda_code():
    mypy = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert {"config", "stacks", "constructs/caching_constructs", "scripts"} <= set(mypy["files"])
    assert {"lambda/cachelib", "lambda/functions"} <= set(mypy["files"])


def test_the_git_hooks_are_a_valid_pre_commit_config_running_the_venvs_tools():
    config = ROOT / ".pre-commit-config.yaml"
    result = subprocess.run(
        [str(PRE_COMMIT), "validate-config", str(config)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    hooks = {
        hook["id"]: hook for repo in yaml.safe_load(config.read_text())["repos"] for hook in repo["hooks"]
    }
    assert set(hooks) == {"ruff-check", "ruff-format", "mypy"}
    assert all(hook["entry"].startswith(".venv/bin/") for hook in hooks.values())
    assert hooks["mypy"]["pass_filenames"] is False  # the configured files, as make lint checks them
