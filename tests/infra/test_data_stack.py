"""The data stack per environment: topology, engines, protection and removal policies from the config."""

from __future__ import annotations

import pytest
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk.assertions import Match

from config import ENVIRONMENT_NAMES
from tests.infra.templates import resources_of_type


def _data(env):
    return env.template(env.stage.data)


def _writer_and_replicas(template: dict) -> tuple[dict, list[dict]]:
    instances = list(resources_of_type(template, "AWS::RDS::DBInstance").values())
    writers = [i for i in instances if "SourceDBInstanceIdentifier" not in i["Properties"]]
    assert len(writers) == 1
    return writers[0], [i for i in instances if "SourceDBInstanceIdentifier" in i["Properties"]]


def test_dev_runs_one_cache_node_without_failover(dev):
    _data(dev).has_resource_properties(
        "AWS::ElastiCache::ReplicationGroup",
        {"NumCacheClusters": 1, "AutomaticFailoverEnabled": False, "MultiAZEnabled": False},
    )


@pytest.mark.parametrize("name", ["staging", "prod"])
def test_staging_and_prod_fail_over_across_azs(synthesized, name):
    env = synthesized[name]
    _data(env).has_resource_properties(
        "AWS::ElastiCache::ReplicationGroup",
        {
            "NumCacheClusters": 1 + env.config.cache.replicas_per_shard,
            "AutomaticFailoverEnabled": True,
            "MultiAZEnabled": True,
            "CacheNodeType": env.config.cache.node_type,
        },
    )


@pytest.mark.parametrize(
    ("name", "engine", "version", "family"),
    [
        ("dev", "redis", "7.1", "redis7"),
        ("staging", "valkey", "8.0", "valkey8"),
        ("prod", "redis", "7.1", "redis7"),
    ],
)
def test_engine_and_parameter_group_family_follow_the_config(synthesized, name, engine, version, family):
    template = _data(synthesized[name])
    template.has_resource_properties(
        "AWS::ElastiCache::ReplicationGroup", {"Engine": engine, "EngineVersion": version}
    )
    template.has_resource_properties(
        "AWS::ElastiCache::ParameterGroup", {"CacheParameterGroupFamily": family}
    )


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_cache_snapshots_windows_and_logs_follow_the_config(synthesized, name):
    env = synthesized[name]
    cache = env.config.cache
    template = _data(env)
    template.has_resource_properties(
        "AWS::ElastiCache::ReplicationGroup",
        {
            "Port": cache.port,
            "SnapshotRetentionLimit": cache.snapshot_retention_days,
            "SnapshotWindow": cache.snapshot_window,
            "PreferredMaintenanceWindow": cache.maintenance_window,
        },
    )
    groups = resources_of_type(template.to_json(), "AWS::Logs::LogGroup").values()
    assert sorted(g["Properties"]["RetentionInDays"] for g in groups) == [cache.log_retention_days] * 2


def test_cache_uses_a_subnet_group_on_the_isolated_data_subnets(dev):
    network = dev.stage.network
    ids = [dev.stage.data.resolve(subnet.subnet_id) for subnet in network.vpc.isolated_subnets]
    assert len(ids) == dev.config.network.max_azs
    for resource_type in (
        "AWS::ElastiCache::SubnetGroup",
        "AWS::RDS::DBSubnetGroup",
        "AWS::DAX::SubnetGroup",
    ):
        for subnet_group in resources_of_type(_data(dev).to_json(), resource_type).values():
            assert subnet_group["Properties"]["SubnetIds"] == ids, resource_type


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_database_matches_the_config(synthesized, name):
    env = synthesized[name]
    database = env.config.database
    writer, replicas = _writer_and_replicas(_data(env).to_json())
    props = writer["Properties"]
    assert props["EngineVersion"] == database.engine_version
    assert props["DBInstanceClass"] == f"db.{database.instance_class}"
    assert props["MultiAZ"] is database.multi_az
    assert props["BackupRetentionPeriod"] == database.backup_retention_days
    assert props["Port"] == str(database.port)
    assert props["DBName"] == database.database_name
    assert props["EnablePerformanceInsights"] is database.performance_insights
    assert len(replicas) == database.read_replica_count
    _data(env).has_resource_properties(
        "Custom::LogRetention",
        {"RetentionInDays": database.log_retention_days, "LogGroupName": Match.any_value()},
    )


def test_prod_database_is_protected_and_snapshotted(prod):
    writer, replicas = _writer_and_replicas(_data(prod).to_json())
    assert writer["Properties"]["DeletionProtection"] is True
    assert writer["DeletionPolicy"] == "Snapshot"
    assert all(replica["Properties"]["DeletionProtection"] is True for replica in replicas)
    assert {replica["DeletionPolicy"] for replica in replicas} == {"Delete"}  # no data of their own


