"""IAM authentication on the replication group: the user group with its disabled default user, one user per
caller with the access string of ``caching_constructs.elasticache.cache_access``, and grants that name
only that user and that cache."""

from __future__ import annotations

import pytest
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Match, Template
from bare_stack import bare_stack

from caching_constructs.core.rules import InvalidValue
from caching_constructs.elasticache.cache_access import CACHE_WARMER, DISABLED_DEFAULT_USER, PRODUCT_API
from caching_constructs.elasticache.redis_replication_group import RedisReplicationGroup


def _group(**props):
    stack, vpc = bare_stack()
    group = RedisReplicationGroup(stack, "Cache", vpc=vpc, **props)
    return stack, group


def test_the_group_holds_a_disabled_default_user_and_no_secret_exists():
    stack, group = _group()
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::ElastiCache::User",
        {
            "UserName": "default",
            "AccessString": DISABLED_DEFAULT_USER,
            "Engine": "redis",
            "AuthenticationMode": {"Type": "no-password-required"},
        },
    )
    template.resource_count_is("AWS::SecretsManager::Secret", 0)
    assert group.auth_token_secret is None


def test_each_caller_gets_its_own_iam_user_with_its_access_string():
    stack, group = _group()
    api = group.add_iam_user("ProductApi", access_string=PRODUCT_API.access_string())
    group.add_iam_user("CacheWarmer", access_string=CACHE_WARMER.access_string())
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::ElastiCache::User",
        {
            "UserId": api.user_id,
            "UserName": api.user_id,  # IAM authentication requires id == name
            "AccessString": PRODUCT_API.access_string(),
            "AuthenticationMode": {"Type": "iam"},
        },
    )
    group_props = template.find_resources("AWS::ElastiCache::UserGroup")
    (props,) = [r["Properties"] for r in group_props.values()]
    assert len(props["UserIds"]) == 3 and props["Engine"] == "redis"


def test_grant_connect_names_only_the_users_arn_and_the_replication_group():
    stack, group = _group()
    user = group.add_iam_user("ProductApi", access_string=PRODUCT_API.access_string())
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    user.grant_connect(role)
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [
                    {
                        "Action": "elasticache:Connect",
                        "Effect": "Allow",
                        "Resource": [
                            {
                                "Fn::Join": [
                                    "",
                                    Match.array_with([":replicationgroup:", {"Ref": Match.any_value()}]),
                                ]
                            },
                            {"Fn::GetAtt": [Match.any_value(), "Arn"]},
                        ],
                    }
                ]
            }
        },
    )


def test_iam_auth_on_redis_6_is_refused_and_token_mode_cannot_add_users():
    with pytest.raises(InvalidValue, match="auth"):
        _group(engine_version="6.2")
    _, token = _group(auth="token")
    with pytest.raises(InvalidValue, match="'iam' to add IAM users"):
        token.add_iam_user("ProductApi", access_string=PRODUCT_API.access_string())
