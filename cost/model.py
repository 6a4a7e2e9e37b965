"""The estimate's vocabulary: ``Charge``, ``Estimate``, the ``Context`` pricers read, their registry."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from config.cost import CostSettings
from cost.assembly import StackTemplates
from cost.prices import HOURS_PER_MONTH, PriceTable

Resource = Mapping[str, Any]
H = HOURS_PER_MONTH


@dataclass(frozen=True)
class Charge:
    """One priced quantity. Charges with the same category, item, unit and price add up to one line."""

    category: str
    item: str
    quantity: float
    unit: str
    unit_usd: float
    count: int = 1
    usage: bool = False
    """Priced at the traffic profile rather than read from a template."""

    @property
    def monthly_usd(self) -> float:
        return self.quantity * self.unit_usd


@dataclass(frozen=True)
class Estimate:
    environment: str
    lines: tuple[Charge, ...]
    notes: tuple[str, ...] = ()
    unpriced: tuple[str, ...] = ()
    """Resource types found in the templates that nothing prices: the cost test fails on any."""

    @property
    def total(self) -> float:
        return sum(line.monthly_usd for line in self.lines)

    def by_category(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for line in self.lines:
            totals[line.category] = totals.get(line.category, 0.0) + line.monthly_usd
        return dict(sorted(totals.items(), key=lambda kv: -kv[1]))

    def top(self, n: int = 5) -> list[Charge]:
        return sorted(self.lines, key=lambda line: -line.monthly_usd)[:n]


@dataclass
class Context:
    """What a pricer may look at: every resource of the environment, the profile, the prices."""

    stacks: StackTemplates
    profile: CostSettings
    prices: PriceTable
    notes: list[str] = field(default_factory=list)

    def resources(self, *resource_types: str, stack: str | None = None) -> Iterator[tuple[Where, Resource]]:
        """Every resource (of these types, in this stack when given) with where it is."""
        for name, template in self.stacks.items():
            if stack is not None and name != stack:
                continue
            for logical_id, resource in template.get("Resources", {}).items():
                if not resource_types or resource["Type"] in resource_types:
                    yield (name, logical_id), resource

    def resource(self, stack: str, logical_id: str) -> Resource | None:
        return self.stacks[stack].get("Resources", {}).get(logical_id)

    def usd(self, key: str) -> float:
        return self.prices.usd(key)

    @property
    def api_requests(self) -> float:
        """Requests reaching API Gateway: CloudFront's misses."""
        return self.profile.viewer_requests_per_month * (1 - self.profile.edge_hit_ratio)

    @property
    def function_invocations(self) -> float:
        """Product API invocations: API requests the stage cache does not answer."""
        return self.api_requests * (1 - self.profile.stage_cache_hit_ratio)


Where = tuple[str, str]
"""(stack name, logical id) of a resource."""
Pricer = Callable[[Context, Where, Resource], Iterable[Charge]]
PRICERS: dict[str, Pricer] = {}


def prices(*resource_types: str) -> Callable[[Pricer], Pricer]:
    def register(pricer: Pricer) -> Pricer:
        for resource_type in resource_types:
            PRICERS[resource_type] = pricer
        return pricer

    return register


def references(value: Any) -> set[str]:
    """Logical ids a template value points at through ``Ref`` or ``Fn::GetAtt``."""
    found: set[str] = set()
    if isinstance(value, dict):
        if isinstance(value.get("Ref"), str):
            found.add(value["Ref"])
        if isinstance(value.get("Fn::GetAtt"), list):
            found.add(value["Fn::GetAtt"][0])
        for item in value.values():
            found |= references(item)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found
