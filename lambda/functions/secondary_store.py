"""The product store of a Global Datastore secondary region (``CACHE_ROLE=secondary``): reads only.

:class:`SecondaryProductStore` is a ``ProductStore`` whose reads go through
:class:`cachelib.secondary.SecondaryReads` (hits from the local read-only replica; misses from the local
database replica, unstored, queued for the primary region's refill) and whose writes are refused before
anything is touched: a ``421 read_only_region`` JSON error that names where writes go. CloudFront never
sends a write here (its origin group fails over GET and HEAD only); a client calling this region's API
directly gets the refusal, never a half-applied write.

The product API picks it with one line in ``store()``: ``_store = for_role(_store, settings)``.
"""

from __future__ import annotations

import os
from typing import Any

from cachelib import CacheResult, Database
from cachelib.secondary import RefillQueue, SecondaryReads
from cachelib.settings import SECONDARY, Settings
from caching_contract import variables
from functions.apigw import HttpError
from functions.product_store import (
    ALL_CATEGORIES,
    ProductStore,
    is_product,
    is_product_page,
    list_version_key,
    product_key,
)
from functions.product_validation import ListQuery

READ_ONLY_STATUS = 421
"""Misdirected Request: this region cannot produce the response, another one can. Not retryable here."""


class SecondaryProductStore(ProductStore):
    def __init__(
        self, cache: Any, db: Database, *, refill: RefillQueue, primary_url: str | None = None
    ) -> None:
        super().__init__(cache, db)
        self.reads = SecondaryReads(cache, refill)
        self.primary_url = primary_url

    def get(self, product_id: int) -> CacheResult[dict[str, Any]]:
        return self.reads.get_or_load(
            product_key(self.cache, product_id),
            lambda endpoint: self._load_one(endpoint, product_id),
            refill={"product": int(product_id)},
            accept=is_product,
        )

    def list(self, query: ListQuery) -> CacheResult[dict[str, Any]]:
        version = self.reads.version(list_version_key(self.cache, query.category))
        if version is None:  # only the primary creates counters; until one replicates, read the database
            return self.reads.bypass(lambda endpoint: self._load_page(endpoint, query))
        key = self.cache.keys.key(
            "products",
            category=query.category or ALL_CATEGORIES,
            page=query.page,
            limit=query.limit,
            v=version,
        )
        # List pages are filled by the primary's own reads: no refill request (pages have no stable id).
        return self.reads.get_or_load(
            key, lambda endpoint: self._load_page(endpoint, query), accept=is_product_page
        )

    def refuse_write(self) -> HttpError:
        where = f" ({self.primary_url})" if self.primary_url else ""
        return HttpError(
            READ_ONLY_STATUS,
            "read_only_region",
            f"this region serves reads only; send writes to the primary region's API{where}. "
            "Nothing was written.",
        )

    def create(self, *args: Any, **kwargs: Any) -> Any:
        raise self.refuse_write()

    def replace(self, *args: Any, **kwargs: Any) -> Any:
        raise self.refuse_write()

    def flush_hot_counts(self, *, force: bool = False) -> int:
        """Hot counts are a write (``ZINCRBY``); the primary's own reads rank its warmer's products."""
        self._hot.clear()
        self._hot_pending = 0
        return 0


def for_role(store: ProductStore, settings: Settings) -> ProductStore:
    """``store`` itself in a primary region; its read-only counterpart when ``CACHE_ROLE=secondary``."""
    if settings.cache_role != SECONDARY:
        return store
    return SecondaryProductStore(
        store.cache,
        store.db,
        refill=RefillQueue(settings.cache_refill_queue_url),
        primary_url=os.environ.get(variables.PRIMARY_API_URL),  # where writes go, named in the refusal,
    )
