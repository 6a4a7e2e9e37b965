"""A full stage on ElastiCache Serverless: staging's config with ``cache.mode: serverless``
(``serverless_stage.py``). It synthesizes with cdk-nag and the Control Tower rules clean, cfn-lint finds no
error, the functions reach the single endpoint in cluster mode over TLS as IAM-authenticated users, the
alarms watch the usage limits, and every stack matches its snapshot. Reachability is in
``test_reachability.py``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from caching_constructs.elasticache.cache_access import FUNCTION_ACCESS
from config import ConfigError, parse_environment
from config.environments import ENVIRONMENTS
from tests.infra.serverless_stage import SERVERLESS_CACHE
from tests.infra.templates import masked, resources_of_type

CACHE_USERS = {
    "functions.product_api.lambda_handler": "ProductApi",
    "functions.cache_warmer.lambda_handler": "CacheWarmer",
}


@pytest.fixture(scope="module")
def templates(staging_serverless) -> dict[str, dict]:
    env = staging_serverless
    return {stack.node.id: env.template(stack).to_json() for stack in env.stacks()}


def _functions(template: dict) -> dict[str, dict]:
    return {
        function["Properties"]["Handler"]: function["Properties"]
        for function in resources_of_type(template, "AWS::Lambda::Function").values()
        if "Handler" in function["Properties"]
    }


def _serverless_cache(templates: dict) -> dict:
    (cache,) = resources_of_type(templates["Data"], "AWS::ElastiCache::ServerlessCache").values()
    return cache


def test_the_stage_runs_on_a_serverless_cache_within_its_limits_and_no_node_of_its_own(templates):
    data = templates["Data"]
    for node_based in ("ReplicationGroup", "CacheCluster", "ParameterGroup", "SubnetGroup"):
        assert resources_of_type(data, f"AWS::ElastiCache::{node_based}") == {}, node_based
    properties = _serverless_cache(templates)["Properties"]
    assert (properties["Engine"], properties["MajorEngineVersion"]) == ("valkey", "8")
    assert properties["CacheUsageLimits"] == {
        "DataStorage": {"Maximum": SERVERLESS_CACHE["serverless_max_data_storage_gb"], "Unit": "GB"},
        "ECPUPerSecond": {"Maximum": SERVERLESS_CACHE["serverless_max_ecpu_per_second"]},
    }


def test_it_is_encrypted_with_the_data_key_and_snapshotted_daily_at_the_window_s_start(templates):
    cache = _serverless_cache(templates)
    properties = cache["Properties"]
    (key_id,) = resources_of_type(templates["Data"], "AWS::KMS::Key")
    assert properties["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert properties["DailySnapshotTime"] == SERVERLESS_CACHE["snapshot_window"].split("-")[0]
    assert properties["SnapshotRetentionLimit"] == SERVERLESS_CACHE["snapshot_retention_days"]
    # staging's removal policy is "snapshot": CloudFormation has no Snapshot policy for a serverless cache,
    # so the cache names the final snapshot ElastiCache takes when it is deleted.
    assert cache["DeletionPolicy"] == "Delete" and properties["FinalSnapshotName"].endswith("-final")


def test_it_sits_in_the_isolated_subnets_behind_the_cache_security_group(templates):
    properties = _serverless_cache(templates)["Properties"]
    subnets = [subnet["Fn::GetStackOutput"]["OutputName"] for subnet in properties["SubnetIds"]]
    assert len(subnets) == 2 and all("VpcDataSubnet" in name for name in subnets), subnets
    (group,) = properties["SecurityGroupIds"]
    assert "CacheSecurityGroup" in group["Fn::GetStackOutput"]["OutputName"]


def test_only_iam_users_sign_in_the_default_user_being_disabled(templates):
    data = templates["Data"]
    (group_id, group) = next(iter(resources_of_type(data, "AWS::ElastiCache::UserGroup").items()))
    assert _serverless_cache(templates)["Properties"]["UserGroupId"] == {"Ref": group_id}
    users = resources_of_type(data, "AWS::ElastiCache::User")
    assert {user_id for user_id in users} == {ref["Ref"] for ref in group["Properties"]["UserIds"]}
    modes = sorted(user["Properties"]["AuthenticationMode"]["Type"] for user in users.values())
    assert modes == ["iam", "iam", "no-password-required"]
    (default,) = [user for user in users.values() if user["Properties"]["UserName"] == "default"]
    assert default["Properties"]["AccessString"] == "off -@all"
    # Serverless speaks cluster mode only: every user may read the slot map.
    for name, access in FUNCTION_ACCESS.items():
        expected = access.access_string(cluster_mode=True)
        assert [u for u in users.values() if u["Properties"]["AccessString"] == expected], name


def test_cache_users_reach_the_single_endpoint_in_cluster_mode_over_tls_with_a_serverless_token(templates):
    functions = _functions(templates["Api"])
    for handler in CACHE_USERS:
        variables = functions[handler]["Environment"]["Variables"]
        assert "EndpointAddress" in json.dumps(variables["REDIS_HOST"])
        assert (variables["REDIS_PORT"], variables["REDIS_TLS"], variables["REDIS_CLUSTER_MODE"]) == (
            "6379",
            "true",
            "true",
        )
        assert (variables["REDIS_IAM_AUTH"], variables["REDIS_SERVERLESS"]) == ("true", "true")
        assert (
            variables["REDIS_CACHE_NAME"] == _serverless_cache(templates)["Properties"]["ServerlessCacheName"]
        )
        # No replicas to WAIT for, no AUTH token to read.
        assert variables["CACHE_REPLICA_ACKS"] == "0" and "REDIS_AUTH_SECRET_ARN" not in variables
    secrets = resources_of_type(templates["Data"], "AWS::SecretsManager::Secret")
    assert all("Database" in key for key in secrets), secrets.keys()


def test_each_function_may_connect_as_its_own_user_to_this_cache_only(templates):
    connects = []
    for policy in resources_of_type(templates["Api"], "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Action"] == "elasticache:Connect":
                connects.append(json.dumps(statement["Resource"]))
    (cache_id,) = resources_of_type(templates["Data"], "AWS::ElastiCache::ServerlessCache")
    assert len(connects) == len(CACHE_USERS)
    for name in CACHE_USERS.values():
        (resources,) = [each for each in connects if f"CacheUsers{name}" in each]
        # The cache's ARN and the function's own user, nothing else.
        assert f"FnGetAtt{cache_id}ARN" in resources and resources.count("OutputName") == 2


def _elasticache_metrics(alarm: dict) -> list[dict]:
    properties = alarm["Properties"]
    metrics = [
        query["MetricStat"]["Metric"] for query in properties.get("Metrics", []) if "MetricStat" in query
    ]
    metrics += [properties] if "MetricName" in properties else []
    return [metric for metric in metrics if metric["Namespace"] == "AWS/ElastiCache"]


def test_the_alarms_watch_ecpus_and_storage_against_their_limits_and_throttled_commands(templates):
    alarms = resources_of_type(templates["Monitoring"], "AWS::CloudWatch::Alarm").values()
    cache_alarms = [alarm for alarm in alarms if _elasticache_metrics(alarm)]
    metrics = [metric for alarm in cache_alarms for metric in _elasticache_metrics(alarm)]
    names = {metric["MetricName"] for metric in metrics}
    assert names == {
        "ElastiCacheProcessingUnits",
        "BytesUsedForCache",
        "ThrottledCmds",
        "CacheHits",
        "CacheMisses",
        "Evictions",
        "CurrConnections",
    }
    # Serverless publishes under the cache's name as clusterId; nothing per node (no EngineCPUUtilization,
    # DatabaseMemoryUsagePercentage or ReplicationLag to alarm on nothing).
    cache_name = _serverless_cache(templates)["Properties"]["ServerlessCacheName"]
    assert {json.dumps(metric["Dimensions"]) for metric in metrics} == {
        json.dumps([{"Name": "clusterId", "Value": cache_name}])
    }
    expressions = {
        query["Expression"]
        for alarm in cache_alarms
        for query in alarm["Properties"].get("Metrics", [])
        if "Expression" in query
    }
    ecpus, storage_gb = (
        SERVERLESS_CACHE["serverless_max_ecpu_per_second"],
        SERVERLESS_CACHE["serverless_max_data_storage_gb"],
    )
    assert f"100 * ecpus / PERIOD(ecpus) / {ecpus}" in expressions
    assert f"100 * bytes / {storage_gb * 1_000_000_000}" in expressions


def test_no_finding_of_cdk_nag_or_the_control_tower_rules_is_left_without_an_exemption(staging_serverless):
    report = json.loads(
        (Path(staging_serverless.assembly.directory).parent / "validation-report.json").read_text()
    )
    assert [v["ruleName"] for plugin in report["pluginReports"] for v in plugin["violations"]] == []


def test_cfn_lint_finds_no_errors(staging_serverless):
    directory = Path(staging_serverless.assembly.directory)
    templates = sorted(str(directory / stack.template_file) for stack in staging_serverless.stacks())
    result = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), "--format", "parseable", "--", *templates],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    errors = [line for line in result.stdout.splitlines() if ":E" in line]
    assert result.returncode in (0, 4, 8, 12), result.stdout + result.stderr
    assert errors == [], "\n".join(errors)


def test_every_stack_matches_its_snapshot(staging_serverless, snapshot):
    snapshot_json = snapshot.with_defaults(extension_class=JSONSnapshotExtension)
    for stack in staging_serverless.stacks():
        template = masked(staging_serverless.template(stack).to_json())
        assert template == snapshot_json(name=f"serverless-{stack.node.id}")


@pytest.mark.parametrize(
    ("change", "key", "expected"),
    [
        ({"maxmemory_policy": "volatile-lru"}, "maxmemory_policy", "the default 'allkeys-lru' with mode"),
        ({"auth": "token"}, "auth", "'iam' with mode 'serverless' (Serverless has no AUTH token)"),
        ({"engine": "redis", "engine_version": "6.2"}, "engine_version", "a redis major Serverless runs (7)"),
        ({"replicas_per_shard": 2}, "replicas_per_shard", "the default 0 with mode 'serverless'"),
        ({"serverless_max_ecpu_per_second": 500}, "serverless_max_ecpu_per_second", "an integer from 1000"),
    ],
)
def test_what_serverless_decides_itself_is_refused_with_a_one_line_config_error(change, key, expected):
    raw = {**ENVIRONMENTS["staging"], "cache": {**SERVERLESS_CACHE, **change}}
    with pytest.raises(ConfigError) as error:
        parse_environment("staging", raw)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"environments.staging.cache.{key}: ") and expected in message, message


def test_global_datastore_with_a_serverless_cache_is_refused_with_a_one_line_config_error():
    raw = {**ENVIRONMENTS["prod"], "cache": dict(SERVERLESS_CACHE)}
    with pytest.raises(
        ConfigError, match=r"^environments\.prod\.cache\.mode: 'serverless' [^\n]+replication"
    ):
        parse_environment("prod", raw)
