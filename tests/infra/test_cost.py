"""What each environment costs: every estimate stays within its budget, a change that doubles a bill fails
that budget, budgets never reach a template, and the price table is dated, sourced and refreshable.
Each kind of resource is priced on its own in test_cost_pricing.py."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from pathlib import Path

import pytest

from config import ENVIRONMENT_NAMES, ConfigError, parse_environment
from config.environments import ENVIRONMENTS
from cost.assembly import load_assembly
from cost.estimate import check_budget, estimate
from cost.prices import PRICE_FILE, load_prices
from cost.refresh_prices import refresh
from stacks.stage import CachingStage
from tests.infra.conftest import new_app

PRICES = load_prices()
MONTH = 730


def usd(key: str) -> float:
    return PRICES.usd(key)


def templates(environment) -> dict:
    return load_assembly(Path(environment.assembly.directory))[environment.config.name]


# The budgets


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_each_environment_stays_within_its_monthly_budget(synthesized, name):
    environment = synthesized[name]
    result = estimate(name, templates(environment), environment.config.cost)
    assert result.unpriced == (), "a resource type nothing prices: price it in cost/ or list it as free"
    problem = check_budget(result, environment.config.cost.monthly_budget_usd)
    if problem:
        pytest.fail(problem, pytrace=False)


def test_doubling_devs_cache_nodes_adds_exactly_one_node_month(dev):
    stacks = templates(dev)
    before = estimate("dev", stacks, dev.config.cost).total
    doubled = copy.deepcopy(stacks)
    (group,) = [
        r for r in doubled["Data"]["Resources"].values() if r["Type"] == "AWS::ElastiCache::ReplicationGroup"
    ]
    assert group["Properties"]["NumCacheClusters"] == 1
    group["Properties"]["NumCacheClusters"] = 2
    after = estimate("dev", doubled, dev.config.cost).total
    assert after - before == pytest.approx(MONTH * usd("elasticache/node-hour/redis/cache.t4g.micro"))


class _Untouchable:
    """Stands in for ``config.cost`` while the stage is built: any read fails the synth."""

    def __getattribute__(self, name: str):
        raise AssertionError(
            f"a stack read config.cost.{name}: budgets and traffic must never reach a template"
        )


def test_a_config_change_that_doubles_devs_bill_fails_its_budget_and_budgets_never_reach_a_template(
    dev, tmp_path
):
    # The change a reviewer must catch: dev gets prod's cache node type, and a replica.
    raw = copy.deepcopy(ENVIRONMENTS["dev"])
    raw["cache"] = {**raw["cache"], "node_type": "cache.r7g.large", "replicas_per_shard": 1}
    config = parse_environment("dev", raw)
    blind = dataclasses.replace(config)
    object.__setattr__(blind, "cost", _Untouchable())
    app = new_app(tmp_path)
    stage = CachingStage(app, "dev", config=blind)
    app.synth()
    stacks = load_assembly(Path(stage.synth().directory))["dev"]

    before = estimate("dev", templates(dev), dev.config.cost).total
    after = estimate("dev", stacks, config.cost)
    message = check_budget(after, config.cost.monthly_budget_usd)

    assert (
        check_budget(estimate("dev", templates(dev), dev.config.cost), dev.config.cost.monthly_budget_usd)
        is None
    )
    assert after.total >= 2 * before
    nodes = 2 * MONTH * usd("elasticache/node-hour/redis/cache.r7g.large")
    assert message is not None
    assert message.startswith(
        f"dev: estimated ${after.total:,.2f}/month exceeds its budget cost.monthly_budget_usd "
        f"${config.cost.monthly_budget_usd:,.2f} "
        f"(largest: ElastiCache redis cache.r7g.large node ${nodes:,.2f}, "
    )


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("monthly_budget_usd", 0, r"cost\.monthly_budget_usd: 0 is not allowed; expected a number from 1 to"),
        ("edge_hit_ratio", 1.5, r"cost\.edge_hit_ratio: 1\.5 is not allowed; expected a number from 0 to 1$"),
        ("writes_per_month", -1, r"cost\.writes_per_month: -1 is not allowed; expected an integer from 0 to"),
        (
            "monthly_budget_usd",
            "lots",
            r"cost\.monthly_budget_usd: 'lots' is not allowed; expected a number$",
        ),
        ("budget", 100, r"cost\.budget: 100 is not allowed; expected one of the keys average_response_kb"),
    ],
)
def test_bad_cost_settings_stop_synth_with_one_line(key, value, expected):
    raw = copy.deepcopy(ENVIRONMENTS["staging"])
    raw["cost"] = {**raw.get("cost", {}), key: value}
    with pytest.raises(ConfigError, match=r"^environments\.staging\." + expected):
        parse_environment("staging", raw)


# The price table


def test_the_price_table_is_dated_sourced_and_refreshable():
    document = json.loads(PRICE_FILE.read_text())
    assert document["region"] == "us-east-1" and document["term"] == "OnDemand"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", document["pinned"])
    assert "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/" in document["source"]
    assert "python -m cost.refresh_prices" in document["refresh"]
    for key, entry in document["prices"].items():
        assert entry["usd"] > 0 and entry["per"] >= 1 and entry["unit"], key
        assert entry["match"]["offer"] and len(entry["match"]) >= 2, key


def _offer_file(rows: list[dict[str, str]]) -> list[str]:
    columns = ["SKU", "TermType", "PricePerUnit", "Unit", "StartingRange", "usageType", "Cache Engine"]
    head = ['"FormatVersion","v1.0"\n', '"Disclaimer","..."\n', '"Publication Date","2026-11-01"\n']
    lines = [",".join(f'"{c}"' for c in columns) + "\n"]
    lines += [",".join(f'"{row.get(c, "")}"' for c in columns) + "\n" for row in rows]
    return head + lines


def test_refresh_rereads_each_price_from_the_offer_file_and_reports_what_it_cannot_match():
    document = {
        "pinned": "2000-01-01",
        "prices": {
            "nat": {
                "usd": 0.045,
                "per": 1,
                "unit": "Hrs",
                "match": {"offer": "E", "usageType": "NatGateway-Hours"},
            },
            "requests": {
                "usd": 0.4,
                "per": 1_000_000,
                "unit": "Requests",
                "match": {"offer": "E", "usageType~": "^Req"},
            },
            "node": {
                "usd": 1.0,
                "per": 1,
                "unit": "Hrs",
                "match": {"offer": "E", "usageType": "NodeUsage:x"},
            },
            "gone": {"usd": 1.0, "per": 1, "unit": "Hrs", "match": {"offer": "E", "usageType": "Gone"}},
            "unit": {"usd": 1.0, "per": 1, "unit": "GB", "match": {"offer": "E", "usageType": "Hours"}},
        },
    }
    rows = [
        {"TermType": "OnDemand", "PricePerUnit": "0.05", "Unit": "Hrs", "usageType": "NatGateway-Hours"},
        {"TermType": "Reserved", "PricePerUnit": "0.01", "Unit": "Hrs", "usageType": "NatGateway-Hours"},
        {"TermType": "OnDemand", "PricePerUnit": "0.0000005", "Unit": "Requests", "usageType": "Requests"},
        {
            "TermType": "OnDemand",
            "PricePerUnit": "1.0",
            "Unit": "Hrs",
            "usageType": "NodeUsage:x",
            "Cache Engine": "A",
        },
        {
            "TermType": "OnDemand",
            "PricePerUnit": "2.0",
            "Unit": "Hrs",
            "usageType": "NodeUsage:x",
            "Cache Engine": "B",
        },
        {"TermType": "OnDemand", "PricePerUnit": "3.0", "Unit": "Hrs", "usageType": "Hours"},
    ]
    refreshed, changes, problems = refresh(document, lambda offer: _offer_file(rows))
    assert refreshed["prices"]["nat"]["usd"] == 0.05
    assert refreshed["prices"]["requests"]["usd"] == pytest.approx(0.5)
    assert sorted(changes) == ["nat: 0.045 -> 0.05", "requests: 0.4 -> 0.5"]
    assert [p.split(":")[0] for p in problems] == ["node", "gone", "unit"]
    assert (
        "different prices" in problems[0] and "no on-demand row" in problems[1] and "per 'Hrs'" in problems[2]
    )
    assert refreshed["prices"]["node"]["usd"] == 1.0 and not refreshed["verified_against_offer_files"]
    assert refreshed["pinned"] != "2000-01-01"
