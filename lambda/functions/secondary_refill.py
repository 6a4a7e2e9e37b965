"""Primary-region consumer of the secondary regions' refill requests (SQS, ``{"product": 42}``).

A secondary region cannot fill its read-only cache. Its misses queue the product id here instead; this
function reads each product through the ordinary ``ProductStore.get`` (``Cache.get_or_load``): a lease per
key, a replica read only once the replica has the writer's executed GTID set, a fill that a concurrent
write revokes. Global Datastore replication then carries the entry to every secondary. A value stored here
is therefore never older than a write that returned before the read began, which is what keeps the
secondary from ever serving a stale value for a TTL.

Requests that fail because the database is unavailable are reported back (``batchItemFailures``), retried
by SQS and then dead-lettered; a malformed body is dropped (a retry would not mend it).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from cachelib import Cache, Database, DatabaseUnavailable, Settings, logs
from functions.product_store import ProductStore

LOGGER = logging.getLogger("secondary_refill")
logs.configure_logging()

MAX_PRODUCT_ID = 10**19 - 1

_store: ProductStore | None = None


def store() -> ProductStore:
    global _store
    if _store is None:
        settings = Settings.from_env()
        _store = ProductStore(Cache.from_settings(settings), Database(settings))
    return _store


def reset_state() -> None:
    global _store
    if _store is not None:
        _store.cache.close()
        _store.db.close()
    _store = None


def product_id_of(body: str) -> int | None:
    """The product id of a refill request, or None when the body is not one."""
    try:
        request = json.loads(body)
        product_id = request["product"]
    except (TypeError, ValueError, KeyError):
        return None
    if (
        isinstance(product_id, bool)
        or not isinstance(product_id, int)
        or not 0 < product_id <= MAX_PRODUCT_ID
    ):
        return None
    return product_id


def lambda_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    failures: list[dict[str, str]] = []
    filled = 0
    for record in (event or {}).get("Records", []):
        product_id = product_id_of(record.get("body", ""))
        if product_id is None:
            LOGGER.warning("refill request dropped", extra={"body": str(record.get("body"))[:200]})
            continue
        try:
            store().get(product_id)
            filled += 1
        except DatabaseUnavailable as exc:
            LOGGER.warning("refill failed", extra={"product": product_id, "error": str(exc)})
            failures.append({"itemIdentifier": record.get("messageId", "")})
    LOGGER.info("refilled", extra={"filled": filled, "failed": len(failures)})
    return {"batchItemFailures": failures}
