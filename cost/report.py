"""``python -m cost.report`` (``make cost``): every environment's monthly estimate, its top cost drivers and
its budget, as Markdown on stdout and in ``<out>/cost-report.md``, with a stacked-bar chart beside it
(``<out>/cost-by-environment.png``).

``--synth`` first synthesizes every environment into ``cdk.out.cost/`` (bundling skipped: no network needed);
without it the report reads an existing cloud assembly (``--assembly``, default ``cdk.out``). Exits 1 when an
environment is over its budget or has a resource nothing prices.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

from config import ENVIRONMENT_NAMES, load_environment
from config.cost import CostSettings
from cost.assembly import ROOT, load_assembly, synthesize
from cost.estimate import Estimate, check_budget, estimate_environments
from cost.prices import PriceTable, load_prices

DEFAULT_OUT = ROOT / "cost" / "out"
SYNTH_DIR = ROOT / "cdk.out.cost"
"""Where ``--synth`` writes its assembly, like the other ``cdk.out.*``: git-ignored, removed by make clean."""
_REGION_LABEL = "us-east-1, on-demand"
CATEGORY_ORDER = (
    "DAX",
    "ElastiCache",
    "RDS",
    "Network",
    "API Gateway",
    "Edge",
    "Security",
    "Monitoring",
    "Functions",
)
"""Stacking order of the chart: the hourly-billed data tier at the bottom."""
NOT_PRICED = (
    "free tiers (an estimate is what a busy account pays), taxes, support plans",
    "data transfer between AZs (ElastiCache replica reads, cross-AZ Lambda traffic) and to the internet "
    "outside CloudFront",
    "backup storage beyond the free allowance (RDS: up to the provisioned storage; ElastiCache: one "
    "snapshot per node)",
    "KMS, Secrets Manager and CloudWatch API requests; SNS notifications; CloudFront invalidations "
    "(off by default)",
    "deploy-time functions (custom resources, bucket deployment, log retention)",
    "cross-region replication transfer of a Global Datastore and a cross-region RDS replica; resources in a "
    "secondary region are priced at the us-east-1 table's rates",
)


def _money(value: float) -> str:
    return f"${value:,.2f}"


def _quantity(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}".rstrip("0").rstrip(".")


def _price(value: float) -> str:
    """Dollars with at least two decimals and up to four: $5.00, $0.045, $0.0128."""
    text = f"{value:,.4f}".rstrip("0")
    return "$" + text + "0" * (2 - len(text.partition(".")[2]))


def _unit_price(value: float, unit: str) -> str:
    if value < 0.001:
        return f"{_price(value * 1_000_000)}/M {unit}"
    return f"{_price(value)}/{unit}"


def profile_line(profile: CostSettings) -> str:
    """The traffic an estimate assumes, in one sentence."""
    return (
        f"{profile.viewer_requests_per_month:,} viewer requests/month, {profile.edge_hit_ratio:.0%} answered "
        f"by CloudFront, {profile.stage_cache_hit_ratio:.0%} of the rest by the stage cache; "
        f"{profile.average_response_kb:g} KB responses; {profile.function_duration_ms:g} ms per invocation; "
        f"{profile.writes_per_month:,} writes; DAX demo {profile.dynamodb_reads_per_month:,} reads and "
        f"{profile.dynamodb_writes_per_month:,} writes; {profile.storage_gb:g} GB per store; "
        f"{profile.log_ingestion_gb_per_month:g} GB of logs; {profile.nat_processed_gb_per_month:g} GB "
        f"through NAT, {profile.endpoint_processed_gb_per_month:g} GB through endpoints"
    )


def environment_table(estimate: Estimate, minimum_usd: float = 0.005) -> list[str]:
    """One environment's lines as a Markdown table; lines under a cent are added into one row."""
    rows = ["| category | item | quantity | price | per month |", "| --- | --- | ---: | ---: | ---: |"]
    small = [line for line in estimate.lines if line.monthly_usd < minimum_usd]
    for line in estimate.lines:
        if line.monthly_usd < minimum_usd:
            continue
        item = line.item + (f" ×{line.count}" if line.count > 1 else "") + (" †" if line.usage else "")
        quantity = f"{_quantity(line.quantity)} {line.unit}"
        rows.append(
            f"| {line.category} | {item} | {quantity} | {_unit_price(line.unit_usd, line.unit)} "
            f"| {_money(line.monthly_usd)} |"
        )
    if small:
        rows.append(
            f"| | {len(small)} item{'s' if len(small) > 1 else ''} under a cent each | | "
            f"| {_money(sum(x.monthly_usd for x in small))} |"
        )
    usage = sum(line.monthly_usd for line in estimate.lines if line.usage)
    rows.append(f"| | **total** (usage-priced † {_money(usage)}) | | | **{_money(estimate.total)}** |")
    return rows


def summary_table(estimates: Mapping[str, Estimate], budgets: Mapping[str, float]) -> list[str]:
    """Environments side by side: each category's cost, the total, the budget."""
    names = list(estimates)
    rows = ["| | " + " | ".join(names) + " |", "| --- |" + " ---: |" * len(names)]
    categories = [c for c in CATEGORY_ORDER if any(c in e.by_category() for e in estimates.values())]
    for category in categories:
        cells = [_money(estimates[name].by_category().get(category, 0.0)) for name in names]
        rows.append(f"| {category} | " + " | ".join(cells) + " |")
    rows.append(
        "| **total per month** | " + " | ".join(f"**{_money(estimates[n].total)}**" for n in names) + " |"
    )
    rows.append(
        "| budget (`cost.monthly_budget_usd`) | " + " | ".join(_money(budgets[n]) for n in names) + " |"
    )
    return rows


