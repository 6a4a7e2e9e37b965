"""A monthly on-demand estimate of one environment, priced from its synthesized CloudFormation templates.

Resources billed by the hour or month (NAT gateways, nodes, instances, caches, keys, web ACLs, alarms) take
their type, size and count from the templates (``cost.fixed``); usage-priced items (requests, transfer,
function time, logs) take their volume from the environment's traffic profile, ``config.cost``
(``cost.usage``). A resource type is either priced, or listed in ``NO_CHARGE_OF_ITS_OWN``; anything else is
reported as unpriced and the cost test fails on it, so a new billable resource cannot slip in at $0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from config import EnvironmentConfig
from config.cost import CostSettings
from cost import fixed, usage
from cost.assembly import StackTemplates
from cost.model import PRICERS, Charge, Context, Estimate
from cost.prices import PriceTable, load_prices

__all__ = ["Estimate", "check_budget", "estimate", "estimate_environments"]

_ = fixed  # registers its pricers

NO_CHARGE_OF_ITS_OWN = frozenset(
    {
        # Configuration, wiring and permissions: free, or billed through what they configure.
        "AWS::ApiGateway::Account",
        "AWS::ApiGateway::Deployment",
        "AWS::ApiGateway::Method",
        "AWS::ApiGateway::Model",
        "AWS::ApiGateway::RequestValidator",
        "AWS::ApiGateway::Resource",
        "AWS::CloudFront::CachePolicy",
        "AWS::CloudFront::OriginAccessControl",
        "AWS::CloudFront::OriginRequestPolicy",
        "AWS::CloudFront::ResponseHeadersPolicy",
        "AWS::CDK::Metadata",
        "AWS::DAX::ParameterGroup",
        "AWS::DAX::SubnetGroup",
        "AWS::EC2::InternetGateway",
        "AWS::EC2::Route",
        "AWS::EC2::RouteTable",
        "AWS::EC2::SecurityGroup",
        "AWS::EC2::SecurityGroupEgress",
        "AWS::EC2::SecurityGroupIngress",
        "AWS::EC2::Subnet",
        "AWS::EC2::SubnetRouteTableAssociation",
        "AWS::EC2::VPC",
        "AWS::EC2::VPCGatewayAttachment",
        # A Global Datastore itself: billed through its members' nodes and cross-region transfer.
        "AWS::ElastiCache::GlobalReplicationGroup",
        "AWS::ElastiCache::ParameterGroup",
        "AWS::ElastiCache::SubnetGroup",
        "AWS::ElastiCache::User",
        "AWS::ElastiCache::UserGroup",
        "AWS::IAM::ManagedPolicy",
        "AWS::IAM::Policy",
        "AWS::IAM::Role",
        "AWS::Lambda::EventInvokeConfig",
        "AWS::Lambda::LayerVersion",
        "AWS::Lambda::Permission",
        "AWS::RDS::DBParameterGroup",
        "AWS::RDS::DBSubnetGroup",
        "AWS::RDS::OptionGroup",
        "AWS::S3::BucketPolicy",
        "AWS::SecretsManager::ResourcePolicy",
        "AWS::SecretsManager::SecretTargetAttachment",
        "AWS::SNS::TopicPolicy",
        "AWS::SQS::QueuePolicy",
        "AWS::WAFv2::WebACLAssociation",
        # Billed per use, and used too little here to reach a cent: alarm notifications, the scheduled
        # rule (scheduled events are free), the monthly secret rotation.
        "AWS::Events::Rule",
        "AWS::SNS::Subscription",
        "AWS::SNS::Topic",
        "AWS::SecretsManager::RotationSchedule",
    }
)


def _lines(charges: Iterable[Charge]) -> tuple[Charge, ...]:
    """Charges of the same kind and price added into one line each, most expensive first."""
    lines: dict[tuple[str, str, str, float, bool], Charge] = {}
    for charge in charges:
        key = (charge.category, charge.item, charge.unit, charge.unit_usd, charge.usage)
        if key in lines:
            seen = lines[key]
            charge = Charge(
                charge.category,
                charge.item,
                seen.quantity + charge.quantity,
                charge.unit,
                charge.unit_usd,
                count=seen.count + charge.count,
                usage=charge.usage,
            )
        lines[key] = charge
    return tuple(sorted(lines.values(), key=lambda line: -line.monthly_usd))


def estimate(
    environment: str, stacks: StackTemplates, profile: CostSettings, prices: PriceTable | None = None
) -> Estimate:
    """The monthly estimate of one environment's stacks at its traffic profile."""
    ctx = Context(stacks=stacks, profile=profile, prices=prices or load_prices())
    charges: list[Charge] = []
    unpriced: set[str] = set()
    for where, resource in ctx.resources():
        resource_type = resource["Type"]
        pricer = PRICERS.get(resource_type)
        if pricer is not None:
            charges.extend(pricer(ctx, where, resource))
        elif resource_type.startswith("Custom::") and resource_type not in usage.ENVIRONMENT_LEVEL:
            continue  # a custom resource's handler runs at deploy time; it is priced as a function anyway
        elif resource_type not in NO_CHARGE_OF_ITS_OWN and resource_type not in usage.ENVIRONMENT_LEVEL:
            unpriced.add(resource_type)
    charges.extend(usage.environment_charges(ctx))
    return Estimate(
        environment=environment,
        lines=_lines(charge for charge in charges if charge.quantity),
        notes=tuple(dict.fromkeys(ctx.notes)),
        unpriced=tuple(sorted(unpriced)),
    )


def estimate_environments(
    assembly: Mapping[str, StackTemplates],
    configs: Mapping[str, EnvironmentConfig],
    prices: PriceTable | None = None,
) -> dict[str, Estimate]:
    """Estimates of every environment in ``assembly`` that has a config, in the configs' order."""
    table = prices or load_prices()
    return {
        name: estimate(name, assembly[name], config.cost, table)
        for name, config in configs.items()
        if name in assembly
    }


def check_budget(estimate: Estimate, budget_usd: float) -> str | None:
    """None within budget; otherwise one line naming the environment, the estimate, the budget and the
    three largest items (what a reviewer needs to see in a failing test)."""
    if estimate.total <= budget_usd:
        return None
    drivers = ", ".join(f"{line.category} {line.item} ${line.monthly_usd:,.2f}" for line in estimate.top(3))
    return (
        f"{estimate.environment}: estimated ${estimate.total:,.2f}/month exceeds its budget "
        f"cost.monthly_budget_usd ${budget_usd:,.2f} (largest: {drivers})"
    )
