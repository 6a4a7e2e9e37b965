"""Each kind of billable resource is priced as AWS bills it: small hand-built templates, priced from the
pinned us-east-1 table at a stated traffic profile."""

from __future__ import annotations

import pytest

from config.cost import CostSettings
from cost.estimate import estimate
from cost.prices import MissingPriceError, load_prices
from cost.usage import runs_per_month

PRICES = load_prices()
MONTH = 730


def usd(key: str) -> float:
    return PRICES.usd(key)


def price(*resources: tuple[str, str, dict], profile: CostSettings | None = None):
    """The estimate of one stack holding ``resources`` as (logical id, type, properties)."""
    stack = {"Resources": {lid: {"Type": kind, "Properties": props} for lid, kind, props in resources}}
    return estimate("test", {"Stack": stack}, profile or CostSettings())


def total(result, item_prefix: str = "") -> float:
    return sum(line.monthly_usd for line in result.lines if line.item.startswith(item_prefix))


def test_each_nat_gateway_and_its_elastic_ip_are_billed_every_hour():
    result = price(("Nat", "AWS::EC2::NatGateway", {}), ("Eip", "AWS::EC2::EIP", {"Domain": "vpc"}))
    assert total(result, "NAT gateway") == pytest.approx(MONTH * usd("ec2/nat-gateway-hour"))
    assert total(result, "Elastic IP") == pytest.approx(MONTH * usd("vpc/public-ipv4-hour"))
    profile = CostSettings(nat_processed_gb_per_month=100)
    assert total(price(("Nat", "AWS::EC2::NatGateway", {}), profile=profile), "NAT data") == pytest.approx(
        4.5
    )


def test_an_interface_endpoint_is_billed_per_az_and_a_gateway_endpoint_is_free():
    subnets = [{"Ref": f"Subnet{i}"} for i in range(3)]
    interface = {"VpcEndpointType": "Interface", "SubnetIds": subnets}
    result = price(("Sqs", "AWS::EC2::VPCEndpoint", interface), ("S3", "AWS::EC2::VPCEndpoint", {}))
    assert total(result, "interface endpoint (per AZ)") == pytest.approx(3 * MONTH * 0.01)
    assert total(result, "interface endpoint data") == pytest.approx(0.5 * usd("vpc/interface-endpoint-gb"))
    assert total(price(("S3", "AWS::EC2::VPCEndpoint", {"VpcEndpointType": "Gateway"}))) == 0


@pytest.mark.parametrize(
    ("properties", "nodes"),
    [
        ({"NumCacheClusters": 3}, 3),
        ({}, 1),
        ({"NumNodeGroups": 2, "ReplicasPerNodeGroup": 2}, 6),
        ({"NodeGroupConfiguration": [{"ReplicaCount": 1}, {"ReplicaCount": 2}]}, 5),
    ],
)
def test_a_replication_group_is_billed_per_node_primary_and_replicas_per_shard(properties, nodes):
    group = {"Engine": "redis", "CacheNodeType": "cache.r7g.large", **properties}
    result = price(("Cache", "AWS::ElastiCache::ReplicationGroup", group))
    assert total(result) == pytest.approx(nodes * MONTH * usd("elasticache/node-hour/redis/cache.r7g.large"))


def test_valkey_nodes_cost_a_fifth_less_and_memcached_is_billed_per_cluster_node():
    redis, valkey = (
        total(
            price(
                ("C", "AWS::ElastiCache::ReplicationGroup", {"Engine": e, "CacheNodeType": "cache.t4g.small"})
            )
        )
        for e in ("redis", "valkey")
    )
    assert valkey == pytest.approx(0.8 * redis)
    memcached = {"Engine": "memcached", "CacheNodeType": "cache.t4g.micro", "NumCacheNodes": 2}
    result = price(("Memcached", "AWS::ElastiCache::CacheCluster", memcached))
    assert total(result) == pytest.approx(2 * MONTH * usd("elasticache/node-hour/memcached/cache.t4g.micro"))


