"""Prod's Global Datastore read path: the secondary region's Api stack and the primary's refill function."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template


@pytest.fixture(scope="module")
def secondary(prod):
    (region,) = prod.stage.secondary_regions
    return region


def test_the_secondary_api_stack_is_pinned_to_its_region_and_reads_the_primarys_outputs(prod, secondary):
    api = secondary.api
    assert (api.region, api.stack_name) == ("us-west-2", "prod-us-west-2-Api")
    template = json.dumps(Template.from_stack(api).to_json())
    for output in ("RefillQueueUrl", "RefillQueueArn", "DatabaseSecretFullName"):
        assert f'"OutputName": "{output}"' in template
    assert '"Region": "us-east-1"' in template


def test_the_secondary_function_runs_read_only_against_the_local_member_and_replica(secondary):
    template = Template.from_stack(secondary.api)
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Environment": {
                "Variables": Match.object_like(
                    {
                        "CACHE_ROLE": "secondary",
                        "CACHE_L1_ENABLED": "false",
                        "REDIS_IAM_AUTH": "true",
                        "CACHE_REFILL_QUEUE_URL": Match.any_value(),
                        "DB_WRITER_HOST": Match.any_value(),
                        "DB_SECRET_ARN": Match.any_value(),
                    }
                )
            }
        },
    )
    # Cross-region SQS goes over the NAT: its own group's only egress to the internet is HTTPS.
    template.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {
            "SecurityGroupEgress": Match.array_with(
                [Match.object_like({"CidrIp": "0.0.0.0/0", "FromPort": 443})]
            )
        },
    )


def test_the_secondary_api_serves_the_same_routes_with_a_stage_cache(secondary):
    template = Template.from_stack(secondary.api)
    template.has_resource_properties("AWS::ApiGateway::Stage", {"CacheClusterEnabled": True})
    methods = {
        each["Properties"]["HttpMethod"]
        for each in template.find_resources("AWS::ApiGateway::Method").values()
    }
    assert {"GET", "PUT", "POST"} <= methods


def test_the_secondary_cache_member_has_its_own_user_group_with_a_read_only_user(secondary):
    template = Template.from_stack(secondary.data)
    template.has_resource_properties(
        "AWS::ElastiCache::ReplicationGroup", {"UserGroupIds": Match.any_value()}
    )
    users = template.find_resources("AWS::ElastiCache::User")
    access = sorted(each["Properties"]["AccessString"] for each in users.values())
    assert any("+get" in each and "+set" not in each and "+evalsha" not in each for each in access)


def test_the_primary_drains_the_refill_queue_through_a_dead_lettered_tls_only_queue(prod):
    (primary,) = [s for s in prod.stacks() if s.stack_name == "prod-GlobalDatastore"]
    template = Template.from_stack(primary)
    template.has_resource_properties(
        "AWS::Lambda::Function", {"Handler": "functions.secondary_refill.lambda_handler"}
    )
    template.has_resource_properties(
        "AWS::SQS::Queue", {"RedrivePolicy": Match.any_value(), "SqsManagedSseEnabled": True}
    )
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping", {"FunctionResponseTypes": ["ReportBatchItemFailures"]}
    )
    for output in ("RefillQueueUrl", "RefillQueueArn", "DatabaseSecretFullName"):
        template.has_output(output, {})


def test_the_database_secret_is_replicated_to_the_secondary_region(prod):
    template = Template.from_stack(prod.stage.data)
    template.has_resource_properties(
        "AWS::SecretsManager::Secret", {"ReplicaRegions": [{"Region": "us-west-2"}]}
    )


def test_a_secondary_member_refuses_the_well_known_port_as_the_primary_does():
    """So cdk-nag's AEC5 cannot fire on the member, which therefore carries no exemption for it."""
    from caching_constructs.elasticache.global_datastore import SecondaryReplicationGroup
    from tests.infra.bare_stack import bare_stack

    stack, vpc = bare_stack()
    with pytest.raises(ValueError, match=r"port: 6379 .*well-known 6379"):
        SecondaryReplicationGroup(
            stack,
            "Member",
            vpc=vpc,
            global_replication_group_id="ldgnf-catalogue",
            parameter_group_family="redis7",
            replicas=1,
            port=6379,
            kms_key=None,
        )


