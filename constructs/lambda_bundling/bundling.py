"""Lambda assets for Python functions, bundled with pip on the host: no Docker engine needed.

``python_lambda_code()`` returns a ``lambda.Code`` whose bundling runs ``LocalPythonBundler``:

1. ``pip install --target <asset> --platform manylinux2014_<arch> --implementation cp --python-version <x.y>
   --only-binary=:all: --no-deps --require-hashes -r <lock>`` so that wheels match the Lambda platform, not
   the host, and exactly the locked artifacts are installed (``lambda_bundling.locks``): an artifact whose
   sha256 is not in the lock, or a lock that is stale against the top-level requirements files, stops the
   bundle.
   Packages that publish only an sdist (``amazon-dax-client``) must be listed in ``sdist_packages``: pip
   downloads the locked sdist (hash-checked) and builds it into a wheel on the host, the build fails unless
   that wheel is pure Python (``*-none-any``), and the install then accepts that wheel's own sha256.
2. boto3, botocore and s3transfer come with the Lambda runtime. A requirements file or lock that names one of
   them stops the bundle. ``amazon-dax-client`` needs botocore: the lock script leaves botocore out of the
   lock together with the distributions only it needs (urllib3, python-dateutil), and ``--no-deps`` keeps
   pip from pulling them back in.
3. The source folders (``cachelib/``, ``functions/``) are copied next to the installed packages, and every
   handler module must exist in the result.
4. Bytecode for the cold path, compiled by the Lambda runtime's own Python version
   (``lambda_bundling.bytecode``). A host without that interpreter gets one line saying so, and an asset
   that is correct without bytecode (its hash says which).

Any failure raises, which stops ``cdk synth``: there is no fallback to an empty or partial asset. The Docker
image in ``BundlingOptions`` is required by the CDK but is never started, because ``try_bundle`` returns True.

The asset hash is computed from the inputs (source files, lock file, target platform and Python version,
bundler format), so an unchanged function keeps its hash and is not redeployed, and bundling is
skipped entirely when ``cdk.out`` already holds that asset.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

from lambda_bundling.bytecode import BytecodeError, compile_cold_path, find_interpreter
from lambda_bundling.locks import (
    RUNTIME_PROVIDED_DISTRIBUTIONS,
    Lock,
    LockError,
    check_lock_is_current,
    normalized_name,
    requirement_lines,
    requirement_name,
    target_label,
)

# Bump when the bundle layout changes, so that every asset gets a new hash.
BUNDLE_FORMAT_VERSION = "4"

_PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}
_IGNORED_PARTS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
# Bytecode is the host's; documentation changes must not redeploy a function.
_IGNORED_SUFFIXES = (".pyc", ".pyo", ".md")


class BundlingError(RuntimeError):
    """The asset could not be built. The message says which step failed and shows pip's output."""


def source_files(directory: Path) -> list[Path]:
    """Files of a source folder that belong in the asset, in a stable order (no caches or bytecode)."""
    return sorted(
        path
        for path in directory.rglob("*")
        if path.is_file()
        and not _IGNORED_PARTS.intersection(path.relative_to(directory).parts)
        and not path.name.endswith(_IGNORED_SUFFIXES)
    )


