"""Regenerates the hash-pinned locks with uv: the Lambda bundles' and the synth/test environment's.

    make lock                                               # rewrite the locks whose inputs changed
    .venv/bin/python scripts/lock_requirements.py --upgrade  # re-resolve every lock against today's index
    .venv/bin/python scripts/lock_requirements.py --check    # exit 1 unless each lock is a fresh resolution

Lambda bundles (``lambda/requirements*.lock``): for each target (the Lambda runtime's Python on arm64 and
x86_64), ``uv pip compile --format pylock.toml --python-platform <arch>-manylinux2014
--python-version 3.12 --only-binary :all:`` (sdist-only packages excepted) names every distribution with the
sha256 of exactly the artifacts that target installs. A second resolution overrides boto3, botocore and
s3transfer away, which leaves out what only they need (the Lambda runtime provides all of it). The lock pins
that set with the union of the targets' hashes (``lambda_bundling.locks``'s format). Nothing
depends on the host's Python: the host only runs uv.

Synth and test environment (``requirements-dev.lock``): ``uv pip compile --universal --generate-hashes`` from
``requirements-dev.txt`` for every host Python from 3.11 on, installed by ``make setup`` with
``pip --require-hashes``. The editable ``caching-constructs`` package is left out (``make setup`` installs it
from the tree); the existing lock's pins are kept wherever the inputs still allow them.

Each lock records the index cut-off it was resolved at (``--exclude-newer``): ``--check`` resolves at that
cut-off, so its answer does not change when a package is released, and a lock moves only when its inputs
change (then to today's index) or on ``--upgrade``. Needs the package index (PyPI), nothing else.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
# Importable before make setup has installed anything: --check-inputs runs on a bare venv.
sys.path[:0] = [str(ROOT), str(ROOT / "constructs")]

from lambda_bundling.locks import (  # noqa: E402
    LOCK_GENERATOR,
    RUNTIME_PROVIDED_DISTRIBUTIONS,
    LockedPackage,
    inputs_digest,
    normalized_name,
    read_header,
    render_lock,
    target_label,
)

if TYPE_CHECKING:
    from lambda_bundling.bundling import PythonBundleSpec

# Every architecture a function may be configured with (functions.architecture).
ARCHITECTURES = ("arm64", "x86_64")
DEV_LOCK = "requirements-dev.lock"
DEV_INPUTS = (
    "requirements-dev.txt",
    "requirements.txt",
    "lambda/requirements.txt",
    "lambda/requirements-dax.txt",
)
DEV_MIN_PYTHON = "3.11"
# The project's own constructs, installed editable from the tree: no artifact to hash.
DEV_LEFT_OUT = ("caching-constructs",)


class LockGenerationError(RuntimeError):
    pass


def bundles() -> dict[str, Callable[[str, str], PythonBundleSpec]]:
    """The API stack's bundle specs, one per lock. Imports aws_cdk, so jsii runs on the pinned Node."""
    os.environ["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    from stacks.lambda_assets import core_bundle, dax_bundle

    return {"core": core_bundle, "dax": dax_bundle}


def targets() -> list[tuple[str, str]]:
    """Every architecture on the Lambda runtime's Python: what a function may run on."""
    from caching_constructs.core.python_function import PYTHON_RUNTIME

    return [(architecture, PYTHON_RUNTIME.name.removeprefix("python")) for architecture in ARCHITECTURES]


def uv(*arguments: str) -> str:
    """uv's stdout; never downloads a Python (the host's builds sdists) and reads no user configuration."""
    from uv import find_uv_bin

    command = [find_uv_bin(), *arguments, "--quiet", "--no-config", "--python", sys.executable]
    environment = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    result = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    if result.returncode != 0:
        raise LockGenerationError(f"{' '.join(command[1:])} failed:\n{result.stderr}")
    return result.stdout


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def resolve_target(spec: PythonBundleSpec, cutoff: str, overrides: Path | None) -> dict[str, LockedPackage]:
    """What ``spec``'s target installs: each distribution with the sha256 of the artifacts it would use."""
    arguments = [str(spec.asset_root / requirements) for requirements in spec.requirements]
    arguments += ["--format", "pylock.toml", "--exclude-newer", cutoff, "--no-header"]
    arguments += ["--python-platform", f"{spec.platform.split('_', 1)[1]}-manylinux2014"]
    arguments += ["--python-version", spec.python_version, "--only-binary", ":all:"]
    for name in spec.sdist_packages:
        arguments += ["--no-binary", name]
    if overrides is not None:
        arguments += ["--override", str(overrides)]
    resolved = {}
    for package in tomllib.loads(uv("pip", "compile", *arguments))["packages"]:
        name = normalized_name(package["name"])
        artifacts = [package["sdist"]] if "sdist" in package else package.get("wheels", [])
        hashes = tuple(sorted(artifact["hashes"]["sha256"] for artifact in artifacts))
        if not hashes:
            raise LockGenerationError(f"uv gave no artifact with a sha256 for {name}")
        resolved[name] = LockedPackage(name, package["version"], hashes)
    return resolved


def bundle_lock_text(name: str, cutoff: str) -> str:
    """The lock a resolution at ``cutoff`` gives for one bundle."""
    specs = [bundles()[name](architecture, python) for architecture, python in targets()]
    needed: dict[str, LockedPackage] = {}
    versions: dict[str, str] = {}
    names_per_target = {}
    with tempfile.TemporaryDirectory(prefix="lambda-lock-") as scratch:
        overrides = Path(scratch) / "runtime-provided.txt"
        # An override that never applies drops the distribution, and what only it needs, from the resolution.
        never = "sys_platform == 'never'"
        overrides.write_text("".join(f"{name} ; {never}\n" for name in RUNTIME_PROVIDED_DISTRIBUTIONS))
        for spec in specs:
            everything = resolve_target(spec, cutoff, None)
            bundled = resolve_target(spec, cutoff, overrides)
            names_per_target[target_label(spec.platform, spec.python_version)] = set(bundled)
            for package in everything.values():
                if versions.setdefault(package.name, package.version) != package.version:
                    raise LockGenerationError(
                        f"{package.name} resolves to {versions[package.name]} and {package.version} on "
                        "different targets; pin it in the top-level requirements so one lock fits them all"
                    )
            for package in bundled.values():
                known = needed.get(package.name, package)
                needed[package.name] = LockedPackage(
                    package.name, package.version, tuple(sorted({*known.hashes, *package.hashes}))
                )
    if len({frozenset(names) for names in names_per_target.values()}) != 1:
        raise LockGenerationError(
            f"the targets resolve to different sets of distributions {names_per_target}; one lock installed "
            "with --no-deps would give some targets a distribution they do not need"
        )
    first = specs[0]
    return render_lock(
        requirements=first.requirements,
        digest=inputs_digest(first.asset_root, first.requirements),
        targets=[target_label(spec.platform, spec.python_version) for spec in specs],
        packages=needed.values(),
        left_out=[f"{p}=={versions[p]}" for p in sorted(set(versions) - set(needed))],
        exclude_newer=cutoff,
    )


def dev_lock_text(cutoff: str, previous: str | None) -> str:
    """The synth/test environment's lock at ``cutoff``, keeping ``previous``'s pins where they still fit."""
    with tempfile.TemporaryDirectory(prefix="dev-lock-") as scratch:
        output = Path(scratch) / DEV_LOCK
        if previous is not None:
            output.write_text(previous)  # uv prefers the versions an existing output file pins
        arguments = [str(ROOT / DEV_INPUTS[0]), "--universal", "--python-version", DEV_MIN_PYTHON]
        arguments += ["--generate-hashes", "--exclude-newer", cutoff, "--no-header", "-o", str(output)]
        for name in DEV_LEFT_OUT:
            arguments += ["--no-emit-package", name]
        uv("pip", "compile", *arguments)
        # "# via -r <file>" annotations name the input's absolute path: keep the lock checkout-independent.
        body = output.read_text().replace(f"{ROOT}/", "")
    header = [
        f"# Generated by {LOCK_GENERATOR} (make lock) from {', '.join(DEV_INPUTS)}. Do not edit by hand.",
        f"# inputs-sha256: {inputs_digest(ROOT, DEV_INPUTS)}",
        f"# targets: universal-python{DEV_MIN_PYTHON}+",
        f"# exclude-newer: {cutoff}",
        "# Install: pip install --require-hashes --no-deps -r requirements-dev.lock (make setup does).",
    ]
    return "\n".join(header) + "\n" + body


def locks() -> dict[Path, tuple[str, Sequence[str]]]:
    """Every lock: its path, the kind of lock, and its inputs (relative to the lock's root)."""
    found: dict[Path, tuple[str, Sequence[str]]] = {ROOT / DEV_LOCK: ("dev", DEV_INPUTS)}
    for name, bundle in bundles().items():
        spec = bundle(*targets()[0])
        found[spec.asset_root / spec.lock] = (name, spec.requirements)
    return found


def lock_text(path: Path, kind: str, cutoff: str) -> str:
    previous = path.read_text() if path.is_file() else None
    return dev_lock_text(cutoff, previous) if kind == "dev" else bundle_lock_text(kind, cutoff)


def dev_lock_is_current() -> bool:
    """Offline: whether requirements-dev.lock was generated from today's requirement lines."""
    digest, _, _ = read_header((ROOT / DEV_LOCK).read_text() if (ROOT / DEV_LOCK).is_file() else "")
    return digest == inputs_digest(ROOT, DEV_INPUTS)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 if stale")
    mode.add_argument("--upgrade", action="store_true", help="resolve every lock against today's index")
    mode.add_argument(
        "--check-inputs", action="store_true", help=f"offline: exit 1 if {DEV_LOCK} is older than its inputs"
    )
    options = parser.parse_args(argv)
    if options.check_inputs:
        if dev_lock_is_current():
            return 0
        print(f"{DEV_LOCK} is out of date with {', '.join(DEV_INPUTS)}: run make lock", file=sys.stderr)
        return 1
    stale = []
    for path, (kind, inputs) in locks().items():
        existing = path.read_text() if path.is_file() else ""
        digest, _, recorded = read_header(existing)
        current = digest == inputs_digest(path.parent, inputs) and recorded is not None
        if options.check:
            if not current or lock_text(path, kind, recorded or now()) != existing:
                stale.append(path.relative_to(ROOT).as_posix())
            continue
        if current and not options.upgrade:
            print(f"{path.relative_to(ROOT)} is up to date", file=sys.stderr)
            continue
        path.write_text(lock_text(path, kind, now()))
        print(f"wrote {path.relative_to(ROOT)}", file=sys.stderr)
    if stale:
        print(f"stale: {', '.join(stale)}; run make lock and commit the result", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
