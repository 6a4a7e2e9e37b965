"""Reading the monitoring stack's template: alarms by name, the topic, the dashboard body and its graphs."""

from __future__ import annotations

import json

from tests.infra.templates import resources_of_type

FUNCTIONS = ("ProductApi", "CacheWarmer", "SchemaSeed", "DaxDemo", "EdgeRefresher")
"""The functions the monitoring stack watches, by the display name in their panels and alarm ids."""


def monitoring_template(env) -> dict:
    return env.template(env.stage.monitoring).to_json()


def alarms_by_name(env) -> dict[str, dict]:
    return {
        resource["Properties"]["AlarmName"]: resource["Properties"]
        for resource in resources_of_type(monitoring_template(env), "AWS::CloudWatch::Alarm").values()
    }


def topic_ref(env) -> dict:
    (topic_id,) = resources_of_type(monitoring_template(env), "AWS::SNS::Topic")
    return {"Ref": topic_id}


def dashboard_body(env) -> dict:
    """The dashboard body as JSON, with every CloudFormation token inside it replaced by "<token>"."""
    (dashboard,) = resources_of_type(monitoring_template(env), "AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]
    parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
    return json.loads("".join(part if isinstance(part, str) else "<token>" for part in parts))


def graphs_by_title(env) -> dict[str, dict]:
    return {
        w["properties"]["title"]: w["properties"]
        for w in dashboard_body(env)["widgets"]
        if w["type"] == "metric"
    }


def metric_names(graph: dict) -> list[str]:
    """What a graph draws: each visible metric's name, and each math expression's label."""
    names = []
    for line in graph["metrics"]:
        if isinstance(line[0], dict):
            names.append(line[0]["label"])
        elif not (isinstance(line[-1], dict) and line[-1].get("visible") is False):
            names.append(line[1])
    return names


def hidden_node_metrics(graph: dict) -> list[tuple[str, str]]:
    """The metrics a graph's expressions read but do not draw: (metric name, CacheClusterId value)."""
    return [
        (line[1], line[3])
        for line in graph["metrics"]
        if isinstance(line[0], str) and isinstance(line[-1], dict) and line[-1].get("visible") is False
    ]


def returned_expression(alarm: dict) -> str:
    """The metric math expression a math alarm watches (the query with ReturnData true)."""
    (expression,) = [query["Expression"] for query in alarm["Metrics"] if query["ReturnData"]]
    return expression


def node_metrics(alarm: dict) -> dict[str, tuple[str, str, str]]:
    """Every metric a math alarm reads, by query id: (namespace, metric name, CacheClusterId suffix).

    The suffix is what follows the replication group id in the dimension ("-002", "-0003-001")."""
    nodes = {}
    for query in alarm["Metrics"]:
        if "MetricStat" not in query:
            continue
        metric = query["MetricStat"]["Metric"]
        (dimension,) = metric["Dimensions"]
        assert dimension["Name"] == "CacheClusterId"
        _group_id, suffix = dimension["Value"]["Fn::Join"][1]
        nodes[query["Id"]] = (metric["Namespace"], metric["MetricName"], suffix)
    return nodes
