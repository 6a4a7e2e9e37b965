"""Monitoring alarms watch the right resource: the dimensions each service publishes, this environment's API
and this environment's application series, never another's."""

from __future__ import annotations

import pytest

from config import ENVIRONMENT_NAMES
from tests.infra.monitoring_templates import alarms_by_name
from tests.infra.templates import resources_of_type


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
        "critical-DatabaseCpuHigh": ("AWS/RDS", {"DBInstanceIdentifier"}),
        "critical-DatabaseReplica1Lag": ("AWS/RDS", {"DBInstanceIdentifier"}),
        "critical-DaxErrorRequests": ("AWS/DAX", {"ClusterId"}),
        "critical-ProductApiErrors": ("AWS/Lambda", {"FunctionName"}),
        "critical-ProductApiCacheErrors": ("CachingArchitecture", {"service", "environment"}),
    }
    for alarm_id, (namespace, dimension_names) in expected.items():
        alarm = alarms[f"{name}-Monitoring-{alarm_id}"]
        assert (alarm["Namespace"], set(_dimensions(alarm))) == (namespace, dimension_names), alarm_id


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_application_alarms_select_their_own_environment(synthesized, name):
    """Environments sharing an account and region publish into one namespace: each alarm reads only its own
    environment's series (the dimension the library sets from APP_ENVIRONMENT)."""
    alarms = alarms_by_name(synthesized[name])
    cache_errors = [alarm for alarm in alarms.values() if alarm.get("Namespace") == "CachingArchitecture"]
    assert len(cache_errors) == 2  # product-api and cache-warmer
    assert all(_dimensions(alarm)["environment"] == name for alarm in cache_errors)
