"""Monitoring dashboard: a panel for each metric that shows whether a cache layer works, CloudFront read
from us-east-1, the caching library's own EMF metrics per service, and the status of every alarm."""

from __future__ import annotations

import pytest

from config import ENVIRONMENT_NAMES
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


def test_application_panels_read_the_librarys_emf_namespace_per_service(dev):
    graph = graphs_by_title(dev)["cache-warmer: cache outcomes"]
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
    graphs = graphs_by_title(dev)
    assert "product-api: cache outcomes" in graphs and "cache-warmer: cache outcomes" in graphs


def test_the_dashboard_ends_with_the_status_of_every_alarm(dev):
    widgets = dashboard_body(dev)["widgets"]
    assert widgets[-1]["type"] == "alarm"
    assert len(widgets[-1]["properties"]["alarms"]) == len(alarms_by_name(dev))
