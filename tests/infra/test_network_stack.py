"""The network stack: subnets, NAT per environment, endpoints, flow logs, per-tier security groups."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match

from config import ENVIRONMENT_NAMES
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
        network.application_security_group,
        network.cache_security_group,
        network.database_security_group,
        network.dax_security_group,
    }
    assert len({group.node.path for group in groups}) == 4


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
        assert open_groups == set(), (stack.node.path, open_groups)
        egress = resources_of_type(env.template(stack).to_json(), "AWS::EC2::SecurityGroupEgress").values()
        assert not [rule for rule in egress if "CidrIp" in rule["Properties"]], stack.node.path


def _egress_targets(rule: dict) -> tuple:
    props = rule["Properties"]
    return (
        props["GroupId"]["Fn::GetAtt"][0],
        props["DestinationSecurityGroupId"]["Fn::GetAtt"][0],
        props["FromPort"],
    )


def test_the_application_group_reaches_exactly_the_tiers_it_is_wired_to(dev):
    """EC2 gives a new group allow-all egress unless its template lists egress rules; CloudFormation strips
    that default when the first AWS::EC2::SecurityGroupEgress is attached. So the application group (inline
    egress empty, since every rule names another group) must carry only these standalone rules."""
    network = dev.stage.network
    template = dev.template(network).to_json()
    groups = resources_of_type(template, "AWS::EC2::SecurityGroup")

    def logical_id(group) -> str:
        return network.resolve(group.node.default_child.logical_id)

    application = logical_id(network.application_security_group)
    assert groups[application]["Properties"].get("SecurityGroupEgress") is None
    rules = {
        _egress_targets(rule)
        for rule in resources_of_type(template, "AWS::EC2::SecurityGroupEgress").values()
        if rule["Properties"]["GroupId"]["Fn::GetAtt"][0] == application
    }
    assert rules == {
        (application, logical_id(network.cache_security_group), dev.config.cache.port),
        (application, logical_id(network.database_security_group), dev.config.database.port),
        (application, logical_id(network.dax_security_group), 9111),
        (application, logical_id(network.secrets_manager_endpoint_security_group), 443),
        (application, logical_id(network.sqs_endpoint_security_group), 443),
    }


def test_the_secrets_manager_endpoint_admits_https_from_the_application_group_only(dev):
    network = dev.stage.network
    endpoint_group = network.secrets_manager_endpoint_security_group
    assert network.secrets_manager_endpoint.connections.security_groups == [endpoint_group]
    dev.template(network).has_resource_properties(
        "AWS::EC2::SecurityGroupIngress",
        {
            "GroupId": {
                "Fn::GetAtt": [network.resolve(endpoint_group.node.default_child.logical_id), "GroupId"]
            },
            "SourceSecurityGroupId": {
                "Fn::GetAtt": [
                    network.resolve(network.application_security_group.node.default_child.logical_id),
                    "GroupId",
                ]
            },
            "FromPort": 443,
            "ToPort": 443,
        },
    )
