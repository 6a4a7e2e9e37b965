"""The Lambda asset folder as the CDK app sees it: the two bundles the functions run from, and the schema
step's version. Names and limits the app shares with the functions come from ``caching_contract``, which
both bundles ship."""

from __future__ import annotations

import hashlib
from pathlib import Path

from aws_cdk import aws_lambda as lambda_

from caching_constructs.core.python_function import PYTHON_RUNTIME
from caching_contract import catalog, services
from lambda_bundling.bundling import PythonBundleSpec, python_lambda_code

LAMBDA_ROOT = Path(__file__).resolve().parents[1] / "lambda"
SOURCE_DIRS = ("caching_contract", "cachelib", "functions")


def _module_of(handler: str) -> str:
    return handler.rpartition(".")[0]


CORE_HANDLERS = tuple(
    _module_of(handler)
    for handler in (
        services.PRODUCT_API.handler,
        services.CACHE_WARMER.handler,
        services.SCHEMA_SEED.handler,
        services.EDGE_REFRESHER.handler,
        services.SECONDARY_REFILL.handler,
    )
)
"""Handler modules of the core asset (the bundle fails when one is missing)."""
DAX_HANDLERS = (_module_of(services.DAX_DEMO.handler),)
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


def core_code(architecture: str) -> lambda_.Code:
    """The core asset for the functions' runtime: built once per synth, however many stacks use it."""
    return python_lambda_code(core_bundle(architecture, PYTHON_RUNTIME.name.removeprefix("python")))


def dax_code(architecture: str) -> lambda_.Code:
    """The DAX demo's asset for the functions' runtime."""
    return python_lambda_code(dax_bundle(architecture, PYTHON_RUNTIME.name.removeprefix("python")))


def schema_version() -> str:
    """``SCHEMA_VERSION`` plus a digest of the DDL's module: any change to it re-runs the idempotent step."""
    digest = hashlib.sha256((LAMBDA_ROOT / "functions" / "catalog_schema.py").read_bytes()).hexdigest()[:12]
    return f"{catalog.SCHEMA_VERSION}-{digest}"
