"""Default-quota check for environments that share an AWS account and region.

Each environment's own limits are validated in ``config.loader``; what no single environment can see is the
sum. Environments with ``account``/``region`` null deploy into whatever account and region the credentials
name, so for this check they all share one target. ``check_shared_quotas`` adds up, per target, what the
environments would use and stops synth with the list of every quota the sum exceeds.

What is checked (docs/DEPLOY.md has the table with today's numbers):

* VPCs per region: one per environment.
* Elastic IPs per region: one per NAT gateway (``network.nat_gateways``).
* NAT gateways per Availability Zone: environment n's i-th NAT gateway sits in its i-th AZ, and AZ names
  are the same for every VPC of an account, so the busiest AZ counts one per environment with i+1 gateways.
* Reserved Lambda concurrency: the product API's ``functions.reserved_concurrency`` plus 1 for the warmer when
  it is set. Lambda keeps 100 of the account's concurrency unreserved, so at most ``quota - 100`` can be
  reserved: 900 of the default 1000, and nothing in a new account that starts with 10.
* DAX nodes per region (``dax.node_count``), RDS instances per region (writer plus ``read_replica_count``)
  and ElastiCache nodes per region (shards x (1 + replicas)).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from config.schema import ConfigError, EnvironmentConfig, QuotaConfig

UNRESERVED_LAMBDA_MINIMUM = 100
"""Concurrency Lambda never lets functions reserve: PutFunctionConcurrency fails below it."""

DEFAULT_TARGET = "the credentials' account and region"


@dataclass(frozen=True)
class QuotaRule:
    name: str
    """How AWS's Service Quotas console names it."""
    usage: Callable[[EnvironmentConfig], int]
    limit: Callable[[QuotaConfig], int]
    combine: Callable[[Sequence[EnvironmentConfig]], int] | None = None
    """How environments add up; default the sum of ``usage``."""


def reserved_concurrency(config: EnvironmentConfig) -> int:
    reserved = config.functions.reserved_concurrency
    # The warmer reserves 1 whenever the product API reserves concurrency (stacks/api_stack.py).
    return 0 if reserved is None else reserved + 1


def _busiest_az(configs: Sequence[EnvironmentConfig]) -> int:
    deepest = max((config.network.nat_gateways for config in configs), default=0)
    return max((sum(1 for c in configs if c.network.nat_gateways > az) for az in range(deepest)), default=0)


RULES: tuple[QuotaRule, ...] = (
    QuotaRule("VPCs per Region", lambda c: 1, lambda q: q.vpcs),
    QuotaRule(
        "EC2-VPC Elastic IPs (one per NAT gateway)", lambda c: c.network.nat_gateways, lambda q: q.elastic_ips
    ),
    QuotaRule(
        "NAT gateways per Availability Zone",
        lambda c: min(c.network.nat_gateways, 1),
        lambda q: q.nat_gateways_per_az,
        combine=_busiest_az,
    ),
    QuotaRule(
        f"Reserved Lambda concurrency (concurrent executions quota minus the {UNRESERVED_LAMBDA_MINIMUM} "
        "Lambda keeps unreserved)",
        reserved_concurrency,
        lambda q: max(0, q.lambda_concurrent_executions - UNRESERVED_LAMBDA_MINIMUM),
    ),
    QuotaRule("DAX nodes per Region", lambda c: c.dax.node_count, lambda q: q.dax_nodes),
    QuotaRule("RDS DB instances", lambda c: 1 + c.database.read_replica_count, lambda q: q.rds_instances),
    QuotaRule(
        "ElastiCache nodes per Region",
        lambda c: c.cache.num_shards * c.cache.nodes_per_shard,
        lambda q: q.elasticache_nodes,
    ),
)


def target_of(config: EnvironmentConfig) -> str:
    """The account and region an environment deploys to, as a label; null means the credentials' own."""
    if config.account is None:
        return DEFAULT_TARGET
    return f"account {config.account} region {config.region}"


def quota_report(configs: Sequence[EnvironmentConfig]) -> list[str]:
    """One line per quota that the environments sharing a target exceed (empty when all fit)."""
    targets: dict[str, list[EnvironmentConfig]] = {}
    for config in configs:
        targets.setdefault(target_of(config), []).append(config)
    problems = []
    for target, members in targets.items():
        first = members[0]
        for other in members[1:]:
            if other.quotas != first.quotas:
                raise ConfigError(
                    f"environments.{other.name}.quotas: {other.quotas} is not allowed; expected the same "
                    f"quotas as {first.name} ({first.quotas}): both deploy to {target}"
                )
        names = ", ".join(config.name for config in members)
        for rule in RULES:
            used = rule.combine(members) if rule.combine else sum(rule.usage(c) for c in members)
            limit = rule.limit(first.quotas)
            if used > limit:
                parts = ", ".join(f"{c.name} {rule.usage(c)}" for c in members)
                problems.append(f"{target} ({names}): {rule.name}: {used} > {limit} ({parts})")
    return problems


def check_shared_quotas(configs: Sequence[EnvironmentConfig]) -> None:
    """Raise ``ConfigError`` listing every quota the environments exceed where they share an "
    "account+region."""
    problems = quota_report(configs)
    if problems:
        raise ConfigError(
            "the environments exceed default quotas where they share an account and region (pin them to "
            "their own accounts, or raise the quota and set it under quotas):\n  - " + "\n  - ".join(problems)
        )
