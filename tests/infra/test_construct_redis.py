"""RedisReplicationGroup on a bare stack: secure defaults, topology, metrics, grants, and each bad prop."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Match, Template

from caching_constructs.elasticache.redis_auth import REDIS_AUTH_FORBIDDEN_CHARACTERS
from caching_constructs.elasticache.redis_replication_group import RedisReplicationGroup
from tests.infra.bare_stack import bare_stack, isolated_subnet_refs


def _group(**props):
    stack, vpc = bare_stack()
    group = RedisReplicationGroup(stack, "Cache", vpc=vpc, **props)
    return stack, vpc, group


def test_defaults_are_tls_required_encrypted_with_auth_on_a_non_default_port():
    stack, _, _ = _group()
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::ElastiCache::ReplicationGroup",
        {
            "Engine": "redis",
            "EngineVersion": "7.1",
            "Port": 6380,
            "TransitEncryptionEnabled": True,
            "TransitEncryptionMode": "required",
            "AtRestEncryptionEnabled": True,
            # IAM auth by default: an RBAC user group, no AUTH token (test_construct_cache_users.py).
            "UserGroupIds": [{"Ref": Match.any_value()}],
            "AuthToken": Match.absent(),
            "NumCacheClusters": 2,
            "AutomaticFailoverEnabled": True,
            "MultiAZEnabled": True,
            "SnapshotRetentionLimit": 1,
        },
    )


def test_auth_token_is_generated_without_characters_redis_rejects():
    stack, _, _ = _group(auth="token", auth_token_length=40)
    generator = Template.from_stack(stack).find_resources("AWS::SecretsManager::Secret")
    (secret,) = generator.values()
    generated = secret["Properties"]["GenerateSecretString"]
    assert generated["PasswordLength"] == 40
    for character in ' "/@':
        assert character in generated["ExcludeCharacters"]
    assert set(' "/@') <= set(REDIS_AUTH_FORBIDDEN_CHARACTERS)


def test_subnet_group_uses_the_isolated_subnets_by_default():
    stack, vpc, _ = _group()
    Template.from_stack(stack).has_resource_properties(
        "AWS::ElastiCache::SubnetGroup", {"SubnetIds": isolated_subnet_refs(stack, vpc)}
    )


def test_parameter_group_family_and_eviction_policy_come_from_props():
    stack, _, group = _group(engine="valkey", engine_version="8.0", maxmemory_policy="allkeys-lfu")
    assert group.parameter_group_family == "valkey8"
    Template.from_stack(stack).has_resource_properties(
        "AWS::ElastiCache::ParameterGroup",
        {
            "CacheParameterGroupFamily": "valkey8",
            "Properties": {"maxmemory-policy": "allkeys-lfu", "cluster-enabled": "no"},
        },
    )


def test_without_cluster_mode_primary_and_reader_endpoints_are_exposed():
    stack, _, group = _group()
    assert "PrimaryEndPoint.Address" in json.dumps(stack.resolve(group.primary_endpoint_address))
    assert "ReaderEndPoint.Address" in json.dumps(stack.resolve(group.reader_endpoint_address))
    assert group.port == 6380


def test_one_node_turns_multi_az_and_failover_off():
    stack, _, group = _group(replicas_per_shard=0)
    assert not group.multi_az_enabled
    Template.from_stack(stack).has_resource_properties(
        "AWS::ElastiCache::ReplicationGroup",
        {"NumCacheClusters": 1, "AutomaticFailoverEnabled": False, "MultiAZEnabled": False},
    )


def test_cluster_mode_shards_with_replicas_and_a_configuration_endpoint():
    stack, _, group = _group(cluster_mode=True, num_shards=3, replicas_per_shard=1)
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::ElastiCache::ReplicationGroup",
        {
            "ClusterMode": "enabled",
            "NumNodeGroups": 3,
            "ReplicasPerNodeGroup": 1,
            "NumCacheClusters": Match.absent(),
        },
    )
    template.has_resource_properties(
        "AWS::ElastiCache::ParameterGroup", {"Properties": Match.object_like({"cluster-enabled": "yes"})}
    )
    assert group.reader_endpoint_address is None
    assert group.primary_endpoint_address is None
    assert "ConfigurationEndPoint.Address" in json.dumps(stack.resolve(group.endpoint_address))
    assert len(group.member_cluster_ids) == 6
    assert stack.resolve(group.member_cluster_ids[-1])["Fn::Join"][1][1] == "-0003-002"


def test_slow_and_engine_logs_are_delivered_to_log_groups_with_retention():
    stack, _, _ = _group()
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::Logs::LogGroup", 2)
    template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 30})
    template.has_resource_properties(
        "AWS::ElastiCache::ReplicationGroup",
        {
            "LogDeliveryConfigurations": [
                Match.object_like({"LogType": "slow-log", "DestinationType": "cloudwatch-logs"}),
                Match.object_like({"LogType": "engine-log", "DestinationType": "cloudwatch-logs"}),
            ]
        },
    )


def test_a_kms_key_encrypts_at_rest_when_given():
    stack, vpc = bare_stack()
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    RedisReplicationGroup(stack, "Cache", vpc=vpc, kms_key=key)
    Template.from_stack(stack).has_resource_properties(
        "AWS::ElastiCache::ReplicationGroup", {"KmsKeyId": stack.resolve(key.key_arn)}
    )


def test_the_removal_policy_applies_to_the_replication_group():
    stack, _, _ = _group(removal_policy=cdk.RemovalPolicy.SNAPSHOT)
    Template.from_stack(stack).has_resource(
        "AWS::ElastiCache::ReplicationGroup",
        {"DeletionPolicy": "Snapshot", "UpdateReplacePolicy": "Snapshot"},
    )


def test_connections_open_nothing_until_asked_and_then_only_the_port():
    stack, _, group = _group()
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::EC2::SecurityGroupIngress", 0)
    assert stack.resolve(group.connections.default_port.to_string()) == "6380"


def test_per_node_metrics_use_the_elasticache_namespace_and_the_nodes_dimension():
    stack, _, group = _group()
    node = group.member_cluster_ids[1]
    cases = {
        group.metric_cache_hit_rate(member=node): ("CacheHitRate", "Average"),
        group.metric_evictions(member=node): ("Evictions", "Sum"),
        group.metric_engine_cpu_utilization(member=node): ("EngineCPUUtilization", "Average"),
        group.metric_database_memory_usage_percentage(member=node): (
            "DatabaseMemoryUsagePercentage",
            "Average",
        ),
        group.metric_curr_connections(member=node): ("CurrConnections", "Average"),
        group.metric_replication_lag(member=node): ("ReplicationLag", "Maximum"),
    }
    for metric, (name, statistic) in cases.items():
        assert (metric.namespace, metric.metric_name, metric.statistic) == (
            "AWS/ElastiCache",
            name,
            statistic,
        )
        assert stack.resolve(metric.dimensions["CacheClusterId"]) == stack.resolve(node)
    assert group.metric("CacheHits", period=cdk.Duration.minutes(1)).period.to_seconds() == 60


def _node_suffixes(stack, expression) -> dict[str, tuple[str, str, str]]:
    """Each metric an expression reads: id -> (metric name, statistic, node suffix such as "-0002-001")."""
    return {
        metric_id: (
            metric.metric_name,
            metric.statistic,
            stack.resolve(metric.dimensions["CacheClusterId"])["Fn::Join"][1][1],
        )
        for metric_id, metric in expression.using_metrics.items()
    }


@pytest.mark.parametrize(
    ("method", "metric_name", "statistic", "function"),
    [
        ("metric_engine_cpu_utilization", "EngineCPUUtilization", "Average", "MAX"),
        ("metric_database_memory_usage_percentage", "DatabaseMemoryUsagePercentage", "Average", "MAX"),
        ("metric_curr_connections", "CurrConnections", "Average", "MAX"),
        ("metric_replication_lag", "ReplicationLag", "Maximum", "MAX"),
        ("metric_evictions", "Evictions", "Sum", "SUM"),
    ],
)
def test_group_metrics_cover_every_node_of_every_shard_so_a_failover_cannot_silence_them(
    method, metric_name, statistic, function
):
    stack, _, group = _group(cluster_mode=True, num_shards=2, replicas_per_shard=1)
    expression = getattr(group, method)()
    assert expression.expression == f"{function}([node1, node2, node3, node4])"
    assert _node_suffixes(stack, expression) == {
        "node1": (metric_name, statistic, "-0001-001"),
        "node2": (metric_name, statistic, "-0001-002"),
        "node3": (metric_name, statistic, "-0002-001"),
        "node4": (metric_name, statistic, "-0002-002"),
    }


def test_group_hit_rate_is_a_percentage_of_all_lookups_and_empty_when_there_are_none():
    stack, _, group = _group(replicas_per_shard=2)
    expression = group.metric_cache_hit_rate()
    total_hits, total_misses = "SUM([hits1, hits2, hits3])", "SUM([misses1, misses2, misses3])"
    lookups = f"({total_hits} + {total_misses})"
    # Percent (0-100), the unit of ElastiCache's CacheHitRate, so thresholds read the same either way.
    assert expression.expression == f"IF({lookups} > 0, 100 * {total_hits} / {lookups})"
    nodes = _node_suffixes(stack, expression)
    assert {key: nodes[key] for key in ("hits1", "hits3", "misses2")} == {
        "hits1": ("CacheHits", "Sum", "-001"),
        "hits3": ("CacheHits", "Sum", "-003"),
        "misses2": ("CacheMisses", "Sum", "-002"),
    }
    assert len(nodes) == 6


def test_group_metrics_can_be_limited_to_some_nodes_and_keep_the_period():
    stack, _, group = _group(replicas_per_shard=2)
    expression = group.metric_engine_cpu_utilization(
        members=group.member_cluster_ids[1:], period=cdk.Duration.minutes(1)
    )
    assert [suffix for *_, suffix in _node_suffixes(stack, expression).values()] == ["-002", "-003"]
    assert expression.period.to_seconds() == 60


def test_member_batches_keep_every_alarm_within_cloudwatchs_ten_metrics():
    stack, _, group = _group(cluster_mode=True, num_shards=4, replicas_per_shard=2)
    assert [len(batch) for batch in group.member_batches()] == [10, 2]
    assert [len(batch) for batch in group.member_batches(2)] == [5, 5, 2]
    batched = [node for batch in group.member_batches(2) for node in batch]
    assert stack.resolve(batched) == stack.resolve(group.member_cluster_ids)


def test_replication_lag_needs_a_replica():
    _, _, group = _group(replicas_per_shard=0)
    with pytest.raises(ValueError, match="no replicas"):
        group.metric_replication_lag()


def test_grant_read_auth_token_reads_only_that_secret():
    stack, _, group = _group(auth="token")
    role = iam.Role(stack, "Reader", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    grant = group.grant_read_auth_token(role)
    assert grant.success
    Template.from_stack(stack).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [
                    Match.object_like(
                        {
                            "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                            "Resource": stack.resolve(group.auth_token_secret.secret_arn),
                        }
                    )
                ]
            }
        },
    )


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"engine": "memcached"}, r"engine: 'memcached' is not allowed; expected 'redis' or 'valkey'"),
        (
            {"engine": "valkey", "engine_version": "6.2"},
            r"engine_version: '6\.2' .*7\.x or 8\.x for engine 'valkey'",
        ),
        ({"num_shards": 2}, r"num_shards: 2 is not allowed; expected 1 unless cluster_mode is on"),
        (
            {"cluster_mode": True, "replicas_per_shard": 0},
            r"replicas_per_shard: 0 .*at least 1 with cluster_mode",
        ),
        ({"replicas_per_shard": 6}, r"replicas_per_shard: 6 .*from 0 to 5"),
        (
            {"cluster_mode": True, "num_shards": 200, "replicas_per_shard": 2},
            r"num_shards: 200 .*at most 166 with 2 replicas per shard",
        ),
        ({"port": 6379}, r"port: 6379 .*other than Redis's well-known 6379"),
        ({"port": 80}, r"port: 80 .*from 1150 to 65535"),
        ({"maxmemory_policy": "lru"}, r"maxmemory_policy: 'lru' .*allkeys-lru"),
        (
            {"parameters": {"maxmemory-policy": "noeviction"}},
            r"parameters\['maxmemory-policy'\]: 'noeviction'",
        ),
        ({"auth_token_length": 16}, r"auth_token_length: 16 .*from 32 to 128"),
        ({"snapshot_retention_days": 36}, r"snapshot_retention_days: 36 .*from 0 to 35"),
        ({"snapshot_window": "3-4"}, r"snapshot_window: '3-4' .*'hh:mm-hh:mm'"),
        ({"maintenance_window": "sunday"}, r"maintenance_window: 'sunday' .*'ddd:hh:mm-ddd:hh:mm'"),
        ({"node_type": "t4g.micro"}, r"node_type: 't4g\.micro' .*'cache\.t4g\.micro'"),
    ],
)
def test_each_invalid_prop_raises_its_own_error(props, message):
    stack, vpc = bare_stack()
    with pytest.raises(ValueError, match=message):
        RedisReplicationGroup(stack, "Cache", vpc=vpc, **props)
