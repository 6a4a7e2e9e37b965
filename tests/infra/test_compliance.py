"""AWS's own rules run inside every stage at synth (cdk-nag 3's AWS Solutions pack and the Control Tower
proactive controls as Guard rules), every finding they report is exempted on exactly its resource, every
exemption answers a finding, and cfn-lint finds no error in any template."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3

import caching_constructs.core.nag as nag
from config import ENVIRONMENT_NAMES, load_environment
from stacks.compliance import NAG_PLUGIN
from stacks.stage import CachingStage
from tests.infra.conftest import new_app

REPORT = "validation-report.json"


def report_of(outdir: Path) -> dict:
    return json.loads((Path(outdir) / REPORT).read_text())


def finding_keys(report: dict) -> set[tuple[str, str]]:
    """(rule as acknowledged, construct path) of every unsuppressed finding of the two rule sets."""
    keys = set()
    for plugin in report["pluginReports"]:
        name = plugin["pluginName"]
        if name not in (NAG_PLUGIN, nag.GUARD_PLUGIN):
            continue
        for violation in plugin["violations"]:
            rule = violation["ruleName"] if name == NAG_PLUGIN else f"{name}::{violation['ruleName']}"
            for construct in violation["violatingConstructs"]:
                keys.add((rule, construct.get("constructPath", "")))
    return keys


def test_both_rule_sets_run_inside_each_stage_and_report_a_finding_once(tmp_path):
    """A non-compliant bucket added to one stage's stack stops synth, reported by both rule sets, once,
    although CDK hands cdk-nag the whole app for every stage that registers it."""
    app = new_app(tmp_path)
    stages = [CachingStage(app, name, config=load_environment(name)) for name in ("dev", "staging")]
    s3.Bucket(stages[0].network, "UnloggedBucket")
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = report_of(tmp_path)
    bucket = "dev/Network/UnloggedBucket/Resource"
    found = finding_keys(report)
    assert ("AwsSolutions-S1", bucket) in found
    assert (f"{nag.GUARD_PLUGIN}::s3_bucket_versioning_enabled_check", bucket) in found  # CT.S3.PR.11
    s1 = [
        construct["constructPath"]
        for plugin in report["pluginReports"]
        if plugin["pluginName"] == NAG_PLUGIN
        for violation in plugin["violations"]
        if violation["ruleName"] == "AwsSolutions-S1"
        for construct in violation["violatingConstructs"]
    ]
    assert s1 == [bucket]


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_no_finding_is_left_without_an_exemption(synthesized, name):
    """Warnings included (cdk-nag's warnings alone would not stop synth), in every plugin's report."""
    outdir = Path(synthesized[name].assembly.directory).parent
    report = report_of(outdir)
    left = [
        f"{plugin['pluginName']}: {violation['ruleName']} on "
        + ", ".join(c.get("constructPath", "?") for c in violation["violatingConstructs"])
        for plugin in report["pluginReports"]
        for violation in plugin["violations"]
    ]
    assert left == []


@pytest.fixture(scope="module")
def raw_findings_and_exemptions(tmp_path_factory):
    """Every environment synthesized with the exemptions recorded instead of applied: the raw findings of
    both rule sets, and (rule, path, whole subtree?) of every exemption the code asks for."""
    recorded: list[tuple[str, str, bool]] = []
    outdir = tmp_path_factory.mktemp("raw.out")
    app = new_app(outdir)
    app.node.set_context("@aws-cdk/core:failSynthOnValidationErrors", False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            nag,
            "_acknowledge",
            lambda target, rule, reason, *, subtree: recorded.append((rule, target.node.path, subtree)),
        )
        for name in ENVIRONMENT_NAMES:
            CachingStage(app, name, config=load_environment(name))
        app.synth()
    return finding_keys(report_of(outdir)), recorded


def _covers(exemption: tuple[str, str, bool], finding: tuple[str, str]) -> bool:
    rule, path, subtree = exemption
    return rule == finding[0] and (finding[1] == path or (subtree and finding[1].startswith(path + "/")))


def test_every_raw_finding_is_attributed_to_a_resource(raw_findings_and_exemptions):
    findings, _ = raw_findings_and_exemptions
    assert len(findings) > 100  # the comparisons below mean something only if the rules really fire
    assert [finding for finding in findings if not finding[1]] == []


def test_every_finding_has_an_exemption_on_its_own_resource(raw_findings_and_exemptions):
    findings, exemptions = raw_findings_and_exemptions
    unexempted = sorted(f for f in findings if not any(_covers(e, f) for e in exemptions))
    assert unexempted == []


def test_every_exemption_answers_a_finding_on_the_resource_it_sits_on(raw_findings_and_exemptions):
    """No stale exemption, none on a parent of the finding's resource, none for a finding that is not there.
    Only handlers aws-cdk-lib generates as a unit (``apply_to_children``) are exempted as a subtree."""
    findings, exemptions = raw_findings_and_exemptions
    unused = sorted({e for e in exemptions if not any(_covers(e, f) for f in findings)})
    assert unused == []
    # Relative to the stack: past the stage and, for a secondary region's stacks, its scope (UsWest2).
    stack_path = re.compile(r"^[^/]+/(?:[A-Z][A-Za-z]*\d+/)?[^/]+/")
    subtrees = sorted({stack_path.sub("", path) for _, path, subtree in exemptions if subtree})
    assert subtrees == [
        "AWS679f53fac002430cb0da5b7982bd2287",
        "Custom::CDKBucketDeployment8693BB64968944B69AAFB0CC9EB8756C",
        "LogRetentionaae0aa3c5b4d4f87b02d85b201efdd8a",
        "SchemaSeed/SchemaProvider",
    ]


def test_with_the_hardening_switched_off_every_finding_is_still_exempted(dev_without_hardening):
    """The `security` switches off (no customer-managed keys, no versioning, no web ACLs): synth stays clean
    because each finding that leaves gets its exemption naming the switch."""
    outdir = Path(dev_without_hardening.assembly.directory).parent
    assert [p for p in report_of(outdir)["pluginReports"] if p["violations"]] == []
    stage = dev_without_hardening.stage
    assert stage.edge_web_acl is None and stage.api.web_acl is None and stage.data.key is None


def test_an_environment_pinned_to_an_account_and_region_is_clean(tmp_path):
    """Exemptions match the findings whether ARNs render with tokens or with a concrete account."""
    from config import parse_environment
    from config.environments import ENVIRONMENTS

    raw = {**ENVIRONMENTS["staging"], "account": "222222222222", "region": "eu-west-1"}
    app = new_app(tmp_path)
    stage = CachingStage(app, "staging", config=parse_environment("staging", raw))
    app.synth()
    assert [p for p in report_of(tmp_path)["pluginReports"] if p["violations"]] == []
    assert stage.edge_web_acl.region == "us-east-1" and stage.edge_web_acl.account == "222222222222"


def test_synth_time_cloudformation_validation_is_on():
    context = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())["context"]
    assert context["@aws-cdk/core:validateAgainstDefaultRules"] is True


def test_cfn_lint_finds_no_errors_in_any_template(synthesized):
    templates = sorted(
        {
            str(Path(env.assembly.directory) / stack.template_file)
            for env in synthesized.values()
            for stack in env.stacks()
        }
    )
    assert len(templates) >= 5 * len(ENVIRONMENT_NAMES)
    result = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), "--format", "parseable", *templates],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    errors = [line for line in result.stdout.splitlines() if ":E" in line or line.split(":")[-2:-1] == ["E"]]
    assert result.returncode in (0, 4, 8, 12), (
        result.stdout + result.stderr
    )  # 2 = errors; 4/8 = warnings/info
    assert errors == [], "\n".join(errors)


def test_every_stack_of_every_stage_is_in_the_assembly(synthesized):
    for env in synthesized.values():
        artifact_names = {artifact.stack_name for artifact in env.assembly.stacks}
        assert {stack.stack_name for stack in env.stacks()} == artifact_names
        assert all(name.startswith(f"{env.config.name}-") for name in artifact_names)


def test_stage_tags_every_stack_with_the_environment(dev):
    for stack in dev.stacks():
        tags = dev.assembly.get_stack_artifact(stack.artifact_id).tags
        assert tags["environment"] == "dev"
        assert tags["project"] == "caching-architecture"


def test_the_app_checks_its_own_stacks_once(tmp_path):
    from stacks.compliance import apply_compliance_checks

    app = new_app(tmp_path)
    apply_compliance_checks(app)
    apply_compliance_checks(app)
    stack = cdk.Stack(app, "Loose")
    s3.Bucket(stack, "UnloggedBucket")
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    assert [key for key in finding_keys(report_of(tmp_path)) if key[0] == "AwsSolutions-S1"] == [
        ("AwsSolutions-S1", "Loose/UnloggedBucket/Resource")
    ]