class PythonBundleSpec:
    """What goes into one asset: source folders under ``asset_root``, the lock and the target.

    :param asset_root: folder holding the sources and requirements files (the repository's ``lambda/``).
    :param source_dirs: folders under ``asset_root`` copied into the asset as they are.
    :param requirements: top-level requirements files under ``asset_root``, exact pins expected.
    :param lock: the hash-pinned lock generated from ``requirements`` (``lambda_bundling.locks``), under
        ``asset_root``; it is what gets installed.
    :param handler_modules: dotted modules that must exist in the bundle, e.g. ``functions.product_api``.
    :param architecture: ``arm64`` or ``x86_64``.
    :param python_version: target interpreter, e.g. ``3.12``.
    :param sdist_packages: packages allowed to be built from an sdist (must give a pure-Python wheel).
    :param prune: installed sub-packages to leave out, relative to the asset root (e.g. a library's unused
        web framework). Each must exist after install, so a stale entry fails the bundle. Default none.
    """

    def __init__(
        self,
        *,
        asset_root: Path,
        source_dirs: Sequence[str],
        requirements: Sequence[str],
        lock: str,
        handler_modules: Sequence[str],
        architecture: str,
        python_version: str,
        sdist_packages: Sequence[str] = (),
        prune: Sequence[str] = (),
    ) -> None:
        if architecture not in _PLATFORMS:
            raise ValueError(f"architecture must be one of {sorted(_PLATFORMS)}, got {architecture!r}")
        if not re.fullmatch(r"3\.\d+", python_version):
            raise ValueError(f"python_version must look like '3.12', got {python_version!r}")
        self.asset_root = Path(asset_root).resolve()
        self.source_dirs = tuple(source_dirs)
        self.requirements = tuple(requirements)
        self.lock = lock
        self.handler_modules = tuple(handler_modules)
        self.architecture = architecture
        self.python_version = python_version
        self.sdist_packages = tuple(sorted(normalized_name(name) for name in sdist_packages))
        self.prune = tuple(sorted(prune))
        for relative in self.prune:
            if Path(relative).is_absolute() or ".." in Path(relative).parts:
                raise ValueError(f"prune entries are paths inside the asset, got {relative!r}")
        for relative in (*self.source_dirs, *self.requirements):
            if not (self.asset_root / relative).exists():
                raise ValueError(f"{relative!r} does not exist under the asset root {self.asset_root}")

    @property
    def platform(self) -> str:
        return _PLATFORMS[self.architecture]

    def bytecode_interpreter(self) -> str | None:
        """The host's ``python<x.y>`` matching the Lambda runtime, or None (the asset then ships no
        bytecode; a cold start compiles what it imports). Found on PATH or among pyenv's versions, and
        only if it runs and reports that version (a pyenv shim for an inactive version does not)."""
        return find_interpreter(self.python_version)

    def current_lock(self) -> Lock:
        """The lock, checked against the requirements files and the target; raises ``BundlingError``."""
        forbidden = sorted(
            {
                requirement_name(line)
                for requirements in self.requirements
                for line in requirement_lines(self.asset_root / requirements)
            }
            & RUNTIME_PROVIDED_DISTRIBUTIONS
        )
        if forbidden:
            raise BundlingError(
                f"requirements name {', '.join(forbidden)}: the Lambda runtime provides them; remove the pin"
            )
        target = target_label(self.platform, self.python_version)
        try:
            lock = check_lock_is_current(self.asset_root, self.requirements, self.lock, target)
        except LockError as error:
            raise BundlingError(str(error)) from error
        unlocked = [name for name in self.sdist_packages if name not in lock.packages]
        if unlocked:
            raise BundlingError(f"sdist package {', '.join(unlocked)} is not pinned in {self.lock}")
        return lock

    def fingerprint(self) -> str:
        """sha256 over every input of the bundle; equal inputs give an equal asset hash on any machine.

        The lock stands for the requirements files (its header carries their digest), and a stale lock
        raises here, so synth stops even when ``cdk.out`` already holds an asset with this hash.
        """
        self.current_lock()
        digest = hashlib.sha256()

        def add(label: str, data: bytes) -> None:
            digest.update(f"{label}\0{len(data)}\0".encode())
            digest.update(data)

        add("format", BUNDLE_FORMAT_VERSION.encode())
        add("target", f"{self.platform} cp{self.python_version}".encode())
        add("bytecode", b"cold-path" if self.bytecode_interpreter() else b"no")
        add("sdist", ",".join(self.sdist_packages).encode())
        add("prune", ",".join(self.prune).encode())
        add(f"lock:{self.lock}", (self.asset_root / self.lock).read_bytes())
        for source_dir in self.source_dirs:
            root = self.asset_root / source_dir
            for path in source_files(root):
                add(f"source:{source_dir}/{path.relative_to(root).as_posix()}", path.read_bytes())
        return digest.hexdigest()


