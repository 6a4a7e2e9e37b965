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
