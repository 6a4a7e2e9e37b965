"""Monitoring dashboard: a panel for each metric that shows whether a cache layer works, CloudFront read
from us-east-1, the caching library's own EMF metrics per service, and the status of every alarm."""

from __future__ import annotations

import dataclasses
import json

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template

from caching_constructs.monitoring.facade import OperationsMonitoring
from config import ENVIRONMENT_NAMES, load_environment
from stacks.stage import CachingStage
from tests.infra.conftest import new_app
from tests.infra.monitoring_templates import (
    FUNCTIONS,
    alarms_by_name,
    dashboard_body,
    graphs_by_title,
    hidden_node_metrics,
    metric_names,
    monitoring_template,
)
from tests.infra.templates import resources_of_type

PANELS = {
    "Cache hit rate (%)": ["CacheHitRate (group)"],
    "Cache evictions": ["Evictions (sum over nodes)"],
    "Cache engine CPU (%)": ["EngineCPUUtilization (max over nodes)"],
    "Cache connections": ["CurrConnections (max over nodes)"],
    "Cache memory used of maxmemory (%)": ["DatabaseMemoryUsagePercentage (max over nodes)"],
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
    graphs = graphs_by_title(synthesized[name])
    for title, metrics in PANELS.items():
        assert metric_names(graphs[title]) == metrics, title
    replicas = synthesized[name].config.database.read_replica_count
    assert metric_names(graphs["Database replica lag (s)"]) == ["ReplicaLag"] * replicas
    for function_name in FUNCTIONS:
        assert metric_names(graphs[f"{function_name}: errors / throttles"]) == ["Errors", "Throttles"]
        assert metric_names(graphs[f"{function_name}: duration p99 (ms)"]) == ["Duration"]


def test_the_dashboard_shows_replication_lag_only_with_replicas(dev, prod):
    assert "Cache replication lag (s)" not in graphs_by_title(dev)
    graph = graphs_by_title(prod)["Cache replication lag (s)"]
    assert metric_names(graph) == ["ReplicationLag (max over nodes)"]
    assert hidden_node_metrics(graph) == [("ReplicationLag", f"<token>-00{node}") for node in (1, 2, 3)]


def test_cache_panels_read_every_node_of_the_group(prod):
    graphs = graphs_by_title(prod)
    nodes = [f"<token>-00{node}" for node in (1, 2, 3)]
    assert hidden_node_metrics(graphs["Cache hit rate (%)"]) == [
        (metric, node) for metric in ("CacheHits", "CacheMisses") for node in nodes
    ]
    assert hidden_node_metrics(graphs["Cache engine CPU (%)"]) == [("EngineCPUUtilization", n) for n in nodes]


def test_cloudfront_panels_read_us_east_1_with_the_global_region_dimension(dev):
    graphs = graphs_by_title(dev)
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
        *resources_of_type(monitoring_template(dev), "AWS::CloudFront::MonitoringSubscription").values(),
        *resources_of_type(
            dev.template(dev.stage.edge).to_json(), "AWS::CloudFront::MonitoringSubscription"
        ).values(),
    ]
    (subscription,) = subscriptions
    config = subscription["Properties"]["MonitoringSubscription"]["RealtimeMetricsSubscriptionConfig"]
    assert config == {"RealtimeMetricsSubscriptionStatus": "Enabled"}


def test_application_panels_read_the_librarys_emf_namespace_per_service_and_environment(dev):
    graph = graphs_by_title(dev)["cache-warmer: cache outcomes"]
    assert {tuple(line[0:6]) for line in graph["metrics"]} == {
        ("CachingArchitecture", name, "environment", "dev", "service", "cache-warmer")
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
    graphs = graphs_by_title(dev)
    assert "product-api: cache outcomes" in graphs and "cache-warmer: cache outcomes" in graphs


def test_the_dashboard_ends_with_the_status_of_every_alarm(dev):
    widgets = dashboard_body(dev)["widgets"]
    assert widgets[-1]["type"] == "alarm"
    assert len(widgets[-1]["properties"]["alarms"]) == len(alarms_by_name(dev))


def test_the_facade_refuses_a_graph_whose_expressions_read_more_than_500_metrics_together():
    stack = cdk.Stack()
    monitoring = OperationsMonitoring(
        stack, "Monitoring", alarm_topic=sns.Topic(stack, "Topic"), period=cdk.Duration.minutes(5)
    )

    def hit_rate_over(nodes: range) -> cloudwatch.MathExpression:
        # Each expression alone (250 node metrics) fits a graph; the widget reads what both read.
        hits = {
            f"h{n}": cloudwatch.Metric(namespace="AWS/ElastiCache", metric_name="CacheHits") for n in nodes
        }
        return cloudwatch.MathExpression(expression="100 * SUM(METRICS())", using_metrics=hits)

    monitoring.graph("Fits", [hit_rate_over(range(249)), hit_rate_over(range(249))])
    with pytest.raises(
        ValueError, match=r"graph 'Too big': it reads 502 metrics and expressions, over .* 500"
    ):
        monitoring.graph("Too big", [hit_rate_over(range(250)), hit_rate_over(range(250))])


def test_a_large_cluster_mode_group_is_drawn_in_graphs_that_each_read_at_most_500_metrics(tmp_path):
    base = load_environment("prod")
    # 270 nodes: the hit rate reads 540 node metrics, more than one graph widget may read.
    cache = dataclasses.replace(base.cache, cluster_mode=True, num_shards=90, replicas_per_shard=2)
    stage = CachingStage(new_app(tmp_path), "prod", config=dataclasses.replace(base, cache=cache))
    template = Template.from_stack(stage.monitoring).to_json()
    (dashboard,) = resources_of_type(template, "AWS::CloudWatch::Dashboard").values()
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    body = json.loads("".join(part if isinstance(part, str) else "<token>" for part in parts))
    graphs = {w["properties"]["title"]: w["properties"] for w in body["widgets"] if w["type"] == "metric"}
    assert all(len(graph["metrics"]) <= 500 for graph in graphs.values())
    hit_rate = [
        graphs["Cache hit rate (%) (nodes 1-249 of 270)"],
        graphs["Cache hit rate (%) (nodes 250-270 of 270)"],
    ]
    assert "Cache hit rate (%)" not in graphs
    read = [
        node for graph in hit_rate for metric, node in hidden_node_metrics(graph) if metric == "CacheHits"
    ]
    assert len(read) == len(set(read)) == 270
    assert [len(graph["metrics"]) for graph in hit_rate] == [2 * 249 + 1, 2 * 21 + 1]
    assert metric_names(graphs["Cache engine CPU (%)"]) == ["EngineCPUUtilization (max over nodes)"]
