"""Product reads and writes through the caching library: SQL (always parameterized), cache keys, versions.

Keys (built by ``cachelib.KeyBuilder``):

* one product: ``<prefix>:<v>:{product:<id>}``;
* one list page: ``<prefix>:<v>:{products:category=<c>:limit=<l>:page=<p>:v=<n>}``, where ``n`` is the
  version counter of that category (``ALL`` for the unfiltered list). A write bumps the counters of every
  list it can change (old category, new category, ALL), so every page built before it becomes unreachable
  at once: no KEYS/SCAN, and the orphans age out by TTL or LRU.
* hot-product counts: the sorted set ``<prefix>:<v>:{hot:products}`` the warmer reads (on memcached, one
  counter per product and epoch: ``functions.hot_counts``).

The same code runs on Redis and memcached (``CACHE_ENGINE``): everything but the access counts goes through
``cachelib.Cache``.
"""

from __future__ import annotations

import builtins
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from cachelib import Cache, CacheResult, CacheUnavailable, Database, InvalidationFailed, ReadEndpoint
from cachelib.settings import MEMCACHED
from functions import hot_counts
from functions.apigw import to_json
from functions.catalog_schema import PRODUCT_COLUMNS, SELECT_COLUMNS, row_to_product
from functions.idempotency import DEFAULT_TTL_SECONDS, IdempotentRequest, Recorded
from functions.idempotency import claim as claim_idempotency
from functions.idempotency import record as record_idempotency
from functions.product_validation import ListQuery, ProductInput

ALL_CATEGORIES = "ALL"  # version-counter scope of the unfiltered list (never a real category: upper case)
_REMEMBERED_KEYS = 4096
HOT_FLUSH_EVERY = 32
HOT_FLUSH_SECONDS = 10.0

# SELECT_COLUMNS is a constant of the schema module; every value is a bound parameter.
_SELECT_ONE = f"SELECT {SELECT_COLUMNS} FROM products WHERE id = %s"  # noqa: S608
_SELECT_PAGE = f"SELECT {SELECT_COLUMNS} FROM products ORDER BY id LIMIT %s OFFSET %s"  # noqa: S608
_SELECT_CATEGORY_PAGE = (
    f"SELECT {SELECT_COLUMNS} FROM products WHERE category = %s ORDER BY id LIMIT %s OFFSET %s"  # noqa: S608
)
_INSERT = "INSERT INTO products (name, category, price, stock, description) VALUES (%s, %s, %s, %s, %s)"


class ProductNotFound(LookupError):
    pass


class SavedNotConfirmed(Exception):
    """The write committed, but the cache could not be confirmed up to date (Redis unreachable, or its
    replicas did not confirm). ``product`` is what was saved."""

    def __init__(self, product: dict[str, Any], *, created: bool, idempotent: bool) -> None:
        super().__init__(f"product {product.get('id')} saved; cache not confirmed")
        self.product = product
        self.created = created
        self.idempotent = idempotent


@dataclass(frozen=True)
class WriteOutcome:
    status: int
    product: dict[str, Any]
    replayed: bool = False


_PRODUCT_TYPES = {
    "id": int,
    "name": str,
    "category": str,
    "price": Decimal,
    "stock": int,
    "description": str,
    "updated_at": datetime,
}
if _PRODUCT_TYPES.keys() != set(PRODUCT_COLUMNS):  # the shape check must follow the schema
    raise RuntimeError(f"product_store's field types {sorted(_PRODUCT_TYPES)} differ from {PRODUCT_COLUMNS}")


def is_product(value: Any) -> bool:
    """A cached product has exactly the schema's fields with their types; anything else is corrupt."""
    return (
        isinstance(value, dict)
        and value.keys() == _PRODUCT_TYPES.keys()
        and all(
            isinstance(value[name], kind) and not isinstance(value[name], bool)
            for name, kind in _PRODUCT_TYPES.items()
        )
    )


def is_product_page(value: Any) -> bool:
    """A cached list page: ``{"items": [product...], "hasMore": bool}``."""
    return (
        isinstance(value, dict)
        and value.keys() == {"items", "hasMore"}
        and isinstance(value["hasMore"], bool)
        and isinstance(value["items"], list)
        and all(is_product(item) for item in value["items"])
    )


def product_key(cache: Cache, product_id: int) -> str:
    return cache.keys.key("product", product_id)


def hot_products_key(cache: Cache) -> str:
    return cache.keys.key("hot", "products")


def list_version_key(cache: Cache, category: str | None) -> str:
    return cache.keys.version_key("products", category or ALL_CATEGORIES)