def render(
    estimates: Mapping[str, Estimate], profiles: Mapping[str, CostSettings], prices: PriceTable
) -> str:
    budgets = {name: profiles[name].monthly_budget_usd for name in estimates}
    out = [
        f"# Monthly cost estimate ({prices.region} on-demand, prices pinned {prices.pinned})",
        "",
        *summary_table(estimates, budgets),
    ]
    for name, estimate in estimates.items():
        share = estimate.total / budgets[name]
        out += ["", f"## {name}: {_money(estimate.total)}/month, {share:.0%} of its budget", ""]
        out += [f"Traffic profile (`config.cost`): {profile_line(profiles[name])}.", ""]
        drivers = ", ".join(f"{line.item} {_money(line.monthly_usd)}" for line in estimate.top(5))
        out += [f"Top cost drivers: {drivers}.", ""]
        out += environment_table(estimate)
        out += ["", *(f"- {note}" for note in estimate.notes)] if estimate.notes else []
        if estimate.unpriced:
            out += ["", "**Unpriced resource types:** " + ", ".join(estimate.unpriced)]
    out += ["", f"Prices: `cost/prices_us_east_1.json`, pinned {prices.pinned}; source: {prices.source}."]
    out += ["Refresh with `python -m cost.refresh_prices` (needs network). Not priced:"]
    out += [f"- {item}" for item in NOT_PRICED]
    return "\n".join(out) + "\n"


def write_chart(estimates: Mapping[str, Estimate], budgets: Mapping[str, float], path: Path) -> Path:
    """One stacked bar per environment, by category, each on its own scale (prod is ten times dev) with its
    budget as a dashed line. matplotlib is already a dev dependency (``make demo``'s chart)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    palette = plt.get_cmap("tab10")
    colours = {category: palette(index) for index, category in enumerate(CATEGORY_ORDER)}
    figure, panels = plt.subplots(1, len(estimates), figsize=(3.2 * len(estimates) + 1.8, 5.2), squeeze=False)
    for panel, (name, estimate) in zip(panels[0], estimates.items(), strict=True):
        bottom = 0.0
        for category in CATEGORY_ORDER:
            value = estimate.by_category().get(category, 0.0)
            if value:
                panel.bar([name], [value], bottom=bottom, color=colours[category], label=category, width=0.5)
                bottom += value
        panel.axhline(budgets[name], color="black", linestyle="dashed", linewidth=1, label="budget")
        panel.set_ylim(0, max(bottom, budgets[name]) * 1.12)
        panel.set_title(f"{name}: {_money(bottom)}\nbudget {_money(budgets[name])}", fontsize=10)
        panel.tick_params(axis="x", length=0)
    panels[0][0].set_ylabel(f"USD per month ({_REGION_LABEL})")
    handles, labels = panels[0][-1].get_legend_handles_labels()
    legend = dict(zip(labels, handles, strict=True))
    figure.legend(legend.values(), legend.keys(), loc="center right", fontsize=8, frameon=False)
    figure.suptitle("Estimated monthly cost by environment", fontsize=11)
    figure.tight_layout(rect=(0, 0, 0.84, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cost.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--assembly", type=Path, default=ROOT / "cdk.out", help="cloud assembly to price")
    parser.add_argument("--synth", action="store_true", help=f"synthesize into {SYNTH_DIR.name}/ first")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the report and chart go")
    parser.add_argument("--env", action="append", choices=ENVIRONMENT_NAMES, help="only these (repeatable)")
    args = parser.parse_args(argv)
    names = args.env or list(ENVIRONMENT_NAMES)
    assembly_dir = (
        synthesize(SYNTH_DIR, names[0] if len(names) == 1 else None) if args.synth else args.assembly
    )
    configs = {name: load_environment(name) for name in names}
    prices = load_prices()
    estimates = estimate_environments(load_assembly(assembly_dir), configs, prices)
    missing = [name for name in names if name not in estimates]
    if missing:
        print(
            f"{assembly_dir} has no templates for {', '.join(missing)}: synthesize them first",
            file=sys.stderr,
        )
        return 1
    profiles = {name: config.cost for name, config in configs.items()}
    text = render(estimates, profiles, prices)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cost-report.md").write_text(text)
    chart = write_chart(
        estimates,
        {n: p.monthly_budget_usd for n, p in profiles.items()},
        args.out / "cost-by-environment.png",
    )
    print(text)
    print(f"Report: {args.out / 'cost-report.md'}\nChart: {chart}")
    problems = [check_budget(estimates[n], profiles[n].monthly_budget_usd) for n in names]
    problems += [
        f"{n}: unpriced resource types {', '.join(e.unpriced)}" for n, e in estimates.items() if e.unpriced
    ]
    for problem in filter(None, problems):
        print(problem, file=sys.stderr)
    return 1 if any(problems) else 0


if __name__ == "__main__":
    sys.exit(main())
