"""A bare Stack with a VPC, for testing the reusable constructs without the project's config or stage."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2


def bare_stack() -> tuple[cdk.Stack, ec2.Vpc]:
    stack = cdk.Stack(cdk.App(), "Bare")
    vpc = ec2.Vpc(
        stack,
        "Vpc",
        max_azs=2,
        nat_gateways=0,
        subnet_configuration=[
            ec2.SubnetConfiguration(name="Public", subnet_type=ec2.SubnetType.PUBLIC),
            ec2.SubnetConfiguration(name="Data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
        ],
    )
    return stack, vpc


def isolated_subnet_refs(stack: cdk.Stack, vpc: ec2.Vpc) -> list[dict]:
    """The template form ({"Ref": ...}) of the VPC's isolated subnet ids."""
    return [stack.resolve(subnet.subnet_id) for subnet in vpc.isolated_subnets]
