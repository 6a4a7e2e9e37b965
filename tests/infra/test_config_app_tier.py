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


def test_writes_invalidate_remember_keys_a_day_and_never_invalidate_cloudfront_by_default():
    config = load_environment("prod")
    assert config.functions.product_write_mode == "invalidate"
    assert config.functions.idempotency_ttl_hours == 24
    assert config.edge.invalidate_on_write is False


@pytest.mark.parametrize(
    ("section", "key", "value", "allowed"),
    [
        ("functions", "product_write_mode", "write-behind", "one of 'invalidate', 'write-through'"),
        ("functions", "idempotency_ttl_hours", 0, "an integer from 1 to 720"),
        ("functions", "idempotency_ttl_hours", 721, "an integer from 1 to 720"),
        ("functions", "idempotency_ttl_hours", "24", "an integer"),
        ("edge", "invalidate_on_write", "yes", "true or false"),
    ],
)
def test_bad_write_settings_stop_synth_with_one_line_naming_the_key(section, key, value, allowed):
    raw = {**ENVIRONMENTS["dev"], section: {**ENVIRONMENTS["dev"].get(section, {}), key: value}}
    with pytest.raises(ConfigError) as raised:
        parse_environment("dev", raw)
    message = str(raised.value)
    assert "\n" not in message
    assert message == f"environments.dev.{section}.{key}: {value!r} is not allowed; expected {allowed}"


def test_the_write_settings_mean_what_the_handler_reads():
    """The config offers exactly the handler's write modes, and its default TTL is the handler's own."""
    from caching_contract.http import WRITE_MODES as modes
    from config.schema import FunctionsConfig
    from stacks.lambda_assets import LAMBDA_ROOT

    field = FunctionsConfig.__dataclass_fields__["product_write_mode"]
    assert field.metadata["check"]("invalidate") is None
    assert [mode for mode in (*modes, "other") if field.metadata["check"](mode) is None] == list(modes)
    assert field.default == modes[0]  # the handler's own default
    default_hours = FunctionsConfig.__dataclass_fields__["idempotency_ttl_hours"].default
    idempotency = (LAMBDA_ROOT / "functions" / "idempotency.py").read_text()
    assert f"DEFAULT_TTL_SECONDS = {default_hours} * 3600" in idempotency
    source = (LAMBDA_ROOT / "functions" / "product_api.py").read_text()
    assert "os.environ.get(variables.PRODUCT_WRITE_MODE" in source
    assert "os.environ.get(variables.IDEMPOTENCY_TTL_SECONDS" in source
