"""cdk-nag's AWS Solutions rules, applied as an Aspect."""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from constructs import IConstruct


def apply_compliance_checks(scope: IConstruct) -> None:
    """Run the AWS Solutions rule pack over ``scope`` and everything in it when the app synthesizes.

    Apply it to every ``Stage`` (``CachingStage`` does so itself) and to the App for stacks outside stages:
    the CDK invokes an Aspect only within the stage it was added in.
    """
    cdk.Aspects.of(scope).add(AwsSolutionsChecks(verbose=True))
