"""Validation of product API input: ids, list queries and JSON bodies. Every failure is an ``HttpError(400)``.

Whatever passes here is safe to bind as a SQL parameter and to put into a cache key.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from caching_contract.catalog import (
    CATEGORIES,
    DESCRIPTION_MAX_LENGTH,
    NAME_MAX_LENGTH,
    PRICE_MAX,
    STOCK_MAX,
)
from functions.apigw import HttpError

MAX_PRODUCT_ID = 2**63 - 1  # BIGINT UNSIGNED holds more, but ids beyond this are never issued
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_PAGE = 1000  # deep OFFSET scans are expensive; clients page by category instead
LIST_PARAMETERS = frozenset({"category", "page", "limit"})
PRODUCT_FIELDS = frozenset({"name", "category", "price", "stock", "description"})
REQUIRED_FIELDS = frozenset({"name", "category", "price"})

_DIGITS = re.compile(r"[0-9]{1,19}")
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class ListQuery:
    category: str | None
    page: int
    limit: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


@dataclass(frozen=True)
class ProductInput:
    name: str
    category: str
    price: Decimal
    stock: int
    description: str

    def as_params(self) -> tuple[str, str, Decimal, int, str]:
        return (self.name, self.category, self.price, self.stock, self.description)

    def canonical(self) -> dict[str, str | int]:
        """The request as the database would store it: two bodies that write the same row are the same
        request for an Idempotency-Key (``9.9`` and ``9.90`` alike)."""
        return {
            "name": self.name,
            "category": self.category,
            "price": str(self.price.quantize(Decimal("0.01"))),
            "stock": self.stock,
            "description": self.description,
        }


def parse_product_id(raw: Any) -> int:
    if not isinstance(raw, str) or not _DIGITS.fullmatch(raw):
        raise HttpError(400, "invalid_id", "the product id must be a positive integer")
    value = int(raw)
    if not 1 <= value <= MAX_PRODUCT_ID:
        raise HttpError(400, "invalid_id", f"the product id must be between 1 and {MAX_PRODUCT_ID}")
    return value


def _bounded_int(name: str, raw: str, low: int, high: int) -> int:
    if not re.fullmatch(r"[0-9]{1,6}", raw):
        raise HttpError(400, "invalid_query", f"{name} must be an integer from {low} to {high}")
    value = int(raw)
    if not low <= value <= high:
        raise HttpError(400, "invalid_query", f"{name} must be an integer from {low} to {high}")
    return value


def parse_list_query(single: Any, multi: Any) -> ListQuery:
    """``single``/``multi`` are the event's ``queryStringParameters``/``multiValueQueryStringParameters``.

    Unknown parameters are rejected: the stage cache and CloudFront key on exactly category/page/limit,
    so any other parameter would either fragment those caches or be silently ignored.
    """
    params: dict[str, str] = {}
    for source in (single, multi):
        if source is None:
            continue
        if not isinstance(source, dict):
            raise HttpError(400, "invalid_query", "malformed query string")
        for name, value in source.items():
            values = value if isinstance(value, list) else [value]
            if not isinstance(name, str) or name not in LIST_PARAMETERS:
                shown = name[:40] if isinstance(name, str) else "?"
                raise HttpError(
                    400, "invalid_query", f"unknown query parameter {shown!r}; allowed: category, page, limit"
                )
            if len(set(values)) != 1 or not all(isinstance(v, str) for v in values):
                raise HttpError(400, "invalid_query", f"query parameter {name!r} must be given once")
            if params.setdefault(name, values[0]) != values[0]:
                raise HttpError(400, "invalid_query", f"query parameter {name!r} must be given once")
    category = params.get("category")
    if category is not None and category not in CATEGORIES:
        raise HttpError(400, "invalid_category", f"unknown category; allowed: {', '.join(CATEGORIES)}")
    page = _bounded_int("page", params["page"], 1, MAX_PAGE) if "page" in params else 1
    limit = _bounded_int("limit", params["limit"], 1, MAX_LIMIT) if "limit" in params else DEFAULT_LIMIT
    return ListQuery(category, page, limit)


def _text(name: str, value: Any, *, min_length: int, max_length: int) -> str:
    if not isinstance(value, str):
        raise HttpError(400, "invalid_field", f"{name} must be a string")
    text = value.strip()
    if not min_length <= len(text) <= max_length:
        raise HttpError(400, "invalid_field", f"{name} must be {min_length} to {max_length} characters")
    try:
        text.encode("utf-8")  # lone surrogates from "\ud800" escapes cannot be stored
    except UnicodeEncodeError:
        raise HttpError(400, "invalid_field", f"{name} is not valid Unicode text") from None
    if any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\n\t" for ch in text):
        raise HttpError(400, "invalid_field", f"{name} must not contain control characters")
    return text


def _price(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise HttpError(400, "invalid_field", "price must be a number")
    try:
        price = Decimal(value.strip() if isinstance(value, str) else value)
    except (InvalidOperation, ValueError):
        raise HttpError(400, "invalid_field", "price must be a number") from None
    if not price.is_finite() or not Decimal(0) <= price <= PRICE_MAX:
        raise HttpError(400, "invalid_field", f"price must be from 0 to {PRICE_MAX}")
    if price != price.quantize(_CENT):
        raise HttpError(400, "invalid_field", "price must have at most two decimal places")
    return price.quantize(_CENT)


def _stock(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= STOCK_MAX:
        raise HttpError(400, "invalid_field", f"stock must be an integer from 0 to {STOCK_MAX}")
    return value


def parse_product_body(body: Any) -> ProductInput:
    """A complete product (PUT replaces, POST creates): name, category and price required."""
    if not isinstance(body, dict):
        raise HttpError(400, "invalid_body", "the body must be a JSON object")
    unknown = sorted(k for k in body if k not in PRODUCT_FIELDS)
    if unknown:
        raise HttpError(
            400, "invalid_field", f"unknown field {unknown[0][:40]!r}; allowed: {sorted(PRODUCT_FIELDS)}"
        )
    missing = sorted(REQUIRED_FIELDS - body.keys())
    if missing:
        raise HttpError(400, "missing_field", f"missing required field(s): {', '.join(missing)}")
    category = body["category"]
    if not isinstance(category, str) or category not in CATEGORIES:
        raise HttpError(400, "invalid_category", f"unknown category; allowed: {', '.join(CATEGORIES)}")
    return ProductInput(
        name=_text("name", body["name"], min_length=1, max_length=NAME_MAX_LENGTH),
        category=category,
        price=_price(body["price"]),
        stock=_stock(body.get("stock", 0)),
        description=_text(
            "description", body.get("description", ""), min_length=0, max_length=DESCRIPTION_MAX_LENGTH
        ),
    )
