"""The regional API stage is reachable directly, not only through CloudFront: a configured regional web ACL
is attached to the stage, and without one the cdk-nag APIG3 suppression says so truthfully."""

from __future__ import annotations

import dataclasses

import pytest
from aws_cdk.assertions import Annotations, Match, Template

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


def test_without_a_regional_acl_the_apig3_suppression_says_the_stage_is_reachable_directly(dev):
    assert dev.config.api.waf_web_acl_arn is None
    template = dev.template(dev.stage.api)
    template.resource_count_is("AWS::WAFv2::WebACLAssociation", 0)
    (suppression,) = _apig3_suppressions(template.to_json())
    reason = suppression["reason"]
    assert "reachable directly" in reason and "api.waf_web_acl_arn" in reason
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


def test_with_a_regional_acl_apig3_is_satisfied_rather_than_suppressed(with_regional_acl):
    api, template = with_regional_acl
    assert _apig3_suppressions(template.to_json()) == []
    annotations = Annotations.from_stack(api)
    apig3 = Match.string_like_regexp(r"^AwsSolutions-APIG3")
    assert [*annotations.find_error("*", apig3), *annotations.find_warning("*", apig3)] == []


def test_a_cloudfront_scoped_acl_is_refused_for_the_regional_stage():
    raw = {
        **ENVIRONMENTS["dev"],
        "api": {"waf_web_acl_arn": "arn:aws:wafv2:us-east-1:123456789012:global/webacl/x/1"},
    }
    with pytest.raises(ConfigError, match=r"api\.waf_web_acl_arn: .*regional WAFv2 web ACL ARN"):
        parse_environment("dev", raw)
