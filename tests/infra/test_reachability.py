"""Network reachability, read from the synthesized templates of a whole stage: per function, exactly the peers
and ports it uses and nothing else, in both directions.

A function reaches a peer on a port when its own security group has an egress rule to the peer's group on
that port *and* the peer's group has the matching ingress rule from the function's group. Groups are found
through the resources that use them (the function's VpcConfig, the cache's SecurityGroupIds, ...) and
followed across stacks through ``Fn::GetStackOutput``, so the test reads the same way whatever construct or
stack creates a group or a rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from caching_constructs.core.rules import SERVERLESS
from caching_constructs.elasticache.serverless_cache import SERVERLESS_PORT
from config import ENVIRONMENT_NAMES, load_environment
from tests.infra.templates import resources_of_type

Group = tuple[str, str]
"""A security group: (stack name, logical id)."""
Path = tuple[str, str]
"""What a rule opens: (peer, port), e.g. ("cache", "tcp/6380")."""

DAX_TLS_PORT = 9111
NO_TRAFFIC = {"CidrIp": "255.255.255.255/32", "IpProtocol": "icmp", "FromPort": 252, "ToPort": 86}
"""The CDK's placeholder egress rule of a group that must have none (it matches no packet)."""
DEFAULT_EGRESS: Path = ("anywhere (EC2's default egress)", "all traffic")
FUNCTIONS = ("product_api", "cache_warmer", "schema_seed", "dax_demo", "database rotation")


def expected_paths(config) -> dict[str, set[Path]]:
    """The reachability table (README, "Functions"): what each function needs, from its code."""
    # Serverless fixes its endpoint's port; cache.port keeps its (unused) default there.
    cache_port = SERVERLESS_PORT if config.cache.mode == SERVERLESS else config.cache.port
    cache = ("cache", f"tcp/{cache_port}")
    database = ("database", f"tcp/{config.database.port}")
    secrets = ("Secrets Manager endpoint", "tcp/443")
    paths = {
        "product_api": {cache, database, secrets, ("SQS endpoint", "tcp/443")},
        "cache_warmer": {cache, database, secrets},
        "schema_seed": {database, secrets},  # functions/schema_seed.py never opens Redis
        "dax_demo": {("dax", f"tcp/{DAX_TLS_PORT}")},
        "database rotation": {database, secrets},
    }
    if config.global_datastore.secondary_regions:
        # The GlobalDatastore stack's refill function fills the primary's cache from its writer.
        paths["secondary_refill"] = {cache, database, secrets}
    return paths


