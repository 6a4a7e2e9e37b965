"""Config of the application and edge tiers: function timeouts and the CloudFront-only (us-east-1) ARNs."""

from __future__ import annotations

import pytest

from config import ConfigError, load_environment, parse_environment
from config.environments import ENVIRONMENTS


def test_function_timeouts_have_defaults_within_lambdas_limit():
    functions = load_environment("dev").functions
    assert functions.warmer_timeout_seconds == 120
    assert functions.schema_seed_timeout_seconds == 300


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("warmer_timeout_seconds", 901, "from 10 to 900"),
        ("schema_seed_timeout_seconds", 10, "from 30 to 900"),
    ],
)
def test_function_timeouts_outside_lambdas_range_are_rejected(key, value, allowed):
    raw = {**ENVIRONMENTS["dev"], "functions": {**ENVIRONMENTS["dev"]["functions"], key: value}}
    with pytest.raises(ConfigError, match=rf"environments\.dev\.functions\.{key}: {value} .*{allowed}"):
        parse_environment("dev", raw)


@pytest.mark.parametrize(
    ("edge", "message"),
    [
        ({"waf_web_acl_arn": "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/x/1"}, "us-east-1"),
        ({"certificate_arn": "arn:aws:acm:eu-west-1:123456789012:certificate/1"}, "us-east-1"),
        ({"domain_name": "shop.example.com"}, "domain_name and certificate_arn together"),
    ],
)
def test_edge_resources_outside_us_east_1_or_half_configured_are_rejected(edge, message):
    with pytest.raises(ConfigError, match=message):
        parse_environment("dev", {**ENVIRONMENTS["dev"], "edge": edge})
