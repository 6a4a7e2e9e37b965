"""Resources moved into the Api stack's concern constructs keep the logical ids they were deployed with."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Template

from caching_constructs.core.logical_ids import keep_logical_ids, logical_id_for_path
from constructs import Construct


@pytest.mark.parametrize(
    "path",
    [
        ["Schema"],  # one component: the id itself
        ["Queue"],
        ["Outer", "Default", "Inner"],  # "Default" is skipped
        ["Function", "Function"],  # a component the one before ends with is shown once, but hashed
        ["SchemaProvider", "framework-onEvent"],  # non-alphanumerics dropped
    ],
)
def test_logical_ids_are_the_ones_the_cdk_allocates(path):
    stack = cdk.Stack(cdk.App(), "Stack")
    scope: Construct = stack
    for component in path[:-1]:
        scope = Construct(scope, component)
    resource = cdk.CfnResource(scope, path[-1], type="AWS::SQS::Queue")
    assert logical_id_for_path(path) == stack.resolve(resource.logical_id)


def test_a_moved_subtree_keeps_the_logical_ids_of_its_old_path():
    def template(move: bool) -> dict:
        stack = cdk.Stack(cdk.App(), "Stack")
        parent = Construct(stack, "NewParent") if move else stack
        queue = sqs.Queue(parent, "Failures", enforce_ssl=True)
        if move:
            keep_logical_ids(queue, old_path=["Failures"])
        return Template.from_stack(stack).to_json()["Resources"]

    before, after = template(move=False), template(move=True)
    assert set(after) == set(before) and len(before) == 2  # the queue and its policy


def test_the_warmers_queue_and_schedule_and_the_schema_step_kept_their_ids(dev):
    """The dead-letter queue would lose its messages, and a custom resource refuses a new ServiceToken."""
    api = dev.stage.api

    def logical_id(construct) -> str:
        return api.resolve(construct.node.default_child.logical_id)

    warmer, schema = api.cache_warmer, api.schema_seed
    assert logical_id(warmer.failure_queue) == logical_id_for_path(["WarmerFailures", "Resource"])
    assert logical_id(warmer.schedule_rule) == logical_id_for_path(["WarmSchedule", "Resource"])
    assert api.resolve(schema.schema.node.default_child.logical_id) == "Schema"
    on_event = schema.provider.node.find_child("framework-onEvent")
    assert logical_id(on_event) == logical_id_for_path(["SchemaProvider", "framework-onEvent", "Resource"])
    # The functions themselves never moved: each concern construct is its function.
    for function, old in ((api.product_api, "ProductApi"), (warmer, "CacheWarmer"), (schema, "SchemaSeed")):
        assert logical_id(function.function) == logical_id_for_path([old, "Function", "Resource"])
