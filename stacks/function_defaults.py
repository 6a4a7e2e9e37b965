"""What every function of the caching library shares, in whichever stack and region it runs: the core asset,
the architecture and memory, the metrics' namespace and environment, log retention and encryption."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms

from caching_constructs.core.python_function import FunctionDefaults, architecture_named
from caching_contract import metrics, variables
from config.schema import FunctionsConfig
from stacks.cdk_values import log_retention
from stacks.lambda_assets import core_code


def function_defaults(
    *,
    functions: FunctionsConfig,
    vpc: ec2.IVpc,
    removal_policy: cdk.RemovalPolicy,
    environment_name: str,
    log_encryption_key: kms.IKey | None,
) -> FunctionDefaults:
    """The props every function on the core asset takes (a function on another asset replaces ``code``)."""
    return FunctionDefaults(
        code=core_code(functions.architecture),
        architecture=architecture_named(functions.architecture),
        memory_size=functions.memory_mb,
        environment={
            variables.METRICS_NAMESPACE: metrics.NAMESPACE,
            variables.ENVIRONMENT: environment_name,
        },
        log_retention=log_retention(functions.log_retention_days),
        log_removal_policy=removal_policy,
        log_encryption_key=log_encryption_key,
        vpc=vpc,
    )