class StageNetwork:
    """Every security group and rule of one synthesized stage, with names for the groups that matter."""

    def __init__(self, env, region: str | None = None) -> None:
        """The primary region's stacks, or with ``region`` a Global Datastore secondary region's: each region
        is a VPC of its own, and no security group rule crosses regions."""
        stacks = [
            stack
            for stack in env.stacks()
            if (stack.node.scope is env.stage if region is None else stack.region == region)
        ]
        self.templates = {stack.stack_name: env.template(stack).to_json() for stack in stacks}
        self.names: dict[Group, str] = {}
        self.function_groups: dict[str, list[Group]] = {}
        self._name_groups()
        self.egress: dict[Group, set[Path]] = {}
        self.ingress: dict[Group, set[tuple[Group | str, str]]] = {}
        self._collect_rules()

    # --- groups -----------------------------------------------------------------------------------------

    def _resolve(self, stack: str, value: Any) -> list[Group]:
        """The groups a value names: a list, a comma join, a GetAtt or Ref, or another stack's output."""
        if isinstance(value, list):
            return [group for item in value for group in self._resolve(stack, item)]
        if "Fn::Join" in value:
            return [
                group for item in value["Fn::Join"][1] if item != "," for group in self._resolve(stack, item)
            ]
        if "Fn::GetAtt" in value:
            return [(stack, value["Fn::GetAtt"][0])]
        if "Ref" in value:
            return [(stack, value["Ref"])]
        if "Fn::GetStackOutput" in value:
            producer = value["Fn::GetStackOutput"]["StackName"]
            output = self.templates[producer]["Outputs"][value["Fn::GetStackOutput"]["OutputName"]]
            return self._resolve(producer, output["Value"])
        raise AssertionError(f"cannot follow {value!r} to a security group")

    def _name(self, stack: str, value: Any, name: str) -> list[Group]:
        groups = self._resolve(stack, value)
        for group in groups:
            self.names.setdefault(group, name)
        return groups

    def _name_groups(self) -> None:
        for stack, template in self.templates.items():
            for kind, key, name in (
                ("AWS::ElastiCache::ReplicationGroup", "SecurityGroupIds", "cache"),
                ("AWS::ElastiCache::CacheCluster", "VpcSecurityGroupIds", "cache"),  # Memcached
                ("AWS::ElastiCache::ServerlessCache", "SecurityGroupIds", "cache"),
                ("AWS::RDS::DBInstance", "VPCSecurityGroups", "database"),
                ("AWS::DAX::Cluster", "SecurityGroupIds", "dax"),
            ):
                for resource in resources_of_type(template, kind).values():
                    self._name(stack, resource["Properties"][key], name)
            for endpoint in resources_of_type(template, "AWS::EC2::VPCEndpoint").values():
                service = str(endpoint["Properties"]["ServiceName"])
                for suffix, name in (
                    (".secretsmanager", "Secrets Manager endpoint"),
                    (".sqs", "SQS endpoint"),
                ):
                    if suffix in service:
                        self._name(stack, endpoint["Properties"]["SecurityGroupIds"], name)
            for function in resources_of_type(template, "AWS::Lambda::Function").values():
                handler = function["Properties"].get("Handler", "")
                if handler.startswith("functions.") and "VpcConfig" in function["Properties"]:
                    name = handler.split(".")[1]
                    groups = self._name(stack, function["Properties"]["VpcConfig"]["SecurityGroupIds"], name)
                    self.function_groups[name] = groups
            for rotation in resources_of_type(template, "AWS::SecretsManager::RotationSchedule").values():
                hosted = rotation["Properties"]["HostedRotationLambda"]
                groups = self._name(stack, hosted["VpcSecurityGroupIds"], "database rotation")
                self.function_groups["database rotation"] = groups

    def name(self, group: Group | str) -> str:
        if isinstance(group, str):
            return group  # an address range
        return self.names.get(group, f"{group[0]}/{group[1]}")

    # --- rules ------------------------------------------------------------------------------------------

    def _collect_rules(self) -> None:
        """Every rule, as (group, peer, port). A group with no egress rule at all keeps EC2's default."""
        explicit_egress: set[Group] = set()
        for stack, template in self.templates.items():
            for logical_id, resource in resources_of_type(template, "AWS::EC2::SecurityGroup").items():
                group = (stack, logical_id)
                self.egress.setdefault(group, set())
                self.ingress.setdefault(group, set())
                inline_egress = resource["Properties"].get("SecurityGroupEgress")
                if inline_egress is not None:
                    explicit_egress.add(group)
                    for rule in inline_egress:
                        if {key: rule.get(key) for key in NO_TRAFFIC} != NO_TRAFFIC:
                            self.egress[group].add((rule.get("CidrIp") or rule.get("CidrIpv6"), _ports(rule)))
                for rule in resource["Properties"].get("SecurityGroupIngress", []):
                    self.ingress[group].add((self._peer(stack, rule, "Source"), _ports(rule)))
            for rule in resources_of_type(template, "AWS::EC2::SecurityGroupEgress").values():
                props = rule["Properties"]
                (group,) = self._resolve(stack, props["GroupId"])
                explicit_egress.add(group)
                self.egress.setdefault(group, set()).add(
                    (self._peer(stack, props, "Destination"), _ports(props))
                )
            for rule in resources_of_type(template, "AWS::EC2::SecurityGroupIngress").values():
                props = rule["Properties"]
                (group,) = self._resolve(stack, props["GroupId"])
                self.ingress.setdefault(group, set()).add((self._peer(stack, props, "Source"), _ports(props)))
        for group in set(self.egress) - explicit_egress:
            self.egress[group].add(DEFAULT_EGRESS)

    def _peer(self, stack: str, rule: dict, direction: str) -> Group | str:
        if f"{direction}SecurityGroupId" in rule:
            (group,) = self._resolve(stack, rule[f"{direction}SecurityGroupId"])
            return group
        return rule.get("CidrIp") or rule.get("CidrIpv6") or rule.get("DestinationPrefixListId") or "?"

    # --- reachability -----------------------------------------------------------------------------------

    def egress_of(self, function: str) -> set[Path]:
        return {
            (self.name(peer), port)
            for group in self.function_groups[function]
            for peer, port in self.egress[group]
        }

    def admitted(self, function: str) -> set[Path]:
        """Where an ingress rule names the function's group as its source."""
        groups = set(self.function_groups[function])
        return {
            (self.name(group), port)
            for group, rules in self.ingress.items()
            for source, port in rules
            if source in groups
        }

    def reaches(self, function: str) -> set[Path]:
        return self.egress_of(function) & self.admitted(function)

    def ingress_into(self, function: str) -> set[Path]:
        return {
            (self.name(source), port)
            for group in self.function_groups[function]
            for source, port in self.ingress[group]
        }

    def callers_of(self, peer: str) -> set[str]:
        return {
            self.name(source)
            for group, rules in self.ingress.items()
            if self.name(group) == peer
            for source, _ in rules
        }


