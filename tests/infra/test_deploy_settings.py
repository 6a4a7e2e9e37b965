"""Per-environment deploy settings: termination protection in prod, the configured tags on every stack and
resource, and X-Ray tracing through the API stage and every function."""

from __future__ import annotations

import pytest

from config import ENVIRONMENT_NAMES, load_environment
from tests.infra.monitoring_templates import (
    monitoring_template,
)
from tests.infra.templates import resources_of_type


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_termination_protection_is_on_exactly_in_prod(synthesized, name):
    env = synthesized[name]
    for stack in env.stacks():
        assert stack.termination_protection is (name == "prod"), stack.stack_name
    artifacts = {artifact.stack_name: artifact for artifact in env.assembly.stacks}
    assert {a.termination_protection for a in artifacts.values()} == {name == "prod"}


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_every_stack_and_its_resources_carry_the_configured_tags(synthesized, name):
    env = synthesized[name]
    expected = {**env.config.tags, "environment": name}
    assert set(expected) == {"project", "environment", "owner", "cost-center"}
    for stack in env.stacks():
        assert stack.tags.tag_values() == expected, stack.stack_name
    alarms = resources_of_type(monitoring_template(env), "AWS::CloudWatch::Alarm").values()
    for alarm in alarms:
        assert {t["Key"]: t["Value"] for t in alarm["Properties"]["Tags"]} == expected


def test_prod_has_its_own_cost_center(prod, dev):
    assert prod.config.tags["cost-center"] != dev.config.tags["cost-center"]
    assert (
        prod.stage.monitoring.tags.tag_values()["cost-center"] == load_environment("prod").tags["cost-center"]
    )


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_xray_traces_requests_through_the_api_stage_and_every_function(synthesized, name):
    env = synthesized[name]
    template = env.template(env.stage.api)
    template.has_resource_properties("AWS::ApiGateway::Stage", {"TracingEnabled": True})
    for function in (env.stage.api.product_api, env.stage.api.cache_warmer, env.stage.api.dax_demo):
        function_id = env.stage.api.resolve(function.function.node.default_child.logical_id)
        properties = template.to_json()["Resources"][function_id]["Properties"]
        assert properties["TracingConfig"] == {"Mode": "Active"}


LOG_GROUP = "AWS::Logs::LogGroup"


def test_dev_tears_down_cleanly_no_log_group_outlives_its_stack(dev):
    """dev's removal policy is destroy: a retained group (e.g. one the CDK creates for a helper function)
    would be left behind by every `cdk destroy`."""
    retained = [
        f"{stack.node.id}/{logical_id}"
        for stack in dev.stacks()
        for logical_id, group in resources_of_type(dev.template(stack).to_json(), LOG_GROUP).items()
        if group.get("DeletionPolicy", "Delete") != "Delete"
    ]
    assert retained == []
