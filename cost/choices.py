"""``python -m cost.choices``: what each configuration choice costs, measured by synthesizing the environment
with that one setting changed and pricing the templates (the README's "What it costs" tables).

Every variant is a ``CachingStage`` of its own in one app (bundling skipped), priced like ``make cost``
prices the real environments, so a number here can only come from what the templates would deploy. It
takes about two minutes on two cores; it is not part of ``make cost``.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config import EnvironmentConfig, parse_environment
from config.environments import ENVIRONMENTS
from cost.assembly import ROOT, StackTemplates, load_assembly
from cost.estimate import estimate
from cost.fixed import vcpus
from cost.model import H
from cost.prices import PriceTable, load_prices


@dataclass(frozen=True)
class Choice:
    environment: str
    change: str
    settings: Mapping[str, Any]
    """Dotted config keys (``network.nat_gateways``) and the value each takes in this variant."""
    gives_up: str
    """What the environment no longer has or does; "nothing" when every feature still works."""


_VALKEY = {"cache.engine": "valkey", "cache.engine_version": "8.0"}

CHOICES: tuple[Choice, ...] = (
    Choice(
        "dev",
        "Valkey 8.0 instead of Redis OSS 7.1",
        _VALKEY,
        "nothing: a drop-in (Lua, pub/sub), as staging runs",
    ),
    Choice(
        "dev",
        "no CloudFront additional metrics",
        {"monitoring.cloudfront_additional_metrics": False},
        "CloudFront's cache hit rate on the dashboard",
    ),
    Choice(
        "dev",
        "AWS-managed keys",
        {"security.customer_managed_keys": False},
        "customer-managed keys (the alarm topic keeps its own)",
    ),
    Choice(
        "dev",
        "no MySQL read replica",
        {"database.read_replica_count": 0},
        "reads from a replica: misses read the writer",
    ),
    Choice("dev", "no WAF web ACLs", {"security.web_acls": False}, "the edge and API web ACLs"),
    Choice(
        "prod",
        "one NAT gateway instead of one per AZ",
        {"network.nat_gateways": 1},
        "egress when the NAT's AZ fails",
    ),
    Choice(
        "prod",
        "dax.t3.medium DAX nodes instead of dax.r5.large",
        {"dax.node_type": "dax.t3.medium"},
        "three quarters of the item cache (4 instead of 16 GiB a node); burstable CPU",
    ),
    Choice("prod", "one DAX node instead of three", {"dax.node_count": 1}, "DAX in every AZ"),
    Choice(
        "prod",
        "one cache replica instead of two",
        {"cache.replicas_per_shard": 1},
        "a second failover target and replica reads in the third AZ",
    ),
    Choice(
        "prod",
        "cache.m7g.large cache nodes instead of cache.r7g.large",
        {"cache.node_type": "cache.m7g.large"},
        "half the cache memory (6.4 instead of 13.07 GiB per node)",
    ),
    Choice("prod", "Valkey 8.0 instead of Redis OSS 7.1", _VALKEY, "nothing"),
    Choice(
        "prod",
        "Single-AZ MySQL writer instead of Multi-AZ",
        {"database.multi_az": False},
        "the standby: a writer failure means promoting a replica by hand",
    ),
    Choice(
        "prod",
        "one MySQL read replica instead of two",
        {"database.read_replica_count": 1},
        "read capacity on a cache miss; a replica per AZ",
    ),
    Choice(
        "prod",
        "Performance Insights off",
        {"database.performance_insights": False},
        "7 days of query-level history, which cost nothing",
    ),
    Choice(
        "prod",
        "0.5 GB stage cache instead of 1.6 GB",
        {"api.cache_cluster_size": "0.5"},
        "stage-cache capacity: more requests reach the function",
    ),
)


def variant_config(environment: str, settings: Mapping[str, Any]) -> EnvironmentConfig:
    raw = copy.deepcopy(ENVIRONMENTS[environment])
    for dotted, value in settings.items():
        *sections, key = dotted.split(".")
        node = raw
        for section in sections:
            node = node.setdefault(section, {})
        node[key] = value
    return parse_environment(environment, raw)


def synthesize_variants(variants: Mapping[str, EnvironmentConfig], outdir: Path) -> dict[str, StackTemplates]:
    """Every variant as its own stage (id = the mapping's key) of one app; templates by stage id."""
    import aws_cdk as cdk

    from stacks.stage import CachingStage

    context = dict(json.loads((ROOT / "cdk.json").read_text())["context"])
    context["aws:cdk:bundling-stacks"] = []
    app = cdk.App(context=context, outdir=str(outdir))
    for stage_id, config in variants.items():
        CachingStage(app, stage_id, config=config)
    app.synth()
    return load_assembly(outdir)


def _insights_retention_row(prod: StackTemplates, prices: PriceTable) -> str:
    """Longer Performance Insights history has no config setting yet: priced from the templates' instances."""
    instance_vcpus = [
        vcpus(resource["Properties"]["DBInstanceClass"])
        for template in prod.values()
        for resource in template.get("Resources", {}).values()
        if resource["Type"] == "AWS::RDS::DBInstance"
        and resource["Properties"].get("EnablePerformanceInsights")
    ]
    monthly = sum(instance_vcpus) * prices.usd("rds/database-insights-advanced-vcpu-hour") * H
    return (
        f"| Performance Insights history beyond 7 days ({len(instance_vcpus)} instances, "
        f"{sum(instance_vcpus)} vCPUs; not a config setting yet) | | +{monthly:,.2f} | "
        "nothing: adds 15 months of history |"
    )


def _table(environment: str, totals: Mapping[str, float]) -> list[str]:
    rows = [
        f"**{environment}** as configured: ${totals[environment]:,.2f}/month.",
        "",
        "| change | per month | difference | gives up |",
        "| --- | ---: | ---: | --- |",
    ]
    for index, choice in enumerate(CHOICES):
        if choice.environment == environment:
            total = totals[f"{environment}-choice{index}"]
            difference = total - totals[environment]
            rows.append(f"| {choice.change} | ${total:,.2f} | {difference:+,.2f} | {choice.gives_up} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cost.choices", description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    prices = load_prices()
    variants: dict[str, EnvironmentConfig] = {name: variant_config(name, {}) for name in ("dev", "prod")}
    for index, choice in enumerate(CHOICES):
        variants[f"{choice.environment}-choice{index}"] = variant_config(choice.environment, choice.settings)
    with tempfile.TemporaryDirectory(prefix="cost-choices-") as outdir:
        templates = synthesize_variants(variants, Path(outdir))
    totals = {
        stage_id: estimate(config.name, templates[stage_id], config.cost, prices).total
        for stage_id, config in variants.items()
    }
    print("\n".join([*_table("dev", totals), "", *_table("prod", totals)]))
    print(_insights_retention_row(templates["prod"], prices))
    return 0


if __name__ == "__main__":
    sys.exit(main())
