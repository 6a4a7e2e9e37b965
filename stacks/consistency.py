"""The consistency contract: after a write returns, how soon each read path shows the new value.

Every figure is derived here, from one environment's config, the CloudFront cache policy's bounds, the edge
refresher's batching window and the product handler's own ``Cache-Control`` max-ages (read from its source).
The README's table is this module's output (``python -m stacks.consistency --write`` rewrites it), and
``tests/infra/test_consistency.py`` rebuilds the same inputs from the synthesized templates, so neither the
README nor this module can drift from what is deployed.

How the bounds add up, for a read that starts after the write has returned:

* **Direct to the function**: read-your-writes (Redis is put right before the write returns). With the
  near cache on, another container may serve its copy until the pub/sub invalidation arrives (sub-ms in one
  AZ), at worst until its entry expires: ``functions.l1_ttl_seconds``.
* **Through the stage cache**: an entry filled just before the write (or, with the near cache, from a
  container that had not heard of it yet) lives for the route's stage TTL.
* **Through CloudFront**: the edge may have fetched that stale stage entry at its last second and keeps it
  for the API's ``max-age`` (clamped to the cache policy's min/max TTL): the stage bound plus that.
* **With the edge refresh** (items only): the refresher replaces the item's stage entry one batching window
  plus one signed GET after the write; CloudFront may still hold a copy fetched just before that, for its
  ``max-age``. With ``edge.invalidate_on_write`` CloudFront usually drops it sooner, when the invalidation
  completes (CloudFront gives no bound for that). A refresh that fails leaves the TTL bound, which always
  holds. List pages are never refreshed: no write can enumerate the query strings they are keyed on.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from caching_constructs.edge.edge_refresh import MAX_BATCHING_WINDOW
from caching_constructs.edge.static_site import API_MAX_TTL, API_MIN_TTL
from caching_contract import http
from config import ENVIRONMENT_NAMES, EnvironmentConfig, load_environment

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN = "<!-- consistency-contract:begin (generated: python -m stacks.consistency --write) -->"
END = "<!-- consistency-contract:end -->"
ITEM = f"`GET {http.ITEM_ROUTE}`"
LIST = f"`GET {http.COLLECTION_PATH}?{'&'.join(f'{name}=' for name in http.LIST_PARAMETERS)}`"
PATHS = ("direct to the function", "through the stage cache (`ApiUrl`)", "through CloudFront")


@dataclass(frozen=True, kw_only=True)
class Timings:
    """Every input of the contract, in seconds."""

    near_cache: int
    """How long another container's near cache may serve an old copy (0 when the near cache is off)."""
    item_stage_ttl: int
    list_stage_ttl: int
    edge_min_ttl: int
    edge_max_ttl: int
    fresh_max_age: int
    """The handler's ``Cache-Control`` max-age on a fresh GET 200 (``EDGE_MAX_AGE_SECONDS``)."""
    stale_max_age: int
    """The same on a stale answer (``STALE_MAX_AGE_SECONDS``)."""
    refresh_window: int
    """The edge refresher's batching window: the longest a refresh waits for its batch."""
    invalidate_on_write: bool

    @property
    def edge_ttl(self) -> int:
        """How long CloudFront keeps an API 200: its longer max-age, within the cache policy's bounds."""
        return min(max(self.fresh_max_age, self.stale_max_age, self.edge_min_ttl), self.edge_max_ttl)


def timings(config: EnvironmentConfig) -> Timings:
    fresh, stale = http.EDGE_MAX_AGE_SECONDS, http.STALE_MAX_AGE_SECONDS
    return Timings(
        near_cache=config.functions.l1_ttl_seconds if config.functions.l1_enabled else 0,
        item_stage_ttl=config.api.item_cache_ttl_seconds,
        list_stage_ttl=config.api.list_cache_ttl_seconds,
        edge_min_ttl=int(API_MIN_TTL.to_seconds()),
        edge_max_ttl=int(API_MAX_TTL.to_seconds()),
        fresh_max_age=fresh,
        stale_max_age=stale,
        refresh_window=int(MAX_BATCHING_WINDOW.to_seconds()),
        invalidate_on_write=config.edge.invalidate_on_write,
    )


@dataclass(frozen=True)
class Row:
    route: str
    path: str
    bound_seconds: int
    """Guaranteed: from the TTLs alone (no refresh, or a refresh that failed)."""
    refreshed: str
    """With the edge refresh: what to expect (never worse than ``bound_seconds``)."""


def contract(t: Timings) -> list[Row]:
    refresh = f"{t.refresh_window} s + one GET"
    item_edge = f"≤ {refresh} + {t.edge_ttl} s"
    if t.invalidate_on_write:
        item_edge += ", usually less (invalidated)"
    near = _bound(t.near_cache)
    not_refreshed = "not refreshed: the bound"
    rows = [
        Row(ITEM, PATHS[0], t.near_cache, near),
        Row(ITEM, PATHS[1], t.near_cache + t.item_stage_ttl, f"≤ {refresh}"),
        Row(ITEM, PATHS[2], t.near_cache + t.item_stage_ttl + t.edge_ttl, item_edge),
        Row(LIST, PATHS[0], t.near_cache, near),
        Row(LIST, PATHS[1], t.near_cache + t.list_stage_ttl, not_refreshed),
        Row(LIST, PATHS[2], t.near_cache + t.list_stage_ttl + t.edge_ttl, not_refreshed),
    ]
    return rows


def _bound(seconds: int) -> str:
    return f"≤ {seconds} s" if seconds else "0 s (read-your-writes)"


def _inputs(t: Timings) -> str:
    near = f"near cache {t.near_cache} s" if t.near_cache else "near cache off"
    invalidation = "on" if t.invalidate_on_write else "off"
    return (
        f"stage TTLs {t.item_stage_ttl} s (item) and {t.list_stage_ttl} s (list); CloudFront keeps a 200 for "
        f"{t.edge_ttl} s (the API's max-age {t.fresh_max_age} s, {t.stale_max_age} s when stale, within the "
        f"cache policy's {t.edge_min_ttl}-{t.edge_max_ttl} s); {near}; refresh batching window "
        f"{t.refresh_window} s; CloudFront invalidation {invalidation}"
    )


def markdown(configs: dict[str, EnvironmentConfig]) -> str:
    """One table per group of environments whose contracts are equal."""
    groups: dict[Timings, list[str]] = {}
    for name, config in configs.items():
        groups.setdefault(timings(config), []).append(name)
    lines = [BEGIN]
    for t, names in groups.items():
        lines += [
            "",
            f"**{', '.join(names)}**: {_inputs(t)}.",
            "",
            "| route | read path | bound (TTLs only, always holds) | with the edge refresh (expected) |",
            "| --- | --- | --- | --- |",
        ]
        lines += [
            f"| {r.route} | {r.path} | {_bound(r.bound_seconds)} | {r.refreshed} |" for r in contract(t)
        ]
    lines += ["", END]
    return "\n".join(lines)


def all_environments() -> dict[str, EnvironmentConfig]:
    return {name: load_environment(name) for name in ENVIRONMENT_NAMES}


def readme_section(text: str) -> str | None:
    match = re.search(re.escape(BEGIN) + r".*?" + re.escape(END), text, flags=re.S)
    return match.group(0) if match else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the table in README.md")
    args = parser.parse_args(argv)
    table = markdown(all_environments())
    if not args.write:
        print(table)
        return 0
    text = README.read_text()
    section = readme_section(text)
    if section is None:
        print(f"README.md has no {BEGIN} ... {END} section", file=sys.stderr)
        return 1
    README.write_text(text.replace(section, table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
