"""The network stack: subnets, NAT per environment, endpoints, flow logs, per-tier security groups."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match

from config import ENVIRONMENT_NAMES
from stacks.secondary_api_stack import SecondaryApiStack
from tests.infra.templates import resources_of_type


def test_vpc_uses_the_configured_cidr(synthesized):
    for env in synthesized.values():
        env.template(env.stage.network).has_resource_properties(
            "AWS::EC2::VPC", {"CidrBlock": env.config.network.cidr}
        )


@pytest.mark.parametrize(("name", "nat_gateways", "azs"), [("dev", 1, 2), ("staging", 1, 2), ("prod", 3, 3)])
def test_nat_gateways_and_subnets_follow_the_config(synthesized, name, nat_gateways, azs):
    template = synthesized[name].template(synthesized[name].stage.network)
    template.resource_count_is("AWS::EC2::NatGateway", nat_gateways)
    # public, application (private with egress) and data (isolated) subnets in every AZ
    template.resource_count_is("AWS::EC2::Subnet", 3 * azs)


def test_data_subnets_have_no_route_to_the_internet(dev):
    template = dev.template(dev.stage.network).to_json()
    isolated_tables = {
        logical_id
        for logical_id, resource in resources_of_type(template, "AWS::EC2::RouteTable").items()
        if "DataSubnet" in logical_id
    }
    assert isolated_tables, "expected route tables for the isolated data subnets"
    for route in resources_of_type(template, "AWS::EC2::Route").values():
        assert route["Properties"]["RouteTableId"]["Ref"] not in isolated_tables


def _service_name(service: str) -> dict:
    return {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, f".{service}"]]}


def test_gateway_and_interface_endpoints(dev):
    template = dev.template(dev.stage.network)
    for service in ("s3", "dynamodb"):
        template.has_resource_properties(
            "AWS::EC2::VPCEndpoint", {"VpcEndpointType": "Gateway", "ServiceName": _service_name(service)}
        )
    template.has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {
            "VpcEndpointType": "Interface",
            "ServiceName": _service_name("secretsmanager"),
            "PrivateDnsEnabled": True,
        },
    )


def test_flow_logs_go_to_a_log_group_with_retention(synthesized):
    for env in synthesized.values():
        template = env.template(env.stage.network)
        template.has_resource_properties("AWS::EC2::FlowLog", {"LogDestinationType": "cloud-watch-logs"})
        template.has_resource_properties(
            "AWS::Logs::LogGroup", {"RetentionInDays": env.config.network.flow_log_retention_days}
        )


def test_every_tier_has_its_own_security_group(dev):
    network = dev.stage.network
    groups = {
        network.cache_security_group,
        network.database_security_group,
        network.dax_security_group,
        network.database_rotation_security_group,
        network.secrets_manager_endpoint_security_group,
        network.sqs_endpoint_security_group,
    }
    assert len({group.node.path for group in groups}) == 6


def test_no_security_group_admits_a_cidr_range(synthesized):
    """Access between tiers is wired with security groups, never with address ranges."""
    for env in synthesized.values():
        for stack in env.stacks():
            template = env.template(stack).to_json()
            for group in resources_of_type(template, "AWS::EC2::SecurityGroup").values():
                for rule in group["Properties"].get("SecurityGroupIngress", []):
                    assert "CidrIp" not in rule and "CidrIpv6" not in rule, (stack.node.path, rule)
            for rule in resources_of_type(template, "AWS::EC2::SecurityGroupIngress").values():
                props = rule["Properties"]
                assert "CidrIp" not in props and "CidrIpv6" not in props, (stack.node.path, props)


def test_data_tier_groups_have_no_default_egress(dev):
    template = dev.template(dev.stage.network)
    template.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {
            "GroupDescription": Match.string_like_regexp("ElastiCache"),
            "SecurityGroupEgress": Match.array_with([Match.object_like({"CidrIp": "255.255.255.255/32"})]),
        },
    )


def _open_egress(group: dict) -> list[dict]:
    """Egress rules to an address range, except the CDK's 'disallow all' placeholder."""
    rules = group["Properties"].get("SecurityGroupEgress", [])
    return [rule for rule in rules if "CidrIp" in rule and rule["CidrIp"] != "255.255.255.255/32"]


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_no_security_group_has_egress_to_an_address_range(synthesized, name):
    """Functions reach exactly the tiers wired with `connections`; the data tier and endpoint only answer."""
    env = synthesized[name]
    for stack in env.stacks():
        groups = resources_of_type(env.template(stack).to_json(), "AWS::EC2::SecurityGroup")
        open_groups = {logical_id for logical_id, group in groups.items() if _open_egress(group)}
        if isinstance(stack, SecondaryApiStack):
            # Its misses queue to the primary region's refill queue: another region's SQS has no endpoint in
            # this VPC, so its function gets HTTPS to the internet (over the NAT), and nothing else does.
            own = _logical_id(stack.product_api.connections.security_groups[0])
            assert open_groups == {own}, (stack.node.path, open_groups)
            ports = [(r["IpProtocol"], r["FromPort"], r["ToPort"]) for r in _open_egress(groups[own])]
            assert ports == [("tcp", 443, 443)], ports
            open_groups = set()
        assert open_groups == set(), (stack.node.path, open_groups)
        egress = resources_of_type(env.template(stack).to_json(), "AWS::EC2::SecurityGroupEgress").values()
        assert not [rule for rule in egress if "CidrIp" in rule["Properties"]], stack.node.path


