"""One environment's deployment: every stack, built from one typed config."""

from __future__ import annotations

import aws_cdk as cdk

from config.schema import EnvironmentConfig
from constructs import Construct
from stacks.cdk_values import removal_policy
from stacks.compliance import apply_compliance_checks
from stacks.network_stack import NetworkStack


class CachingStage(cdk.Stage):
    """All stacks of one environment. ``app.py`` and the delivery pipeline add this same class.

    The environment's name is the stage's id, so it shows in stack names (``dev-Network``) and in tags, while
    stack and construct ids inside stay the same in every environment.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, **kwargs) -> None:
        if config.account is not None:
            kwargs.setdefault("env", cdk.Environment(account=config.account, region=config.region))
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        tags = {**config.tags, "environment": config.name}
        # Stack-level tags also reach resources that CloudFormation creates on the stacks' behalf.
        stack_props = {"termination_protection": config.termination_protection, "tags": tags}

        self.network = NetworkStack(
            self,
            "Network",
            network=config.network,
            removal_policy=removal_policy(config.removal_policy, supports_snapshot=False),
            description="Caching architecture: VPC, endpoints, flow logs and per-tier security groups",
            **stack_props,
        )

        for key, value in tags.items():
            cdk.Tags.of(self).add(key, value)
        # Aspects do not cross a Stage boundary: one added to the App never visits the stacks in here.
        apply_compliance_checks(self)