def test_a_serverless_cache_is_billed_for_data_stored_at_least_its_minimum_and_ecpus():
    profile = CostSettings(storage_gb=0.05, viewer_requests_per_month=4_000_000, cache_ecpus_per_request=3)
    result = price(("Cache", "AWS::ElastiCache::ServerlessCache", {"Engine": "valkey"}), profile=profile)
    assert total(result, "valkey serverless data") == pytest.approx(0.1 * MONTH * 0.084)
    # 4 M viewer requests, half to the API, half of those past the stage cache: 1 M invocations, 3 ECPUs each.
    assert total(result, "valkey serverless ECPUs") == pytest.approx(3 * 0.0023)
    redis = price(("Cache", "AWS::ElastiCache::ServerlessCache", {"Engine": "redis"}), profile=profile)
    assert total(redis, "redis serverless data") == pytest.approx(1.0 * MONTH * 0.125)


WRITER = {
    "Engine": "mysql",
    "EngineVersion": "8.4.10",
    "DBInstanceClass": "db.r7g.large",
    "StorageType": "gp3",
}


def test_a_multi_az_writer_costs_two_instances_and_two_volumes_and_a_replica_inherits_the_storage():
    replica = {
        "DBInstanceClass": "db.r7g.large",
        "SourceDBInstanceIdentifier": {"Fn::GetAtt": ["Writer", "Arn"]},
    }
    result = price(
        ("Writer", "AWS::RDS::DBInstance", {**WRITER, "MultiAZ": True, "AllocatedStorage": "100"}),
        ("Replica", "AWS::RDS::DBInstance", replica),
    )
    instance = MONTH * usd("rds/instance-hour/mysql/db.r7g.large")
    assert total(result, "mysql db.r7g.large writer (Multi-AZ)") == pytest.approx(2 * instance)
    assert total(result, "mysql db.r7g.large read replica") == pytest.approx(instance)
    assert total(result, "gp3 storage") == pytest.approx((2 * 100 + 100) * 0.115)


def test_performance_insights_is_free_for_7_days_and_billed_per_vcpu_beyond():
    free = price(("Db", "AWS::RDS::DBInstance", {**WRITER, "EnablePerformanceInsights": True}))
    assert total(free, "Performance Insights") == 0
    assert any("7 days of history are free" in note for note in free.notes)
    longer = {**WRITER, "EnablePerformanceInsights": True, "PerformanceInsightsRetentionPeriod": 93}
    result = price(("Db", "AWS::RDS::DBInstance", longer))
    assert total(result, "Performance Insights 93 d") == pytest.approx(2 * MONTH * 0.0125)


def test_extended_support_is_billed_per_vcpu_only_past_standard_support_and_when_not_declined():
    old = {**WRITER, "EngineVersion": "8.0.43", "DBInstanceClass": "db.r7g.xlarge"}
    assert total(price(("Db", "AWS::RDS::DBInstance", old)), "Extended Support") == pytest.approx(
        4 * MONTH * 0.1
    )
    declined = {**old, "EngineLifecycleSupport": "open-source-rds-extended-support-disabled"}
    assert total(price(("Db", "AWS::RDS::DBInstance", declined)), "Extended Support") == 0
    assert total(price(("Db", "AWS::RDS::DBInstance", WRITER)), "Extended Support") == 0


def test_dax_is_billed_per_node_and_dynamodb_on_demand_per_request_and_stored_gb():
    result = price(("Dax", "AWS::DAX::Cluster", {"NodeType": "dax.r5.large", "ReplicationFactor": 3}))
    assert total(result) == pytest.approx(3 * MONTH * 0.269)
    table = {
        "BillingMode": "PAY_PER_REQUEST",
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
    }
    profile = CostSettings(
        dynamodb_reads_per_month=8_000_000, dynamodb_writes_per_month=2_000_000, storage_gb=10
    )
    result = price(("Table", "AWS::DynamoDB::Table", table), profile=profile)
    assert total(result, "DynamoDB reads") == pytest.approx(8 * 0.125)
    assert total(result, "DynamoDB writes") == pytest.approx(2 * 0.625)
    assert total(result, "DynamoDB storage") == pytest.approx(10 * 0.25)
    assert total(result, "DynamoDB point-in-time") == pytest.approx(10 * 0.2)


