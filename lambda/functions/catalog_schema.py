"""The products schema, the fixed category set and the sample-data generator.

One place for the table definition and the allowed categories: the schema/seed custom resource, the
product API's validation, the warmer's query, the local run and the benchmarks all import them from here.
Importing this module costs nothing beyond the standard library.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

# The categories and limits are the contract's (caching_contract.catalog): the API's request model is built
# from the same values.
from caching_contract.catalog import CATEGORIES, SCHEMA_VERSION

# Columns in the order every query selects them, so row tuples map to dicts without per-row lookups.
PRODUCT_COLUMNS: tuple[str, ...] = ("id", "name", "category", "price", "stock", "description", "updated_at")
SELECT_COLUMNS = ", ".join(PRODUCT_COLUMNS)

# Idempotent DDL: safe to run on every Create and Update. (category, id) serves the paged list query
# (WHERE category = %s ORDER BY id LIMIT ...) from the index alone.
DDL: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS products (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        name VARCHAR(200) NOT NULL,
        category VARCHAR(32) NOT NULL,
        price DECIMAL(10, 2) NOT NULL,
        stock INT NOT NULL DEFAULT 0,
        description VARCHAR(2000) NOT NULL DEFAULT '',
        updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
        PRIMARY KEY (id),
        KEY products_category_id (category, id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
    """,
    # One row per Idempotency-Key, written in the same transaction as the write it guards
    # (functions/idempotency.py); expires_at is indexed so expired keys are purged by range, never by scan.
    """
    CREATE TABLE IF NOT EXISTS idempotency_keys (
        idem_key VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        request_hash BINARY(32) NOT NULL,
        status SMALLINT UNSIGNED NOT NULL DEFAULT 0,
        response MEDIUMTEXT NOT NULL,
        after_commit VARCHAR(1024) NOT NULL DEFAULT '',
        expires_at DATETIME(6) NOT NULL,
        PRIMARY KEY (idem_key),
        KEY idempotency_keys_expires_at (expires_at)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
    """,
    """
    CREATE TABLE IF NOT EXISTS schema_meta (
        name VARCHAR(64) NOT NULL PRIMARY KEY,
        value VARCHAR(255) NOT NULL,
        updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
    """,
)

# Upsert by primary key: re-running the seed rewrites the same ids instead of adding duplicates.
SEED_UPSERT = (
    "INSERT INTO products (id, name, category, price, stock, description) VALUES (%s, %s, %s, %s, %s, %s) "
    "ON DUPLICATE KEY UPDATE name = VALUES(name), category = VALUES(category), price = VALUES(price), "
    "stock = VALUES(stock), description = VALUES(description)"
)

_ADJECTIVES = (
    "Compact",
    "Deluxe",
    "Eco",
    "Classic",
    "Smart",
    "Rugged",
    "Portable",
    "Premium",
    "Basic",
    "Pro",
)
_NOUNS = {
    "books": ("Novel", "Cookbook", "Atlas", "Guide", "Anthology"),
    "clothing": ("Jacket", "Scarf", "Sneakers", "Hoodie", "Raincoat"),
    "electronics": ("Headphones", "Charger", "Speaker", "Monitor", "Keyboard"),
    "garden": ("Trowel", "Planter", "Hose", "Seed Kit", "Lantern"),
    "grocery": ("Coffee", "Olive Oil", "Tea", "Granola", "Honey"),
    "home": ("Lamp", "Blanket", "Kettle", "Clock", "Vase"),
    "sports": ("Yoga Mat", "Bottle", "Racket", "Helmet", "Backpack"),
    "toys": ("Puzzle", "Kite", "Robot", "Blocks", "Board Game"),
}


def sample_products(count: int, *, seed: int = 42) -> Iterator[tuple[int, str, str, Decimal, int, str]]:
    """Yield ``count`` deterministic sample rows (ids 1..count) in SEED_UPSERT's column order.

    Deterministic so that running the seed twice writes identical rows: Update events are no-ops for data.
    """
    rng = random.Random(seed)
    for product_id in range(1, count + 1):
        category = CATEGORIES[rng.randrange(len(CATEGORIES))]
        name = f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS[category])} {product_id}"
        price = Decimal(rng.randrange(99, 99_999)).scaleb(-2)
        stock = rng.randrange(0, 500)
        description = f"Sample {category} product number {product_id}."
        yield (product_id, name, category, price, stock, description)


def apply_schema(connection) -> None:
    """Create the tables if they do not exist and record the schema version. Idempotent."""
    with connection.cursor() as cursor:
        for statement in DDL:
            cursor.execute(statement)
        cursor.execute(
            "INSERT INTO schema_meta (name, value) VALUES ('schema_version', %s) "
            "ON DUPLICATE KEY UPDATE value = VALUES(value)",
            (SCHEMA_VERSION,),
        )
    connection.commit()


def seed_products(connection, count: int, *, batch_size: int = 2000) -> int:
    """Upsert ``count`` sample products in batches (one multi-row INSERT per batch). Returns rows written."""
    written = 0
    batch: list[tuple] = []
    with connection.cursor() as cursor:
        for row in sample_products(count):
            batch.append(row)
            if len(batch) >= batch_size:
                cursor.executemany(SEED_UPSERT, batch)
                connection.commit()
                written += len(batch)
                batch.clear()
        if batch:
            cursor.executemany(SEED_UPSERT, batch)
            connection.commit()
            written += len(batch)
    return written


def row_to_product(row: tuple) -> dict:
    """Map a row selected with SELECT_COLUMNS to the API's product document."""
    product = dict(zip(PRODUCT_COLUMNS, row, strict=True))
    updated_at = product["updated_at"]
    if isinstance(updated_at, datetime) and updated_at.tzinfo is None:
        product["updated_at"] = updated_at.replace(tzinfo=UTC)
    return product


# The product document rendered by the database itself, for the warmer's bulk path: decoding it with
# ``cachelib.codec`` gives exactly what ``row_to_product`` gives for the same row (a test proves it), while
# Python handles a few byte strings per row instead of converting seven typed columns. Strings go through
# JSON_QUOTE; Decimal and datetime use the codec's tags; DATETIME(6) values are UTC. A CONCAT costs the
# server about a third less than the equivalent nested JSON_OBJECT. '%%' because it runs with parameters.
PRODUCT_JSON_SQL = (
    "CONCAT('{\"id\":', id, ',\"name\":', JSON_QUOTE(name), ',\"category\":', JSON_QUOTE(category), "
    '\',"price":{"$dec":"\', price, \'"},"stock":\', stock, '
    "',\"description\":', JSON_QUOTE(description), "
    "',\"updated_at\":{\"$dt\":\"', DATE_FORMAT(updated_at, '%%Y-%%m-%%dT%%H:%%i:%%s.%%f+00:00'), '\"}}')"
)
