"""Exemptions are exact and narrow: one acknowledgment per finding, on the resource itself.

cdk-nag 3 and the Guard plugin read CDK acknowledgments, which cover the construct they sit on and everything
below it, and match granular findings exactly (no regexes). ``caching_constructs.core.nag`` is the one way in.
"""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

import aws_cdk as cdk
import cdklabs.cdk_validator_cfnguard
import pytest
from aws_cdk import aws_s3 as s3

from caching_constructs.core.control_tower_rules import CONTROL_TOWER_RULES
from caching_constructs.core.nag import GUARD_PLUGIN, acknowledgment_ids, exempt_control, suppress_findings
from config import ENVIRONMENT_NAMES

ROOT = Path(__file__).resolve().parents[2]
ACKNOWLEDGED = cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
REASON = "A finding this test accepts on purpose, with a reason."


def acknowledgments(construct) -> dict[str, str]:
    """The rule ids acknowledged on ``construct`` itself (not its parents), without CDK's namespace prefix."""
    found = {}
    for entry in construct.node.metadata:
        if entry.type == ACKNOWLEDGED:
            for rule, reason in entry.data.items():
                found[re.sub(r"^annotation::", "", rule, flags=re.IGNORECASE)] = reason
    return found


def test_applies_to_becomes_one_acknowledgment_per_finding_on_the_resource():
    stack = cdk.Stack(cdk.App(), "Bare")
    bucket = s3.Bucket(stack, "Bucket")
    suppress_findings(
        bucket,
        [{"id": "AwsSolutions-IAM5", "reason": REASON, "applies_to": ["Resource::*", "Action::s3:Get*"]}],
    )
    assert acknowledgments(bucket) == {}
    assert acknowledgments(bucket.node.default_child) == {
        "AwsSolutions-IAM5[Resource::*]": REASON,
        "AwsSolutions-IAM5[Action::s3:Get*]": REASON,
    }


def test_only_apply_to_children_acknowledges_a_whole_subtree():
    stack = cdk.Stack(cdk.App(), "Bare")
    bucket = s3.Bucket(stack, "Bucket")
    suppress_findings(bucket, [{"id": "AwsSolutions-S1", "reason": REASON}], apply_to_children=True)
    assert acknowledgments(bucket) == {"AwsSolutions-S1": REASON}


@pytest.mark.parametrize(
    ("suppression", "message"),
    [
        ({"id": "AwsSolutions-IAM5", "reason": REASON, "appliesTo": ["Resource::*"]}, r"unknown keys"),
        ({"id": "AwsSolutions-IAM5", "reason": REASON}, r"list the findings it accepts"),
        ({"id": "AwsSolutions-IAM4", "reason": REASON}, r"list the findings it accepts"),
        ({"id": "AwsSolutions-S1", "reason": "because"}, r"specific reason"),
        ({"reason": REASON}, r"name the rule in id"),
        (
            {"id": "AwsSolutions-IAM5", "reason": REASON, "applies_to": [{"regex": "/^Resource::.*$/g"}]},
            r"matches findings exactly",
        ),
    ],
)
def test_a_suppression_that_could_widen_is_an_error(suppression, message):
    with pytest.raises(ValueError, match=message):
        acknowledgment_ids(suppression)


def test_a_control_tower_exemption_uses_the_guard_rule_name_and_names_the_control():
    stack = cdk.Stack(cdk.App(), "Bare")
    bucket = s3.Bucket(stack, "Bucket")
    exempt_control(bucket, "CT.S3.PR.9", REASON)
    (rule, reason), *_ = acknowledgments(bucket.node.default_child).items()
    assert rule == f"{GUARD_PLUGIN}::s3_bucket_object_lock_enabled_check"
    assert reason == f"[CT.S3.PR.9] {REASON}"
    with pytest.raises(ValueError, match="not a bundled Control Tower proactive control"):
        exempt_control(bucket, "CT.S3.PR.999", REASON)


def test_the_control_tower_table_matches_the_rules_the_plugin_bundles():
    """The id -> Guard rule name table equals what the installed cdklabs-cdk-validator-cfnguard ships."""
    jsii_dir = Path(cdklabs.cdk_validator_cfnguard.__file__).parent / "_jsii"
    (bundle,) = jsii_dir.glob("*.tgz")
    bundled = {}
    with tarfile.open(bundle) as archive:
        for member in archive.getmembers():
            if member.name.endswith(".guard") and "/control-tower/" in member.name:
                text = archive.extractfile(member).read().decode()
                control = re.search(r"^\s+\[(CT\.[A-Z0-9-]+\.PR\.\d+)\]", text, re.MULTILINE).group(1)
                rule = re.search(r"^rule ([a-z0-9_]+) when", text, re.MULTILINE).group(1)
                bundled[control] = rule
    assert bundled == CONTROL_TOWER_RULES


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_every_acknowledgment_has_a_reason_and_iam_ones_name_their_finding(synthesized, name):
    for node in synthesized[name].stage.node.find_all():
        for rule, reason in acknowledgments(node).items():
            assert len(reason) >= 20, (node.node.path, rule)
            if rule.startswith(("AwsSolutions-IAM4", "AwsSolutions-IAM5")):
                assert rule.endswith("]"), (node.node.path, rule)


def test_no_code_acknowledges_a_rule_except_through_nag_py():
    callers = [
        path.relative_to(ROOT)
        for folder in ("stacks", "constructs/caching_constructs")
        for path in (ROOT / folder).rglob("*.py")
        if (".acknowledge(" in path.read_text() or "NagSuppressions" in path.read_text())
        and path.name != "nag.py"
    ]
    assert callers == []
