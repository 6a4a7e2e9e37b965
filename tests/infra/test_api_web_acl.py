"""The regional API stage is reachable directly, not only through CloudFront: a configured regional web ACL
is attached to the stage, and without one the cdk-nag APIG3 suppression says so truthfully."""

from __future__ import annotations

import dataclasses

import pytest
from aws_cdk.assertions import Match, Template

from config import ConfigError, load_environment, parse_environment
from config.environments import ENVIRONMENTS
from stacks.stage import CachingStage
from tests.infra.conftest import new_app
from tests.infra.templates import resources_of_type

REGIONAL_ACL = "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/products/0a1b2c3d"


def _apig3_suppressions(template: dict) -> list[dict]:
    (stage,) = resources_of_type(template, "AWS::ApiGateway::Stage").values()
    rules = stage.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    return [rule for rule in rules if rule["id"] == "AwsSolutions-APIG3"]


def test_by_default_the_project_creates_a_regional_acl_and_attaches_it_to_the_stage(dev):
    assert dev.config.api.waf_web_acl_arn is None and dev.config.security.web_acls
    template = dev.template(dev.stage.api)
    (acl_id, acl), *_ = resources_of_type(template.to_json(), "AWS::WAFv2::WebACL").items()
    properties = acl["Properties"]
    assert properties["Scope"] == "REGIONAL" and properties["DefaultAction"] == {"Allow": {}}
    groups = [
        rule["Statement"]["ManagedRuleGroupStatement"]["Name"]
        for rule in properties["Rules"]
        if "ManagedRuleGroupStatement" in rule["Statement"]
    ]
    assert groups == [
        "AWSManagedRulesAmazonIpReputationList",
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesSQLiRuleSet",
    ]
    (rate,) = [rule for rule in properties["Rules"] if "RateBasedStatement" in rule["Statement"]]
    assert rate["Action"] == {"Block": {}}
    assert rate["Statement"]["RateBasedStatement"]["Limit"] == dev.config.security.waf_rate_limit
    template.has_resource_properties(
        "AWS::WAFv2::WebACLAssociation", {"WebACLArn": {"Fn::GetAtt": [acl_id, "Arn"]}}
    )
    assert _apig3_suppressions(template.to_json()) == []


def test_without_any_regional_acl_the_apig3_exemption_says_the_stage_is_reachable_directly(
    dev_without_hardening,
):
    template = dev_without_hardening.template(dev_without_hardening.stage.api)
    template.resource_count_is("AWS::WAFv2::WebACLAssociation", 0)
    template.resource_count_is("AWS::WAFv2::WebACL", 0)
    (suppression,) = _apig3_suppressions(template.to_json())
    reason = suppression["reason"]
    assert (
        "reachable directly" in reason and "api.waf_web_acl_arn" in reason and "security.web_acls" in reason
    )
    assert "writes require IAM" in reason
    assert "through CloudFront" not in reason


@pytest.fixture(scope="module")
def with_regional_acl(tmp_path_factory):
    base = load_environment("dev")
    config = dataclasses.replace(base, api=dataclasses.replace(base.api, waf_web_acl_arn=REGIONAL_ACL))
    app = new_app(tmp_path_factory.mktemp("acl"))
    stage = CachingStage(app, "dev", config=config)
    return stage.api, Template.from_stack(stage.api)


def test_a_configured_regional_acl_is_attached_to_the_api_stage(with_regional_acl):
    _, template = with_regional_acl
    (stage_id,) = resources_of_type(template.to_json(), "AWS::ApiGateway::Stage")
    (rest_api_id,) = resources_of_type(template.to_json(), "AWS::ApiGateway::RestApi")
    template.has_resource_properties(
        "AWS::WAFv2::WebACLAssociation",
        {
            "WebACLArn": REGIONAL_ACL,
            "ResourceArn": {
                "Fn::Join": [
                    "",
                    Match.array_with(
                        [Match.string_like_regexp(":apigateway:"), {"Ref": rest_api_id}, {"Ref": stage_id}]
                    ),
                ]
            },
        },
    )


def test_a_configured_regional_acl_replaces_the_projects_own(with_regional_acl):
    """APIG3 is satisfied rather than exempted (synth would fail on an unexempted finding)."""
    _, template = with_regional_acl
    assert _apig3_suppressions(template.to_json()) == []
    template.resource_count_is("AWS::WAFv2::WebACL", 0)


def test_a_cloudfront_scoped_acl_is_refused_for_the_regional_stage():
    raw = {
        **ENVIRONMENTS["dev"],
        "api": {"waf_web_acl_arn": "arn:aws:wafv2:us-east-1:123456789012:global/webacl/x/1"},
    }
    with pytest.raises(ConfigError, match=r"api\.waf_web_acl_arn: .*regional WAFv2 web ACL ARN"):
        parse_environment("dev", raw)
