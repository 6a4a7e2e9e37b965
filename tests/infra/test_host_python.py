"""The host Pythons the project supports (Makefile ``HOST_PYTHONS``), and a Lambda bundle that ignores them.

The bundle targets Lambda's platform and Python (``PYTHON_RUNTIME``); the host only runs pip and uv. So the
locks name Lambda's targets alone, every supported host Python that this machine has builds the same asset
from them, ``make setup`` refuses any other Python in one line, and the synth/test environment's lock
resolves for all of them.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from caching_constructs.core.python_function import PYTHON_RUNTIME
from lambda_bundling.bundling import LocalPythonBundler
from lambda_bundling.bytecode import find_interpreter
from lambda_bundling.locks import read_header, read_lock, target_label
from stacks.lambda_assets import LAMBDA_ROOT, dax_bundle
from tests.infra.conftest import ROOT

LAMBDA_PYTHON = PYTHON_RUNTIME.name.removeprefix("python")
HOST_ARCHITECTURE = "arm64" if platform.machine().lower() in ("aarch64", "arm64") else "x86_64"
HOST_PYTHONS = re.search(r"^HOST_PYTHONS := (.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)[1].split()


def test_the_supported_range_is_stated_once_and_this_host_is_in_it():
    assert HOST_PYTHONS == ["3.11", "3.12", "3.13"]
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in HOST_PYTHONS
    readme = (ROOT / "README.md").read_text()
    assert f"Python {HOST_PYTHONS[0]} to {HOST_PYTHONS[-1]}" in readme


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-dax.lock"])
def test_the_lambda_locks_target_lambdas_platforms_and_python_not_the_hosts(lock):
    expected = {target_label(f"manylinux2014_{machine}", LAMBDA_PYTHON) for machine in ("aarch64", "x86_64")}
    assert set(read_lock(LAMBDA_ROOT / lock).targets) == expected


def test_the_synth_environment_lock_resolves_for_the_oldest_supported_host_and_up():
    _, targets, exclude_newer = read_header((ROOT / "requirements-dev.lock").read_text())
    assert targets == (f"universal-python{HOST_PYTHONS[0]}+",)
    assert exclude_newer, "the lock records the index cut-off it was resolved at"


def test_the_synth_environment_lock_is_current_with_its_requirements_files():
    """Offline; ``test_bundle`` re-resolves every lock against the index."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "lock_requirements.py"), "--check-inputs"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_make_setup_refuses_an_unsupported_python_in_one_line_and_creates_nothing(tmp_path):
    python = tmp_path / "python3.10"
    python.write_text("#!/bin/sh\necho 3.10\n")
    python.chmod(0o755)
    venv = tmp_path / "venv"
    # Not a sub-make of the `make test` this may run under: its errors would read "make[2]: ***".
    outer_make = ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")
    result = subprocess.run(
        ["make", "--no-print-directory", "setup", f"VENV={venv}", f"PYTHON={python}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={key: value for key, value in os.environ.items() if key not in outer_make},
    )
    assert result.returncode != 0
    (line, *make_error) = result.stderr.strip().splitlines()
    supported = " ".join(HOST_PYTHONS)
    assert (
        line == f"setup: {python} is Python 3.10; supported: {supported} (e.g. make setup PYTHON=python3.12)"
    )
    assert all(row.startswith("make: ***") for row in make_error)
    assert not venv.exists()


def _asset_digest(asset: Path) -> str:
    """sha256 over the asset's files; pip's own records of the install (dist-info) vary with pip's version."""
    digest = hashlib.sha256()
    for path in sorted(p for p in asset.rglob("*") if p.is_file()):
        relative = path.relative_to(asset)
        if not relative.parts[0].endswith(".dist-info"):
            digest.update(f"{relative.as_posix()}\0".encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.mark.slow
def test_every_supported_host_python_on_this_machine_builds_the_same_lambda_asset(tmp_path):
    """The DAX asset (every locked distribution, and the sdist built on the host) from each host Python's pip.

    Hosts come from PATH or pyenv; at least this test's own interpreter is one of them.
    """
    hosts = {version: find_interpreter(version) for version in HOST_PYTHONS}
    available = {version: interpreter for version, interpreter in hosts.items() if interpreter}
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in available
    digests = {}
    # One output path for all: compiled bytecode records its source's path.
    output = tmp_path / "asset"
    for version, interpreter in available.items():
        spec = dax_bundle(HOST_ARCHITECTURE, LAMBDA_PYTHON)
        LocalPythonBundler(spec, pip_command=[interpreter, "-m", "pip"]).bundle(output)
        digests[version] = _asset_digest(output)
        shutil.rmtree(output)
    assert len(set(digests.values())) == 1, digests
