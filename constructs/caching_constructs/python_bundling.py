"""Lambda assets for Python functions, bundled with pip on the host: no Docker engine needed.

``python_lambda_code()`` returns a ``lambda.Code`` whose bundling runs ``LocalPythonBundler``:

1. ``pip install --target <asset> --platform manylinux2014_<arch> --implementation cp --python-version <x.y>
   --only-binary=:all: -r <requirements>`` so that compiled wheels match the Lambda platform, not the host.
   Packages that publish only an sdist (``amazon-dax-client``) must be listed in ``sdist_packages``: they are
   first built into a wheel on the host, and the build fails unless that wheel is pure Python
   (``*-none-any``), because a host-compiled extension would not run on the Lambda platform.
2. boto3, botocore and s3transfer come with the Lambda runtime. A requirements file that names one of them
   stops the bundle; when a dependency pulls one in (``amazon-dax-client`` needs botocore), it is removed
   from the asset together with the distributions only it needed (botocore's urllib3 and python-dateutil,
   which the runtime ships with it), and the bundler says so on stderr.
3. The source folders (``cachelib/``, ``functions/``) are copied next to the installed packages, and every
   handler module must exist in the result.

Any failure raises, which stops ``cdk synth``: there is no fallback to an empty or partial asset. The Docker
image in ``BundlingOptions`` is required by the CDK but is never started, because ``try_bundle`` returns True.

The asset hash is computed from the inputs (source files, requirements files, target platform and Python
version, bundler format), so an unchanged function keeps its hash and is not redeployed, and bundling is
skipped entirely when ``cdk.out`` already holds that asset.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

# Bump when the bundle layout changes, so that every asset gets a new hash.
BUNDLE_FORMAT_VERSION = "2"

# Provided by every Lambda Python runtime; bundling them only adds megabytes and version skew.
RUNTIME_PROVIDED_DISTRIBUTIONS = frozenset({"boto3", "botocore", "s3transfer"})

_PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}
_IGNORED_PARTS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
# Bytecode is the host's; documentation changes must not redeploy a function.
_IGNORED_SUFFIXES = (".pyc", ".pyo", ".md")
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


class BundlingError(RuntimeError):
    """The asset could not be built. The message says which step failed and shows pip's output."""


def normalized_name(name: str) -> str:
    """The PEP 503 form of a distribution name: ``Amazon_DAX.client`` -> ``amazon-dax-client``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_lines(requirements_file: Path) -> list[str]:
    """The requirement specifiers of a requirements file, without comments, blank lines and options."""
    lines = []
    for raw in requirements_file.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            lines.append(line)
    return lines


def requirement_name(line: str) -> str:
    match = _REQUIREMENT_NAME.match(line)
    if match is None:
        raise BundlingError(f"cannot read a package name from requirement {line!r}")
    return normalized_name(match.group(1))


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
    """What goes into one asset: source folders under ``asset_root``, requirements files and the target.

    :param asset_root: folder holding the sources and requirements files (the repository's ``lambda/``).
    :param source_dirs: folders under ``asset_root`` copied into the asset as they are.
    :param requirements: requirements files under ``asset_root``, exact pins expected.
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

    def fingerprint(self) -> str:
        """sha256 over every input of the bundle; equal inputs give an equal asset hash on any machine."""
        digest = hashlib.sha256()

        def add(label: str, data: bytes) -> None:
            digest.update(f"{label}\0{len(data)}\0".encode())
            digest.update(data)

        add("format", BUNDLE_FORMAT_VERSION.encode())
        add("target", f"{self.platform} cp{self.python_version}".encode())
        add("sdist", ",".join(self.sdist_packages).encode())
        add("prune", ",".join(self.prune).encode())
        for requirements in self.requirements:
            add(f"requirements:{requirements}", (self.asset_root / requirements).read_bytes())
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
        output_dir.mkdir(parents=True, exist_ok=True)
        requested = self._requested_names()
        forbidden = sorted(requested & RUNTIME_PROVIDED_DISTRIBUTIONS)
        if forbidden:
            raise BundlingError(
                f"requirements name {', '.join(forbidden)}: the Lambda runtime provides them; remove the pin"
            )
        with tempfile.TemporaryDirectory(prefix="wheelhouse-") as wheelhouse:
            self._build_sdist_wheels(Path(wheelhouse))
            self._pip_install(output_dir, Path(wheelhouse))
        unneeded = RUNTIME_PROVIDED_DISTRIBUTIONS | orphaned_distributions(output_dir, requested)
        stripped = strip_distributions(output_dir, unneeded)
        if stripped:
            print(
                f"[bundle] left out (the Lambda runtime provides them): {', '.join(stripped)}",
                file=sys.stderr,
            )
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

    def _requested_names(self) -> set[str]:
        return {
            requirement_name(line)
            for requirements in self._spec.requirements
            for line in requirement_lines(self._spec.asset_root / requirements)
        }

    def _build_sdist_wheels(self, wheelhouse: Path) -> None:
        pins = {
            requirement_name(line): line
            for requirements in self._spec.requirements
            for line in requirement_lines(self._spec.asset_root / requirements)
        }
        for name in self._spec.sdist_packages:
            if name not in pins:
                raise BundlingError(
                    f"sdist package {name!r} is not pinned in {', '.join(self._spec.requirements)}"
                )
            self._run_pip(
                ["wheel", "--no-deps", "--wheel-dir", str(wheelhouse), pins[name]], f"building {name}"
            )
        impure = [wheel.name for wheel in wheelhouse.glob("*.whl") if not wheel.stem.endswith("-none-any")]
        if impure:
            raise BundlingError(
                f"sdist packages built platform-specific wheels on the host: {', '.join(impure)}"
            )

    def _pip_install(self, output_dir: Path, wheelhouse: Path) -> None:
        spec = self._spec
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
            "--find-links",
            str(wheelhouse),
            # Bytecode compiled by the host interpreter is for the wrong Python version.
            "--no-compile",
            "--no-input",
        ]
        for requirements in spec.requirements:
            arguments += ["--requirement", str(spec.asset_root / requirements)]
        self._run_pip(arguments, f"installing {', '.join(spec.requirements)} for {spec.platform}")

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


