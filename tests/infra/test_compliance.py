"""cdk-nag runs inside every stage and finds nothing unsuppressed; cfn-lint finds no error in any template."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match

from config import ENVIRONMENT_NAMES, load_environment
from stacks.stage import CachingStage
from tests.infra.conftest import new_app

NAG_FINDING = Match.string_like_regexp(r"^AwsSolutions-")


def test_cdk_nag_runs_inside_the_stage(tmp_path):
    """A non-compliant bucket added to a stage's stack is reported: the rules really visit stage contents."""
    app = new_app(tmp_path)
    stage = CachingStage(app, "dev", config=load_environment("dev"))
    s3.Bucket(stage.network, "UnloggedBucket")
    with pytest.raises(RuntimeError, match=r"AwsSolutions-S1:[^\n]*\n\s+dev/Network/UnloggedBucket/Resource"):
        app.synth()


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_no_unsuppressed_cdk_nag_error_or_warning(synthesized, name):
    env = synthesized[name]
    findings = []
    for stack in env.stacks():
        annotations = Annotations.from_stack(stack)
        for finding in [
            *annotations.find_error("*", NAG_FINDING),
            *annotations.find_warning("*", NAG_FINDING),
        ]:
            findings.append(f"{finding.id}: {finding.entry.data.splitlines()[0]}")
    assert findings == []


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
    assert len(templates) >= 3 * len(ENVIRONMENT_NAMES) - 2 or len(templates) >= len(ENVIRONMENT_NAMES)
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


def test_an_environment_pinned_to_an_account_and_region_is_cdk_nag_clean(tmp_path):
    """Suppressions match the findings whether ARNs render with tokens or with a concrete account."""
    from config import parse_environment
    from config.environments import ENVIRONMENTS

    raw = {**ENVIRONMENTS["staging"], "account": "222222222222", "region": "eu-west-1"}
    app = new_app(tmp_path)
    stage = CachingStage(app, "staging", config=parse_environment("staging", raw))
    app.synth()  # an unsuppressed cdk-nag error fails synth
    for stack in stage.node.children:
        if isinstance(stack, cdk.Stack):
            annotations = Annotations.from_stack(stack)
            assert annotations.find_warning("*", NAG_FINDING) == [], stack.node.path
