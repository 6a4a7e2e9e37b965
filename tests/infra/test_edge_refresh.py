"""After a write, the edge hears about it: the queue (Api stack), the SQS endpoint (Network) and the refresher
outside the VPC (Edge), with permissions on exactly this stage's item route and, only when configured, this
distribution."""

from __future__ import annotations

import dataclasses
import json

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from caching_constructs.edge.edge_refresh import (
    BATCH_SIZE,
    MAX_BATCHING_WINDOW,
    VISIBILITY_TIMEOUT_FACTOR,
    EdgeRefreshQueue,
)
from config import ENVIRONMENT_NAMES, load_environment
from stacks.stage import CachingStage
from tests.infra.conftest import new_app
from tests.infra.templates import resources_of_type

REFRESHER_HANDLER = "functions.edge_refresh.lambda_handler"


def _api(env) -> dict:
    return env.template(env.stage.api).to_json()


def _edge(env) -> dict:
    return env.template(env.stage.edge).to_json()


def _logical_id(construct) -> str:
    return cdk.Stack.of(construct).resolve(construct.node.default_child.logical_id)


def _refresher(template: dict) -> tuple[str, dict]:
    ((logical_id, function),) = [
        (key, resource)
        for key, resource in resources_of_type(template, "AWS::Lambda::Function").items()
        if resource["Properties"].get("Handler") == REFRESHER_HANDLER
    ]
    return logical_id, function["Properties"]


def _product_api(template: dict) -> dict:
    (function,) = [
        resource["Properties"]
        for resource in resources_of_type(template, "AWS::Lambda::Function").values()
        if resource["Properties"].get("Handler") == "functions.product_api.lambda_handler"
    ]
    return function


