"""Network defaults shared by the data-store constructs (ElastiCache, DAX, RDS MySQL)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import aws_ec2 as ec2

from constructs import Construct

DEFAULT_SUBNETS = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
"""Data stores live in isolated subnets: no route to or from the internet, reachable only inside the VPC."""


def security_groups_or_closed(
    scope: Construct, *, vpc: ec2.IVpc, description: str, given: Sequence[ec2.ISecurityGroup] | None
) -> list[ec2.ISecurityGroup]:
    """The caller's groups, or one new group with no ingress and no egress: a data store never initiates
    connections, and callers are admitted one by one through ``connections`` (cdk-nag, least privilege)."""
    return list(given or []) or [
        ec2.SecurityGroup(scope, "SecurityGroup", vpc=vpc, description=description, allow_all_outbound=False)
    ]


def subnet_ids(vpc: ec2.IVpc, selection: ec2.SubnetSelection | None) -> list[str]:
    """The ids of the selected subnets (default: the isolated ones), for an L1 subnet group."""
    return vpc.select_subnets(**_selection_kwargs(selection or DEFAULT_SUBNETS)).subnet_ids


def _selection_kwargs(selection: ec2.SubnetSelection) -> dict[str, Any]:
    """``SubnetSelection`` is a jsii struct; ``select_subnets`` takes its fields as keyword arguments."""
    names = (
        "availability_zones",
        "one_per_az",
        "subnet_filters",
        "subnet_group_name",
        "subnets",
        "subnet_type",
    )
    return {name: getattr(selection, name) for name in names if getattr(selection, name) is not None}
