"""DaxCluster on a bare stack: encryption, TLS port, TTLs, a role scoped to its table, grants, bad props."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Match, Template

from caching_constructs.data.dax_cluster import READ_ACTIONS, WRITE_ACTIONS, DaxCluster
from tests.infra.bare_stack import bare_stack


def _dax(**props):
    stack, vpc = bare_stack()
    table = dynamodb.Table(
        stack, "Table", partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING)
    )
    return stack, table, DaxCluster(stack, "Dax", vpc=vpc, tables=[table], **props)


def test_cluster_is_encrypted_at_rest_and_in_transit():
    stack, _, dax = _dax()
    Template.from_stack(stack).has_resource_properties(
        "AWS::DAX::Cluster",
        {
            "SSESpecification": {"SSEEnabled": True},
            "ClusterEndpointEncryptionType": "TLS",
            "ReplicationFactor": 3,
        },
    )
    assert stack.resolve(dax.connections.default_port.to_string()) == "9111"


def test_ttls_go_to_the_parameter_group_in_milliseconds():
    stack, _, _ = _dax(item_ttl=cdk.Duration.seconds(90), query_ttl=cdk.Duration.seconds(30))
    Template.from_stack(stack).has_resource_properties(
        "AWS::DAX::ParameterGroup",
        {"ParameterNameValues": {"record-ttl-millis": "90000", "query-ttl-millis": "30000"}},
    )


def test_service_role_reaches_only_its_table():
    stack, table, _ = _dax()
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [Match.object_like({"Principal": {"Service": "dax.amazonaws.com"}})]
            }
        },
    )
    policies = template.find_resources("AWS::IAM::Policy")
    resources = [
        statement["Resource"]
        for policy in policies.values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    table_arn = stack.resolve(table.table_arn)
    # Resource is a list here: a table with indexes would add "<arn>/index/*" next to it, and nothing else.
    assert resources and all(resource in (table_arn, [table_arn]) for resource in resources), resources


def test_cluster_waits_for_its_role_policy():
    stack, _, _ = _dax()
    (cluster,) = Template.from_stack(stack).find_resources("AWS::DAX::Cluster").values()
    assert any("ServiceRoleDefaultPolicy" in dependency for dependency in cluster["DependsOn"])


def test_grants_are_dax_data_plane_actions_on_the_cluster_arn():
    stack, _, dax = _dax()
    reader = iam.Role(stack, "Reader", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    writer = iam.Role(stack, "Writer", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    dax.grant_read_data(reader)
    dax.grant_write_data(writer)
    template = Template.from_stack(stack)
    for role, actions in ((reader, READ_ACTIONS), (writer, WRITE_ACTIONS)):
        template.has_resource_properties(
            "AWS::IAM::Policy",
            {
                "Roles": [stack.resolve(role.role_name)],
                "PolicyDocument": {
                    "Statement": [
                        {
                            "Action": list(actions),
                            "Effect": "Allow",
                            "Resource": stack.resolve(dax.cluster_arn),
                        }
                    ]
                },
            },
        )
    assert all(action.startswith("dax:") for action in READ_ACTIONS + WRITE_ACTIONS)


def test_metrics_use_the_dax_namespace_and_cluster_dimension():
    stack, _, dax = _dax()
    for metric, name in (
        (dax.metric_item_cache_hits(), "ItemCacheHits"),
        (dax.metric_item_cache_misses(), "ItemCacheMisses"),
        (dax.metric_error_request_count(), "ErrorRequestCount"),
    ):
        assert (metric.namespace, metric.metric_name, metric.statistic) == ("AWS/DAX", name, "Sum")
        assert stack.resolve(metric.dimensions["ClusterId"]) == stack.resolve(dax.cluster_name)


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"tables": []}, r"tables: \[\] .*at least one DynamoDB table"),
        ({"replication_factor": 0}, r"replication_factor: 0 .*from 1 to 11"),
        ({"node_type": "cache.t3.small"}, r"node_type: 'cache\.t3\.small' .*'dax\.t3\.small'"),
        ({"item_ttl": cdk.Duration.days(31)}, r"item_ttl \(seconds\): 2678400 .*from 0 to 2592000 seconds"),
        ({"removal_policy": cdk.RemovalPolicy.SNAPSHOT}, r"removal_policy: 'SNAPSHOT' .*no snapshots"),
        ({"maintenance_window": "sun 5am"}, r"maintenance_window: 'sun 5am'"),
    ],
)
def test_each_invalid_prop_raises_its_own_error(props, message):
    stack, vpc = bare_stack()
    table = dynamodb.Table(
        stack, "Table", partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING)
    )
    with pytest.raises(ValueError, match=message):
        DaxCluster(stack, "Dax", vpc=vpc, **{"tables": [table], **props})