def test_the_api_stage_cache_is_billed_by_size_and_requests_by_the_million():
    stage = {"CacheClusterEnabled": True, "CacheClusterSize": "1.6"}
    assert total(price(("Stage", "AWS::ApiGateway::Stage", stage))) == pytest.approx(MONTH * 0.038)
    assert total(price(("Stage", "AWS::ApiGateway::Stage", {"CacheClusterEnabled": False}))) == 0
    profile = CostSettings(viewer_requests_per_month=10_000_000, edge_hit_ratio=0.8)
    result = price(("Api", "AWS::ApiGateway::RestApi", {}), profile=profile)
    assert total(result, "REST API requests") == pytest.approx(2 * 3.5)


def test_keys_secrets_web_acls_and_their_rules_are_billed_monthly_and_requests_by_scope():
    rules = [{"Name": f"Rule{i}"} for i in range(5)]
    profile = CostSettings(viewer_requests_per_month=10_000_000, edge_hit_ratio=0.5)
    result = price(
        ("Key", "AWS::KMS::Key", {}),
        ("Secret", "AWS::SecretsManager::Secret", {}),
        ("Edge", "AWS::WAFv2::WebACL", {"Scope": "CLOUDFRONT", "Rules": rules}),
        ("Api", "AWS::WAFv2::WebACL", {"Scope": "REGIONAL", "Rules": rules[:2]}),
        profile=profile,
    )
    assert total(result, "KMS") == 1.0 and total(result, "Secrets Manager") == 0.4
    assert total(result, "WAF web ACL") == 10.0 and total(result, "WAF rule") == 7.0
    # CloudFront's ACL sees every viewer request, the API's only CloudFront's misses.
    assert total(result, "WAF requests") == pytest.approx((10 + 5) * 0.6)


def test_alarms_are_billed_per_metric_and_dashboards_per_month():
    math = {
        "Metrics": [
            {"Id": "e", "Expression": "a + b"},
            {"Id": "a", "MetricStat": {"Period": 60}},
            {"Id": "b", "MetricStat": {"Period": 60}},
        ]
    }
    result = price(
        ("One", "AWS::CloudWatch::Alarm", {"Period": 300}),
        ("Math", "AWS::CloudWatch::Alarm", math),
        ("Fast", "AWS::CloudWatch::Alarm", {"Period": 10}),
        ("Composite", "AWS::CloudWatch::CompositeAlarm", {}),
        ("Board", "AWS::CloudWatch::Dashboard", {}),
    )
    assert total(result, "alarm metric") == pytest.approx(3 * 0.1 + 0.3)
    assert total(result, "composite alarm") == 0.5 and total(result, "dashboard") == 3.0


def test_log_ingestion_is_priced_at_the_stated_volume_and_kept_for_the_groups_retention():
    profile = CostSettings(log_ingestion_gb_per_month=10)
    result = price(("Logs", "AWS::Logs::LogGroup", {"RetentionInDays": 365}), profile=profile)
    assert total(result, "log ingestion") == pytest.approx(5.0)
    assert total(result, "log storage") == pytest.approx(10 * 12 * 0.03)


def _function(memory: int = 1024, **properties) -> dict:
    return {"MemorySize": memory, "Architectures": ["arm64"], "Timeout": 60, **properties}


