"""``PythonFunction`` behaves like an aws-cdk-lib resource: connections, grants and metrics on the construct
itself, a closed security group of its own, and a VPC that is optional only for a stated reason."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Match, Template

from caching_constructs.core.python_function import FunctionDefaults, PythonFunction
from tests.infra.bare_stack import bare_stack
from tests.infra.templates import resources_of_type

CODE = lambda_.Code.from_inline("def handler(event, context):\n    return None\n")
OUTSIDE = "Calls only public AWS endpoints and touches no data store."
ISOLATED = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)


def _function(scope, construct_id: str = "Fn", **props) -> PythonFunction:
    return PythonFunction(
        scope,
        construct_id,
        code=CODE,
        handler="index.handler",
        description="test function",
        architecture=lambda_.Architecture.ARM_64,
        timeout=cdk.Duration.seconds(10),
        **props,
    )


def test_in_a_vpc_it_gets_a_security_group_of_its_own_with_no_egress():
    stack, vpc = bare_stack()
    function = _function(stack, vpc=vpc, vpc_subnets=ISOLATED)
    template = Template.from_stack(stack)
    (group,) = function.connections.security_groups
    group_id = stack.resolve(group.security_group_id)
    template.has_resource_properties(
        "AWS::Lambda::Function", {"VpcConfig": Match.object_like({"SecurityGroupIds": [group_id]})}
    )
    template.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {"SecurityGroupEgress": [Match.object_like({"CidrIp": "255.255.255.255/32", "IpProtocol": "icmp"})]},
    )


def test_given_security_groups_it_creates_none():
    stack, vpc = bare_stack()
    given = ec2.SecurityGroup(stack, "Given", vpc=vpc, allow_all_outbound=False)
    function = _function(
        stack,
        vpc=vpc,
        vpc_subnets=ISOLATED,
        security_groups=[given],
    )
    assert function.connections.security_groups == [given]
    Template.from_stack(stack).resource_count_is("AWS::EC2::SecurityGroup", 1)


def test_it_is_grantable_itself():
    stack = cdk.Stack(cdk.App(), "Stack")
    function = _function(stack, outside_vpc_reason=OUTSIDE)
    queue = sqs.Queue(stack, "Queue")
    queue.grant_send_messages(function)
    policies = resources_of_type(Template.from_stack(stack).to_json(), "AWS::IAM::Policy").values()
    actions = [s["Action"] for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]
    assert any("sqs:SendMessage" in (a if isinstance(a, list) else [a]) for a in actions)


def test_opening_a_path_to_a_store_in_an_earlier_stack_puts_both_rules_in_the_functions_stack():
    """The cycle the Api stack must avoid: rules placed in the store's stack would reference this one."""
    app = cdk.App()
    network = cdk.Stack(app, "Network")
    vpc = ec2.Vpc(
        network,
        "Vpc",
        max_azs=2,
        nat_gateways=0,
        subnet_configuration=[
            ec2.SubnetConfiguration(name="Data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        ],
    )
    store = ec2.SecurityGroup(network, "Store", vpc=vpc, allow_all_outbound=False)
    store_connections = ec2.Connections(security_groups=[store], default_port=ec2.Port.tcp(3307))
    api = cdk.Stack(app, "Api")
    function = _function(api, vpc=vpc, vpc_subnets=ISOLATED)
    function.connections.allow_to_default_port(store_connections, "to the store")
    app.synth()
    assert api not in network.dependencies
    network_template = Template.from_stack(network)
    network_template.resource_count_is("AWS::EC2::SecurityGroupIngress", 0)
    network_template.resource_count_is("AWS::EC2::SecurityGroupEgress", 0)
    api_template = Template.from_stack(api)
    api_template.has_resource_properties("AWS::EC2::SecurityGroupIngress", {"FromPort": 3307, "ToPort": 3307})
    api_template.has_resource_properties("AWS::EC2::SecurityGroupEgress", {"FromPort": 3307, "ToPort": 3307})


def test_metrics_are_the_functions_own():
    stack = cdk.Stack(cdk.App(), "Stack")
    function = _function(stack, outside_vpc_reason=OUTSIDE)
    for metric in (function.metric_errors(), function.metric_throttles(), function.metric_duration()):
        assert metric.namespace == "AWS/Lambda"
        assert stack.resolve(metric.dimensions["FunctionName"]) == stack.resolve(function.function_name)
    assert function.timeout.to_seconds() == 10


def test_failures_of_asynchronous_invocations_land_in_the_given_queue():
    stack = cdk.Stack(cdk.App(), "Stack")
    function = _function(stack, outside_vpc_reason=OUTSIDE)
    queue = sqs.Queue(stack, "Failures")
    function.send_failures_to(queue)
    Template.from_stack(stack).has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "MaximumRetryAttempts": 2,
            "DestinationConfig": {"OnFailure": {"Destination": stack.resolve(queue.queue_arn)}},
        },
    )


def test_defaults_merge_the_functions_own_environment_over_the_shared_one():
    _, vpc = bare_stack()
    defaults = FunctionDefaults(
        code=CODE,
        architecture=lambda_.Architecture.ARM_64,
        environment={"A": "shared", "B": "shared"},
        vpc=vpc,
    )
    props = defaults.props(environment={"B": "own"})
    assert props["environment"] == {"A": "shared", "B": "own"}
    assert props["vpc"] is vpc and props["code"] is CODE


def test_outside_a_vpc_it_needs_a_reason():
    with pytest.raises(ValueError, match=r"^Fn: a function outside a VPC needs outside_vpc_reason"):
        _function(cdk.Stack(cdk.App(), "Stack"))


def test_outside_a_vpc_it_takes_no_subnets_or_security_groups():
    stack, vpc = bare_stack()
    group = ec2.SecurityGroup(stack, "Group", vpc=vpc)
    with pytest.raises(ValueError, match=r"^Fn: vpc_subnets and security_groups need a vpc$"):
        _function(stack, security_groups=[group], outside_vpc_reason=OUTSIDE)


def test_in_a_vpc_a_reason_for_being_outside_is_refused():
    stack, vpc = bare_stack()
    with pytest.raises(ValueError, match=r"^Fn: outside_vpc_reason is for a function without a vpc$"):
        _function(stack, vpc=vpc, outside_vpc_reason=OUTSIDE)


def test_an_empty_list_of_security_groups_is_refused():
    stack, vpc = bare_stack()
    with pytest.raises(ValueError, match=r"^Fn: security_groups is empty"):
        _function(stack, vpc=vpc, security_groups=[])
