"""The repository layout keeps `import constructs` pointing at the library and `lambda/` out of imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80
SIZED = ("app.py", "config", "stacks", "constructs", "lambda", "scripts", "cost", "bench", "tests")


def oversized(path_name: str, source: str) -> list[str]:
    """A module over ``MAX_MODULE_LINES`` and each function over ``MAX_FUNCTION_LINES`` (``def`` to its last
    line, docstring included)."""
    import ast

    found = [f"{path_name}: {n} lines"] if (n := len(source.splitlines())) > MAX_MODULE_LINES else []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{path_name}:{node.lineno} {node.name}: {length} lines")
    return found


def test_no_module_over_400_lines_and_no_function_over_80():
    """Split by concern before a module or a function grows past what a reader takes in at once."""
    files = []
    for name in SIZED:
        path = ROOT / name
        files.extend([path] if path.is_file() else path.rglob("*.py"))
    found = [line for path in files for line in oversized(str(path.relative_to(ROOT)), path.read_text())]
    assert found == []


def test_the_size_check_finds_a_long_function():
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    assert oversized("m.py", f"def long():\n{body}\n") == [f"m.py:1 long: {MAX_FUNCTION_LINES + 1} lines"]


def test_the_constructs_are_grouped_by_concern():
    """No module sits loose in caching_constructs: each belongs to the sub-package of its concern."""
    package = ROOT / "constructs" / "caching_constructs"
    assert sorted(path.name for path in package.glob("*.py")) == ["__init__.py"]
    assert {path.parent.name for path in package.glob("*/*.py")} == {
        "api", "app", "core", "data", "edge", "elasticache", "monitoring",
    }  # fmt: skip


def _subpackage_imports(package: Path) -> dict[str, set[str]]:
    """Sub-package -> the other sub-packages its modules import."""
    import ast

    edges: dict[str, set[str]] = {}
    for path in package.glob("*/*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(f"{package.name}."):
                other = (node.module or "").split(".")[1]
                if other != path.parent.name:
                    edges.setdefault(path.parent.name, set()).add(other)
    return edges


def import_cycle(edges: dict[str, set[str]]) -> list[str]:
    """One cycle in the graph, as the path that closes it; empty when the graph is acyclic."""
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> list[str]:
        if node in visiting:
            return [*visiting[visiting.index(node) :], node]
        if node in done:
            return []
        visiting.append(node)
        for other in sorted(edges.get(node, ())):
            if cycle := visit(other):
                return cycle
        visiting.pop()
        done.add(node)
        return []

    for node in sorted(edges):
        if cycle := visit(node):
            return cycle
    return []


def test_the_construct_sub_packages_depend_one_way():
    """A cycle between concerns (app imports edge, edge imports app) puts one of them in the wrong place."""
    assert import_cycle(_subpackage_imports(ROOT / "constructs" / "caching_constructs")) == []


def test_the_cycle_check_finds_a_cycle():
    assert import_cycle({"app": {"edge", "core"}, "edge": {"app"}}) == ["app", "edge", "app"]


def _library_imports(package: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, at the top or inside a function (a deferred import is
    still a dependency), leaving out ``if TYPE_CHECKING:`` blocks and the package's lazy ``__init__``."""
    import ast

    edges: dict[str, set[str]] = {}
    for path in package.glob("*.py"):
        if path.stem == "__init__":
            continue
        tree = ast.parse(path.read_text())
        type_only = {
            id(node)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
            for node in ast.walk(block)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and id(node) not in type_only:
                module = node.module or ""
                if module.startswith(f"{package.name}."):
                    edges.setdefault(path.stem, set()).add(module.split(".")[1])
    return edges


def test_the_caching_library_s_modules_depend_one_way():
    """No cycle among cachelib's modules, deferred imports included: a cycle that only a function-level
    import keeps from failing at import time still ties the two modules' changes together."""
    assert import_cycle(_library_imports(ROOT / "lambda" / "cachelib")) == []
