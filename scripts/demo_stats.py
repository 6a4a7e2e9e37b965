"""What `make demo` records per request and the figures it derives, for the local and ``--url`` runs."""

from __future__ import annotations

from dataclasses import dataclass, field

MISS = "MISS"
DEFAULT_WINDOWS = 10  # the text report's windows per phase: few enough to read on one line
ERROR_PREFIX = "HTTP "  # an answer that is not the product's (throttled, blocked): neither hit nor query


def _served_from_cache(outcome: str, queries: int) -> bool:
    return queries == 0 and not outcome.startswith(ERROR_PREFIX)


@dataclass
class Window:
    """``size`` consecutive requests ending at request ``end`` (1-based, within the phase)."""

    end: int
    size: int
    hit_ratio: float
    queries_per_request: float


@dataclass
class Phase:
    """One pass of the workload: each request's outcome, latency and the database queries it caused."""

    name: str
    outcomes: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)

    def add(self, outcome: str, latency_ms: float, queries: int) -> None:
        self.outcomes.append(outcome)
        self.latencies_ms.append(latency_ms)
        self.queries.append(queries)

    @property
    def requests(self) -> int:
        return len(self.outcomes)

    @property
    def db_queries(self) -> int:
        return sum(self.queries)

    @property
    def hits(self) -> int:
        return sum(map(_served_from_cache, self.outcomes, self.queries))

    @property
    def errors(self) -> int:
        return sum(1 for outcome in self.outcomes if outcome.startswith(ERROR_PREFIX))

    @property
    def hit_ratio(self) -> float:
        """Share of requests answered without a database query: what the cache is for."""
        return self.hits / self.requests if self.requests else float("nan")

    @property
    def queries_per_request(self) -> float:
        return self.db_queries / self.requests if self.requests else float("nan")

    def latencies(self, *outcomes: str) -> list[float]:
        return [
            ms for ms, outcome in zip(self.latencies_ms, self.outcomes, strict=True) if outcome in outcomes
        ]

    def counts(self) -> dict[str, int]:
        tally: dict[str, int] = {}
        for outcome in self.outcomes:
            tally[outcome] = tally.get(outcome, 0) + 1
        return dict(sorted(tally.items(), key=lambda item: -item[1]))

    def windows(self, size: int) -> list[Window]:
        """Hit ratio and queries per request over consecutive windows: the cold phase's curve is the story,
        so the first requests are kept (a rolling mean would start only after ``size`` of them)."""
        size = max(1, size)
        result = []
        for start in range(0, self.requests, size):
            chunk = self.queries[start : start + size]
            outcomes = self.outcomes[start : start + size]
            result.append(
                Window(
                    end=start + len(chunk),
                    size=len(chunk),
                    hit_ratio=sum(map(_served_from_cache, outcomes, chunk)) / len(chunk),
                    queries_per_request=sum(chunk) / len(chunk),
                )
            )
        return result


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def p50_p99(values: list[float]) -> str:
    if not values:
        return "none"
    return f"{percentile(values, 50):.3f} / {percentile(values, 99):.3f}"


def window_size(requests: int, window: int | None) -> int:
    return window if window else max(1, requests // DEFAULT_WINDOWS)


def phase_lines(phase: Phase, window: int) -> list[str]:
    """The phase's summary line and its curve, window by window."""
    windows = phase.windows(window)
    errors = f", {phase.errors} not answered (see the answers line)" if phase.errors else ""
    return [
        f"{phase.name}: {phase.requests} requests, hit ratio {phase.hit_ratio:.1%}, "
        f"{phase.db_queries} database queries ({phase.queries_per_request:.3f} per request){errors}",
        f"  per {window} requests, hit ratio:        " + " ".join(f"{w.hit_ratio:6.1%}" for w in windows),
        f"  per {window} requests, queries/request:  "
        + " ".join(f"{w.queries_per_request:6.3f}" for w in windows),
    ]


def headline_lines(phases: list[Phase], notes: dict[str, str] | None = None) -> list[str]:
    """Database queries per phase against the no-cache baseline (one query per request): the headline."""
    requests = phases[0].requests
    lines = [
        f"HEADLINE database queries for the same {requests} requests (no cache: one query per request):",
        f"  {'no cache':<14}{requests:>8}",
    ]
    for phase in phases:
        avoided = phase.requests - phase.db_queries - phase.errors
        note = (notes or {}).get(phase.name, "")
        lines.append(
            f"  {phase.name:<14}{phase.db_queries:>8}   {avoided} avoided "
            f"({avoided / phase.requests:.1%}){note}"
        )
    return lines
