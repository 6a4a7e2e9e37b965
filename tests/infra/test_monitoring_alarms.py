"""Monitoring alarms: every alarm exists with its configured threshold, watches the right resource through
the dimensions CloudWatch publishes, and notifies the encrypted topic whose subscriptions come from config."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from aws_cdk.assertions import Match, Template

from config import ENVIRONMENT_NAMES, load_environment
from config.schema import MonitoringConfig
from stacks.stage import CachingStage
from tests.infra.conftest import new_app
from tests.infra.monitoring_templates import (
    FUNCTIONS,
    alarms_by_name,
    topic_ref,
)
from tests.infra.templates import resources_of_type

# alarm id, severity, metric name, comparison, threshold from the config (None: computed, tested separately)
Threshold = Callable[[MonitoringConfig], float]
ALARMS: list[tuple[str, str, str, str, Threshold]] = [
    (
        "CacheHitRateLow",
        "warning",
        "CacheHitRate",
        "LessThanThreshold",
        lambda m: m.cache_hit_rate_warning * 100,
    ),
    ("CacheEvictions", "warning", "Evictions", "GreaterThanThreshold", lambda m: m.cache_evictions),
    (
        "CacheEngineCpuHigh",
        "critical",
        "EngineCPUUtilization",
        "GreaterThanThreshold",
        lambda m: m.cache_cpu_percent,
    ),
    (
        "CacheConnectionsHigh",
        "warning",
        "CurrConnections",
        "GreaterThanThreshold",
        lambda m: m.cache_connections,
    ),
    (
        "CacheMemoryHigh",
        "critical",
        "DatabaseMemoryUsagePercentage",
        "GreaterThanThreshold",
        lambda m: m.cache_memory_percent,
    ),
    (
        "DatabaseCpuHigh",
        "critical",
        "CPUUtilization",
        "GreaterThanThreshold",
        lambda m: m.database_cpu_percent,
    ),
    (
        "DatabaseFreeableMemoryLow",
        "critical",
        "FreeableMemory",
        "LessThanThreshold",
        lambda m: m.database_freeable_memory_mib * 1024 * 1024,
    ),
    (
        "DatabaseConnectionsHigh",
        "critical",
        "DatabaseConnections",
        "GreaterThanThreshold",
        lambda m: m.database_connections,
    ),
    (
        "DatabaseReplica1Lag",
        "critical",
        "ReplicaLag",
        "GreaterThanThreshold",
        lambda m: m.replica_lag_seconds,
    ),
    ("Api5xxErrors", "critical", "5XXError", "GreaterThanThreshold", lambda m: m.api_5xx_errors),
    ("ApiLatencyP99High", "critical", "Latency", "GreaterThanThreshold", lambda m: m.api_p99_latency_ms),
    (
        "DaxErrorRequests",
        "critical",
        "ErrorRequestCount",
        "GreaterThanThreshold",
        lambda m: m.dax_error_requests,
    ),
    (
        "ProductApiCacheErrors",
        "critical",
        "CacheError",
        "GreaterThanThreshold",
        lambda m: m.application_cache_errors,
    ),
    (
        "CacheWarmerCacheErrors",
        "critical",
        "CacheError",
        "GreaterThanThreshold",
        lambda m: m.application_cache_errors,
    ),
]
for _function in FUNCTIONS:
    ALARMS += [
        (
            f"{_function}Errors",
            "critical",
            "Errors",
            "GreaterThanOrEqualToThreshold",
            lambda m: m.function_errors,
        ),
        (
            f"{_function}Throttles",
            "critical",
            "Throttles",
            "GreaterThanOrEqualToThreshold",
            lambda m: m.function_throttles,
        ),
    ]


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
@pytest.mark.parametrize(
    ("alarm_id", "severity", "metric", "comparison", "threshold"), ALARMS, ids=[a[0] for a in ALARMS]
)
def test_each_alarm_exists_with_its_configured_threshold_and_notifies_the_topic(
    synthesized, name, alarm_id, severity, metric, comparison, threshold
):
    env = synthesized[name]
    config = env.config.monitoring
    alarm = alarms_by_name(env)[f"{name}-Monitoring-{severity}-{alarm_id}"]
    assert alarm["MetricName"] == metric
    assert alarm["ComparisonOperator"] == comparison
    assert alarm["Threshold"] == pytest.approx(threshold(config))
    assert alarm["Period"] == config.period_minutes * 60
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == config.evaluation_periods
    assert alarm["AlarmActions"] == alarm["OKActions"] == [topic_ref(env)]


def test_the_cache_hit_rate_warning_is_the_source_documents_80_percent(dev):
    assert dev.config.monitoring.cache_hit_rate_warning == 0.8
    assert alarms_by_name(dev)["dev-Monitoring-warning-CacheHitRateLow"]["Threshold"] == 80


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_lambda_p99_duration_alarms_sit_below_each_functions_timeout(synthesized, name):
    env = synthesized[name]
    functions = {
        "ProductApi": env.stage.api.product_api.function,
        "CacheWarmer": env.stage.api.cache_warmer.function,
        "SchemaSeed": env.stage.api.schema_seed.function,
        "DaxDemo": env.stage.api.dax_demo.function,
    }
    alarms = alarms_by_name(env)
    for function_name, function in functions.items():
        alarm = alarms[f"{name}-Monitoring-warning-{function_name}DurationP99High"]
        expected = (
            function.timeout.to_milliseconds()
            * env.config.monitoring.function_duration_percent_of_timeout
            / 100
        )
        assert (alarm["MetricName"], alarm["ExtendedStatistic"]) == ("Duration", "p99")
        assert alarm["Threshold"] == pytest.approx(expected)


def test_replication_lag_is_alarmed_only_where_there_are_replicas(dev, prod):
    assert dev.config.cache.replicas_per_shard == 0
    assert not any("CacheReplicationLag" in alarm for alarm in alarms_by_name(dev))
    lag = alarms_by_name(prod)["prod-Monitoring-critical-CacheReplicationLag"]
    assert lag["Threshold"] == prod.config.monitoring.cache_replication_lag_seconds
    replicas = [alarm for alarm in alarms_by_name(prod) if "DatabaseReplica" in alarm]
    assert len(replicas) == prod.config.database.read_replica_count


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_every_alarm_notifies_the_topic_and_none_watches_cloudfront_from_the_wrong_region(synthesized, name):
    env = synthesized[name]
    for alarm in alarms_by_name(env).values():
        assert alarm["AlarmActions"] == [topic_ref(env)]
        assert alarm.get("Namespace") != "AWS/CloudFront"


def test_thresholds_and_period_follow_each_environments_config(dev, prod):
    assert alarms_by_name(prod)["prod-Monitoring-critical-DatabaseConnectionsHigh"]["Threshold"] == 1000
    assert alarms_by_name(dev)["dev-Monitoring-critical-DatabaseConnectionsHigh"]["Threshold"] == 60
    assert alarms_by_name(prod)["prod-Monitoring-critical-Api5xxErrors"]["Period"] == 60
    assert alarms_by_name(dev)["dev-Monitoring-critical-Api5xxErrors"]["Period"] == 300


def test_the_alarm_topic_is_kms_encrypted_with_a_rotated_key_cloudwatch_can_use(dev):
    template = dev.template(dev.stage.monitoring)
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    template.has_resource_properties(
        "AWS::KMS::Key",
        {
            "EnableKeyRotation": True,
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                            }
                        )
                    ]
                )
            },
        },
    )
    # Publishing over plain HTTP is denied.
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {"PolicyDocument": {"Statement": Match.array_with([Match.object_like({"Effect": "Deny"})])}},
    )


def test_email_subscriptions_come_from_the_config(tmp_path):
    base = load_environment("dev")
    emails = ("oncall@example.com", "platform@example.com")
    config = dataclasses.replace(base, monitoring=dataclasses.replace(base.monitoring, alarm_emails=emails))
    app = new_app(tmp_path)
    stage = CachingStage(app, "dev", config=config)
    template = Template.from_stack(stage.monitoring)
    subscriptions = resources_of_type(template.to_json(), "AWS::SNS::Subscription").values()
    assert sorted(s["Properties"]["Endpoint"] for s in subscriptions) == list(emails)
    assert {s["Properties"]["Protocol"] for s in subscriptions} == {"email"}


def test_no_subscriptions_without_configured_emails(dev):
    assert dev.config.monitoring.alarm_emails == ()
    dev.template(dev.stage.monitoring).resource_count_is("AWS::SNS::Subscription", 0)


def _dimensions(alarm: dict) -> dict:
    return {dimension["Name"]: dimension["Value"] for dimension in alarm["Dimensions"]}


def _rest_api_name(env) -> str:
    (rest_api,) = resources_of_type(
        env.template(env.stage.api).to_json(), "AWS::ApiGateway::RestApi"
    ).values()
    return rest_api["Properties"]["Name"]


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_api_alarms_watch_this_environments_api_by_its_name_and_stage(synthesized, name):
    env = synthesized[name]
    for alarm_id in ("critical-Api5xxErrors", "critical-ApiLatencyP99High"):
        alarm = alarms_by_name(env)[f"{name}-Monitoring-{alarm_id}"]
        assert alarm["Namespace"] == "AWS/ApiGateway"
        assert set(_dimensions(alarm)) == {"ApiName", "Stage"}
        assert _dimensions(alarm)["ApiName"] == _rest_api_name(env)


def test_no_two_environments_share_an_api_name_so_their_api_metrics_never_mix(synthesized):
    # AWS/ApiGateway publishes by ApiName and Stage only: two environments in one account and region with
    # the same API name would count each other's 5XX errors and latency.
    names = [_rest_api_name(env) for env in synthesized.values()]
    assert len(set(names)) == len(names), names


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_data_tier_alarms_use_the_dimensions_each_service_publishes(synthesized, name):
    alarms = alarms_by_name(synthesized[name])
    expected = {
        "warning-CacheHitRateLow": ("AWS/ElastiCache", {"CacheClusterId"}),
        "critical-DatabaseCpuHigh": ("AWS/RDS", {"DBInstanceIdentifier"}),
        "critical-DatabaseReplica1Lag": ("AWS/RDS", {"DBInstanceIdentifier"}),
        "critical-DaxErrorRequests": ("AWS/DAX", {"ClusterId"}),
        "critical-ProductApiErrors": ("AWS/Lambda", {"FunctionName"}),
        "critical-ProductApiCacheErrors": ("CachingArchitecture", {"service"}),
    }
    for alarm_id, (namespace, dimension_names) in expected.items():
        alarm = alarms[f"{name}-Monitoring-{alarm_id}"]
        assert (alarm["Namespace"], set(_dimensions(alarm))) == (namespace, dimension_names), alarm_id
