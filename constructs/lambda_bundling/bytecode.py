"""Step 4 of a Python Lambda bundle (``lambda_bundling.bundling``): bytecode for the cold path.

Lambda's code directory is read-only, so without bytecode a cold start compiles every module it imports. The
Lambda runtime's own Python version (``python3.12``, found on this host) imports each handler from the asset
alone, and every module that import loads from the asset is compiled (``unchecked-hash`` pycs: the deployed
code never changes under them). Our own code keeps its source; an installed library's cold-path module becomes
a sourceless pyc, so the asset stays within its size budget.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path


class BytecodeError(RuntimeError):
    """The target interpreter could not import the handlers or compile what they load."""


# Runs in the target interpreter with only the asset on sys.path: import the handlers, then compile exactly
# the asset modules that import loaded. Our own code (the source folders) keeps its source and gets an
# unchecked-hash pyc in __pycache__; an installed library's module is replaced by a sourceless pyc next to
# where its source was (its tracebacks show file and line, not the text): that keeps the cold path's
# bytecode from doubling the asset. argv: asset dir, our folders (comma-separated), then handler modules.
_COMPILE_COLD_PATH = """
import importlib, os, py_compile, sys
root, ours = sys.argv[1], tuple(sys.argv[2].split(","))
sys.path[:0] = [root]
for name in sys.argv[3:]:
    importlib.import_module(name)
count = 0
for module in list(sys.modules.values()):
    path = getattr(module, "__file__", None) or ""
    if not (path.startswith(root + "/") and path.endswith(".py")):
        continue
    mode = py_compile.PycInvalidationMode.UNCHECKED_HASH
    if path[len(root) + 1:].split("/")[0] in ours:
        py_compile.compile(path, doraise=True, invalidation_mode=mode)
    else:
        py_compile.compile(path, cfile=path + "c", doraise=True, invalidation_mode=mode)
        os.remove(path)
    count += 1
print(count)
"""


@functools.cache
def find_interpreter(version: str) -> str | None:
    """The host's ``python<version>``, on PATH or among pyenv's versions, and only if it runs and reports
    that version (a pyenv shim for an inactive version does not); None when there is none."""
    name = f"python{version}"
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = [shutil.which(name), *sorted(map(str, pyenv_root.glob(f"versions/{version}.*/bin/{name}")))]
    for candidate in filter(None, candidates):
        try:
            probe = subprocess.run(  # noqa: S603 - a python<x.y> found on this host
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except OSError:
            continue
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    return None


def compile_cold_path(
    asset: Path, interpreter: str, *, source_dirs: Sequence[str], handler_modules: Sequence[str]
) -> None:
    """Import ``handler_modules`` from ``asset`` alone with ``interpreter`` and compile what that loads;
    ``source_dirs`` are our own folders, which keep their source."""
    result = subprocess.run(  # noqa: S603 - the host's python<x.y>, our own script, our own asset
        [
            interpreter,
            "-I",
            "-S",
            "-B",  # only the pycs compiled on purpose, none left behind by the imports
            "-c",
            _COMPILE_COLD_PATH,
            str(asset.resolve()),
            ",".join(source_dirs),
            *handler_modules,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        output = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise BytecodeError(f"compiling the cold path with {interpreter} failed:\n{output}")
