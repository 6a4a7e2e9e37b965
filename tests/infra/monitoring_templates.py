"""Reading the monitoring stack's template: alarms by name, the topic, the dashboard body and its graphs."""

from __future__ import annotations

import json

from tests.infra.templates import resources_of_type

FUNCTIONS = ("ProductApi", "CacheWarmer", "SchemaSeed", "DaxDemo")
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
    return [line[1] for line in graph["metrics"]]