def _statements(template: dict) -> list[dict]:
    return [
        statement
        for policy in resources_of_type(template, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def _output_name(value: dict) -> str:
    return value["Fn::GetStackOutput"]["OutputName"]


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_the_queue_is_encrypted_tls_only_and_dead_letters_after_a_few_deliveries(synthesized, name):
    env = synthesized[name]
    template = _api(env)
    refresh = env.stage.api.edge_refresh_queue
    queues = resources_of_type(template, "AWS::SQS::Queue")
    queue = queues[_logical_id(refresh.queue)]["Properties"]
    dead_letters = queues[_logical_id(refresh.dead_letter_queue)]["Properties"]
    for properties in (queue, dead_letters):
        assert properties["SqsManagedSseEnabled"] is True
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [_logical_id(refresh.dead_letter_queue), "Arn"]},
        "maxReceiveCount": 3,
    }
    for queue_construct in (refresh.queue, refresh.dead_letter_queue):
        (policy,) = [
            p["Properties"]["PolicyDocument"]
            for p in resources_of_type(template, "AWS::SQS::QueuePolicy").values()
            if p["Properties"]["Queues"] == [{"Ref": _logical_id(queue_construct)}]
        ]
        assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in policy["Statement"])
    # A message is not handed out again while the refresher may still be working on it.
    _, refresher = _refresher(_edge(env))
    assert queue["VisibilityTimeout"] == VISIBILITY_TIMEOUT_FACTOR * refresher["Timeout"]
    assert queue["VisibilityTimeout"] > refresher["Timeout"]
    assert queue["MessageRetentionPeriod"] > queue["VisibilityTimeout"] * 3


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_only_the_product_api_may_send_and_it_knows_the_queue(synthesized, name):
    env = synthesized[name]
    template = _api(env)
    queue_id = _logical_id(env.stage.api.edge_refresh_queue.queue)
    variables = _product_api(template)["Environment"]["Variables"]
    assert variables["EDGE_REFRESH_QUEUE_URL"] == {"Ref": queue_id}
    senders = [
        policy["Properties"]["Roles"]
        for policy in resources_of_type(template, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "sqs:SendMessage" in _actions(statement)
        and statement["Resource"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    ]
    product_role = env.stage.api.product_api.function.role
    assert senders == [[{"Ref": _logical_id(product_role)}]]
    for handler in ("cache_warmer", "schema_seed", "dax_demo"):
        function = next(
            resource["Properties"]
            for resource in resources_of_type(template, "AWS::Lambda::Function").values()
            if resource["Properties"].get("Handler", "").startswith(f"functions.{handler}.")
        )
        assert "EDGE_REFRESH_QUEUE_URL" not in function["Environment"]["Variables"], handler


def test_the_product_api_reaches_sqs_through_an_endpoint_open_to_the_product_api_only(dev):
    network = dev.stage.network
    template = dev.template(network)
    template.has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {
            "VpcEndpointType": "Interface",
            "ServiceName": {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".sqs"]]},
            "PrivateDnsEnabled": True,
            "SecurityGroupIds": [
                {"Fn::GetAtt": [_logical_id(network.sqs_endpoint_security_group), "GroupId"]}
            ],
        },
    )
    assert network.sqs_endpoint.connections.security_groups == [network.sqs_endpoint_security_group]
    # The product API opens its own path, so the rule sits in the Api stack and names the endpoint's group
    # through the Network stack's output.
    endpoint_group = _logical_id(network.sqs_endpoint_security_group)
    ingress = [
        rule["Properties"]
        for stack in dev.stacks()
        for rule in resources_of_type(
            dev.template(stack).to_json(), "AWS::EC2::SecurityGroupIngress"
        ).values()
        if endpoint_group in json.dumps(rule["Properties"]["GroupId"])
    ]
    product_api_group = dev.stage.api.product_api.connections.security_groups[0]
    assert ingress == [
        {
            "GroupId": ingress[0]["GroupId"],
            "IpProtocol": "tcp",
            "FromPort": 443,
            "ToPort": 443,
            "SourceSecurityGroupId": {"Fn::GetAtt": [_logical_id(product_api_group), "GroupId"]},
            "Description": ingress[0]["Description"],
        }
    ]
    assert _output_name(ingress[0]["GroupId"]).startswith(f"PublishOutputFnGetAtt{endpoint_group}")


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_the_refresher_runs_outside_the_vpc_on_the_core_asset_fed_in_batches(synthesized, name):
    env = synthesized[name]
    edge = _edge(env)
    refresher_id, refresher = _refresher(edge)
    assert "VpcConfig" not in refresher
    assert refresher["Runtime"] == "python3.12"
    assert refresher["Architectures"] == [env.config.functions.architecture]
    assert refresher["TracingConfig"] == {"Mode": "Active"}
    # The same bundle as the product API (one asset, built once), staged for the Edge stack.
    assert refresher["Code"]["S3Key"] == _product_api(_api(env))["Code"]["S3Key"]
    (mapping,) = resources_of_type(edge, "AWS::Lambda::EventSourceMapping").values()
    mapping = mapping["Properties"]
    assert mapping["FunctionName"] == {"Ref": refresher_id}
    assert mapping["BatchSize"] == BATCH_SIZE == 10
    assert mapping["MaximumBatchingWindowInSeconds"] == MAX_BATCHING_WINDOW.to_seconds() == 1
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["EventSourceArn"]["Fn::GetStackOutput"]["StackName"] == f"{name}-Api"
    assert "EdgeRefreshQueue" in _output_name(mapping["EventSourceArn"])


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_the_refresher_calls_the_stage_url_and_by_default_never_cloudfront(synthesized, name):
    env = synthesized[name]
    assert env.config.edge.invalidate_on_write is False
    edge = _edge(env)
    _, refresher = _refresher(edge)
    variables = refresher["Environment"]["Variables"]
    assert set(variables) == {"API_URL"}
    url = json.dumps(variables["API_URL"])
    assert "https://" in url and ".execute-api." in url and "DeploymentStage" in url
    refresher_role = env.stage.edge.edge_refresher.function.role
    refresher_policy = next(
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in resources_of_type(edge, "AWS::IAM::Policy").values()
        if p["Properties"]["Roles"] == [{"Ref": _logical_id(refresher_role)}]
    )
    assert not [s for s in refresher_policy if any(a.startswith("cloudfront:") for a in _actions(s))]


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_the_refresher_may_refresh_only_the_item_route_of_this_stage(synthesized, name):
    env = synthesized[name]
    api, edge = _api(env), _edge(env)
    policy_id = _logical_id(env.stage.api.edge_refresh_policy)
    policy = resources_of_type(api, "AWS::IAM::ManagedPolicy")[policy_id]["Properties"]["PolicyDocument"]
    (statement,) = policy["Statement"]
    assert statement["Action"] == "execute-api:InvalidateCache"
    rest_api = env.stage.api.rest_api
    assert statement["Resource"] == {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":execute-api:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                ":",
                {"Ref": _logical_id(rest_api.api)},
                "/",
                {"Ref": _logical_id(rest_api.stage)},
                "/GET/products/*",
            ],
        ]
    }
    # Attached to the refresher's role, and to nothing else.
    roles = resources_of_type(edge, "AWS::IAM::Role")
    attached = [
        role_id
        for role_id, role in roles.items()
        if any(
            isinstance(arn, dict) and "EdgeRefreshPolicy" in json.dumps(arn)
            for arn in role["Properties"].get("ManagedPolicyArns", [])
        )
    ]
    assert attached == [_logical_id(env.stage.edge.edge_refresher.function.role)]
    assert "execute-api:" not in json.dumps(_statements(edge))
    assert "execute-api:InvalidateCache" not in json.dumps(_statements(api))


