"""Monitoring alarms: every alarm exists with its configured threshold and notifies the encrypted topic whose
subscriptions come from config. Which resource each alarm watches: ``test_monitoring_dimensions.py``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template

from caching_constructs.monitoring.facade import ABOVE, OperationsMonitoring
from config import ENVIRONMENT_NAMES, load_environment
from config.schema import MonitoringConfig
from stacks.stage import CachingStage
from tests.infra.conftest import new_app
from tests.infra.monitoring_templates import (
    FUNCTIONS,
    alarms_by_name,
    node_metrics,
    returned_expression,
    topic_ref,
)
from tests.infra.templates import resources_of_type

# alarm id, severity, metric name, comparison, threshold from the config (None: computed, tested separately)
Threshold = Callable[[MonitoringConfig], float]
ALARMS: list[tuple[str, str, str, str, Threshold]] = [
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


# ElastiCache alarms watch metric math over every node of the group (a node's role moves on failover):
# alarm id, severity, expression over the node metrics, metric read per node, comparison, threshold.
CACHE_ALARMS: list[tuple[str, str, str, tuple[str, ...], str, Threshold]] = [
    (
        "CacheHitRateLow",
        "warning",
        "IF({lookups} > 0, 100 * {hits} / {lookups})",
        ("CacheHits", "CacheMisses"),
        "LessThanThreshold",
        lambda m: m.cache_hit_rate_warning * 100,  # the config's fraction, the expression's percent
    ),
    (
        "CacheEvictions",
        "warning",
        "SUM({nodes})",
        ("Evictions",),
        "GreaterThanThreshold",
        lambda m: m.cache_evictions,
    ),
    (
        "CacheEngineCpuHigh",
        "critical",
        "MAX({nodes})",
        ("EngineCPUUtilization",),
        "GreaterThanThreshold",
        lambda m: m.cache_cpu_percent,
    ),
    (
        "CacheConnectionsHigh",
        "warning",
        "MAX({nodes})",
        ("CurrConnections",),
        "GreaterThanThreshold",
        lambda m: m.cache_connections,
    ),
    (
        "CacheMemoryHigh",
        "critical",
        "MAX({nodes})",
        ("DatabaseMemoryUsagePercentage",),
        "GreaterThanThreshold",
        lambda m: m.cache_memory_percent,
    ),
]


def _node_suffixes(count: int) -> list[str]:
    return [f"-{node:03d}" for node in range(1, count + 1)]


def _expected_expression(template: str, count: int) -> str:
    ids = range(1, count + 1)
    hits = f"SUM([{', '.join(f'hits{i}' for i in ids)}])"
    misses = f"SUM([{', '.join(f'misses{i}' for i in ids)}])"
    nodes = f"[{', '.join(f'node{i}' for i in ids)}]"
    return template.format(hits=hits, lookups=f"({hits} + {misses})", nodes=nodes)


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
@pytest.mark.parametrize(
    ("alarm_id", "severity", "expression", "metrics", "comparison", "threshold"),
    CACHE_ALARMS,
    ids=[a[0] for a in CACHE_ALARMS],
)
def test_each_cache_alarm_watches_every_node_of_the_group_with_its_configured_threshold(
    synthesized, name, alarm_id, severity, expression, metrics, comparison, threshold
):
    env = synthesized[name]
    config, nodes = env.config.monitoring, env.config.cache.nodes_per_shard
    alarm = alarms_by_name(env)[f"{name}-Monitoring-{severity}-{alarm_id}"]
    assert returned_expression(alarm) == _expected_expression(expression, nodes)
    read = sorted((metric, suffix) for _, metric, suffix in node_metrics(alarm).values())
    assert read == sorted((metric, suffix) for metric in metrics for suffix in _node_suffixes(nodes))
    assert {namespace for namespace, *_ in node_metrics(alarm).values()} == {"AWS/ElastiCache"}
    assert {query["MetricStat"]["Period"] for query in alarm["Metrics"] if "MetricStat" in query} == {
        config.period_minutes * 60
    }
    assert alarm["ComparisonOperator"] == comparison
    assert alarm["Threshold"] == pytest.approx(threshold(config))
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == config.evaluation_periods
    assert alarm["AlarmActions"] == alarm["OKActions"] == [topic_ref(env)]


def test_after_a_failover_the_cpu_memory_and_hit_rate_alarms_still_see_the_new_primary(prod):
    # prod: one primary and two replicas; any of them may be the primary after a failover.
    assert prod.config.cache.nodes_per_shard == 3
    alarms = alarms_by_name(prod)
    for alarm_id in ("critical-CacheEngineCpuHigh", "critical-CacheMemoryHigh", "warning-CacheHitRateLow"):
        suffixes = {suffix for *_, suffix in node_metrics(alarms[f"prod-Monitoring-{alarm_id}"]).values()}
        assert suffixes == {"-001", "-002", "-003"}, alarm_id


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
    alarm = alarms_by_name(dev)["dev-Monitoring-warning-CacheHitRateLow"]
    # The expression yields percent (100 * hits / lookups), so the 0.8 fraction becomes 80, not 0.8.
    assert "100 * " in returned_expression(alarm)
    assert alarm["Threshold"] == 80


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_lambda_p99_duration_alarms_sit_below_each_functions_timeout(synthesized, name):
    env = synthesized[name]
    functions = {
        "ProductApi": env.stage.api.product_api.function,
        "CacheWarmer": env.stage.api.cache_warmer.function,
        "SchemaSeed": env.stage.api.schema_seed.function,
        "DaxDemo": env.stage.api.dax_demo.function,
        "EdgeRefresher": env.stage.edge.edge_refresher.function,
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
    # Every node can be a replica after a failover; only replicas publish ReplicationLag.
    assert returned_expression(lag) == "MAX([node1, node2, node3])"
    assert sorted(node_metrics(lag).values()) == [
        ("AWS/ElastiCache", "ReplicationLag", suffix) for suffix in ("-001", "-002", "-003")
    ]
    assert {query["MetricStat"]["Stat"] for query in lag["Metrics"] if "MetricStat" in query} == {"Maximum"}
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


def test_a_large_cluster_mode_group_is_alarmed_in_batches_within_cloudwatchs_ten_metrics(tmp_path):
    base = load_environment("prod")
    cache = dataclasses.replace(base.cache, cluster_mode=True, num_shards=4, replicas_per_shard=2)
    stage = CachingStage(new_app(tmp_path), "prod", config=dataclasses.replace(base, cache=cache))
    alarms = resources_of_type(Template.from_stack(stage.monitoring).to_json(), "AWS::CloudWatch::Alarm")
    by_name = {alarm["Properties"]["AlarmName"]: alarm["Properties"] for alarm in alarms.values()}
    every_node = {f"-{shard:04d}-{node:03d}" for shard in range(1, 5) for node in range(1, 4)}
    # 12 nodes: the hit rate reads 2 metrics per node (5 nodes per alarm), the others 1 (10 per alarm).
    for alarm_id, batches in (("warning-CacheHitRateLow", 3), ("critical-CacheEngineCpuHigh", 2)):
        names = [f"prod-Monitoring-{alarm_id}Batch{number}" for number in range(1, batches + 1)]
        assert f"prod-Monitoring-{alarm_id}Batch{batches + 1}" not in by_name
        covered = set()
        for name in names:
            metrics = node_metrics(by_name[name])
            assert len(metrics) <= 10, name
            covered |= {suffix for *_, suffix in metrics.values()}
        assert covered == every_node, alarm_id


def test_the_facade_refuses_an_alarm_over_more_metrics_than_cloudwatch_allows():
    stack = cdk.Stack()
    monitoring = OperationsMonitoring(
        stack, "Monitoring", alarm_topic=sns.Topic(stack, "Topic"), period=cdk.Duration.minutes(5)
    )
    nodes = {
        f"node{i}": cloudwatch.Metric(namespace="AWS/ElastiCache", metric_name="CurrConnections")
        for i in range(11)
    }
    too_many = cloudwatch.MathExpression(expression="MAX(METRICS())", using_metrics=nodes)
    with pytest.raises(ValueError, match="11 metrics, over CloudWatch's hard limit of 10"):
        monitoring.add_alarm("TooMany", too_many, threshold=1, comparison=ABOVE, description="x")


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_every_dead_letter_queue_alarms_on_its_first_waiting_message(synthesized, name):
    """Work that failed every retry is otherwise lost silently: an edge refresh, a warmer run, a refill."""
    env = synthesized[name]
    stage, config = env.stage, env.config.monitoring
    queues = {
        "EdgeRefresh": stage.api.edge_refresh_queue.dead_letter_queue,
        "CacheWarmer": stage.api.cache_warmer.failure_queue,
    }
    if stage.global_datastore is not None:
        queues["SecondaryRefill"] = stage.global_datastore.refill.queue.dead_letter_queue
    alarms = alarms_by_name(env)
    dead_letter_alarms = {alarm for alarm in alarms if alarm.endswith("DeadLetters")}
    assert dead_letter_alarms == {f"{name}-Monitoring-warning-{queue}DeadLetters" for queue in queues}
    queue_names = set()
    for queue in queues:
        alarm = alarms[f"{name}-Monitoring-warning-{queue}DeadLetters"]
        assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert (alarm["Namespace"], alarm["Statistic"]) == ("AWS/SQS", "Maximum")
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["Threshold"] == config.dead_letter_messages
        (dimension,) = alarm["Dimensions"]
        queue_names.add(str(dimension["Value"]))
    assert len(queue_names) == len(queues)  # each alarm watches its own queue, not one queue three times


def test_the_secondary_refill_function_is_watched_like_every_other_function(prod, dev):
    alarms = alarms_by_name(prod)
    for kind in ("critical-SecondaryRefillErrors", "critical-SecondaryRefillThrottles"):
        assert f"prod-Monitoring-{kind}" in alarms
    assert not any("SecondaryRefill" in alarm for alarm in alarms_by_name(dev))  # single-region: no refill
