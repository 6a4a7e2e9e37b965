"""Regenerates the hash-pinned locks of the Lambda bundles from their top-level requirements files.

    .venv/bin/python scripts/lock_lambda_requirements.py           # rewrite lambda/*.lock
    .venv/bin/python scripts/lock_lambda_requirements.py --check   # exit 1 if a lock differs from a fresh one

For each bundle of the API stack (core: requirements.txt; DAX: requirements.txt + requirements-dax.txt) pip
resolves the top-level pins for every target in ``TARGETS`` (``pip install --dry-run --report`` with
``--platform manylinux2014_<arch> --implementation cp --python-version <x.y> --only-binary=:all:``, the same
options as the bundler). The lock pins every resolved distribution with the sha256 of each artifact pip chose
for any target, except boto3/botocore/s3transfer and what only they need (the Lambda runtime provides them).
sdist-only packages (amazon-dax-client) are locked by the hash of the sdist from the index; the script builds
that sdist on the host only to read the wheel's dependencies. Needs the package index (PyPI), nothing else.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# The bundle specs come from the stack module, which imports aws_cdk: run jsii on the pinned Node (see the
# Makefile), not on the machine's end-of-life one.
os.environ["PATH"] = f"{ROOT / '.venv' / 'node-bin'}{os.pathsep}{os.environ.get('PATH', '')}"

from caching_constructs.python_bundling import PythonBundleSpec  # noqa: E402
from caching_constructs.requirements_lock import (  # noqa: E402
    LockedPackage,
    inputs_digest,
    needed_without_runtime,
    normalized_name,
    render_lock,
    requirement_lines,
    requirement_name,
    target_label,
)
from stacks.api_stack import core_bundle, dax_bundle  # noqa: E402

BUNDLES = {"core": core_bundle, "dax": dax_bundle}
# The Lambda targets (arm64 by default, x86_64 selectable) on Python 3.12, plus Python 3.11 because the
# bundle test builds an x86_64 asset for this host's interpreter so that it can import it.
TARGETS = tuple((architecture, python) for architecture in ("arm64", "x86_64") for python in ("3.11", "3.12"))


class LockGenerationError(RuntimeError):
    pass


def pip(*arguments: str) -> None:
    command = [sys.executable, "-m", "pip", *arguments, "--quiet", "--disable-pip-version-check"]
    result = subprocess.run([*command, "--no-input"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise LockGenerationError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")


def locked_sdists(spec: PythonBundleSpec, workdir: Path, wheelhouse: Path) -> dict[str, str]:
    """Downloads each sdist package's sdist, returns its sha256, and builds it into ``wheelhouse``."""
    pins = {
        requirement_name(line): line
        for requirements in spec.requirements
        for line in requirement_lines(spec.asset_root / requirements)
    }
    hashes = {}
    for name in spec.sdist_packages:
        if name not in pins:
            pinned_in = ", ".join(spec.requirements)
            raise LockGenerationError(f"sdist package {name!r} is not pinned in {pinned_in}")
        download = workdir / f"sdist-{name}"
        pip("download", "--no-deps", "--no-binary", ":all:", "--dest", str(download), pins[name])
        (sdist,) = download.iterdir()
        hashes[name] = hashlib.sha256(sdist.read_bytes()).hexdigest()
        pip("wheel", "--no-deps", "--wheel-dir", str(wheelhouse), str(sdist))
    return hashes


def resolve(spec: PythonBundleSpec, wheelhouse: Path, report: Path) -> dict[str, dict]:
    """What pip installs for ``spec``'s target: name -> version, artifact sha256 and dependency names."""
    arguments = ["install", "--dry-run", "--ignore-installed", "--report", str(report)]
    arguments += ["--platform", spec.platform, "--implementation", "cp"]
    arguments += ["--python-version", spec.python_version]
    arguments += ["--only-binary=:all:", "--find-links", str(wheelhouse)]
    for requirements in spec.requirements:
        arguments += ["--requirement", str(spec.asset_root / requirements)]
    pip(*arguments)
    resolved = {}
    for item in json.loads(report.read_text())["install"]:
        metadata = item["metadata"]
        sha256 = item["download_info"].get("archive_info", {}).get("hashes", {}).get("sha256")
        if sha256 is None:
            raise LockGenerationError(f"the index gave no sha256 for {item['download_info']['url']}")
        resolved[normalized_name(metadata["name"])] = {
            "version": metadata["version"],
            "sha256": sha256,
            "requires": {
                requirement_name(requirement)
                for requirement in metadata.get("requires_dist", [])
                if "extra ==" not in requirement.partition(";")[2]
            },
        }
    return resolved


def lock_text(name: str) -> tuple[str, Path]:
    """The lock that a fresh resolution gives for one bundle, and where it belongs."""
    first = BUNDLES[name](*TARGETS[0])
    with tempfile.TemporaryDirectory(prefix="lambda-lock-") as scratch:
        workdir = Path(scratch)
        wheelhouse = workdir / "wheelhouse"
        sdist_hashes = locked_sdists(first, workdir, wheelhouse)
        versions: dict[str, str] = {}
        hashes: dict[str, set[str]] = {}
        graph: dict[str, set[str]] = {}
        names_per_target: dict[str, set[str]] = {}
        for architecture, python in TARGETS:
            spec = BUNDLES[name](architecture, python)
            label = target_label(spec.platform, spec.python_version)
            resolved = resolve(spec, wheelhouse, workdir / f"{label}.json")
            names_per_target[label] = set(resolved)
            for package, found in resolved.items():
                if versions.setdefault(package, found["version"]) != found["version"]:
                    raise LockGenerationError(
                        f"{package} resolves to {versions[package]} and {found['version']} on different "
                        "targets; pin it in the top-level requirements so that one lock fits every target"
                    )
                hashes.setdefault(package, set()).add(sdist_hashes.get(package, found["sha256"]))
                graph.setdefault(package, set()).update(found["requires"])
    if len({frozenset(names) for names in names_per_target.values()}) != 1:
        raise LockGenerationError(
            f"the targets resolve to different sets of distributions {names_per_target}; one lock installed "
            "with --no-deps would give some targets a distribution they do not need"
        )
    roots = {
        requirement_name(line)
        for requirements in first.requirements
        for line in requirement_lines(first.asset_root / requirements)
    }
    # Markers other than extras are not evaluated, so the walk may name a conditional dependency that no
    # target resolved (redis's async-timeout on old Pythons); only resolved distributions can be locked.
    needed = needed_without_runtime(graph, roots) & set(versions)
    text = render_lock(
        requirements=first.requirements,
        digest=inputs_digest(first.asset_root, first.requirements),
        targets=[target_label(BUNDLES[name](a, p).platform, p) for a, p in TARGETS],
        packages=[LockedPackage(p, versions[p], tuple(sorted(hashes[p]))) for p in needed],
        left_out=[f"{p}=={versions[p]}" for p in set(versions) - needed],
    )
    return text, first.asset_root / first.lock


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 if stale")
    options = parser.parse_args()
    stale = []
    for name in BUNDLES:
        text, path = lock_text(name)
        if options.check:
            if not path.is_file() or path.read_text() != text:
                stale.append(path.name)
        elif not path.is_file() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path}", file=sys.stderr)
        else:
            print(f"{path} is up to date", file=sys.stderr)
    if stale:
        print(
            f"stale: {', '.join(stale)}; run .venv/bin/python scripts/lock_lambda_requirements.py",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
