"""The real Lambda assets, built once through the CDK's local bundling (no Docker), then inspected.

The stacks bundle for the Lambda platform (arm64, Python 3.12). The test bundles the same specs for this
host's architecture and the same Python, whatever the host's own Python is, and imports them with the
runtime's interpreter (``python3.12`` from PATH or pyenv). A host without one builds an asset with no
bytecode, which is plain source its own Python imports.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_

from caching_constructs.core.python_function import PYTHON_RUNTIME
from lambda_bundling.bundling import (
    BundlingError,
    LocalPythonBundler,
    PythonBundleSpec,
    python_lambda_code,
)
from lambda_bundling.locks import (
    LockedPackage,
    inputs_digest,
    normalized_name,
    read_lock,
    render_lock,
    target_label,
)
from stacks.lambda_assets import CORE_HANDLERS, DAX_HANDLERS, LAMBDA_ROOT, core_bundle, dax_bundle
from tests.infra.conftest import new_app

TARGET_PYTHON = PYTHON_RUNTIME.name.removeprefix("python")
HOST_ARCHITECTURE = "arm64" if platform.machine().lower() in ("aarch64", "arm64") else "x86_64"
TARGET_INTERPRETER = core_bundle(HOST_ARCHITECTURE, TARGET_PYTHON).bytecode_interpreter()
IMPORTER = TARGET_INTERPRETER or sys.executable
"""Imports the assets: the runtime's Python (they hold its bytecode), else the host's (they hold none)."""
SIX_WHEEL_SHA256 = "4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274"
"""six 1.17.0's only artifact on PyPI (py2.py3-none-any), as in lambda/requirements-dax.lock."""
CORE_BUDGET_BYTES = 5 * 1024 * 1024
"""Unzipped core asset (README, "Lambda bundles"): redis-py (without its Redis Stack module clients) and
PyMySQL plus our code, with bytecode for the cold path."""
DAX_BUDGET_BYTES = 7 * 1024 * 1024
"""Unzipped DAX asset: the core plus amazon-dax-client with antlr4; botocore comes from the runtime.
Measured 5.5 MiB."""

# What the Lambda Python runtime itself provides next to the function code.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "dateutil", "urllib3", "six.py", "jmespath")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> dict[str, Path]:
    """Synthesizes a stack with both functions, bundling on, and returns each asset's directory."""
    outdir = tmp_path_factory.mktemp("bundle-cdk.out")
    app = new_app(outdir, bundle=True)
    stack = cdk.Stack(app, "BundleTest")
    codes = {
        "core": python_lambda_code(core_bundle(HOST_ARCHITECTURE, TARGET_PYTHON)),
        "dax": python_lambda_code(dax_bundle(HOST_ARCHITECTURE, TARGET_PYTHON)),
    }
    for name, code in codes.items():
        lambda_.Function(
            stack,
            name,
            code=code,
            handler="functions.product_api.lambda_handler",
            runtime=lambda_.Runtime.PYTHON_3_12,
        )
    app.synth()
    staged = {}
    for name, code in codes.items():
        config = code.bind(stack)
        staged[name] = outdir / f"asset.{config.s3_location.object_key.removesuffix('.zip')}"
    return staged


@pytest.fixture(scope="module")
def runtime_dir(tmp_path_factory) -> Path:
    """A stand-in for the runtime's own packages (boto3 and friends), linked from this virtualenv."""
    import boto3

    site = Path(boto3.__file__).parents[1]
    directory = tmp_path_factory.mktemp("lambda-runtime")
    for name in RUNTIME_PROVIDED:
        (directory / name).symlink_to(site / name)
    return directory


