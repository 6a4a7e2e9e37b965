"""Exemptions from AWS's policy rules, each on the narrowest resource with its own reason.

Two rule sets run as CDK policy-validation plugins (``stacks/compliance.py``): cdk-nag 3's AWS Solutions pack
and the Control Tower proactive controls (CloudFormation Guard). Both read CDK's acknowledgments
(``Validations.of(construct).acknowledge(...)``), which apply to the construct they sit on *and everything
below it*. So:

* ``suppress_findings`` acknowledges on the resource itself: a CfnResource, or the default CfnResource of an
  L2 (``bucket`` means ``bucket/Resource``, not the bucket's policy beside it). Only
  ``apply_to_children=True``
  widens it to a subtree, for handlers aws-cdk-lib generates as one unit (a singleton function with its role).
* cdk-nag 3 matches a granular finding exactly (``AwsSolutions-IAM5[Resource::*]``); there are no regexes
  any more. ``applies_to`` lists the findings as cdk-nag prints them; ``nag_form`` spells a token'd ARN
  that way. A suppression of IAM4/IAM5 without ``applies_to`` is refused: it would accept every wildcard.
* ``exempt_control`` does the same for a Control Tower control (``CT.S3.PR.2``), acknowledged under the Guard
  plugin's namespace and the Guard rule's name.
* ``CDK_SINGLETONS`` lists the handlers aws-cdk-lib creates once per stack under a fixed id, whoever asked
  for them; ``suppress_cdk_singletons`` exempts them once per stack, after the stage is built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk

from caching_constructs.core.control_tower_rules import CONTROL_TOWER_RULES
from constructs import IConstruct

Suppression = Mapping[str, Any]

GRANULAR_RULES = ("AwsSolutions-IAM4", "AwsSolutions-IAM5")
"""Rules whose findings name the exact policy or wildcard, so a suppression must list them."""

GUARD_PLUGIN = "cdk-validator-cfnguard"
"""The Guard plugin's name: CDK keys acknowledgments of a plugin's rules by it (``<plugin>::<rule>``)."""


def nag_form(scope: IConstruct, value: str) -> str:
    """``value`` (an ARN, possibly with tokens) as cdk-nag prints it in a finding: ``Ref`` as ``<Id>``,
    ``Fn::GetAtt`` as ``<Id.Attr>``, joins concatenated (cdk-nag's ``flattenCfnReference``)."""
    return _flatten(cdk.Stack.of(scope).resolve(value))


def _flatten(node: Any) -> str:
    if isinstance(node, str):
        return node.replace("${", "<").replace("}", ">")
    if isinstance(node, dict) and "Fn::Join" in node:
        delimiter, items = node["Fn::Join"]
        return delimiter.join(_flatten(item) for item in items)
    if isinstance(node, dict) and "Fn::Sub" in node:
        return _flatten(node["Fn::Sub"])
    if isinstance(node, dict) and "Fn::GetAtt" in node:
        resource, attribute = node["Fn::GetAtt"]
        return f"<{_flatten(resource)}.{_flatten(attribute)}>"
    if isinstance(node, dict) and "Ref" in node:
        return f"<{_flatten(node['Ref'])}>"
    raise ValueError(f"cannot spell {node!r} as a cdk-nag finding")


def acknowledgment_ids(suppression: Suppression) -> list[str]:
    """The acknowledgment ids of ``{"id", "reason", "applies_to"}``: the rule id, or one
    ``<rule>[<finding>]`` per finding. Unknown keys, regexes and unscoped IAM4/IAM5 are errors, so a typo
    can never widen a suppression."""
    rule = suppression.get("id")
    if not isinstance(rule, str) or not rule:
        raise ValueError(f"suppression {suppression!r}: name the rule in id")
    unknown = set(suppression) - {"id", "reason", "applies_to"}
    if unknown:
        raise ValueError(f"suppression {rule!r}: unknown keys {sorted(unknown)}")
    reason = suppression.get("reason", "")
    if not isinstance(reason, str) or len(reason) < 20:
        raise ValueError(f"suppression {rule!r}: give a specific reason (at least 20 characters)")
    applies_to = suppression.get("applies_to")
    if applies_to is None:
        if rule in GRANULAR_RULES:
            raise ValueError(f"suppression {rule!r}: list the findings it accepts in applies_to")
        return [rule]
    findings = []
    for finding in applies_to:
        if not isinstance(finding, str):
            raise ValueError(
                f"suppression {rule!r}: cdk-nag 3 matches findings exactly; spell {finding!r} with nag_form()"
            )
        findings.append(f"{rule}[{finding}]")
    return findings


def suppress_findings(
    construct: IConstruct, suppressions: Sequence[Suppression], *, apply_to_children: bool = False
) -> None:
    """Acknowledge cdk-nag findings on ``construct``'s own resource (its default child when it is an L2),
    or on its whole subtree with ``apply_to_children``."""
    target = construct if apply_to_children else _resource_of(construct)
    for suppression in suppressions:
        for ack_id in acknowledgment_ids(suppression):
            _acknowledge(target, ack_id, suppression["reason"], subtree=apply_to_children)


def exempt_control(construct: IConstruct, control: str, reason: str) -> None:
    """Acknowledge Control Tower control ``control`` (e.g. ``CT.S3.PR.2``) on ``construct``'s own resource."""
    if control not in CONTROL_TOWER_RULES:
        raise ValueError(f"exempt_control: {control!r} is not a bundled Control Tower proactive control")
    if len(reason) < 20:
        raise ValueError(f"exempt_control {control!r}: give a specific reason (at least 20 characters)")
    ack_id = f"{GUARD_PLUGIN}::{CONTROL_TOWER_RULES[control]}"
    _acknowledge(_resource_of(construct), ack_id, f"[{control}] {reason}", subtree=False)


def _acknowledge(target: IConstruct, ack_id: str, reason: str, *, subtree: bool) -> None:
    """The one place exemptions reach CDK (tests replace it to record them instead: test_compliance.py).
    ``subtree``: the target is a whole generated construct rather than one resource."""
    cdk.Validations.of(target).acknowledge(cdk.Acknowledgment(id=ack_id, reason=reason))


def _resource_of(construct: IConstruct) -> IConstruct:
    if cdk.CfnResource.is_cfn_resource(construct):
        return construct
    child = construct.node.default_child
    if child is None or not cdk.CfnResource.is_cfn_resource(child):
        raise ValueError(
            f"{construct.node.path}: no resource of its own to exempt; pass the CfnResource, or "
            "apply_to_children=True for a generated handler"
        )
    return child


BASIC_EXECUTION_ROLE = "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
"""The AwsSolutions-IAM4 finding of every function the CDK gives AWS's managed logging policy."""


@dataclass(frozen=True)
class CdkSingleton:
    """A handler aws-cdk-lib adds to a stack once, under ``construct_id``, for all constructs that need it."""

    construct_id: str
    findings: Sequence[Suppression] = ()
    """cdk-nag findings, accepted on the whole handler (function, role and policy are generated as one)."""
    controls: Sequence[tuple[str, str, str]] = ()
    """``(child id, control, reason)``: Control Tower controls exempted on that child of the handler."""


CDK_SINGLETONS: tuple[CdkSingleton, ...] = (
    # RDS creates its log groups itself, named after the instance id CloudFormation generates; this provider
    # sets their retention after the fact (MySqlDatabase's cloudwatch_logs_retention).
    CdkSingleton(
        "LogRetentionaae0aa3c5b4d4f87b02d85b201efdd8a",
        findings=(
            {
                "id": "AwsSolutions-IAM4",
                "reason": "The CDK's log-retention provider logs through AWSLambdaBasicExecutionRole.",
                "applies_to": [BASIC_EXECUTION_ROLE],
            },
            {
                "id": "AwsSolutions-IAM5",
                "reason": "logs:PutRetentionPolicy/DeleteRetentionPolicy on '*': the RDS log group names "
                "embed instance ids that only exist at deploy time.",
                "applies_to": ["Resource::*"],
            },
        ),
        controls=(
            (
                "Resource",
                "CT.LAMBDA.PR.3",
                "The CDK's log-retention handler only calls the CloudWatch Logs API; it reads no data in the "
                "VPC, and inside it would need a NAT route or an endpoint just for that call.",
            ),
        ),
    ),
    # AwsCustomResource's function: its one user here is CachedRestApi's UpdateStage call, whose
    # apigateway:PATCH statement is scoped to the API's stage.
    CdkSingleton(
        "AWS679f53fac002430cb0da5b7982bd2287",
        findings=(
            {
                "id": "AwsSolutions-IAM4",
                "reason": "AwsCustomResource's function logs via AWSLambdaBasicExecutionRole; "
                "its only other permission is apigateway:PATCH on this API's stage.",
                "applies_to": [BASIC_EXECUTION_ROLE],
            },
        ),
        controls=(
            (
                "Resource",
                "CT.LAMBDA.PR.3",
                "AwsCustomResource's handler only calls API Gateway's UpdateStage; it reads nothing in a "
                "VPC.",
            ),
        ),
    ),
    # The S3 auto-delete handler of the dev buckets (StaticSiteDistribution with DESTROY). Its role is a plain
    # CfnResource (the CDK's CustomResourceProvider), which cdk-nag 3 does not inspect; the Guard rules read
    # the template and see the handler.
    CdkSingleton(
        "Custom::S3AutoDeleteObjectsCustomResourceProvider",
        controls=(
            (
                "Handler",
                "CT.LAMBDA.PR.3",
                "The CDK's handler that empties the buckets on stack deletion only calls the S3 API; inside "
                "the VPC it would need a NAT route or an endpoint for that call.",
            ),
        ),
    ),
    # The VPC's restrictDefaultSecurityGroup handler (NetworkStack).
    CdkSingleton(
        "Custom::VpcRestrictDefaultSGCustomResourceProvider",
        controls=(
            (
                "Handler",
                "CT.LAMBDA.PR.3",
                "The CDK's handler that empties the VPC's default security group only calls the EC2 API, "
                "once per deploy; inside the VPC it would need a NAT route for that call.",
            ),
        ),
    ),
)
"""The singletons' exemptions, with reasons true of every stack here. A singleton a new construct brings
in with other permissions fails synth on its new findings, rather than inheriting these reasons."""


def suppress_cdk_singletons(stage: IConstruct) -> None:
    """Exempt every ``CDK_SINGLETONS`` handler in each of ``stage``'s own stacks. Call it once, when all the
    stacks are built: the handlers exist only once some construct has asked for them."""
    for stack in stage.node.find_all():
        owner = cdk.Stage.of(stack) if cdk.Stack.is_stack(stack) else None
        # A nested stage's stacks are its own call's (a pipeline's stages call it themselves).
        if owner is None or owner.node.path != stage.node.path:
            continue
        for singleton in CDK_SINGLETONS:
            handler = stack.node.try_find_child(singleton.construct_id)
            if handler is None:
                continue
            if singleton.findings:
                suppress_findings(handler, singleton.findings, apply_to_children=True)
            for child, control, reason in singleton.controls:
                exempt_control(handler.node.find_child(child), control, reason)