def _logical_id(group) -> str:
    return cdk.Stack.of(group).resolve(group.node.default_child.logical_id)


def test_the_network_stack_wires_only_the_rotation_function_and_references_no_later_stack(dev):
    """Every other caller opens its path from its own stack (tests/infra/test_reachability.py); only the
    database's rotation function, which the Data stack creates and wires from the database's side, has its
    rules here. Both ends of every rule are groups of this stack."""
    network = dev.stage.network
    template = dev.template(network).to_json()
    rotation = _logical_id(network.database_rotation_security_group)
    egress = {
        (
            rule["Properties"]["GroupId"]["Fn::GetAtt"][0],
            rule["Properties"]["DestinationSecurityGroupId"]["Fn::GetAtt"][0],
            rule["Properties"]["FromPort"],
        )
        for rule in resources_of_type(template, "AWS::EC2::SecurityGroupEgress").values()
    }
    ingress = {
        (
            rule["Properties"]["GroupId"]["Fn::GetAtt"][0],
            rule["Properties"]["SourceSecurityGroupId"]["Fn::GetAtt"][0],
            rule["Properties"]["FromPort"],
        )
        for rule in resources_of_type(template, "AWS::EC2::SecurityGroupIngress").values()
    }
    database = _logical_id(network.database_security_group)
    endpoint = _logical_id(network.secrets_manager_endpoint_security_group)
    assert egress == {(rotation, database, dev.config.database.port), (rotation, endpoint, 443)}
    assert ingress == {(database, rotation, dev.config.database.port), (endpoint, rotation, 443)}
    assert "Fn::GetStackOutput" not in json.dumps(template)


def test_the_rotation_group_has_no_other_egress(dev):
    """EC2 gives a new group allow-all egress unless its template lists egress rules; CloudFormation strips
    that default when the first AWS::EC2::SecurityGroupEgress is attached. So the rotation group (inline
    egress empty, since every rule names another group) must carry only the two standalone rules above."""
    network = dev.stage.network
    groups = resources_of_type(dev.template(network).to_json(), "AWS::EC2::SecurityGroup")
    assert (
        groups[_logical_id(network.database_rotation_security_group)]["Properties"].get("SecurityGroupEgress")
        is None
    )


def test_the_endpoints_admit_no_caller_of_their_own_accord(dev):
    """A caller is admitted where it opens its path (the Api stack's functions; the rotation function)."""
    network = dev.stage.network
    assert network.secrets_manager_endpoint.connections.security_groups == [
        network.secrets_manager_endpoint_security_group
    ]
    assert network.sqs_endpoint.connections.security_groups == [network.sqs_endpoint_security_group]
    sources = {
        rule["Properties"]["SourceSecurityGroupId"]["Fn::GetAtt"][0]
        for rule in resources_of_type(
            dev.template(network).to_json(), "AWS::EC2::SecurityGroupIngress"
        ).values()
    }
    assert sources == {_logical_id(network.database_rotation_security_group)}