def test_the_secondary_region_alarms_on_both_replication_lags_and_its_read_path(prod, secondary):
    """In the secondary's own region (an alarm must live with its metric), to its own encrypted topic that the
    environment's addresses subscribe to."""
    template = Template.from_stack(secondary.monitoring)
    assert secondary.monitoring.region == "us-west-2"
    alarms = {
        (alarm["Properties"]["Namespace"], alarm["Properties"]["MetricName"]): alarm["Properties"]
        for alarm in template.find_resources("AWS::CloudWatch::Alarm").values()
    }
    lag = prod.config.monitoring.replica_lag_seconds
    assert alarms[("AWS/ElastiCache", "GlobalDatastoreReplicationLag")]["Threshold"] == lag
    assert alarms[("AWS/RDS", "ReplicaLag")]["Threshold"] == lag
    assert alarms[("AWS/ApiGateway", "5XXError")]["Threshold"] == prod.config.monitoring.api_5xx_errors
    assert alarms[("AWS/Lambda", "Errors")]["Threshold"] == prod.config.monitoring.function_errors
    replica = json.dumps(alarms[("AWS/RDS", "ReplicaLag")]["Dimensions"])
    assert '"StackName": "prod-us-west-2-Data"' in replica  # the cross-region replica, not a primary one
    (topic,) = template.find_resources("AWS::SNS::Topic")
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [{"Ref": topic}] == alarm["OKActions"]
    emails = {
        each["Properties"]["Endpoint"] for each in template.find_resources("AWS::SNS::Subscription").values()
    }
    assert emails == set(prod.config.monitoring.alarm_emails)
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})


def _api_behaviors(env) -> tuple[dict, list[dict]]:
    (distribution,) = (
        Template.from_stack(env.stage.edge).find_resources("AWS::CloudFront::Distribution").values()
    )
    config = distribution["Properties"]["DistributionConfig"]
    return config, config["CacheBehaviors"]


def test_cloudfront_fails_reads_over_to_the_secondary_api_and_sends_no_write_there(prod):
    config, behaviors = _api_behaviors(prod)
    (group,) = config["OriginGroups"]["Items"]
    assert group["FailoverCriteria"]["StatusCodes"]["Items"] == [500, 502, 503, 504]
    primary, fallback = (member["OriginId"] for member in group["Members"]["Items"])
    origins = {origin["Id"]: json.dumps(origin) for origin in config["Origins"]}
    assert '"StackName": "prod-Api"' in origins[primary]
    assert (
        '"StackName": "prod-us-west-2-Api", "Region": "us-west-2", "OutputName": "ApiUrl"'
        in origins[fallback]
    )
    assert '"OriginProtocolPolicy": "https-only"' in origins[fallback]
    # CloudFront refuses writes on a behavior with an origin group: writes call the primary's ApiUrl.
    assert {(b["TargetOriginId"], tuple(b["AllowedMethods"])) for b in behaviors} == {
        (group["Id"], ("GET", "HEAD"))
    }
    edge_dependencies = {stack.stack_name for stack in prod.stage.edge.dependencies}
    assert "prod-us-west-2-Api" in edge_dependencies


def test_a_single_region_environment_keeps_one_api_origin_that_takes_writes(dev):
    config, behaviors = _api_behaviors(dev)
    assert "OriginGroups" not in config
    assert all({"POST", "PUT", "DELETE"} <= set(b["AllowedMethods"]) for b in behaviors)


def _secondary_data_policies(stage) -> dict[str, str]:
    """DeletionPolicy of the secondary region's key, cache member and database replica."""
    (region,) = stage.secondary_regions
    resources = Template.from_stack(region.data).to_json()["Resources"]
    kinds = {
        "AWS::KMS::Key": "key",
        "AWS::ElastiCache::ReplicationGroup": "cache member",
        "AWS::RDS::DBInstance": "database replica",
    }
    return {
        kinds[r["Type"]]: r.get("DeletionPolicy", "Delete") for r in resources.values() if r["Type"] in kinds
    }


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        # Copies go unless everything is kept; their key is kept unless everything goes.
        ("destroy", {"key": "Delete", "cache member": "Delete", "database replica": "Delete"}),
        ("snapshot", {"key": "Retain", "cache member": "Delete", "database replica": "Delete"}),
        ("retain", {"key": "Retain", "cache member": "Retain", "database replica": "Retain"}),
    ],
)
def test_the_secondary_regions_copies_follow_the_environments_removal_policy(tmp_path, setting, expected):
    import dataclasses

    from config import load_environment
    from stacks.stage import CachingStage
    from tests.infra.conftest import new_app

    config = dataclasses.replace(load_environment("prod"), removal_policy=setting)
    stage = CachingStage(new_app(tmp_path), "prod", config=config)
    assert _secondary_data_policies(stage) == expected
