"""The issue's done-when checks, over every stack of every environment: eviction policy from the one config
source, no data port open to an address range, every data store encrypted at rest and in transit, and no
secret value in any template."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import pytest

from config import ENVIRONMENT_NAMES, parse_environment
from config.environments import ENVIRONMENTS
from tests.infra.data_stage import data_stack_for
from tests.infra.templates import resources_of_type

DAX_TLS_PORT = 9111


def _templates(synthesized) -> Iterator[tuple[str, dict]]:
    for env in synthesized.values():
        for stack in env.stacks():
            yield stack.node.path, env.template(stack).to_json()


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_the_parameter_group_evicts_with_the_configured_policy(synthesized, name):
    env = synthesized[name]
    assert env.config.cache.maxmemory_policy == "allkeys-lru"
    (group,) = resources_of_type(
        env.template(env.stage.data).to_json(), "AWS::ElastiCache::ParameterGroup"
    ).values()
    assert group["Properties"]["Properties"]["maxmemory-policy"] == env.config.cache.maxmemory_policy


def _ingress_rules(template: dict) -> Iterator[dict]:
    for group in resources_of_type(template, "AWS::EC2::SecurityGroup").values():
        yield from group["Properties"].get("SecurityGroupIngress", [])
    for rule in resources_of_type(template, "AWS::EC2::SecurityGroupIngress").values():
        yield rule["Properties"]


def _opens(rule: dict, port: int) -> bool:
    return rule.get("IpProtocol") in ("-1", "tcp") and rule.get("FromPort", 0) <= port <= rule.get(
        "ToPort", 65535
    )


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_data_ports_admit_only_security_groups_one_rule_per_caller(synthesized, name):
    """Which callers, exactly, is tests/infra/test_reachability.py; here: never an address range."""
    env = synthesized[name]
    data_ports = {env.config.cache.port, env.config.database.port, DAX_TLS_PORT}
    rules = [
        (path, rule)
        for path, template in _templates({name: env})
        for rule in _ingress_rules(template)
        if any(_opens(rule, port) for port in data_ports)
    ]
    # cache: product API, warmer; database: those two, the schema step, the rotation function; DAX: the demo.
    # With secondary regions: the refill function to the cache and database, and in each secondary region
    # its product API to the cache member and the database replica.
    secondaries = len(env.config.global_datastore.secondary_regions)
    assert len(rules) == 2 + 4 + 1 + (2 + 2 * secondaries if secondaries else 0), rules
    for path, rule in rules:
        assert "CidrIp" not in rule and "CidrIpv6" not in rule, (path, rule)
        assert "SourceSecurityGroupId" in rule, (path, rule)


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_every_data_store_is_encrypted_at_rest_and_in_transit(synthesized, name):
    env = synthesized[name]
    template = env.template(env.stage.data).to_json()
    for group in resources_of_type(template, "AWS::ElastiCache::ReplicationGroup").values():
        props = group["Properties"]
        assert props["AtRestEncryptionEnabled"] is True
        assert props["TransitEncryptionEnabled"] is True
        assert props["TransitEncryptionMode"] == "required"
    parameter_groups = resources_of_type(template, "AWS::RDS::DBParameterGroup")
    for instance in resources_of_type(template, "AWS::RDS::DBInstance").values():
        props = instance["Properties"]
        # A replica's storage encryption is its source's (CloudFormation refuses the property on a replica).
        assert props.get("StorageEncrypted") is True or "SourceDBInstanceIdentifier" in props
        group = parameter_groups[props["DBParameterGroupName"]["Ref"]]
        assert group["Properties"]["Parameters"]["require_secure_transport"] == "ON"
    for cluster in resources_of_type(template, "AWS::DAX::Cluster").values():
        assert cluster["Properties"]["SSESpecification"] == {"SSEEnabled": True}
        assert cluster["Properties"]["ClusterEndpointEncryptionType"] == "TLS"
    for table in resources_of_type(template, "AWS::DynamoDB::Table").values():
        assert table["Properties"]["SSESpecification"]["SSEEnabled"] is True


# Keys whose value is a credential. Their value must be a dynamic reference or an intrinsic, never a literal.
_SECRET_KEY = re.compile(
    r"(master_?user_?|master_?|db_?|admin_?)?(password|passwd)|auth_?token|secret_?string|secret_?value"
    r"|passphrase|api_?key|private_?key",
    re.I,
)
# REDIS_IAM_AUTH is a switch ("true"), not a credential: IAM authentication is what removes the cache secret.
_SECRET_ENV_NAME = re.compile(r"(PASSWORD|TOKEN|SECRET|(?<!IAM_)AUTH)(?!_ARN)", re.I)
_LOOKS_LIKE_CREDENTIAL = [
    re.compile(r"AKIA[0-9A-Z]{16}"),  # access key id
    re.compile(r"(?i)(password|passwd|pwd|auth_token|requirepass)\s*[=:]\s*['\"]?[^\s{\"',)]{4,}"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
]


def _is_reference(value: Any) -> bool:
    if isinstance(value, str):
        return value.startswith("{{resolve:secretsmanager:") or value.startswith("{{resolve:ssm-secure:")
    if isinstance(value, dict) and len(value) == 1:
        ((function, args),) = value.items()
        if function == "Fn::Join":
            return any(isinstance(part, str) and "{{resolve:secretsmanager:" in part for part in args[1])
        return function in ("Ref", "Fn::GetAtt", "Fn::ImportValue", "Fn::GetStackOutput")
    return False


def _is_literal_secret(value: Any) -> bool:
    return isinstance(value, str) and value not in ("", "default") and not value.startswith("arn:")


def secret_leaks(node: Any, path: str = "") -> list[str]:
    """Every place in a template where a credential appears as a literal value."""
    leaks: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}/{key}"
            if _SECRET_KEY.fullmatch(key) and not _is_reference(value):
                leaks.append(f"{where}: literal credential")
            if key == "Variables" and isinstance(value, dict):
                leaks += [
                    f"{where}/{name}: secret-like environment variable with a literal value"
                    for name, env_value in value.items()
                    if _SECRET_ENV_NAME.search(name) and _is_literal_secret(env_value)
                ]
            leaks += secret_leaks(value, where)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            leaks += secret_leaks(item, f"{path}/{index}")
    elif isinstance(node, str):
        leaks += [
            f"{path}: matches {pattern.pattern}" for pattern in _LOOKS_LIKE_CREDENTIAL if pattern.search(node)
        ]
    return leaks


def test_no_template_holds_a_secret_value(synthesized):
    leaks = [f"{path}{leak}" for path, template in _templates(synthesized) for leak in secret_leaks(template)]
    assert leaks == []


def test_the_cache_has_no_shared_secret_and_the_master_password_is_a_dynamic_reference(dev):
    template = dev.template(dev.stage.data).to_json()
    (group,) = resources_of_type(template, "AWS::ElastiCache::ReplicationGroup").values()
    # IAM authentication (the default): the functions' roles are their credentials; no token exists.
    assert "AuthToken" not in group["Properties"] and group["Properties"]["UserGroupIds"]
    writer = [
        i
        for i in resources_of_type(template, "AWS::RDS::DBInstance").values()
        if "MasterUserPassword" in i["Properties"]
    ]
    assert len(writer) == 1 and _is_reference(writer[0]["Properties"]["MasterUserPassword"])


@pytest.mark.parametrize(
    "template",
    [
        {"Resources": {"Cache": {"Properties": {"AuthToken": "hunter2hunter2hunter2"}}}},
        {"Resources": {"Db": {"Properties": {"MasterUserPassword": {"Fn::Join": ["", ["pass", "word"]]}}}}},
        {"Resources": {"Fn": {"Properties": {"Environment": {"Variables": {"REDIS_PASSWORD": "s3cret!"}}}}}},
        {
            "Resources": {
                "Fn": {"Properties": {"Code": {"ZipFile": "client = Redis(password='s3cretvalue')"}}}
            }
        },
    ],
)
def test_the_secret_scan_catches_a_planted_secret(template):
    assert secret_leaks(template) != []


@pytest.fixture(scope="module")
def memcached_data(tmp_path_factory):
    raw = copy.deepcopy(ENVIRONMENTS["dev"])
    raw["cache"] = {"engine": "memcached", "engine_version": "1.6.22", "num_shards": 2, "port": 11212}
    raw["functions"] = {**raw["functions"], "l1_enabled": False}  # dev's near cache needs Redis pub/sub
    return data_stack_for(parse_environment("dev", raw), tmp_path_factory.mktemp("memcached"))


def test_memcached_is_selectable_and_encrypted_in_transit(memcached_data):
    from aws_cdk.assertions import Annotations, Match, Template

    template = Template.from_stack(memcached_data)
    template.resource_count_is("AWS::ElastiCache::ReplicationGroup", 0)
    template.has_resource_properties(
        "AWS::ElastiCache::CacheCluster",
        {
            "Engine": "memcached",
            "NumCacheNodes": 2,
            "AZMode": "cross-az",
            "Port": 11212,
            "TransitEncryptionEnabled": True,
        },
    )
    assert memcached_data.cache_auth_secret is None
    annotations = Annotations.from_stack(memcached_data)
    nag = Match.string_like_regexp(r"^AwsSolutions-")
    assert [*annotations.find_error("*", nag), *annotations.find_warning("*", nag)] == []
