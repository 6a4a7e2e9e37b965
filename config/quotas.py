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

A Global Datastore secondary region (``global_datastore.secondary_regions``) is a target of its own in the
same account: its VPC and NAT gateways (the environment's ``network``), its cross-region database replica,
its cache member (1 + ``replicas_per_shard`` nodes) and its product API's reserved concurrency (no warmer).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from config.schema import ConfigError, EnvironmentConfig, QuotaConfig

UNRESERVED_LAMBDA_MINIMUM = 100
"""Concurrency Lambda never lets functions reserve: PutFunctionConcurrency fails below it."""

DEFAULT_TARGET = "the credentials' account and region"


@dataclass(frozen=True)
class Footprint:
    """What one region of an environment uses of the quotas checked here."""

    environment: str
    """The environment's name."""
    label: str
    """How the report names it: the environment, plus the region for a secondary one."""
    target: str
    """The account and region it deploys to (see :func:`target_of`)."""
    quotas: QuotaConfig
    nat_gateways: int
    reserved_concurrency: int
    dax_nodes: int
    rds_instances: int
    elasticache_nodes: int


@dataclass(frozen=True)
class QuotaRule:
    name: str
    """How AWS's Service Quotas console names it."""
    usage: Callable[[Footprint], int]
    limit: Callable[[QuotaConfig], int]
    combine: Callable[[Sequence[Footprint]], int] | None = None
    """How footprints add up; default the sum of ``usage``."""


def reserved_concurrency(config: EnvironmentConfig) -> int:
    reserved = config.functions.reserved_concurrency
    # The warmer reserves 1 whenever the product API reserves concurrency (stacks/api_stack.py).
    return 0 if reserved is None else reserved + 1


def footprints(config: EnvironmentConfig) -> list[Footprint]:
    """The environment's primary region, then each Global Datastore secondary region."""
    primary = Footprint(
        environment=config.name,
        label=config.name,
        target=target_of(config),
        quotas=config.quotas,
        nat_gateways=config.network.nat_gateways,
        reserved_concurrency=reserved_concurrency(config),
        dax_nodes=config.dax.node_count,
        rds_instances=1 + config.database.read_replica_count,
        elasticache_nodes=config.cache.num_shards * config.cache.nodes_per_shard,
    )
    reserved = config.functions.reserved_concurrency
    secondaries = [
        Footprint(
            environment=config.name,
            label=f"{config.name} {region}",
            target=target_of(config, region),
            quotas=config.quotas,
            nat_gateways=config.network.nat_gateways,
            reserved_concurrency=0 if reserved is None else reserved,
            dax_nodes=0,
            rds_instances=1,
            elasticache_nodes=config.cache.nodes_per_shard,
        )
        for region in config.global_datastore.secondary_regions
    ]
    return [primary, *secondaries]


def _busiest_az(members: Sequence[Footprint]) -> int:
    deepest = max((member.nat_gateways for member in members), default=0)
    return max((sum(1 for m in members if m.nat_gateways > az) for az in range(deepest)), default=0)


RULES: tuple[QuotaRule, ...] = (
    QuotaRule("VPCs per Region", lambda f: 1, lambda q: q.vpcs),
    QuotaRule("EC2-VPC Elastic IPs (one per NAT gateway)", lambda f: f.nat_gateways, lambda q: q.elastic_ips),
    QuotaRule(
        "NAT gateways per Availability Zone",
        lambda f: min(f.nat_gateways, 1),
        lambda q: q.nat_gateways_per_az,
        combine=_busiest_az,
    ),
    QuotaRule(
        f"Reserved Lambda concurrency (concurrent executions quota minus the {UNRESERVED_LAMBDA_MINIMUM} "
        "Lambda keeps unreserved)",
        lambda f: f.reserved_concurrency,
        lambda q: max(0, q.lambda_concurrent_executions - UNRESERVED_LAMBDA_MINIMUM),
    ),
    QuotaRule("DAX nodes per Region", lambda f: f.dax_nodes, lambda q: q.dax_nodes),
    QuotaRule("RDS DB instances", lambda f: f.rds_instances, lambda q: q.rds_instances),
    QuotaRule("ElastiCache nodes per Region", lambda f: f.elasticache_nodes, lambda q: q.elasticache_nodes),
)


def target_of(config: EnvironmentConfig, region: str | None = None) -> str:
    """The account and region an environment (or its secondary ``region``) deploys to, as a label; null
    means the credentials' own."""
    region = region or config.region
    if config.account is None:
        return (
            DEFAULT_TARGET
            if region is None or region == config.region
            else f"the credentials' account, region {region}"
        )
    return f"account {config.account} region {region}"


def quota_report(configs: Sequence[EnvironmentConfig]) -> list[str]:
    """One line per quota that the environments sharing a target exceed (empty when all fit)."""
    targets: dict[str, list[Footprint]] = {}
    for config in configs:
        for footprint in footprints(config):
            targets.setdefault(footprint.target, []).append(footprint)
    problems = []
    for target, members in targets.items():
        first = members[0]
        for other in members[1:]:
            if other.quotas != first.quotas:
                raise ConfigError(
                    f"environments.{other.environment}.quotas: {other.quotas} is not allowed; expected the "
                    f"same quotas as {first.environment} ({first.quotas}): both deploy to {target}"
                )
        names = ", ".join(member.label for member in members)
        for rule in RULES:
            used = rule.combine(members) if rule.combine else sum(rule.usage(m) for m in members)
            limit = rule.limit(first.quotas)
            if used > limit:
                parts = ", ".join(f"{m.label} {rule.usage(m)}" for m in members)
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