@jsii.implements(cdk.ILocalBundling)
class LocalPythonBundler:
    """Builds the asset with the host's pip for the Lambda platform (see the module docstring)."""

    def __init__(self, spec: PythonBundleSpec, *, pip_command: Sequence[str] | None = None) -> None:
        self._spec = spec
        self._pip = tuple(pip_command or (sys.executable, "-m", "pip"))

    def try_bundle(self, output_dir: str, options: cdk.BundlingOptions) -> bool:
        """Called by the CDK before it would start Docker: returns True or raises, never False."""
        try:
            self.bundle(Path(output_dir))
        except BundlingError:
            raise
        except Exception as error:  # an unexpected failure must still stop synth with the cause
            raise BundlingError(f"bundling {self._spec.asset_root} failed: {error!r}") from error
        return True

    def bundle(self, output_dir: Path) -> None:
        spec = self._spec
        lock = spec.current_lock()
        output_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="wheelhouse-") as wheelhouse:
            built = self._build_sdist_wheels(lock, Path(wheelhouse))
            self._pip_install(lock, built, output_dir, Path(wheelhouse))
        shutil.rmtree(output_dir / "bin", ignore_errors=True)  # console scripts cannot run in Lambda
        for relative in spec.prune:
            target = output_dir / relative
            if not target.exists():
                raise BundlingError(
                    f"prune entry {relative!r} is not in the installed packages; update the list"
                )
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink()
        for source_dir in spec.source_dirs:
            self._copy_sources(spec.asset_root / source_dir, output_dir / source_dir)
        missing = [m for m in spec.handler_modules if not module_file(output_dir, m).is_file()]
        if missing:
            raise BundlingError(f"handler modules missing from the bundle: {', '.join(missing)}")
        self._compile_cold_path(output_dir)

    def _compile_cold_path(self, output_dir: Path) -> None:
        spec = self._spec
        interpreter = spec.bytecode_interpreter()
        if interpreter is None:
            print(
                f"bundling {spec.lock}: no python{spec.python_version} on this host, so the asset ships "
                "without bytecode (correct, but a cold start compiles every module it imports)",
                file=sys.stderr,
            )
            return
        try:
            compile_cold_path(
                output_dir, interpreter, source_dirs=spec.source_dirs, handler_modules=spec.handler_modules
            )
        except BytecodeError as error:
            raise BundlingError(str(error)) from error

    def _build_sdist_wheels(self, lock: Lock, wheelhouse: Path) -> dict[str, str]:
        """Builds each sdist package from its hash-checked sdist; returns the built wheels' sha256 by name.

        The build backend (setuptools, wheel) that pip installs into its isolated build environment is
        not hash-checked: pip has no way to lock build dependencies. The result must be pure Python.
        """
        built: dict[str, str] = {}
        for name in self._spec.sdist_packages:
            pin = wheelhouse / f"{name}.sdist.txt"
            pin.write_text(lock.packages[name].requirement() + "\n")
            self._run_pip(
                ["wheel", "--no-deps", "--require-hashes", "--wheel-dir", str(wheelhouse), "-r", str(pin)],
                f"building {name} from its locked sdist",
            )
            wheels = [w for w in wheelhouse.glob("*.whl") if normalized_name(w.name.split("-")[0]) == name]
            impure = [wheel.name for wheel in wheels if not wheel.stem.endswith("-none-any")]
            if impure:
                raise BundlingError(
                    f"sdist packages built platform-specific wheels on the host: {', '.join(impure)}"
                )
            if len(wheels) != 1:
                raise BundlingError(f"building {name} gave {len(wheels)} wheels, expected one")
            built[name] = hashlib.sha256(wheels[0].read_bytes()).hexdigest()
        return built

    def _pip_install(self, lock: Lock, built: dict[str, str], output_dir: Path, wheelhouse: Path) -> None:
        """Installs exactly the locked distributions; wheels built from a locked sdist add their own hash."""
        spec = self._spec
        if not lock.packages:
            return
        requirements = wheelhouse / "install.lock"
        requirements.write_text(
            "\n".join(
                package.requirement(extra_hashes=[built[name]] if name in built else [])
                for name, package in sorted(lock.packages.items())
            )
            + "\n"
        )
        arguments = [
            "install",
            "--target",
            str(output_dir),
            "--platform",
            spec.platform,
            "--implementation",
            "cp",
            "--python-version",
            spec.python_version,
            "--only-binary=:all:",
            # The lock is the whole closure; resolving again could only pull in what it leaves out (botocore).
            "--no-deps",
            "--require-hashes",
            "--find-links",
            str(wheelhouse),
            # Bytecode compiled by the host interpreter is for the wrong Python version.
            "--no-compile",
            "--no-input",
            "--requirement",
            str(requirements),
        ]
        self._run_pip(arguments, f"installing {spec.lock} for {spec.platform}")

    def _run_pip(self, arguments: Sequence[str], step: str) -> None:
        command = [*self._pip, *arguments, "--disable-pip-version-check"]
        result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            output = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
            raise BundlingError(f"pip failed {step} (exit {result.returncode}):\n{output}")

    @staticmethod
    def _copy_sources(source: Path, target: Path) -> None:
        if target.exists():
            raise BundlingError(f"{target.name!r} is both a source folder and an installed package")
        for path in source_files(source):
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)


def module_file(root: Path, module: str) -> Path:
    """Where ``module`` lives under ``root``: ``functions.product_api`` -> ``functions/product_api.py``."""
    return root.joinpath(*module.split(".")).with_suffix(".py")


def python_lambda_code(spec: PythonBundleSpec) -> lambda_.Code:
    """A ``lambda.Code`` asset built by ``LocalPythonBundler`` with an input-derived hash."""
    return lambda_.Code.from_asset(
        str(spec.asset_root),
        asset_hash_type=cdk.AssetHashType.CUSTOM,
        asset_hash=spec.fingerprint(),
        bundling=cdk.BundlingOptions(
            # Required by the CDK; never pulled or run, because local bundling always succeeds or raises.
            image=lambda_.Runtime(
                f"python{spec.python_version}", lambda_.RuntimeFamily.PYTHON
            ).bundling_image,
            # jsii hands try_bundle the options as one struct; its generated protocol spells them as keywords.
            local=cast(cdk.ILocalBundling, LocalPythonBundler(spec)),
            output_type=cdk.BundlingOutput.NOT_ARCHIVED,
        ),
    )
