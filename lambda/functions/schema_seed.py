"""Custom-resource handler that creates the products schema and optionally seeds sample rows.

Wrapped by the CDK Provider framework: ``on_event`` returns ``{"PhysicalResourceId", "Data"}`` and raises
on failure; the Provider turns the exception into a FAILED response to CloudFormation, so the stack rolls
back instead of waiting an hour for a reply that never comes.

* Create and Update run the same idempotent steps: ``CREATE TABLE IF NOT EXISTS`` and seed upserts by
  primary key. Running either twice leaves the same tables and the same rows.
* The physical id is stable (the database name), so an Update never "replaces" the resource; a changed
  physical id would make CloudFormation send a Delete for the old one after the Update.
* Delete keeps the tables and rows. The data belongs to the database, whose own removal policy decides
  its fate (snapshot in prod, destroy in dev); dropping tables here would turn a stack rollback or a
  removed custom resource into silent data loss in production.

Resource properties (strings, as CloudFormation passes them):
``SeedProductCount`` overrides ``SEED_PRODUCT_COUNT`` (0 = schema only); ``SchemaVersion`` is
informational and lets the stack force an Update by changing it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import Any

from cachelib import logs
from caching_contract import variables
from functions import catalog_schema

LOGGER = logging.getLogger("schema_seed")
logs.configure_logging()  # every record in the one log shape (cachelib.logs)

SEED_MAX = 1_000_000
_REQUEST_TYPES = frozenset({"Create", "Update", "Delete"})

_database = None  # cachelib.database.Database, created on first use


def _get_database():
    global _database
    if _database is None:
        from cachelib.database import Database
        from cachelib.settings import Settings

        # Database-only: REDIS_HOST is not needed (and not set by the stack) for this function.
        _database = Database(Settings.from_env())
    return _database


def reset_state() -> None:
    """Forget module-level connections (tests)."""
    global _database
    if _database is not None:
        _database.close()
    _database = None


def seed_count(properties: dict[str, Any], env: Mapping[str, str] | None = None) -> int:
    """The number of sample products to upsert: the property wins over ``SEED_PRODUCT_COUNT``."""
    source: Mapping[str, str] = os.environ if env is None else env
    raw = properties.get("SeedProductCount", source.get(variables.SEED_PRODUCT_COUNT, "0"))
    try:
        count = int(str(raw).strip())
    except ValueError:
        raise ValueError(f"SeedProductCount: {raw!r} is not an integer") from None
    if not 0 <= count <= SEED_MAX:
        raise ValueError(f"SeedProductCount: {count} is outside 0..{SEED_MAX}")
    return count


def _apply(properties: dict[str, Any]) -> dict[str, Any]:
    count = seed_count(properties)
    database = _get_database()
    connection = database.connection(_writer_endpoint())
    started = time.perf_counter()
    catalog_schema.apply_schema(connection)
    seeded = catalog_schema.seed_products(connection, count) if count else 0
    return {
        "SchemaVersion": catalog_schema.SCHEMA_VERSION,
        "SeededProducts": seeded,
        "DurationMs": round((time.perf_counter() - started) * 1000),
    }


def _writer_endpoint():
    from cachelib.database import ReadEndpoint

    return ReadEndpoint.WRITER


def on_event(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Provider-framework entry point for Create, Update and Delete."""
    from cachelib.tracing import trace_if_enabled

    trace_if_enabled()
    request_type = event.get("RequestType")
    if request_type not in _REQUEST_TYPES:
        raise ValueError(f"RequestType: {request_type!r} is not one of Create, Update, Delete")
    properties = event.get("ResourceProperties") or {}
    physical_id = (
        event.get("PhysicalResourceId") or f"products-schema:{os.environ.get(variables.DB_NAME, 'catalog')}"
    )

    if request_type == "Delete":
        LOGGER.info("schema seed", extra={"request": "Delete", "action": "kept data"})
        return {"PhysicalResourceId": physical_id, "Data": {"Retained": "true"}}

    data = _apply(properties)
    LOGGER.info("schema seed", extra={"request": request_type, **data})
    return {"PhysicalResourceId": physical_id, "Data": data}