def test_dev_database_tears_down_cleanly(dev):
    writer, replicas = _writer_and_replicas(_data(dev).to_json())
    assert writer["Properties"]["DeletionProtection"] is False
    assert writer["Properties"]["DeleteAutomatedBackups"] is True
    assert writer["DeletionPolicy"] == "Delete"
    assert {replica["DeletionPolicy"] for replica in replicas} == {"Delete"}


def test_read_replicas_are_in_other_azs_than_a_single_az_writer(dev):
    writer, replicas = _writer_and_replicas(_data(dev).to_json())
    assert writer["Properties"]["AvailabilityZone"]["Fn::Select"][0] == 0
    assert all(replica["Properties"]["AvailabilityZone"]["Fn::Select"][0] != 0 for replica in replicas)


def test_prod_spreads_two_replicas_over_the_other_azs(prod):
    _, replicas = _writer_and_replicas(_data(prod).to_json())
    assert sorted(replica["Properties"]["AvailabilityZone"]["Fn::Select"][0] for replica in replicas) == [
        1,
        2,
    ]


@pytest.mark.parametrize(
    ("name", "cache_policy", "stateless_policy"),
    [("dev", "Delete", "Delete"), ("staging", "Snapshot", "Retain"), ("prod", "Snapshot", "Retain")],
)
def test_removal_policies_per_environment(synthesized, name, cache_policy, stateless_policy):
    template = _data(synthesized[name])
    template.has_resource("AWS::ElastiCache::ReplicationGroup", {"DeletionPolicy": cache_policy})
    template.has_resource("AWS::DynamoDB::Table", {"DeletionPolicy": stateless_policy})
    # DAX only holds copies of table items: it never outlives its stack unless everything is retained.
    template.has_resource("AWS::DAX::Cluster", {"DeletionPolicy": "Delete"})


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_dax_nodes_and_ttls_follow_the_config(synthesized, name):
    env = synthesized[name]
    dax = env.config.dax
    template = _data(env)
    template.has_resource_properties(
        "AWS::DAX::Cluster", {"NodeType": dax.node_type, "ReplicationFactor": dax.node_count}
    )
    template.has_resource_properties(
        "AWS::DAX::ParameterGroup",
        {
            "ParameterNameValues": {
                "record-ttl-millis": str(dax.item_ttl_seconds * 1000),
                "query-ttl-millis": str(dax.query_ttl_seconds * 1000),
            }
        },
    )


def test_table_is_on_demand_with_point_in_time_recovery(synthesized):
    for env in synthesized.values():
        _data(env).has_resource_properties(
            "AWS::DynamoDB::Table",
            {
                "BillingMode": "PAY_PER_REQUEST",
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                "DeletionProtectionEnabled": env.config.deletion_protection,
            },
        )


def test_database_secret_rotates_inside_the_vpc_through_the_endpoint(dev):
    network, data = dev.stage.network, dev.stage.data
    _data(dev).has_resource_properties(
        "AWS::SecretsManager::RotationSchedule",
        {
            "HostedRotationLambda": Match.object_like({"RotationType": "MySQLSingleUser"}),
            "RotationRules": {"ScheduleExpression": f"rate({dev.config.database.secret_rotation_days} days)"},
        },
    )
    # The rotation function runs in a group of its own, which the endpoint admits on 443.
    rotation_group = network.resolve(network.database_rotation_security_group.security_group_id)
    endpoint_group = network.resolve(
        network.secrets_manager_endpoint.connections.security_groups[0].security_group_id
    )
    dev.template(network).has_resource_properties(
        "AWS::EC2::SecurityGroupIngress",
        {"GroupId": endpoint_group, "SourceSecurityGroupId": rotation_group, "FromPort": 443, "ToPort": 443},
    )
    assert data.database.rotation_security_group is network.database_rotation_security_group


def test_public_surface_for_the_other_tiers(dev):
    data = dev.stage.data
    assert data.cache.port == dev.config.cache.port
    assert data.cache_auth_secret is data.cache.auth_token_secret
    assert data.database.port == dev.config.database.port
    assert data.dax.port == 9111
    for metric in (
        data.cache.metric_cache_hit_rate(),
        data.cache.metric_evictions(),
        data.cache.metric_engine_cpu_utilization(),
        data.cache.metric_database_memory_usage_percentage(),
        data.cache.metric_curr_connections(),
        data.database.metric_cpu_utilization(),
        *data.database.metric_replica_lags(),
        data.dax.metric_item_cache_hits(),
        data.dax.metric_item_cache_misses(),
        data.dax.metric_error_request_count(),
    ):
        leaves = metric.using_metrics.values() if isinstance(metric, cloudwatch.MathExpression) else [metric]
        assert {leaf.namespace for leaf in leaves} <= {"AWS/ElastiCache", "AWS/RDS", "AWS/DAX"}
