"""One contract between the CDK app and the functions (``lambda/caching_contract``): both import the same
files, it needs nothing beyond the standard library, and no name in it is typed a second time anywhere."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from caching_contract import http, metrics, services, variables
from tests.infra.conftest import ROOT

CONTRACT = ROOT / "lambda" / "caching_contract"
SERVICES = [value for value in vars(services).values() if isinstance(value, services.Service)]
# Where a retyped name would hide: the CDK app and the functions.
SOURCES = (
    "app.py",
    "config",
    "stacks",
    "constructs",
    "cost",
    "scripts",
    "lambda/cachelib",
    "lambda/functions",
)


def _contract_names() -> set[str]:
    """Every name whose spelling both sides depend on: variables, metrics and dimensions, headers."""
    names = {
        value
        for module in (variables, metrics)
        for constant, value in vars(module).items()
        if constant.isupper() and isinstance(value, str)
    }
    names |= {http.IDEMPOTENCY_KEY_HEADER, http.IDEMPOTENT_REPLAYED_HEADER, http.CORRELATION_HEADER}
    names |= {http.COLLECTION_PATH, http.ITEM_ROUTE, http.DAX_ITEM_ROUTE}
    names |= {name for service in SERVICES for name in (service.id, service.name, service.handler)}
    # Words with a meaning of their own elsewhere (an engine, a role, a tag key) are not names.
    return names - {
        *variables.ENGINES,
        *variables.ROLES,
        metrics.SERVICE_DIMENSION,
        metrics.ENVIRONMENT_DIMENSION,
    }


def retyped_names(source: str, names: set[str]) -> list[str]:
    """String literals of ``source`` (docstrings aside) that spell one of ``names`` exactly."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value in names and id(node) not in docstrings
    ]


def _python_files() -> list[Path]:
    files: list[Path] = []
    for source in SOURCES:
        path = ROOT / source
        files.extend([path] if path.is_file() else sorted(path.rglob("*.py")))
    return files


def test_no_name_of_the_contract_is_typed_a_second_time():
    names = _contract_names()
    found = {
        str(path.relative_to(ROOT)): hits
        for path in _python_files()
        if (hits := retyped_names(path.read_text(), names))
    }
    assert found == {}


def test_the_check_finds_a_retyped_name():
    """The check above can fail: the way the constructs wrote the environment before the contract."""
    source = 'def environment(cache):\n    """REDIS_HOST"""\n    return {"REDIS_HOST": cache.host}\n'
    assert retyped_names(source, _contract_names()) == ["REDIS_HOST"]


def test_the_contract_needs_only_the_standard_library():
    """The CDK app and both Lambda bundles import it: a third-party import would break synth or a cold start.
    With no site-packages (-S) and only the asset folder on the path, every module still imports."""
    modules = sorted(f"caching_contract.{p.stem}" for p in CONTRACT.glob("*.py") if p.stem != "__init__")
    code = "import sys; sys.path.insert(0, 'lambda'); " + "; ".join(f"import {module}" for module in modules)
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    for path in CONTRACT.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                top = node.module.split(".")[0]
                assert top in sys.stdlib_module_names or top in {"__future__", "caching_contract"}, path.name
            elif isinstance(node, ast.Import):
                assert all(alias.name.split(".")[0] in sys.stdlib_module_names for alias in node.names)


def test_the_cdk_app_imports_the_files_the_functions_ship():
    """From the repository root, as ``cdk synth`` runs the app: the package is the asset folder's own, not a
    copy (constructs/pyproject.toml maps it), and cachelib and the handlers stay out of the app's reach."""
    probe = (
        "import importlib.util, caching_contract; print(caching_contract.__file__); "
        "print(importlib.util.find_spec('cachelib'), importlib.util.find_spec('functions'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    location, specs = result.stdout.splitlines()
    assert Path(location) == CONTRACT / "__init__.py"
    assert specs == "None None"
