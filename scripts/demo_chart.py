"""`make demo`'s chart: the database queries avoided first, then how the cache fills, then latency."""

from __future__ import annotations

import textwrap
from pathlib import Path

from demo_stats import Phase, percentile

CHART_POINTS = 50  # windows per phase on the chart: fine enough to show the first requests' climb
COLOURS = ("tab:blue", "tab:orange", "tab:purple", "tab:brown")


def chart(
    path: Path,
    phases: list[Phase],
    latency_groups: list[tuple[str, list[float]]],
    *,
    title: str,
    note: str,
    latency_label: str,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (queries, curve, latency) = plt.subplots(1, 3, figsize=(17, 5.8))
    _queries_panel(queries, phases)
    _curve_panel(curve, phases)
    _latency_panel(latency, latency_groups, latency_label)
    figure.suptitle(title)
    figure.text(0.5, 0.01, textwrap.fill(note, 190), ha="center", va="bottom", fontsize=9, style="italic")
    figure.tight_layout(rect=(0, 0.09, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _queries_panel(axes, phases: list[Phase]) -> None:
    requests = phases[0].requests
    labels = ["no cache", *(phase.name for phase in phases)]
    values = [requests, *(phase.db_queries for phase in phases)]
    bars = axes.bar(labels, values, color=["tab:grey", *COLOURS[: len(phases)]])
    for bar, value in zip(bars, values, strict=True):
        avoided = 1 - value / requests
        text = f"{value}" if value == requests else f"{value}\n{avoided:.0%} avoided"
        axes.annotate(text, (bar.get_x() + bar.get_width() / 2, value), ha="center", va="bottom", fontsize=9)
    axes.set_ylim(0, requests * 1.2)
    axes.set_ylabel("database queries")
    axes.set_title(f"Database queries for {requests} requests")


def _curve_panel(axes, phases: list[Phase]) -> None:
    offset = 0
    for phase, colour in zip(phases, COLOURS, strict=False):
        windows = phase.windows(max(1, phase.requests // CHART_POINTS))
        ends = [offset + w.end for w in windows]
        axes.plot(ends, [w.hit_ratio for w in windows], color=colour, label=f"{phase.name}: hit ratio")
        axes.plot(
            ends,
            [w.queries_per_request for w in windows],
            color=colour,
            linestyle="--",
            label=f"{phase.name}: queries per request",
        )
        if offset:
            axes.axvline(offset, color="black", linewidth=0.8, linestyle=":")
            axes.annotate(f" {phase.name} starts", (offset, 0.97), fontsize=8, va="top")
        offset += phase.requests
    axes.set_ylim(0, 1)
    axes.set_ylabel("share of requests / queries per request")
    axes.set_xlim(0, offset)
    axes.set_xlabel(f"request number (each point: {max(1, phases[0].requests // CHART_POINTS)} requests)")
    axes.set_title("How the cache fills, from the first request")
    axes.legend(fontsize=8, loc="center right")


def _latency_panel(axes, groups: list[tuple[str, list[float]]], label: str) -> None:
    shown = [(name, values) for name, values in groups if values]
    positions = range(len(shown))
    for shift, q, shade in ((-0.2, 50, 0.9), (0.2, 99, 0.5)):
        heights = [percentile(values, q) for _, values in shown]
        bars = axes.bar([p + shift for p in positions], heights, width=0.4, alpha=shade, label=f"p{q}")
        for bar, height in zip(bars, heights, strict=True):
            axes.annotate(
                f"{height:.2f}",
                (bar.get_x() + bar.get_width() / 2, height),
                ha="center",
                va="bottom",
                fontsize=8,
            )
    axes.set_xticks(list(positions), [textwrap.fill(name, 18) for name in shown_names(shown)], fontsize=8)
    axes.set_yscale("log")
    axes.set_ylabel(f"{label} (ms, log scale)")
    axes.set_title("Latency per request")
    axes.legend(fontsize=8)


def shown_names(groups: list[tuple[str, list[float]]]) -> list[str]:
    return [f"{name} (n={len(values)})" for name, values in groups]
