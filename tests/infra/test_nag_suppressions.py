"""cdk-nag suppressions keep their ``applies_to``: a plain dict handed to cdk-nag loses it silently, and the
suppression then covers every finding of the rule on the resource and all its children."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3

from caching_constructs.nag import nag_suppression, suppress_findings
from config import ENVIRONMENT_NAMES

ROOT = Path(__file__).resolve().parents[2]
GRANULAR_RULES = ("AwsSolutions-IAM4", "AwsSolutions-IAM5")
"""Rules whose findings name the exact policy or wildcard, so a suppression can and must list them."""


def _suppressions(template: dict) -> list[tuple[str, dict]]:
    return [
        (logical_id, rule)
        for logical_id, resource in template["Resources"].items()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]


def test_applies_to_reaches_the_template_including_regex_findings():
    stack = cdk.Stack(cdk.App(), "Bare")
    bucket = s3.Bucket(stack, "Bucket")
    suppress_findings(
        bucket,
        [
            {
                "id": "AwsSolutions-IAM5",
                "reason": "A wildcard this test accepts on purpose.",
                "applies_to": ["Resource::*", {"regex": "/^Action::s3:.*$/g"}],
            }
        ],
    )
    ((_, rule),) = _suppressions(cdk.assertions.Template.from_stack(stack).to_json())
    assert rule["applies_to"] == ["Resource::*", {"regex": "/^Action::s3:.*$/g"}]


def test_a_misspelt_key_is_an_error_rather_than_a_wider_suppression():
    with pytest.raises(ValueError, match=r"'AwsSolutions-IAM5': unknown keys \['appliesTo'\]"):
        nag_suppression({"id": "AwsSolutions-IAM5", "reason": "x" * 10, "appliesTo": ["Resource::*"]})


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_every_iam4_and_iam5_suppression_names_the_findings_it_accepts(synthesized, name):
    env = synthesized[name]
    for stack in env.stacks():
        for logical_id, rule in _suppressions(env.template(stack).to_json()):
            if rule["id"] in GRANULAR_RULES:
                assert rule.get("applies_to"), (stack.stack_name, logical_id, rule["id"])


def test_no_code_hands_cdk_nag_a_plain_dict_directly():
    callers = [
        path.relative_to(ROOT)
        for folder in ("stacks", "constructs/caching_constructs")
        for path in (ROOT / folder).rglob("*.py")
        if "NagSuppressions.add_" in path.read_text() and path.name != "nag.py"
    ]
    assert callers == []
