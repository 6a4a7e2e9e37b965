"""Config fields and cross-field checks the data tier added, each bad combination with its own error."""

from __future__ import annotations

import copy

import pytest

from config import ConfigError, load_environment, parse_environment
from config.environments import ENVIRONMENTS


def _with(name: str, section: str, **settings) -> dict:
    raw = copy.deepcopy(ENVIRONMENTS[name])
    raw[section] = {**raw.get(section, {}), **settings}
    return raw


def test_database_log_retention_defaults_to_a_month():
    assert load_environment("dev").database.log_retention_days == 30


def test_database_log_retention_only_takes_cloudwatch_values():
    with pytest.raises(ConfigError, match=r"database\.log_retention_days: 45 .*one of 7, 14, 30"):
        parse_environment("dev", _with("dev", "database", log_retention_days=45))


def test_performance_insights_is_refused_on_small_classes():
    raw = _with("staging", "database", instance_class="t4g.small", performance_insights=True)
    with pytest.raises(ConfigError, match=r"database\.performance_insights: True .*false for 't4g\.small'"):
        parse_environment("staging", raw)


def test_one_of_performance_insights_or_enhanced_monitoring_must_be_on():
    raw = _with("dev", "database", performance_insights=False, monitoring_interval_seconds=0)
    with pytest.raises(
        ConfigError, match=r"database\.monitoring_interval_seconds: 0 .*when performance_insights"
    ):
        parse_environment("dev", raw)


def test_prod_uses_performance_insights_and_dev_enhanced_monitoring():
    assert load_environment("prod").database.performance_insights
    dev = load_environment("dev").database
    assert not dev.performance_insights and dev.monitoring_interval_seconds > 0


@pytest.mark.parametrize("version", ["1.6", "1.6.6", "1.6.11"])
def test_memcached_needs_a_full_version_with_tls(version):
    raw = _with("dev", "cache", engine="memcached", engine_version=version)
    with pytest.raises(ConfigError, match=rf"cache\.engine_version: '{version}' .*from 1\.6\.12"):
        parse_environment("dev", raw)


def test_memcached_with_a_tls_version_loads():
    raw = _with("dev", "cache", engine="memcached", engine_version="1.6.22", num_shards=3)
    raw["functions"] = {**raw["functions"], "l1_enabled": False}  # dev's near cache needs Redis pub/sub
    config = parse_environment("dev", raw)
    assert config.cache.engine == "memcached" and not config.cache.automatic_failover


@pytest.mark.parametrize(("engine", "version"), [("redis", "6.2"), ("redis", "6.0")])
def test_iam_auth_below_engine_version_7_is_refused_in_one_line_naming_cache_auth(engine, version):
    raw = _with("dev", "cache", engine=engine, engine_version=version)  # auth: iam, the default
    with pytest.raises(ConfigError) as error:
        parse_environment("dev", raw)
    assert str(error.value) == (
        f"environments.dev.cache.auth: 'iam' is not allowed; expected 'token' with {engine} {version} "
        "(IAM auth needs 7 or later)"
    )


def test_the_auth_token_stays_available_below_engine_version_7_when_chosen():
    raw = _with("dev", "cache", engine="redis", engine_version="6.2", auth="token")
    assert parse_environment("dev", raw).cache.auth == "token"