def test_functions_are_billed_for_what_invokes_them_and_not_for_deploy_time_handlers():
    integration = {"Integration": {"Uri": {"Fn::Join": ["", [{"Fn::GetAtt": ["ApiFn", "Arn"]}]]}}}
    schedule = {"ScheduleExpression": "rate(1 hour)", "Targets": [{"Arn": {"Fn::GetAtt": ["JobFn", "Arn"]}}]}
    profile = CostSettings(viewer_requests_per_month=4_000_000, function_duration_ms=100)
    result = price(
        ("ApiFn", "AWS::Lambda::Function", _function()),
        ("Method", "AWS::ApiGateway::Method", integration),
        ("JobFn", "AWS::Lambda::Function", _function()),
        ("Schedule", "AWS::Events::Rule", schedule),
        ("DeployFn", "AWS::Lambda::Function", _function()),
        profile=profile,
    )
    # 1 M invocations past CloudFront and the stage cache, 0.1 s at 1 GB each.
    assert total(result, "Lambda ApiFn requests") == pytest.approx(0.2)
    assert total(result, "Lambda ApiFn compute") == pytest.approx(100_000 * usd("lambda/gb-second/arm64"))
    # Hourly, priced at its 60 s timeout.
    assert total(result, "Lambda JobFn compute") == pytest.approx(MONTH * 60 * usd("lambda/gb-second/arm64"))
    assert total(result, "Lambda DeployFn") == 0


def test_queue_requests_include_the_pollers_idle_long_polls():
    mapping = {"EventSourceArn": {"Fn::GetAtt": ["Queue", "Arn"]}, "FunctionName": {"Ref": "Fn"}}
    profile = CostSettings(writes_per_month=1_000_000)
    result = price(
        ("Queue", "AWS::SQS::Queue", {}),
        ("Fn", "AWS::Lambda::Function", _function()),
        ("Mapping", "AWS::Lambda::EventSourceMapping", mapping),
        profile=profile,
    )
    idle = 5 * 3 * 60 * MONTH
    assert total(result, "SQS requests") == pytest.approx((3_000_000 + idle) * 0.4 / 1_000_000)
    assert total(result, "Lambda Fn requests") == pytest.approx(0.2)


def test_cloudfront_is_billed_for_transfer_out_requests_and_its_additional_metrics():
    profile = CostSettings(viewer_requests_per_month=1_048_576, average_response_kb=10)
    result = price(
        ("Cdn", "AWS::CloudFront::Distribution", {}),
        ("Metrics", "AWS::CloudFront::MonitoringSubscription", {}),
        profile=profile,
    )
    assert total(result, "CloudFront transfer out") == pytest.approx(10 * 0.085)
    assert total(result, "CloudFront HTTPS requests") == pytest.approx(1_048_576 / 10_000 * 0.01)
    assert total(result, "CloudFront additional metrics") == pytest.approx(8 * 0.3)


def test_active_tracing_is_billed_for_the_sampled_traces():
    # 1 request a second on average: the sampling reservoir keeps each one.
    profile = CostSettings(viewer_requests_per_month=2 * MONTH * 3600, edge_hit_ratio=0.5)
    result = price(
        ("Fn", "AWS::Lambda::Function", _function(TracingConfig={"Mode": "Active"})), profile=profile
    )
    assert total(result, "X-Ray traces") == pytest.approx(MONTH * 3600 * 5 / 1_000_000)


def test_an_unknown_resource_type_is_reported_unpriced_not_priced_at_zero():
    result = price(
        ("Box", "AWS::EC2::Instance", {"InstanceType": "m7g.large"}), ("Sg", "AWS::EC2::SecurityGroup", {})
    )
    assert result.unpriced == ("AWS::EC2::Instance",)


@pytest.mark.parametrize(
    ("expression", "runs"),
    [
        ("cron(0 4 * * ? *)", MONTH / 24),
        ("rate(5 minutes)", MONTH * 12),
        ("rate(1 day)", MONTH / 24),
        ("cron(0/15 * ? * MON-FRI *)", 4 * 24 * MONTH / 24 * 5 / 7),
    ],
)
def test_a_schedule_runs_as_often_as_its_expression_says(expression, runs):
    assert runs_per_month(expression) == pytest.approx(runs)


def test_a_price_the_table_lacks_is_an_error_not_zero():
    with pytest.raises(MissingPriceError, match=r"no us-east-1 price for 'dax/node-hour/dax\.x9\.huge'"):
        price(("Dax", "AWS::DAX::Cluster", {"NodeType": "dax.x9.huge", "ReplicationFactor": 1}))
