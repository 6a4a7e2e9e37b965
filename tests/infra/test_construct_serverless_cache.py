"""``ServerlessCache`` on its own: secure defaults, IAM users and grants, the metrics' dimension, and one test
per invalid prop."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Match, Template
from bare_stack import bare_stack, isolated_subnet_refs

from caching_constructs.core.rules import InvalidValue
from caching_constructs.elasticache.cache_access import PRODUCT_API
from caching_constructs.elasticache.serverless_cache import METRIC_DIMENSION, SERVERLESS_PORT, ServerlessCache


def _cache(**props):
    stack, vpc = bare_stack()
    return stack, vpc, ServerlessCache(stack, "Cache", vpc=vpc, **props)


def test_by_default_it_is_valkey_8_in_the_isolated_subnets_behind_a_closed_group_with_users_only():
    stack, vpc, cache = _cache()
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::ElastiCache::ServerlessCache",
        {
            "Engine": "valkey",
            "MajorEngineVersion": "8",
            "SubnetIds": isolated_subnet_refs(stack, vpc),
            "UserGroupId": {"Ref": Match.string_like_regexp("CacheUsers")},
            "SnapshotRetentionLimit": 1,
            "DailySnapshotTime": "03:00",
            "CacheUsageLimits": {
                "DataStorage": {"Maximum": 10, "Unit": "GB"},
                "ECPUPerSecond": {"Maximum": 5000},
            },
        },
    )
    template.has_resource("AWS::ElastiCache::ServerlessCache", {"DeletionPolicy": "Retain"})
    template.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {"SecurityGroupEgress": [Match.object_like({"CidrIp": "255.255.255.255/32"})]},
    )
    assert cache.port == SERVERLESS_PORT and cache.cluster_mode_enabled and cache.auth_token_secret is None


def test_a_snapshot_removal_policy_becomes_a_named_final_snapshot():
    stack, _, cache = _cache(removal_policy=cdk.RemovalPolicy.SNAPSHOT)
    template = Template.from_stack(stack)
    template.has_resource(
        "AWS::ElastiCache::ServerlessCache",
        {
            "DeletionPolicy": "Delete",
            "Properties": Match.object_like({"FinalSnapshotName": f"{cache.cache_name}-final"}),
        },
    )


def test_a_caller_connects_as_its_own_user_to_this_cache_only():
    stack, _, cache = _cache()
    role = iam.Role(stack, "Caller", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    user = cache.add_iam_user("ProductApi", access_string=PRODUCT_API.access_string(cluster_mode=True))
    user.grant_connect(role)
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::ElastiCache::User",
        {"UserId": f"{cache.cache_name}-productapi", "AuthenticationMode": {"Type": "iam"}},
    )
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [
                    {
                        "Action": "elasticache:Connect",
                        "Effect": "Allow",
                        "Resource": [stack.resolve(cache.cache_arn), stack.resolve(user.user_arn)],
                    }
                ]
            }
        },
    )


def test_metrics_are_published_under_the_cache_s_name_as_cluster_id():
    stack, _, cache = _cache()
    for metric in (cache.metric_ecpus(), cache.metric_bytes_used_for_cache(), cache.metric_throttled_cmds()):
        assert stack.resolve(metric.dimensions) == {METRIC_DIMENSION: cache.cache_name}
    assert cache.metric_ecpus().metric_name == "ElastiCacheProcessingUnits"


@pytest.mark.parametrize(
    ("props", "prop"),
    [
        ({"engine": "memcached"}, "engine"),
        ({"engine": "redis", "engine_version": "6.2"}, "engine_version"),
        ({"engine": "valkey", "engine_version": "9"}, "engine_version"),
        ({"max_data_storage_gb": 0}, "max_data_storage_gb"),
        ({"max_data_storage_gb": 5001}, "max_data_storage_gb"),
        ({"max_ecpu_per_second": 999}, "max_ecpu_per_second"),
        ({"snapshot_retention_days": 36}, "snapshot_retention_days"),
        ({"daily_snapshot_time": "25:00"}, "daily_snapshot_time"),
    ],
)
def test_each_invalid_prop_is_refused_naming_it_and_its_value(props, prop):
    with pytest.raises(InvalidValue) as error:
        _cache(**props)
    assert error.value.name == prop and str(error.value).startswith(f"{prop}: ")
