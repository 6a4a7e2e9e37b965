"""The repository layout keeps `import constructs` pointing at the library and `lambda/` out of imports."""

from __future__ import annotations

import subprocess
import sys

from tests.infra.conftest import ROOT


def _import_from_the_repository_root(module: str) -> str:
    """Where `module` comes from when a script runs from the root, as `python app.py` does."""
    return subprocess.run(
        [sys.executable, "-c", f"import {module}; print({module}.__file__)"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()


def test_the_constructs_folder_does_not_shadow_the_constructs_library():
    assert not (ROOT / "constructs" / "__init__.py").exists()
    assert "site-packages" in _import_from_the_repository_root("constructs")


def test_the_projects_constructs_import_as_their_own_package():
    assert _import_from_the_repository_root("caching_constructs").startswith(
        str(ROOT / "constructs" / "caching_constructs")
    )


def test_lambda_is_an_asset_folder_not_a_package():
    assert not (ROOT / "lambda" / "__init__.py").exists()
    assert (ROOT / "lambda" / "cachelib" / "__init__.py").exists()
    assert (ROOT / "lambda" / "functions" / "__init__.py").exists()


def test_no_two_test_modules_share_a_basename():
    """pytest imports test modules by basename (no packages under tests/): a second `test_x.py` in another
    folder stops collection of the whole suite, and running one folder at a time never shows it."""
    from collections import Counter

    names = Counter(path.name for path in (ROOT / "tests").rglob("*.py") if path.name != "conftest.py")
    assert [name for name, count in names.items() if count > 1] == []
