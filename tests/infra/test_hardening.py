"""The `security` switches, on by default in every environment: customer-managed keys for log groups,
secrets, the table, the database and the alarm topic; versioned site and log buckets. (The web ACLs are in
test_api_web_acl.py and test_edge_stack.py; the switches-off variant in test_compliance.py.)"""

from __future__ import annotations

import aws_cdk as cdk
import pytest

from config import ENVIRONMENT_NAMES
from tests.infra.conftest import stack_label
from tests.infra.templates import resources_of_type


def _resources(env, resource_type: str) -> dict[str, tuple[cdk.Stack, dict]]:
    return {
        f"{stack_label(stack)}/{logical_id}": (stack, resource)
        for stack in env.stacks()
        for logical_id, resource in resources_of_type(env.template(stack).to_json(), resource_type).items()
    }


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_the_switches_are_on_by_default(synthesized, name):
    security = synthesized[name].config.security
    assert security.customer_managed_keys and security.bucket_versioning and security.web_acls


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_every_log_group_is_encrypted_with_its_stacks_own_key(synthesized, name):
    env = synthesized[name]
    groups = _resources(env, "AWS::Logs::LogGroup")
    assert len(groups) >= 10
    for path, (stack, group) in groups.items():
        key = group["Properties"].get("KmsKeyId")
        assert key is not None and "Fn::GetAtt" in key, path
        keys = resources_of_type(env.template(stack).to_json(), "AWS::KMS::Key")
        assert key["Fn::GetAtt"][0] in keys, path  # a key of the same stack, no cross-stack key for logs


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_secrets_table_database_and_cache_use_the_data_tier_key(synthesized, name):
    env = synthesized[name]
    data = env.template(env.stage.data).to_json()
    (key_id,) = [k for k in resources_of_type(data, "AWS::KMS::Key") if k.startswith("Key")]
    key = {"Fn::GetAtt": [key_id, "Arn"]}
    secrets = resources_of_type(data, "AWS::SecretsManager::Secret").values()
    expected = 2 if env.config.cache.auth == "token" else 1  # the database's, and the cache token's if any
    assert len(secrets) == expected and all(s["Properties"]["KmsKeyId"] == key for s in secrets)
    (table,) = resources_of_type(data, "AWS::DynamoDB::Table").values()
    assert table["Properties"]["SSESpecification"] == {
        "KMSMasterKeyId": key,
        "SSEEnabled": True,
        "SSEType": "KMS",
    }
    writers = [
        r
        for r in resources_of_type(data, "AWS::RDS::DBInstance").values()
        if "SourceDBInstanceIdentifier" not in r["Properties"]
    ]
    assert writers[0]["Properties"]["KmsKeyId"] == key
    (group,) = resources_of_type(data, "AWS::ElastiCache::ReplicationGroup").values()
    assert group["Properties"]["KmsKeyId"] == key


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_every_key_rotates_and_grants_only_to_aws_services(synthesized, name):
    env = synthesized[name]
    keys = _resources(env, "AWS::KMS::Key")
    # Each secondary region repeats Network, Data, Api and Monitoring; the refill function logs under a key
    # of the GlobalDatastore stack.
    expected = {"Network", "Data", "Api", "Edge", "Monitoring"}
    if env.config.global_datastore.secondary_regions:
        expected.add("GlobalDatastore")
    assert {stack.node.id for stack, _ in keys.values()} == expected
    for path, (_, key) in keys.items():
        assert key["Properties"]["EnableKeyRotation"] is True, path
        (deny,) = [s for s in key["Properties"]["KeyPolicy"]["Statement"] if s.get("Effect") == "Deny"]
        assert deny["Action"] == "kms:CreateGrant", path
        assert deny["Condition"] == {
            "BoolIfExists": {"kms:GrantIsForAWSResource": "false", "aws:PrincipalIsAWSService": "false"}
        }


def test_keys_of_kept_data_are_kept_and_the_dev_ones_go(synthesized):
    for name, policy in (("dev", "Delete"), ("prod", "Retain")):
        env = synthesized[name]
        data = env.template(env.stage.data).to_json()
        (key,) = [k for i, k in resources_of_type(data, "AWS::KMS::Key").items() if i.startswith("Key")]
        assert key["DeletionPolicy"] == policy, name


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_the_alarm_topic_has_a_customer_managed_key(synthesized, name):
    env = synthesized[name]
    (topic,) = resources_of_type(env.template(env.stage.monitoring).to_json(), "AWS::SNS::Topic").values()
    assert "Fn::GetAtt" in topic["Properties"]["KmsMasterKeyId"]


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_site_and_log_buckets_are_versioned_and_old_versions_expire(synthesized, name):
    env = synthesized[name]
    buckets = resources_of_type(env.template(env.stage.edge).to_json(), "AWS::S3::Bucket").values()
    assert len(buckets) == 2
    days = env.config.security.noncurrent_version_days
    for bucket in buckets:
        properties = bucket["Properties"]
        assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
        rules = properties["LifecycleConfiguration"]["Rules"]
        assert {"NoncurrentVersionExpiration": {"NoncurrentDays": days}, "Status": "Enabled"} in rules


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_public_subnets_never_hand_out_public_addresses(synthesized, name):
    env = synthesized[name]
    subnets = resources_of_type(env.template(env.stage.network).to_json(), "AWS::EC2::Subnet").values()
    assert all(subnet["Properties"]["MapPublicIpOnLaunch"] is False for subnet in subnets)
