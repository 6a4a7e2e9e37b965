"""The catalogue's limits: the table's columns, the handler's validation and the API's request model."""

from __future__ import annotations

from decimal import Decimal

SCHEMA_VERSION = "2"
"""The schema step's version; the CDK app adds a digest of ``functions/catalog_schema.py``, so any change to
the DDL re-runs the (idempotent) step on the next deploy."""

CATEGORIES: tuple[str, ...] = (
    "books",
    "clothing",
    "electronics",
    "garden",
    "grocery",
    "home",
    "sports",
    "toys",
)
"""The fixed allowed set: validation rejects anything else with 400 and the seed only draws from it, so a
category in the database is always one a client can ask for."""

NAME_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 2000
PRICE_MAX = Decimal("99999999.99")  # DECIMAL(10,2)
STOCK_MAX = 2_147_483_647  # signed INT