def installed_requirements(site_dir: Path) -> dict[str, set[str]]:
    """Each installed distribution and the names it requires (extras' requirements left out)."""
    graph: dict[str, set[str]] = {}
    for dist_info in site_dir.glob("*.dist-info"):
        metadata = (dist_info / "METADATA").read_text(errors="replace").split("\n\n", 1)[0]
        name: str | None = None
        requires: set[str] = set()
        for line in metadata.splitlines():
            key, _, value = line.partition(": ")
            if key == "Name":
                name = normalized_name(value.strip())
            elif key == "Requires-Dist" and "extra ==" not in value.split(";", 1)[-1]:
                requires.add(requirement_name(value))
        if name is None:
            raise BundlingError(f"{dist_info.name} has no Name in its METADATA")
        graph[name] = requires
    return graph


def orphaned_distributions(site_dir: Path, requested: Iterable[str]) -> set[str]:
    """Installed distributions that only runtime-provided ones need (botocore's urllib3 and dateutil).

    Walks the requirements from what the requirements files name, without entering the runtime-provided
    distributions; whatever the walk never reaches is there only for them and goes with them.
    """
    graph = installed_requirements(site_dir)
    needed: set[str] = set()
    pending = [name for name in requested if name not in RUNTIME_PROVIDED_DISTRIBUTIONS]
    while pending:
        name = pending.pop()
        if name in needed or name in RUNTIME_PROVIDED_DISTRIBUTIONS:
            continue
        needed.add(name)
        pending.extend(graph.get(name, ()))
    return set(graph) - needed - RUNTIME_PROVIDED_DISTRIBUTIONS


def strip_distributions(site_dir: Path, names: Iterable[str]) -> list[str]:
    """Removes the named distributions installed in ``site_dir`` (files listed in their RECORD)."""
    wanted = {normalized_name(name) for name in names}
    stripped = []
    for dist_info in sorted(site_dir.glob("*.dist-info")):
        name = normalized_name(dist_info.name[: -len(".dist-info")].rsplit("-", 1)[0])
        if name not in wanted:
            continue
        record = dist_info / "RECORD"
        if not record.is_file():
            raise BundlingError(f"{dist_info.name} has no RECORD; cannot remove it from the asset")
        top_levels = set()
        for line in record.read_text().splitlines():
            relative = line.split(",", 1)[0]
            if relative and not relative.startswith(".."):
                top_levels.add(Path(relative).parts[0])
        for top_level in top_levels:
            path = site_dir / top_level
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        stripped.append(name)
    return stripped


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
            local=LocalPythonBundler(spec),
            output_type=cdk.BundlingOutput.NOT_ARCHIVED,
        ),
    )
