"""``python -m cost.refresh_prices``: re-read every price in ``prices_us_east_1.json`` from AWS's public Price
List Bulk API (no credentials), and write the table back with today's date.

Each entry names its offer (service) and the columns that select one on-demand row of that offer's
us-east-1 CSV file. The files are streamed, one per offer, so memory stays flat; the ``AmazonEC2`` one
(NAT gateways) is several GB and takes minutes. An entry that matches no row, several rows with different
prices, or a row in another unit is reported and left as it was, and the command exits 1: fix its match.
``--offer-dir`` reads ``<offer>.csv`` files downloaded beforehand instead of the network.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import json
import re
import sys
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from cost.prices import PRICE_FILE, dump_price_document

OFFER_URL = "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/{offer}/current/us-east-1/index.csv"

OfferLines = Callable[[str], Iterable[str]]
"""Text lines of one offer's CSV file, by offer code."""


def download(offer: str) -> Iterator[str]:
    url = OFFER_URL.format(offer=offer)
    # A fixed https URL on AWS's public pricing host; the offer code comes from the pinned table.
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310
        yield from io.TextIOWrapper(response, encoding="utf-8", newline="")


def from_directory(directory: Path) -> OfferLines:
    def lines(offer: str) -> Iterator[str]:
        with (directory / f"{offer}.csv").open(encoding="utf-8", newline="") as handle:
            yield from handle

    return lines


def offer_rows(lines: Iterable[str]) -> Iterator[dict[str, str]]:
    """On-demand rows of an offer file; its first lines (format version, publication date...) come before
    the header, which starts with "SKU"."""
    iterator = iter(lines)
    for line in iterator:
        if line.startswith('"SKU"'):
            header = next(csv.reader([line]))
            break
    else:
        raise ValueError("no header row (starting with SKU) in the offer file")
    for row in csv.DictReader(iterator, fieldnames=header):
        if row.get("TermType") == "OnDemand":
            yield row


def matches(row: Mapping[str, str], match: Mapping[str, str]) -> bool:
    for column, wanted in match.items():
        if column == "offer":
            continue
        if column.endswith("~"):
            if not re.search(wanted, row.get(column[:-1], "")):
                return False
        elif row.get(column) != wanted:
            return False
    return True


def _resolve(
    key: str, entry: Mapping[str, Any], found: list[dict[str, str]]
) -> tuple[float | None, str | None]:
    """(new usd, None) for one clean match, else (None, the problem)."""
    if not found:
        return None, f"{key}: no on-demand row matches {entry['match']}"
    prices = {row["PricePerUnit"] for row in found}
    if len(prices) > 1:
        return (
            None,
            f"{key}: {len(found)} rows match with different prices {sorted(prices)}: narrow the match",
        )
    unit = found[0].get("Unit", "")
    if unit.lower() != str(entry["unit"]).lower():
        return None, f"{key}: the offer prices it per {unit!r}, the table per {entry['unit']!r}"
    return round(float(found[0]["PricePerUnit"]) * float(entry["per"]), 10), None


def refresh(document: dict[str, Any], offer_lines: OfferLines) -> tuple[dict[str, Any], list[str], list[str]]:
    """The document with every price re-read, the changes made, and the entries that could not be."""
    prices = {key: dict(entry) for key, entry in document["prices"].items()}
    by_offer: dict[str, list[str]] = {}
    for key, entry in prices.items():
        by_offer.setdefault(entry["match"]["offer"], []).append(key)
    changes: list[str] = []
    problems: list[str] = []
    for offer, keys in sorted(by_offer.items()):
        found: dict[str, list[dict[str, str]]] = {key: [] for key in keys}
        for row in offer_rows(offer_lines(offer)):
            for key in keys:
                if matches(row, prices[key]["match"]):
                    found[key].append(row)
        for key in keys:
            usd, problem = _resolve(key, prices[key], found[key])
            if problem:
                problems.append(problem)
            elif usd != prices[key]["usd"]:
                changes.append(f"{key}: {prices[key]['usd']} -> {usd}")
                prices[key]["usd"] = usd
    refreshed = {
        **document,
        "pinned": datetime.date.today().isoformat(),
        "verified_against_offer_files": not problems,
        "prices": prices,
    }
    return refreshed, changes, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cost.refresh_prices", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--offer-dir", type=Path, help="read <offer>.csv files from here, not the network")
    parser.add_argument("--dry-run", action="store_true", help="report changes without writing the table")
    args = parser.parse_args(argv)
    document = json.loads(PRICE_FILE.read_text())
    source = from_directory(args.offer_dir) if args.offer_dir else download
    refreshed, changes, problems = refresh(document, source)
    for line in changes or ["no price changed"]:
        print(line)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not args.dry_run:
        PRICE_FILE.write_text(dump_price_document(refreshed))
        print(f"wrote {PRICE_FILE} (pinned {refreshed['pinned']})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
