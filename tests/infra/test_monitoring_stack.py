"""Monitoring: every alarm exists with its configured threshold and notifies the encrypted topic; the
dashboard has the panels that show whether each cache layer works; CloudFront is watched from us-east-1."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

import pytest
from aws_cdk.assertions import Match, Template

from config import ENVIRONMENT_NAMES, load_environment
from config.schema import MonitoringConfig
from stacks.stage import CachingStage
from tests.infra.conftest import new_app
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
FUNCTIONS = ("ProductApi", "CacheWarmer", "SchemaSeed", "DaxDemo")
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


def _template(env) -> dict:
    return env.template(env.stage.monitoring).to_json()


def _alarms(env) -> dict[str, dict]:
    return {
        resource["Properties"]["AlarmName"]: resource["Properties"]
        for resource in resources_of_type(_template(env), "AWS::CloudWatch::Alarm").values()
    }


def _topic_ref(env) -> dict:
    (topic_id,) = resources_of_type(_template(env), "AWS::SNS::Topic")
    return {"Ref": topic_id}


def _dashboard(env) -> dict:
    """The dashboard body as JSON, with every CloudFormation token inside it replaced by "<token>"."""
    (dashboard,) = resources_of_type(_template(env), "AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]
    parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
    return json.loads("".join(part if isinstance(part, str) else "<token>" for part in parts))


def _graphs(env) -> dict[str, dict]:
    return {
        w["properties"]["title"]: w["properties"] for w in _dashboard(env)["widgets"] if w["type"] == "metric"
    }


def _metric_names(graph: dict) -> list[str]:
    return [line[1] for line in graph["metrics"]]


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
@pytest.mark.parametrize(
    ("alarm_id", "severity", "metric", "comparison", "threshold"), ALARMS, ids=[a[0] for a in ALARMS]
)
def test_each_alarm_exists_with_its_configured_threshold_and_notifies_the_topic(
    synthesized, name, alarm_id, severity, metric, comparison, threshold
):
    env = synthesized[name]
    config = env.config.monitoring
    alarm = _alarms(env)[f"{name}-Monitoring-{severity}-{alarm_id}"]
    assert alarm["MetricName"] == metric
    assert alarm["ComparisonOperator"] == comparison
    assert alarm["Threshold"] == pytest.approx(threshold(config))
    assert alarm["Period"] == config.period_minutes * 60
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == config.evaluation_periods
    assert alarm["AlarmActions"] == alarm["OKActions"] == [_topic_ref(env)]


def test_the_cache_hit_rate_warning_is_the_source_documents_80_percent(dev):
    assert dev.config.monitoring.cache_hit_rate_warning == 0.8
    assert _alarms(dev)["dev-Monitoring-warning-CacheHitRateLow"]["Threshold"] == 80


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_lambda_p99_duration_alarms_sit_below_each_functions_timeout(synthesized, name):
    env = synthesized[name]
    functions = {
        "ProductApi": env.stage.api.product_api.function,
        "CacheWarmer": env.stage.api.cache_warmer.function,
        "SchemaSeed": env.stage.api.schema_seed.function,
        "DaxDemo": env.stage.api.dax_demo.function,
    }
    alarms = _alarms(env)
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
    assert not any("CacheReplicationLag" in alarm for alarm in _alarms(dev))
    lag = _alarms(prod)["prod-Monitoring-critical-CacheReplicationLag"]
    assert lag["Threshold"] == prod.config.monitoring.cache_replication_lag_seconds
    replicas = [alarm for alarm in _alarms(prod) if "DatabaseReplica" in alarm]
    assert len(replicas) == prod.config.database.read_replica_count


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_every_alarm_notifies_the_topic_and_none_watches_cloudfront_from_the_wrong_region(synthesized, name):
    env = synthesized[name]
    for alarm in _alarms(env).values():
        assert alarm["AlarmActions"] == [_topic_ref(env)]
        assert alarm.get("Namespace") != "AWS/CloudFront"


def test_thresholds_and_period_follow_each_environments_config(dev, prod):
    assert _alarms(prod)["prod-Monitoring-critical-DatabaseConnectionsHigh"]["Threshold"] == 1000
    assert _alarms(dev)["dev-Monitoring-critical-DatabaseConnectionsHigh"]["Threshold"] == 60
    assert _alarms(prod)["prod-Monitoring-critical-Api5xxErrors"]["Period"] == 60
    assert _alarms(dev)["dev-Monitoring-critical-Api5xxErrors"]["Period"] == 300


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


# --- dashboard ----------------------------------------------------------------------------------------------

PANELS = {
    "Cache hit rate (%)": ["CacheHitRate"],
    "Cache evictions": ["Evictions"],
    "Cache engine CPU (%)": ["EngineCPUUtilization"],
    "Cache connections": ["CurrConnections"],
    "Cache memory used of maxmemory (%)": ["DatabaseMemoryUsagePercentage"],
    "Database CPU (%)": ["CPUUtilization"],
    "Database freeable memory (bytes)": ["FreeableMemory"],
    "Database connections": ["DatabaseConnections"],
    "Stage cache hits / misses": ["CacheHitCount", "CacheMissCount"],
    "API 5XX errors": ["5XXError"],
    "API latency p99 (ms)": ["Latency"],
    "CloudFront cache hit rate (%)": ["CacheHitRate"],
    "CloudFront 5xx error rate (%)": ["5xxErrorRate"],
    "DAX item cache hits / misses": ["ItemCacheHits", "ItemCacheMisses"],
    "DAX error requests": ["ErrorRequestCount"],
    "product-api: cache outcomes": [
        "CacheHit",
        "CacheMiss",
        "CacheStaleServed",
        "CacheLoaderWait",
        "CacheNegativeHit",
        "CacheError",
    ],
    "product-api: cache latency (ms)": ["CacheLatency", "CacheLatency"],
}


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_the_dashboard_has_a_panel_for_each_metric_that_matters(synthesized, name):
    graphs = _graphs(synthesized[name])
    for title, metrics in PANELS.items():
        assert _metric_names(graphs[title]) == metrics, title
    replicas = synthesized[name].config.database.read_replica_count
    assert _metric_names(graphs["Database replica lag (s)"]) == ["ReplicaLag"] * replicas
    for function_name in FUNCTIONS:
        assert _metric_names(graphs[f"{function_name}: errors / throttles"]) == ["Errors", "Throttles"]
        assert _metric_names(graphs[f"{function_name}: duration p99 (ms)"]) == ["Duration"]


def test_the_dashboard_shows_replication_lag_only_with_replicas(dev, prod):
    assert "Cache replication lag (s)" not in _graphs(dev)
    assert _metric_names(_graphs(prod)["Cache replication lag (s)"]) == ["ReplicationLag"]


def test_cloudfront_panels_read_us_east_1_with_the_global_region_dimension(dev):
    graphs = _graphs(dev)
    for title in ("CloudFront cache hit rate (%)", "CloudFront 5xx error rate (%)"):
        graph = graphs[title]
        assert graph["region"] == "us-east-1"
        namespace, _, *dimensions = graph["metrics"][0][:6]
        assert (namespace, dimensions) == (
            "AWS/CloudFront",
            ["DistributionId", "<token>", "Region", "Global"],
        )


def test_cloudfront_additional_metrics_are_turned_on_once(dev):
    subscriptions = [
        *resources_of_type(_template(dev), "AWS::CloudFront::MonitoringSubscription").values(),
        *resources_of_type(
            dev.template(dev.stage.edge).to_json(), "AWS::CloudFront::MonitoringSubscription"
        ).values(),
    ]
    (subscription,) = subscriptions
    config = subscription["Properties"]["MonitoringSubscription"]["RealtimeMetricsSubscriptionConfig"]
    assert config == {"RealtimeMetricsSubscriptionStatus": "Enabled"}


def test_application_panels_read_the_librarys_emf_namespace_per_service(dev):
    graph = _graphs(dev)["cache-warmer: cache outcomes"]
    assert {tuple(line[0:4]) for line in graph["metrics"]} == {
        ("CachingArchitecture", name, "service", "cache-warmer")
        for name in PANELS["product-api: cache outcomes"]
    }


def test_application_services_are_the_functions_powertools_service_names(dev):
    functions = resources_of_type(dev.template(dev.stage.api).to_json(), "AWS::Lambda::Function").values()
    services = {
        f["Properties"]["Handler"]: f["Properties"]["Environment"]["Variables"].get("POWERTOOLS_SERVICE_NAME")
        for f in functions
        if "Environment" in f["Properties"]  # CDK's own provider functions have none
    }
    assert services["functions.product_api.lambda_handler"] == "product-api"
    assert services["functions.cache_warmer.lambda_handler"] == "cache-warmer"
    graphs = _graphs(dev)
    assert "product-api: cache outcomes" in graphs and "cache-warmer: cache outcomes" in graphs


def test_the_dashboard_ends_with_the_status_of_every_alarm(dev):
    widgets = _dashboard(dev)["widgets"]
    assert widgets[-1]["type"] == "alarm"
    assert len(widgets[-1]["properties"]["alarms"]) == len(_alarms(dev))


# --- per-environment deploy settings ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_termination_protection_is_on_exactly_in_prod(synthesized, name):
    env = synthesized[name]
    for stack in env.stacks():
        assert stack.termination_protection is (name == "prod"), stack.stack_name
    artifacts = {artifact.stack_name: artifact for artifact in env.assembly.stacks}
    assert {a.termination_protection for a in artifacts.values()} == {name == "prod"}


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_every_stack_and_its_resources_carry_the_configured_tags(synthesized, name):
    env = synthesized[name]
    expected = {**env.config.tags, "environment": name}
    assert set(expected) == {"project", "environment", "owner", "cost-center"}
    for stack in env.stacks():
        assert stack.tags.tag_values() == expected, stack.stack_name
    alarms = resources_of_type(_template(env), "AWS::CloudWatch::Alarm").values()
    for alarm in alarms:
        assert {t["Key"]: t["Value"] for t in alarm["Properties"]["Tags"]} == expected


def test_prod_has_its_own_cost_center(prod, dev):
    assert prod.config.tags["cost-center"] != dev.config.tags["cost-center"]
    assert (
        prod.stage.monitoring.tags.tag_values()["cost-center"] == load_environment("prod").tags["cost-center"]
    )


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_xray_traces_requests_through_the_api_stage_and_every_function(synthesized, name):
    env = synthesized[name]
    template = env.template(env.stage.api)
    template.has_resource_properties("AWS::ApiGateway::Stage", {"TracingEnabled": True})
    for function in (env.stage.api.product_api, env.stage.api.cache_warmer, env.stage.api.dax_demo):
        function_id = env.stage.api.resolve(function.function.node.default_child.logical_id)
        properties = template.to_json()["Resources"][function_id]["Properties"]
        assert properties["TracingConfig"] == {"Mode": "Active"}
