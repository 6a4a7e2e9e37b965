"""The product API's HTTP surface as the edge, the stage cache and the handler all see it."""

from __future__ import annotations

COLLECTION_PATH = "/products"
ITEM_ROUTE = COLLECTION_PATH + "/{id}"
"""The item route: stage-cached, and the one route the edge refresher refreshes after a write."""
LIST_PARAMETERS = ("category", "page", "limit")
"""What a list page depends on: the stage cache's key and CloudFront's."""
DAX_ITEM_ROUTE = "/dax/items/{id}"


def item_path(product_id: int) -> str:
    """The path of one product, as ``ITEM_ROUTE`` matches it (a ``Location`` header, an edge refresh)."""
    return f"{COLLECTION_PATH}/{int(product_id)}"


IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
IDEMPOTENT_REPLAYED_HEADER = "Idempotent-Replayed"
CORRELATION_HEADER = "x-correlation-id"

EDGE_MAX_AGE_SECONDS = 10
"""``Cache-Control: max-age`` of a fresh item: how long CloudFront and browsers may keep it."""
STALE_MAX_AGE_SECONDS = 1
"""The same for an item served stale during a database outage."""

WRITE_MODES = ("invalidate", "write-through")
"""``PRODUCT_WRITE_MODE``: after a database write, delete the cached entry or put the new row in it."""