def _ports(rule: dict) -> str:
    protocol = str(rule.get("IpProtocol"))
    if protocol == "-1":
        return "all traffic"
    low, high = rule.get("FromPort"), rule.get("ToPort")
    return f"{protocol}/{low}" if low == high else f"{protocol}/{low}-{high}"


MEMCACHED_STAGE = "staging on memcached"
SERVERLESS_STAGE = "staging on serverless"


@pytest.fixture(scope="module", params=[*ENVIRONMENT_NAMES, MEMCACHED_STAGE, SERVERLESS_STAGE])
def network(request, synthesized) -> Iterator[tuple[StageNetwork, dict[str, set[Path]]]]:
    """Every shipped environment, staging with ``cache.engine: memcached`` (``memcached_stage.py``) and
    staging with ``cache.mode: serverless`` (``serverless_stage.py``)."""
    if request.param == MEMCACHED_STAGE:
        env = request.getfixturevalue("staging_memcached")
    elif request.param == SERVERLESS_STAGE:
        env = request.getfixturevalue("staging_serverless")
    else:
        env = synthesized[request.param]
    yield StageNetwork(env), expected_paths(env.config)


def test_every_function_in_the_vpc_is_known_and_has_a_security_group_of_its_own(network):
    stage, expected = network
    assert sorted(stage.function_groups) == sorted(expected)
    for function, groups in stage.function_groups.items():
        others = {group for name, own in stage.function_groups.items() if name != function for group in own}
        assert len(groups) == 1 and not set(groups) & others, (function, groups)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_function_reaches_exactly_the_peers_and_ports_it_uses(network, function):
    stage, expected = network
    assert stage.reaches(function) == expected[function]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_function_has_no_egress_and_is_admitted_nowhere_beyond_what_it_uses(network, function):
    """Half a path is still a rule too many: an egress rule nothing admits, or an ingress rule for a group
    that has no egress to it, opens as soon as the other half appears."""
    stage, expected = network
    assert stage.egress_of(function) == expected[function]
    assert stage.admitted(function) == expected[function]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_nothing_can_connect_to_a_function(network, function):
    stage, _ = network
    assert stage.ingress_into(function) == set()


@pytest.mark.parametrize("peer", ["cache", "database", "dax", "Secrets Manager endpoint", "SQS endpoint"])
def test_a_data_store_or_endpoint_admits_only_the_functions_that_use_it(network, peer):
    stage, expected = network
    users = {function for function, paths in expected.items() if any(name == peer for name, _ in paths)}
    assert stage.callers_of(peer) == users


def expected_secondary_paths(config) -> dict[str, set[Path]]:
    """A secondary region's product API (``SecondaryProductApi``): its cache member and database replica,
    the Secrets Manager endpoint, and HTTPS out through the NAT gateways to SQS in the primary region
    (interface endpoints serve their own region only)."""
    return {
        "product_api": {
            ("cache", f"tcp/{config.cache.port}"),
            ("database", f"tcp/{config.database.port}"),
            ("Secrets Manager endpoint", "tcp/443"),
            ("0.0.0.0/0", "tcp/443"),
        }
    }


SECONDARY_REGIONS = [
    (name, region)
    for name in ENVIRONMENT_NAMES
    for region in load_environment(name).global_datastore.secondary_regions
]


@pytest.fixture(scope="module", params=SECONDARY_REGIONS, ids=[f"{n}-{r}" for n, r in SECONDARY_REGIONS])
def secondary_network(request, synthesized) -> tuple[StageNetwork, dict[str, set[Path]]]:
    name, region = request.param
    env = synthesized[name]
    return StageNetwork(env, region), expected_secondary_paths(env.config)


def test_a_secondary_region_has_its_function_and_nothing_else_in_its_vpc(secondary_network):
    stage, expected = secondary_network
    assert sorted(stage.function_groups) == sorted(expected)
    assert all(len(groups) == 1 for groups in stage.function_groups.values())


def test_a_secondary_function_reaches_exactly_what_it_uses_and_nothing_reaches_it(secondary_network):
    stage, expected = secondary_network
    for function, paths in expected.items():
        assert stage.egress_of(function) == paths
        # The internet admits by having no security group: every other path needs the peer's ingress too.
        assert stage.admitted(function) == {path for path in paths if path[0] != "0.0.0.0/0"}
        assert stage.ingress_into(function) == set()


@pytest.mark.parametrize("peer", ["cache", "database", "Secrets Manager endpoint"])
def test_a_secondary_data_store_or_endpoint_admits_only_its_function(secondary_network, peer):
    stage, _ = secondary_network
    assert stage.callers_of(peer) == {"product_api"}
