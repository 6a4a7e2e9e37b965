"""Replacing a Network or Data resource neither blocks the replacement nor leaves a consumer on the old one.

Stacks read each other through weak references (``Fn::GetStackOutput``, no Export/ImportValue), so nothing
blocks a producer's replacement; every consumer's template carries the replacement digest of the stacks
before it, so a replacement changes the consumer too and ``cdk deploy`` moves it in the same run; and a
replaced security group is retained until the consumers' ENIs have left it (stacks/cross_stack.py).
"""

from __future__ import annotations

import json
import re

import pytest
from aws_cdk.assertions import Template

from config import ENVIRONMENT_NAMES, load_environment
from stacks.cross_stack import REPLACEMENT_PROPERTIES, REVISIONS_METADATA, _python_name
from stacks.stage import CachingStage
from tests.infra.conftest import new_app
from tests.infra.templates import masked


def _templates(stage: CachingStage) -> dict[str, dict]:
    """Asset hashes masked: the function code is not what these tests compare."""
    return {
        child.node.id: masked(Template.from_stack(child).to_json())
        for child in stage.node.children
        if hasattr(child, "template_file")
    }


@pytest.fixture(scope="module")
def baseline(synthesized) -> dict[str, dict]:
    return _templates(synthesized["dev"].stage)


def _synth_dev(tmp_path, change) -> dict[str, dict]:
    app = new_app(tmp_path)
    stage = CachingStage(app, "dev", config=load_environment("dev"))
    change(stage)
    app.synth()
    return _templates(stage)


@pytest.fixture(scope="module")
def after_replacement(tmp_path_factory) -> dict[str, dict]:
    """dev with the cache security group's description changed: CloudFormation replaces the group."""

    def change(stage):
        stage.network.cache_security_group.node.default_child.group_description = "ElastiCache nodes v2"

    return _synth_dev(tmp_path_factory.mktemp("replaced"), change)


@pytest.fixture(scope="module")
def after_update(tmp_path_factory) -> dict[str, dict]:
    """dev with a change that updates in place (flow log retention): nothing is replaced."""

    def change(stage):
        stage.network.node.find_child("FlowLogs").node.default_child.retention_in_days = 60

    return _synth_dev(tmp_path_factory.mktemp("updated"), change)


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_stacks_read_each_other_through_weak_references_only(synthesized, name):
    """No Export, no Fn::ImportValue: CloudFormation never refuses to replace or delete a producer's
    resource because another stack imports it."""
    for stack in synthesized[name].stacks():
        rendered = json.dumps(synthesized[name].template(stack).to_json())
        assert '"Export"' not in rendered and "Fn::ImportValue" not in rendered, stack.stack_name
    api = json.dumps(synthesized[name].template(synthesized[name].stage.api).to_json())
    assert f'"StackName": "{name}-Network"' in api and f'"StackName": "{name}-Data"' in api


def test_a_replaced_security_group_reaches_every_consumer_in_the_same_deploy(baseline, after_replacement):
    # The producer: the group is replaced, and its old copy is kept until its consumers have moved.
    network = after_replacement["Network"]["Resources"]
    (group,) = [
        r for r in network.values() if r["Properties"].get("GroupDescription") == "ElastiCache nodes v2"
    ]
    assert group["UpdateReplacePolicy"] == "Retain" and group["DeletionPolicy"] == "Delete"
    # Every stack after Network changes (so cdk deploy does not skip it) exactly in the Network revision it
    # records; the references themselves stay Fn::GetStackOutput, read again when the consumer deploys.
    for name in ("Data", "Api", "EdgeWebAcl", "Edge", "Monitoring"):
        before, after = baseline[name], after_replacement[name]
        assert before != after, name
        revisions = (before["Metadata"][REVISIONS_METADATA], after["Metadata"][REVISIONS_METADATA])
        assert revisions[0]["dev-Network"] != revisions[1]["dev-Network"], name
        assert {**before, "Metadata": None} == {**after, "Metadata": None}, name
        assert {k: v for k, v in revisions[0].items() if k != "dev-Network"} == {
            k: v for k, v in revisions[1].items() if k != "dev-Network"
        }


def test_a_change_that_replaces_nothing_leaves_every_consumer_untouched(baseline, after_update):
    assert baseline["Network"] != after_update["Network"]
    for name in ("Data", "Api", "EdgeWebAcl", "Edge", "Monitoring"):
        assert baseline[name] == after_update[name], name


def test_every_security_group_is_retained_on_replacement(synthesized):
    for env in synthesized.values():
        groups = env.template(env.stage.network).find_resources("AWS::EC2::SecurityGroup")
        assert groups and all(group["UpdateReplacePolicy"] == "Retain" for group in groups.values())


def test_every_type_another_stack_reads_is_in_the_replacement_table(synthesized):
    read = set()
    for env in synthesized.values():
        for stack in env.stacks():
            template = env.template(stack).to_json()
            resources = template.get("Resources", {})
            for name, output in template.get("Outputs", {}).items():
                if not name.startswith("PublishOutput") and name != "WebAclArn":
                    continue
                value = json.dumps(output["Value"])
                for logical_id in re.findall(r'"(?:Ref|Fn::GetAtt)": \[?"([A-Za-z0-9]+)"', value):
                    read.add(resources[logical_id]["Type"])
    assert "AWS::EC2::SecurityGroup" in read and "AWS::RDS::DBInstance" in read
    assert read <= set(REPLACEMENT_PROPERTIES)


def test_the_replacement_table_is_cloudformations_create_only_properties():
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    for resource_type, properties in REPLACEMENT_PROPERTIES.items():
        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource_type).schema
        create_only = {path.split("/")[2] for path in schema.get("createOnlyProperties", [])}
        assert set(properties) == create_only, resource_type


def test_every_replacement_property_is_readable_on_the_l1_class():
    import importlib

    for resource_type, properties in REPLACEMENT_PROPERTIES.items():
        _, service, resource = resource_type.split("::")
        cls = getattr(importlib.import_module(f"aws_cdk.aws_{service.lower()}"), f"Cfn{resource}")
        for name in properties:
            assert hasattr(cls, _python_name(name)), (resource_type, name)
