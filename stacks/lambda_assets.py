"""The Lambda asset folder as the CDK app sees it: the two bundles the functions run from, and what the app
reads from the handlers' source (constants, the catalogue schema) instead of retyping it."""

from __future__ import annotations

import ast
import hashlib
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

from caching_constructs.app import cache_warmer, dax_demo, product_api, schema_seed, secondary_refill
from lambda_bundling.bundling import PythonBundleSpec

LAMBDA_ROOT = Path(__file__).resolve().parents[1] / "lambda"
SOURCE_DIRS = ("cachelib", "functions")
EDGE_REFRESH_HANDLER = "functions.edge_refresh.lambda_handler"


def _module_of(handler: str) -> str:
    return handler.rpartition(".")[0]


CORE_HANDLERS = tuple(
    _module_of(handler)
    for handler in (
        product_api.HANDLER,
        cache_warmer.HANDLER,
        schema_seed.HANDLER,
        EDGE_REFRESH_HANDLER,
        secondary_refill.HANDLER,
    )
)
"""Handler modules of the core asset (the bundle fails when one is missing)."""
DAX_HANDLERS = (_module_of(dax_demo.HANDLER),)
# redis-py's Redis Stack module clients (search, JSON, time series, probabilistic, vector sets) and its
# multi-database client: ~1.1 MB the handlers never import (redis-py loads the module clients only when
# ``client.ft()``/``json()``/... is called). The bundle test proves what the handlers do import still loads.
PRUNED = (
    "redis/commands/bf",
    "redis/commands/json",
    "redis/commands/search",
    "redis/commands/timeseries",
    "redis/commands/vectorset",
    "redis/multidb",
)


def core_bundle(architecture: str, python_version: str) -> PythonBundleSpec:
    """The asset of the product API, the warmer, the schema step and the edge refresher."""
    return PythonBundleSpec(
        asset_root=LAMBDA_ROOT,
        source_dirs=SOURCE_DIRS,
        requirements=("requirements.txt",),
        lock="requirements.lock",
        handler_modules=CORE_HANDLERS,
        architecture=architecture,
        python_version=python_version,
        prune=PRUNED,
    )


def dax_bundle(architecture: str, python_version: str) -> PythonBundleSpec:
    """The DAX demo's asset: the core requirements plus the DAX client (an sdist-only package)."""
    return PythonBundleSpec(
        asset_root=LAMBDA_ROOT,
        source_dirs=SOURCE_DIRS,
        requirements=("requirements.txt", "requirements-dax.txt"),
        lock="requirements-dax.lock",
        handler_modules=DAX_HANDLERS,
        architecture=architecture,
        python_version=python_version,
        sdist_packages=("amazon-dax-client",),
        prune=PRUNED,
    )


def load_lambda_module(name: str) -> ModuleType:
    """A runtime module of ``lambda/functions`` that imports only the standard library at module level,
    loaded from its file: the CDK app reads its constants instead of retyping them."""
    path = LAMBDA_ROOT / "functions" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_{name}_for_synth", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lambda_constant(module: str, name: str) -> Any:
    """A literal module-level constant of ``lambda/functions/<module>.py``, read from its source without
    importing it (handlers import the caching library and drivers, which the CDK app does not install)."""
    return _literal(Path("functions") / f"{module}.py", name)


def cachelib_constant(name: str) -> Any:
    """A literal module-level constant of ``lambda/cachelib/settings.py``, such as the name of a variable
    the library reads (``ENV_CACHE_DISCOVERY_ENDPOINT``), read like :func:`lambda_constant`."""
    return _literal(Path("cachelib") / "settings.py", name)


def _literal(source: Path, name: str) -> Any:
    tree = ast.parse((LAMBDA_ROOT / source).read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if any(isinstance(target, ast.Name) and target.id == name for target in targets):
            return ast.literal_eval(value)
    raise LookupError(f"lambda/{source.as_posix()} has no literal module-level {name}")


def load_catalog_schema() -> ModuleType:
    """The runtime's schema module: the API's body model uses its categories and limits, and the custom
    resource its version, so the API and the handler never disagree."""
    return load_lambda_module("catalog_schema")


def schema_version(catalog_schema: ModuleType) -> str:
    """``SCHEMA_VERSION`` plus a digest of the DDL file: any change to it re-runs the idempotent step."""
    digest = hashlib.sha256((LAMBDA_ROOT / "functions" / "catalog_schema.py").read_bytes()).hexdigest()[:12]
    return f"{catalog_schema.SCHEMA_VERSION}-{digest}"


def product_body_schema(catalog_schema: ModuleType) -> dict:
    """JSON schema (draft 4) of a PUT/POST body, mirroring ``functions.product_validation``."""
    return {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "title": "Product",
        "type": "object",
        "required": ["name", "category", "price"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": catalog_schema.NAME_MAX_LENGTH},
            "category": {"type": "string", "enum": list(catalog_schema.CATEGORIES)},
            # A string keeps exact decimals; the handler checks the range and the two decimal places.
            "price": {"type": ["number", "string"]},
            "stock": {"type": "integer", "minimum": 0, "maximum": catalog_schema.STOCK_MAX},
            "description": {"type": "string", "maxLength": catalog_schema.DESCRIPTION_MAX_LENGTH},
        },
    }