def test_a_cache_refresh_policy_only_names_cached_get_routes(dev):
    """Checked before anything is created: the shared synthesized stage is left as it was."""
    rest_api = dev.stage.api.rest_api
    with pytest.raises(ValueError, match=r"'/dax/items/\{id\}' is not a cached GET route; expected one of"):
        rest_api.add_cache_refresh_policy("NotCached", paths=["/dax/items/{id}"])
    with pytest.raises(ValueError, match="name at least one cached GET route"):
        rest_api.add_cache_refresh_policy("Nothing", paths=[])
    assert rest_api.node.try_find_child("NotCached") is None


def test_with_invalidate_on_write_the_refresher_may_invalidate_this_distribution_only(tmp_path):
    base = load_environment("dev")
    config = dataclasses.replace(base, edge=dataclasses.replace(base.edge, invalidate_on_write=True))
    app = new_app(tmp_path)
    stage = CachingStage(app, "dev", config=config)
    app.synth()  # every finding still exempted
    edge = Template.from_stack(stage.edge).to_json()
    _, refresher = _refresher(edge)
    distribution_id = _logical_id(stage.edge.site.distribution)
    assert refresher["Environment"]["Variables"]["DISTRIBUTION_ID"] == {"Ref": distribution_id}
    role_id = _logical_id(stage.edge.edge_refresher.function.role)
    statements = next(
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in resources_of_type(edge, "AWS::IAM::Policy").values()
        if p["Properties"]["Roles"] == [{"Ref": role_id}]
    )
    (invalidation,) = [s for s in statements if "cloudfront:CreateInvalidation" in _actions(s)]
    assert _actions(invalidation) == ["cloudfront:CreateInvalidation"]
    assert invalidation["Resource"] == {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":cloudfront::",
                {"Ref": "AWS::AccountId"},
                ":distribution/",
                {"Ref": distribution_id},
            ],
        ]
    }


def test_the_refresher_is_exempt_from_lambda_in_a_vpc_with_its_reason(dev):
    _, resource = next(
        (key, r)
        for key, r in resources_of_type(_edge(dev), "AWS::Lambda::Function").items()
        if r["Properties"].get("Handler") == REFRESHER_HANDLER
    )
    reasons = {s["id"]: s["reason"] for s in resource["Metadata"]["cdk_nag"]["rules_to_suppress"]}
    reason = reasons["cdk-validator-cfnguard::lambda_inside_vpc_check"]
    assert reason.startswith("[CT.LAMBDA.PR.3]") and "touches no data store" in reason


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_receive_count": 0}, "max_receive_count must be from 1 to 1000"),
        ({"retention": cdk.Duration.minutes(10)}, "must outlast 3 deliveries"),
        ({"consumer_timeout": cdk.Duration.hours(3)}, "over SQS's 12 hours"),
    ],
)
def test_a_queue_that_would_lose_paths_before_dead_lettering_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EdgeRefreshQueue(cdk.Stack(), "Queue", **kwargs)
