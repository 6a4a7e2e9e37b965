"""A full stage on ElastiCache Memcached: staging's config with ``cache.engine: memcached``
(``memcached_stage.py``). It synthesizes with cdk-nag and the Control Tower rules clean, cfn-lint finds no
error, the functions discover the nodes through the configuration endpoint over TLS, the cluster-level
alarms watch Memcached's own metrics, and every stack matches its snapshot. Reachability is in
``test_reachability.py``, which runs this stage beside the shipped ones."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from caching_contract import variables as contract_variables
from config import ConfigError, parse_environment
from config.environments import ENVIRONMENTS
from tests.infra.memcached_stage import MEMCACHED_CACHE
from tests.infra.templates import masked, resources_of_type

CACHE_USERS = ("functions.product_api.lambda_handler", "functions.cache_warmer.lambda_handler")


@pytest.fixture(scope="module")
def templates(staging_memcached) -> dict[str, dict]:
    env = staging_memcached
    return {stack.node.id: env.template(stack).to_json() for stack in env.stacks()}


def _functions(template: dict) -> dict[str, dict]:
    return {
        function["Properties"]["Handler"]: function["Properties"]
        for function in resources_of_type(template, "AWS::Lambda::Function").values()
        if "Handler" in function["Properties"]
    }


def test_the_stage_runs_on_a_memcached_cluster_with_tls_on_a_non_default_port(templates):
    data = templates["Data"]
    assert resources_of_type(data, "AWS::ElastiCache::ReplicationGroup") == {}
    (cluster,) = resources_of_type(data, "AWS::ElastiCache::CacheCluster").values()
    properties = cluster["Properties"]
    assert properties["Engine"] == "memcached"
    assert properties["EngineVersion"] == MEMCACHED_CACHE["engine_version"]
    assert properties["TransitEncryptionEnabled"] is True
    assert properties["Port"] == MEMCACHED_CACHE["port"] != 11211
    assert (properties["NumCacheNodes"], properties["AZMode"]) == (2, "cross-az")


def test_the_cluster_sits_in_the_isolated_subnets(templates):
    data = templates["Data"]
    (group,) = resources_of_type(data, "AWS::ElastiCache::SubnetGroup").values()
    outputs = [subnet["Fn::GetStackOutput"]["OutputName"] for subnet in group["Properties"]["SubnetIds"]]
    # "Data" is the VPC's isolated subnet group (NetworkStack): no route to or from the internet.
    assert len(outputs) == 2 and all("VpcDataSubnet" in name for name in outputs), outputs


def test_cache_users_discover_the_nodes_over_tls_through_the_library_s_own_variables(templates):
    functions = _functions(templates["Api"])
    for handler in CACHE_USERS:
        variables = functions[handler]["Environment"]["Variables"]
        assert variables[contract_variables.CACHE_ENGINE] == contract_variables.ENGINE_MEMCACHED
        assert variables[contract_variables.MEMCACHED_TLS] == "true"
        endpoint = json.dumps(variables[contract_variables.CACHE_DISCOVERY_ENDPOINT])
        assert "ConfigurationEndpointAddress" in endpoint and f":{MEMCACHED_CACHE['port']}" in endpoint
        # Nothing Redis-only: no endpoint, AUTH secret or replica acknowledgements, no near cache.
        assert not [name for name in variables if name.startswith("REDIS_")], handler
        assert "CACHE_REPLICA_ACKS" not in variables and variables["CACHE_L1_ENABLED"] == "false"
        assert contract_variables.CACHE_NODES not in variables
    assert resources_of_type(templates["Data"], "AWS::SecretsManager::Secret").keys() == {
        key
        for key, secret in resources_of_type(templates["Data"], "AWS::SecretsManager::Secret").items()
        if "Database" in key  # the database's credentials only: Memcached has no AUTH token
    }


def _alarm_metrics(alarm: dict) -> set[str]:
    return {
        query["MetricStat"]["Metric"]["MetricName"]
        for query in alarm["Properties"].get("Metrics", [])
        if "MetricStat" in query
    } | ({alarm["Properties"]["MetricName"]} if "MetricName" in alarm["Properties"] else set())


def test_the_cluster_level_alarms_watch_memcached_s_own_metrics(templates):
    alarms = {
        re.sub(r"[0-9A-F]{8}$", "", logical_id): alarm
        for logical_id, alarm in resources_of_type(templates["Monitoring"], "AWS::CloudWatch::Alarm").items()
    }
    cache_alarms = {name: _alarm_metrics(alarm) for name, alarm in alarms.items() if "Cache" in name}
    watched = {metric for metrics in cache_alarms.values() for metric in metrics}
    assert {"GetHits", "GetMisses", "Evictions", "CPUUtilization", "CurrConnections"} <= watched
    # Redis-only metrics have no Memcached counterpart and must not alarm on nothing.
    assert not watched & {
        "CacheHits",
        "EngineCPUUtilization",
        "DatabaseMemoryUsagePercentage",
        "ReplicationLag",
    }
    hit_rate = next(alarm for name, alarm in alarms.items() if "CacheHitRateLow" in name)
    (expression,) = [
        query["Expression"] for query in hit_rate["Properties"]["Metrics"] if "Expression" in query
    ]
    assert expression == "IF(hits + misses > 0, 100 * hits / (hits + misses))"  # idle: no datapoint


def test_the_dashboard_draws_the_memcached_metrics(templates):
    (dashboard,) = resources_of_type(templates["Monitoring"], "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for metric in ("GetHits", "GetMisses", "Evictions", "CPUUtilization", "CurrConnections"):
        assert metric in body, metric


def test_no_finding_of_cdk_nag_or_the_control_tower_rules_is_left_without_an_exemption(staging_memcached):
    report = json.loads(
        (Path(staging_memcached.assembly.directory).parent / "validation-report.json").read_text()
    )
    assert [v["ruleName"] for plugin in report["pluginReports"] for v in plugin["violations"]] == []


def test_cfn_lint_finds_no_errors(staging_memcached):
    directory = Path(staging_memcached.assembly.directory)
    templates = sorted(str(directory / stack.template_file) for stack in staging_memcached.stacks())
    result = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), "--format", "parseable", "--", *templates],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    errors = [line for line in result.stdout.splitlines() if line.split(":")[-2:-1] == ["E"] or ":E" in line]
    assert result.returncode in (0, 4, 8, 12), result.stdout + result.stderr
    assert errors == [], "\n".join(errors)


def test_every_stack_matches_its_snapshot(staging_memcached, snapshot):
    snapshot_json = snapshot.with_defaults(extension_class=JSONSnapshotExtension)
    for stack in staging_memcached.stacks():
        template = masked(staging_memcached.template(stack).to_json())
        assert template == snapshot_json(name=f"memcached-{stack.node.id}")


def test_a_near_cache_with_memcached_is_refused_with_a_one_line_config_error():
    raw = {**ENVIRONMENTS["staging"], "cache": dict(MEMCACHED_CACHE), "functions": {"l1_enabled": True}}
    one_line = (
        r"^environments\.staging\.functions\.l1_enabled: True is not allowed; expected false with [^\n]+$"
    )
    with pytest.raises(ConfigError, match=one_line):
        parse_environment("staging", raw)


def test_a_memcached_version_without_tls_is_refused_with_a_one_line_config_error():
    raw = {**ENVIRONMENTS["staging"], "cache": {**MEMCACHED_CACHE, "engine_version": "1.6.6"}}
    one_line = (
        r"^environments\.staging\.cache\.engine_version: '1\.6\.6' is not allowed; [^\n]*1\.6\.12[^\n]*$"
    )
    with pytest.raises(ConfigError, match=one_line):
        parse_environment("staging", raw)