class ProductStore:
    """Reads go through ``Cache.get_or_load``; writes commit on the writer, then invalidate and bump."""

    def __init__(
        self,
        cache: Cache,
        db: Database,
        *,
        list_ttl_seconds: float | None = None,
        write_through: bool = False,
        idempotency_ttl_seconds: int = DEFAULT_TTL_SECONDS,
    ) -> None:
        """``write_through``: after a write, store the new product in the cache (the next read is a hit)
        instead of deleting it (``PRODUCT_WRITE_MODE``; see cachelib/writes.py for when to pick which)."""
        self.cache = cache
        self.db = db
        self.list_ttl_seconds = list_ttl_seconds
        self.write_through = write_through
        self.idempotency_ttl_seconds = idempotency_ttl_seconds
        self.db_queries = 0
        self._keys: dict[int, str] = {}  # loader calls; the demo reports database queries avoided from it
        self._hot: Counter[int] = Counter()
        self._hot_pending = 0  # sum of _hot's counts, kept so the per-request check is O(1)
        self._hot_flushed_at = time.monotonic()

    # --- reads ------------------------------------------------------------------------------------

    def _load_one(self, endpoint: ReadEndpoint, product_id: int) -> dict[str, Any] | None:
        self.db_queries += 1
        with self.db.cursor(endpoint) as cursor:
            cursor.execute(_SELECT_ONE, (product_id,))
            row = cursor.fetchone()
        return None if row is None else row_to_product(row)

    def get(self, product_id: int) -> CacheResult[dict[str, Any]]:
        key = self._keys.get(product_id)
        if key is None:  # building a key escapes every part: worth remembering for the hot ids
            if len(self._keys) >= _REMEMBERED_KEYS:
                self._keys.clear()
            key = self._keys[product_id] = product_key(self.cache, product_id)
        result = self.cache.get_or_load(
            key, lambda endpoint: self._load_one(endpoint, product_id), accept=is_product
        )
        if result.value is not None:
            self._hot[product_id] += 1
            self._hot_pending += 1
        return result

    def _load_page(self, endpoint: ReadEndpoint, query: ListQuery) -> dict[str, Any]:
        self.db_queries += 1
        fetch = query.limit + 1  # one extra row tells whether another page exists
        with self.db.cursor(endpoint) as cursor:
            if query.category is None:
                cursor.execute(_SELECT_PAGE, (fetch, query.offset))
            else:
                cursor.execute(_SELECT_CATEGORY_PAGE, (query.category, fetch, query.offset))
            rows = cursor.fetchall()
        items = [row_to_product(row) for row in rows[: query.limit]]
        return {"items": items, "hasMore": len(rows) > query.limit}

    def list(self, query: ListQuery) -> CacheResult[dict[str, Any]]:
        version = self.cache.versions.current(list_version_key(self.cache, query.category))
        if not version.available:  # Redis unreadable: no key names the current version; ask the writer
            return self.cache.bypass(lambda endpoint: self._load_page(endpoint, query))
        key = self.cache.keys.key(
            "products",
            category=query.category or ALL_CATEGORIES,
            page=query.page,
            limit=query.limit,
            v=version.number,
        )
        return self.cache.get_or_load(
            key,
            lambda endpoint: self._load_page(endpoint, query),
            self.list_ttl_seconds,
            accept=is_product_page,
        )

    # --- writes -----------------------------------------------------------------------------------

    def _read_written(self, cursor: Any, product_id: int) -> dict[str, Any]:
        cursor.execute(_SELECT_ONE, (product_id,))
        return row_to_product(cursor.fetchone())

    def create(self, product: ProductInput, *, idempotency: IdempotentRequest | None = None) -> WriteOutcome:
        """Insert a product. With ``idempotency``, a repeat of the same request replays the first response."""

        def work(cursor: Any) -> Recorded | tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
            if idempotency is not None:
                recorded = claim_idempotency(cursor, idempotency, self.idempotency_ttl_seconds)
                if recorded is not None:
                    return recorded
            cursor.execute(_INSERT, product.as_params())
            created = self._read_written(cursor, cursor.lastrowid)
            claims = self._claim(created["id"])
            # The id may have been cached as "not found" before it existed: it is put right too.
            after = {"product": created["id"], "categories": [product.category]}
            if idempotency is not None:
                record_idempotency(cursor, idempotency, 201, to_json(created), after)
            return created, after, claims

        done = self.db.run_transaction(work)  # deadlocks between duplicate keys are run again
        if isinstance(done, Recorded):
            return self._replay(done)
        created, after, claims = done
        self._after_commit(created, after, claims, created=True, idempotent=idempotency is not None)
        return WriteOutcome(201, created)

    def replace(
        self, product_id: int, product: ProductInput, *, idempotency: IdempotentRequest | None = None
    ) -> WriteOutcome:
        """Replace a product (``ProductNotFound`` if it does not exist). With ``idempotency``, a repeat of the
        same request replays the first response."""

        def work(cursor: Any) -> Recorded | tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
            if idempotency is not None:
                recorded = claim_idempotency(cursor, idempotency, self.idempotency_ttl_seconds)
                if recorded is not None:
                    return recorded
            cursor.execute("SELECT category FROM products WHERE id = %s FOR UPDATE", (product_id,))
            row = cursor.fetchone()
            if row is None:
                raise ProductNotFound(product_id)
            cursor.execute(
                "UPDATE products SET name = %s, category = %s, price = %s, stock = %s, description = %s "
                "WHERE id = %s",
                (*product.as_params(), product_id),
            )
            updated = self._read_written(cursor, product_id)
            claims = self._claim(product_id)  # under the row lock: claims follow commit order
            after = {"product": product_id, "categories": sorted({row[0], product.category})}
            if idempotency is not None:
                record_idempotency(cursor, idempotency, 200, to_json(updated), after)
            return updated, after, claims

        done = self.db.run_transaction(work)
        if isinstance(done, Recorded):
            return self._replay(done)
        updated, after, claims = done
        self._after_commit(updated, after, claims, created=False, idempotent=idempotency is not None)
        return WriteOutcome(200, updated)

    def _claim(self, product_id: int) -> dict[str, str]:
        if not self.write_through:
            return {}
        return self.cache.claim_write_through(product_key(self.cache, product_id))

    def _after_commit(
        self,
        product: dict[str, Any],
        after: dict[str, Any],
        claims: dict[str, str],
        *,
        created: bool,
        idempotent: bool,
    ) -> None:
        # Same order as Cache.write: the commit is done; now put the cache right everywhere.
        try:
            key = product_key(self.cache, product["id"])
            if self.write_through:
                self.cache.write_through({key: product}, claims)
            else:
                self.cache.invalidate(key)
            self._bump(after["categories"])
        except InvalidationFailed as exc:
            raise SavedNotConfirmed(product, created=created, idempotent=idempotent) from exc

    def _bump(self, categories: builtins.list[str]) -> None:
        scopes = [*sorted(categories), None]
        self.cache.bump_versions(*(list_version_key(self.cache, c) for c in scopes))

    def _replay(self, recorded: Recorded) -> WriteOutcome:
        """Runs after the transaction (which wrote nothing): the first request's response, with its cache
        work redone, since the first request may have failed exactly there."""
        after = recorded.after_commit or {}
        if "product" in after:
            try:
                self.cache.invalidate(product_key(self.cache, int(after["product"])))
                self._bump(list(after.get("categories", ())))
            except InvalidationFailed as exc:
                raise SavedNotConfirmed(
                    recorded.body, created=recorded.status == 201, idempotent=True
                ) from exc
        return WriteOutcome(recorded.status, recorded.body, replayed=True)

    # --- access counts for the warmer -------------------------------------------------------------

    def flush_hot_counts(self, *, force: bool = False) -> int:
        """Add the buffered access counts to the hot sorted set in one pipelined round trip (memcached: one
        ``incr`` per product counted, ``functions.hot_counts``).

        Buffered per container and flushed every ``HOT_FLUSH_EVERY`` reads or ``HOT_FLUSH_SECONDS``, so
        counting costs one Redis round trip per many requests, never one per read. Losing a buffer (a
        container dies, the cache is down) only makes the warmer's ranking slightly less precise.
        """
        pending = self._hot_pending
        if not pending:
            return 0
        due = pending >= HOT_FLUSH_EVERY or time.monotonic() - self._hot_flushed_at >= HOT_FLUSH_SECONDS
        if not (force or due):
            return 0
        counts, self._hot, self._hot_pending = self._hot, Counter(), 0
        self._hot_flushed_at = time.monotonic()
        try:
            if self.cache.backend.engine == MEMCACHED:
                hot_counts.add(self.cache, counts)
            else:
                self.cache.redis.call(_add_counts, hot_products_key(self.cache), counts)
        except CacheUnavailable:  # the breaker heard about it; this buffer is dropped
            return 0
        return len(counts)


def _add_counts(client: Any, key: str, counts: Counter[int]) -> None:
    pipe = client.pipeline(transaction=False)
    for product_id, count in counts.items():
        pipe.zincrby(key, count, product_id)
    pipe.execute()
