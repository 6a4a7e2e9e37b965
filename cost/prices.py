"""The pinned price table (``prices_us_east_1.json``): loading it, and writing it back in the same layout."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PRICE_FILE = Path(__file__).with_name("prices_us_east_1.json")

HOURS_PER_MONTH = 730
"""AWS's own convention for monthly figures (its pricing pages and calculator): 8,760 hours / 12."""


class MissingPriceError(KeyError):
    """The table lacks a price a template needs: add it (with its match) rather than price it at 0."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class PriceTable:
    region: str
    pinned: str
    source: str
    prices: Mapping[str, Mapping[str, Any]]

    def usd(self, key: str) -> float:
        """Dollars for one unit of ``key``: the table's price divided by its ``per``."""
        try:
            entry = self.prices[key]
        except KeyError:
            raise MissingPriceError(
                f"no {self.region} price for {key!r} in {PRICE_FILE.name}: add an entry with its offer-file "
                "match, then run python -m cost.refresh_prices"
            ) from None
        return float(entry["usd"]) / float(entry["per"])

    def has(self, key: str) -> bool:
        return key in self.prices


def load_prices(path: Path = PRICE_FILE) -> PriceTable:
    document = json.loads(path.read_text())
    return PriceTable(
        region=document["region"],
        pinned=document["pinned"],
        source=document["source"],
        prices=document["prices"],
    )


def dump_price_document(document: Mapping[str, Any]) -> str:
    """One price per line, so a refresh shows up in review as one changed line per changed price."""
    lines = ["{"]
    for key, value in document.items():
        if key == "prices":
            continue
        if isinstance(value, list):
            items = ",\n".join(f"    {json.dumps(item)}" for item in value)
            lines.append(f"  {json.dumps(key)}: [\n{items}\n  ],")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)},")
    entries = ",\n".join(f"    {json.dumps(k)}: {json.dumps(v)}" for k, v in document["prices"].items())
    lines.append(f'  "prices": {{\n{entries}\n  }}')
    return "\n".join(lines) + "\n}\n"