def _import_in_clean_interpreter(modules, *path: Path) -> subprocess.CompletedProcess:
    """``python -I -S``: no site-packages, no environment, no user site; only ``path`` and the stdlib.
    ``-B`` keeps the import from writing bytecode into the asset under test."""
    code = "import importlib, sys; sys.path[:0] = sys.argv[1].split(':');" + "".join(
        f"importlib.import_module({m!r});" for m in modules
    )
    env = {"PATH": os.environ.get("PATH", "")}
    return subprocess.run(
        [IMPORTER, "-I", "-S", "-B", "-c", code, ":".join(str(p) for p in path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def _size(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())


def test_the_clean_interpreter_really_is_clean(assets):
    result = _import_in_clean_interpreter(["redis"])
    assert result.returncode != 0 and "No module named 'redis'" in result.stderr


def test_core_handlers_and_their_lazy_imports_load_from_the_asset_alone(assets):
    lazy = ["pymysql.cursors", "redis.cluster", "functions.idempotency", "functions.edge_refresh"]
    result = _import_in_clean_interpreter([*CORE_HANDLERS, *lazy], assets["core"])
    assert result.returncode == 0, result.stderr


def test_the_secrets_store_and_the_edge_refresher_load_with_only_the_runtimes_boto3_added(
    assets, runtime_dir
):
    script_modules = ["cachelib.secret_store", "boto3", "botocore.auth", "functions.edge_refresh"]
    result = _import_in_clean_interpreter(script_modules, assets["core"], runtime_dir)
    assert result.returncode == 0, result.stderr


def test_the_dax_handler_and_client_load_with_the_runtimes_botocore(assets, runtime_dir):
    result = _import_in_clean_interpreter([*DAX_HANDLERS, "amazondax"], assets["dax"], runtime_dir)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", ["core", "dax"])
def test_boto3_and_botocore_are_not_in_the_asset(assets, name):
    present = {path.name.lower() for path in assets[name].iterdir()}
    for package in ("boto3", "botocore", "s3transfer"):
        assert package not in present
        assert not any(entry.startswith(f"{package}-") for entry in present), present


def test_what_only_botocore_needed_leaves_with_it_and_what_the_dax_client_needs_stays(assets):
    present = {path.name.lower() for path in assets["dax"].iterdir()}
    assert "urllib3" not in present and "dateutil" not in present
    assert {"amazondax", "antlr4", "six.py"} <= present
    assert "jmespath" not in present  # botocore's; the runtime has it


def test_no_console_scripts_are_shipped(assets):
    for asset in assets.values():
        assert not (asset / "bin").exists()


def test_the_cold_path_ships_bytecode_of_the_target_python_that_never_checks_its_source(assets):
    """Lambda's code directory is read-only: without these, a cold start compiles every module it imports."""
    if TARGET_INTERPRETER is None:
        pytest.skip(f"no python{TARGET_PYTHON} on this host: the assets ship without bytecode")
    tag = f"cpython-{TARGET_PYTHON.replace('.', '')}"
    for name, asset in assets.items():
        pycs = list(asset.rglob("*.pyc"))
        assert pycs, name
        ours = [p for p in pycs if p.relative_to(asset).parts[0] in ("cachelib", "functions")]
        assert ours and all(p.parent.name == "__pycache__" and p.name.endswith(f".{tag}.pyc") for p in ours)
        libraries = [p for p in pycs if p not in ours]
        assert all(not p.with_suffix(".py").exists() for p in libraries), name  # sourceless
        assert libraries or name == "dax"  # the DAX client loads on first use, not at import
        assert all(int.from_bytes(p.read_bytes()[4:8], "little") == 0b01 for p in pycs)  # unchecked hash
        handlers = CORE_HANDLERS if name == "core" else DAX_HANDLERS
        script = (
            "import importlib, importlib.util, os, sys\n"
            f"sys.path[:0] = [{str(asset)!r}]\n"
            f"for m in {list(handlers)!r}: importlib.import_module(m)\n"
            "ours = [m for m in list(sys.modules.values()) if (getattr(m, '__file__', None) or '')"
            f".startswith({str(asset)!r})]\n"
            "compiled = lambda f: f.endswith('.pyc') or os.path.exists(importlib.util.cache_from_source(f))\n"
            "print(sorted(m.__name__ for m in ours if not compiled(m.__file__)))"
        )
        result = subprocess.run(
            [IMPORTER, "-I", "-S", "-B", "-c", script], capture_output=True, text=True, check=True
        )
        assert result.stdout.strip() == "[]", f"{name}: modules imported without bytecode: {result.stdout}"


def test_without_the_target_interpreter_the_bundle_says_so_and_hashes_differently(monkeypatch, capsys):
    spec = core_bundle(HOST_ARCHITECTURE, TARGET_PYTHON)
    with_bytecode = spec.fingerprint()
    monkeypatch.setattr("lambda_bundling.bundling.find_interpreter", lambda version: None)
    assert spec.bytecode_interpreter() is None and spec.fingerprint() != with_bytecode
    LocalPythonBundler(spec)._compile_cold_path(Path("/nonexistent"))
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert f"no python{TARGET_PYTHON} on this host" in line


def test_the_assets_fit_their_size_budgets(assets):
    assert _size(assets["core"]) < CORE_BUDGET_BYTES, f"core asset is {_size(assets['core']) / 2**20:.1f} MiB"
    assert _size(assets["dax"]) < DAX_BUDGET_BYTES, f"DAX asset is {_size(assets['dax']) / 2**20:.1f} MiB"


def test_the_asset_carries_exactly_our_sources(assets):
    for source_dir in ("cachelib", "functions"):
        ours = sorted(
            p.relative_to(LAMBDA_ROOT / source_dir) for p in (LAMBDA_ROOT / source_dir).rglob("*.py")
        )
        shipped = sorted(
            p.relative_to(assets["core"] / source_dir) for p in (assets["core"] / source_dir).rglob("*.py")
        )
        assert shipped == ours


def test_the_asset_ships_the_rds_ca_bundle_the_database_client_verifies_against(assets):
    for asset in assets.values():
        shipped = asset / "cachelib" / "rds-ca-bundle.pem"
        assert shipped.read_bytes() == (LAMBDA_ROOT / "cachelib" / "rds-ca-bundle.pem").read_bytes()


def write_lock(root: Path, requirements: str, packages: list[LockedPackage]) -> None:
    """A lock as the lock script writes it, for hand-picked pins (the script itself needs the index)."""
    (root / "requirements.txt").write_text(requirements)
    (root / "requirements.lock").write_text(
        render_lock(
            requirements=["requirements.txt"],
            digest=inputs_digest(root, ["requirements.txt"]),
            targets=[target_label(f"manylinux2014_{arch}", "3.12") for arch in ("aarch64", "x86_64")],
            packages=packages,
        )
    )


def _spec(root: Path, **overrides) -> PythonBundleSpec:
    options = {
        "asset_root": root,
        "source_dirs": ["functions"],
        "requirements": ["requirements.txt"],
        "lock": "requirements.lock",
        "handler_modules": ["functions.handler"],
        "architecture": "arm64",
        "python_version": "3.12",
    } | overrides
    return PythonBundleSpec(**options)


def test_the_hash_depends_on_sources_and_the_lock_only(tmp_path):
    root = tmp_path / "lambda"
    (root / "functions").mkdir(parents=True)
    (root / "functions" / "handler.py").write_text("def lambda_handler(event, context):\n    return 1\n")
    write_lock(root, "six==1.17.0\n", [LockedPackage("six", "1.17.0", (SIX_WHEEL_SHA256,))])

    original = _spec(root).fingerprint()
    (root / "functions" / "__pycache__").mkdir()
    (root / "functions" / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"\0")
    (root / "functions" / "README.md").write_text("How the handler works.\n")
    (root / "requirements.txt").write_text("# The only pin.\nsix==1.17.0\n")
    assert _spec(root).fingerprint() == original  # caches, bytecode, docs and comments do not redeploy
    assert _spec(root, architecture="x86_64").fingerprint() != original
    write_lock(root, "six==1.17.0\n", [LockedPackage("six", "1.17.0", (SIX_WHEEL_SHA256, "0" * 64))])
    changed_lock = _spec(root).fingerprint()
    assert changed_lock != original
    (root / "functions" / "handler.py").write_text("def lambda_handler(event, context):\n    return 2\n")
    assert _spec(root).fingerprint() != changed_lock


def test_a_top_level_pin_added_without_regenerating_the_lock_stops_synth(tmp_path):
    root = tmp_path / "lambda"
    (root / "functions").mkdir(parents=True)
    write_lock(root, "six==1.17.0\n", [LockedPackage("six", "1.17.0", (SIX_WHEEL_SHA256,))])
    (root / "requirements.txt").write_text("six==1.17.0\nredis==8.1.0\n")
    with pytest.raises(BundlingError, match=r"requirements\.lock is out of date with requirements\.txt: run"):
        _spec(root).fingerprint()


def test_a_target_the_lock_was_not_resolved_for_stops_synth(tmp_path):
    root = tmp_path / "lambda"
    (root / "functions").mkdir(parents=True)
    write_lock(root, "six==1.17.0\n", [LockedPackage("six", "1.17.0", (SIX_WHEEL_SHA256,))])
    with pytest.raises(BundlingError, match=r"not resolved for cp3\.13-manylinux2014_aarch64"):
        _spec(root, python_version="3.13").fingerprint()


def test_a_lock_that_pins_botocore_stops_synth(tmp_path):
    root = tmp_path / "lambda"
    (root / "functions").mkdir(parents=True)
    write_lock(root, "", [LockedPackage("botocore", "1.44.8", ("0" * 64,))])
    with pytest.raises(BundlingError, match="pins botocore, which the Lambda runtime provides"):
        _spec(root).fingerprint()


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-dax.lock"])
def test_the_locks_leave_out_boto3_botocore_and_what_only_they_need(lock):
    pinned = set(read_lock(LAMBDA_ROOT / lock).packages)
    assert pinned, lock
    assert not pinned & {"boto3", "botocore", "s3transfer", "urllib3", "python-dateutil"}


@pytest.mark.parametrize("name", ["core", "dax"])
def test_the_asset_holds_exactly_the_locked_distributions(assets, name):
    spec = {"core": core_bundle, "dax": dax_bundle}[name](HOST_ARCHITECTURE, TARGET_PYTHON)
    lock = read_lock(LAMBDA_ROOT / spec.lock)
    locked = {package.name: package.version for package in lock.packages.values()}
    installed = {}
    for dist_info in assets[name].glob("*.dist-info"):
        distribution, version = dist_info.name.removesuffix(".dist-info").rsplit("-", 1)
        installed[normalized_name(distribution)] = version
    assert installed == locked


def _bundle(tmp_path, requirements: str, locked: list[LockedPackage] = (), **overrides) -> Path:
    root = tmp_path / "lambda"
    (root / "functions").mkdir(parents=True, exist_ok=True)
    (root / "functions" / "handler.py").write_text("def lambda_handler(event, context):\n    return 1\n")
    write_lock(root, requirements, list(locked))
    output = tmp_path / "out"
    LocalPythonBundler(_spec(root, **overrides)).bundle(output)
    return output


def test_a_locked_wheel_installs_with_its_hash_checked(tmp_path):
    output = _bundle(tmp_path, "six==1.17.0\n", [LockedPackage("six", "1.17.0", (SIX_WHEEL_SHA256,))])
    assert (output / "six.py").is_file()


def test_an_artifact_whose_hash_is_not_in_the_lock_stops_the_bundle_with_pips_message(tmp_path):
    tampered = [LockedPackage("six", "1.17.0", ("0" * 64,))]
    with pytest.raises(BundlingError, match=r"(?s)pip failed installing.*DO NOT MATCH THE HASHES.*six"):
        _bundle(tmp_path, "six==1.17.0\n", tampered)


def test_an_sdist_whose_hash_is_not_in_the_lock_is_never_built(tmp_path):
    tampered = [LockedPackage("amazon-dax-client", "2.1.0", ("0" * 64,))]
    with pytest.raises(
        BundlingError, match=r"(?s)pip failed building amazon-dax-client from its locked sdist.*DO NOT MATCH"
    ):
        _bundle(tmp_path, "amazon-dax-client==2.1.0\n", tampered, sdist_packages=["amazon-dax-client"])


def test_naming_boto3_in_the_requirements_stops_the_bundle(tmp_path):
    with pytest.raises(BundlingError, match="boto3: the Lambda runtime provides them"):
        _bundle(tmp_path, "boto3==1.44.5\n")


def test_an_unresolvable_requirement_fails_loudly_with_pips_message(tmp_path):
    with pytest.raises(BundlingError, match=r"(?s)pip failed installing requirements.lock.*redis==0\.0\.0"):
        # A version that was never published.
        _bundle(tmp_path, "redis==0.0.0\n", [LockedPackage("redis", "0.0.0", ("0" * 64,))])


def test_a_missing_handler_module_fails_the_bundle(tmp_path):
    with pytest.raises(BundlingError, match=r"handler modules missing from the bundle: functions\.absent"):
        _bundle(tmp_path, "", handler_modules=["functions.absent"])


def test_a_failing_bundler_stops_synth_instead_of_shipping_an_empty_asset(tmp_path):
    root = tmp_path / "lambda"
    (root / "functions").mkdir(parents=True)
    write_lock(root, "", [])
    spec = _spec(root, handler_modules=["functions.absent"])
    app = new_app(tmp_path / "cdk.out", bundle=True)
    stack = cdk.Stack(app, "Failing")
    with pytest.raises(Exception, match="handler modules missing"):
        lambda_.Function(
            stack,
            "Fn",
            code=python_lambda_code(spec),
            handler="functions.absent.h",
            runtime=lambda_.Runtime.PYTHON_3_12,
        )
        app.synth()
    # Only the CDK's scratch directory remains, never a finished asset that a deploy could upload.
    finished = [
        p for p in (tmp_path / "cdk.out").glob("asset.*") if not p.name.endswith(("-building", "-error"))
    ]
    assert finished == []


def test_the_locks_are_exactly_what_uv_resolves_from_the_top_level_requirements():
    """Re-resolves every lock (both bundles for every Lambda target, and the synth/test environment) with uv
    at the index cut-off each lock records, and compares: a changed pin or a hand edit is caught."""
    script = Path(__file__).resolve().parents[2] / "scripts" / "lock_requirements.py"
    result = subprocess.run(
        [sys.executable, str(script), "--check"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
