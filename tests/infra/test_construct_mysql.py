"""MySqlDatabase on a bare stack: TLS-only server, IAM auth, rotation in the VPC, replicas, bad props."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Match, Template

from caching_constructs.data.mysql_database import MySqlDatabase
from tests.infra.bare_stack import bare_stack, isolated_subnet_refs


def _database(**props):
    stack, vpc = bare_stack()
    return stack, vpc, MySqlDatabase(stack, "Database", vpc=vpc, **props)


def _instances(template: Template) -> tuple[dict, list[dict]]:
    instances = [r["Properties"] for r in template.find_resources("AWS::RDS::DBInstance").values()]
    writers = [p for p in instances if "SourceDBInstanceIdentifier" not in p]
    return writers[0], [p for p in instances if "SourceDBInstanceIdentifier" in p]


def test_writer_is_encrypted_private_tls_only_with_iam_auth_and_log_exports():
    stack, _, _ = _database()
    template = Template.from_stack(stack)
    writer, _ = _instances(template)
    assert writer["EngineVersion"] == "8.4.10"
    assert writer["EngineLifecycleSupport"] == "open-source-rds-extended-support-disabled"
    assert writer["MasterUsername"] != "admin"
    assert writer["StorageEncrypted"] is True
    assert writer["PubliclyAccessible"] is False
    assert writer["EnableIAMDatabaseAuthentication"] is True
    # Every type MySQL exports (Control Tower CT.RDS.PR.14); the audit log carries connections only.
    assert writer["EnableCloudwatchLogsExports"] == ["audit", "error", "general", "slowquery"]
    template.has_resource_properties(
        "AWS::RDS::OptionGroup",
        {
            "MajorEngineVersion": "8.4",
            "OptionConfigurations": [
                {
                    "OptionName": "MARIADB_AUDIT_PLUGIN",
                    "OptionSettings": [{"Name": "SERVER_AUDIT_EVENTS", "Value": "CONNECT"}],
                }
            ],
        },
    )
    assert writer["Port"] == "3307"
    assert writer["DeletionProtection"] is True
    assert writer["BackupRetentionPeriod"] == 7
    template.has_resource_properties(
        "AWS::RDS::DBParameterGroup",
        {
            "Family": "mysql8.4",
            "Parameters": Match.object_like(
                {
                    "require_secure_transport": "ON",
                    "log_output": "FILE",
                    # cachelib proves replica freshness by GTID position (cachelib/replication.py)
                    "gtid-mode": "ON",
                    "enforce_gtid_consistency": "ON",
                }
            ),
        },
    )


def test_the_password_lives_in_secrets_manager_and_rotates_inside_the_vpc():
    stack, _, database = _database(rotation_interval=cdk.Duration.days(10))
    template = Template.from_stack(stack)
    writer, _ = _instances(template)
    assert "{{resolve:secretsmanager:" in str(writer["MasterUserPassword"])
    template.has_resource_properties(
        "AWS::SecretsManager::RotationSchedule",
        {
            "HostedRotationLambda": Match.object_like(
                {"RotationType": "MySQLSingleUser", "VpcSubnetIds": Match.any_value()}
            ),
            "RotationRules": {"ScheduleExpression": "rate(10 days)"},
        },
    )
    assert database.secret is not None


def test_replicas_sit_in_other_azs_than_the_single_az_writer():
    stack, _, database = _database(read_replica_count=2)
    writer, replicas = _instances(Template.from_stack(stack))
    assert writer["AvailabilityZone"] == {"Fn::Select": [0, {"Fn::GetAZs": ""}]}
    assert len(replicas) == 2 == len(database.reader_endpoints)
    assert [replica["AvailabilityZone"]["Fn::Select"][0] for replica in replicas] == [1, 1]
    for replica in replicas:
        assert "StorageEncrypted" not in replica  # inherited from the writer; CloudFormation refuses it here
        assert replica["Port"] == "3307"


def test_a_multi_az_writer_chooses_its_own_az():
    stack, _, _ = _database(multi_az=True)
    writer, _ = _instances(Template.from_stack(stack))
    assert writer["MultiAZ"] is True
    assert "AvailabilityZone" not in writer


def test_no_replicas_means_reads_go_to_the_writer():
    stack, _, database = _database(read_replica_count=0)
    assert stack.resolve(database.reader_endpoint.hostname) == stack.resolve(
        database.writer_endpoint.hostname
    )
    with pytest.raises(ValueError, match=r"replica: 0 .*below read_replica_count \(0\)"):
        database.metric_replica_lag()


def test_instances_use_the_isolated_subnets():
    stack, vpc, _ = _database()
    Template.from_stack(stack).has_resource_properties(
        "AWS::RDS::DBSubnetGroup", {"SubnetIds": isolated_subnet_refs(stack, vpc)}
    )


def test_performance_insights_or_enhanced_monitoring():
    stack, _, _ = _database(performance_insights=True, monitoring_interval=cdk.Duration.seconds(0))
    writer, _ = _instances(Template.from_stack(stack))
    assert writer["EnablePerformanceInsights"] is True and "MonitoringInterval" not in writer
    stack, _, _ = _database(monitoring_interval=cdk.Duration.seconds(15))
    writer, replicas = _instances(Template.from_stack(stack))
    assert (
        writer["MonitoringInterval"] == 15 and replicas[0]["MonitoringRoleArn"] == writer["MonitoringRoleArn"]
    )


def test_removal_policies_snapshot_the_writer_and_drop_replicas():
    stack, _, _ = _database(removal_policy=cdk.RemovalPolicy.SNAPSHOT)
    resources = Template.from_stack(stack).find_resources("AWS::RDS::DBInstance")
    policies = {
        ("SourceDBInstanceIdentifier" in r["Properties"], r["DeletionPolicy"]) for r in resources.values()
    }
    assert policies == {(False, "Snapshot"), (True, "Delete")}


def test_grant_connect_covers_writer_and_replicas_by_resource_id():
    stack, _, database = _database(read_replica_count=1)
    role = iam.Role(stack, "App", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    database.grant_connect(role, "app")
    policies = Template.from_stack(stack).find_resources("AWS::IAM::Policy").values()
    (policy,) = [p for p in policies if p["Properties"]["Roles"] == [stack.resolve(role.role_name)]]
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "rds-db:connect"
    arns = json.dumps(statement["Resource"])
    for instance in (database.instance, *database.read_replicas):
        logical_id = stack.resolve(instance.node.default_child.logical_id)
        assert f'{{"Fn::GetAtt": ["{logical_id}", "DbiResourceId"]}}' in arns
    assert arns.count("DbiResourceId") == 2 and "DBInstanceArn" not in arns


def test_metrics_come_from_the_l2_and_replica_lag_from_each_replica():
    stack, _, database = _database(read_replica_count=2)
    assert database.metric_cpu_utilization().namespace == "AWS/RDS"
    assert database.metric_freeable_memory().metric_name == "FreeableMemory"
    lags = database.metric_replica_lags()
    assert [lag.metric_name for lag in lags] == ["ReplicaLag", "ReplicaLag"]
    assert [stack.resolve(lag.dimensions["DBInstanceIdentifier"]) for lag in lags] == [
        stack.resolve(replica.instance_identifier) for replica in database.read_replicas
    ]


def test_connections_default_to_the_database_port():
    stack, vpc = bare_stack()
    group = ec2.SecurityGroup(stack, "Db", vpc=vpc, allow_all_outbound=False)
    database = MySqlDatabase(stack, "Database", vpc=vpc, security_groups=[group])
    assert stack.resolve(database.connections.default_port.to_string()) == "3307"
    assert database.connections.security_groups == [group]


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"engine_version": "8.4"}, r"engine_version: '8\.4' .*full MySQL 8\.4 or 8\.0 version"),
        ({"engine_version": "8.0.43"}, r"engine_version: '8\.0\.43' .*extended_support=True"),
        ({"engine_version": "5.7.44"}, r"engine_version: '5\.7\.44'"),
        ({"port": 3306}, r"port: 3306 .*MySQL's well-known 3306"),
        ({"read_replica_count": 6}, r"read_replica_count: 6 .*from 0 to 5"),
        ({"allocated_storage_gib": 10}, r"allocated_storage_gib: 10 .*from 20"),
        (
            {"max_allocated_storage_gib": 10},
            r"max_allocated_storage_gib: 10 .*at least allocated_storage_gib \(20\)",
        ),
        ({"backup_retention": cdk.Duration.days(0)}, r"backup_retention \(days\): 0 .*from 1 to 35"),
        ({"monitoring_interval": cdk.Duration.seconds(20)}, r"monitoring_interval \(seconds\): 20 .*0, 1, 5"),
        ({"database_name": "1st"}, r"database_name: '1st'"),
    ],
)
def test_each_invalid_prop_raises_its_own_error(props, message):
    stack, vpc = bare_stack()
    with pytest.raises(ValueError, match=message):
        MySqlDatabase(stack, "Database", vpc=vpc, **props)


def test_with_an_endpoint_the_rotation_function_reaches_only_the_database_and_the_endpoint():
    stack, vpc = bare_stack()
    endpoint = vpc.add_interface_endpoint(
        "SecretsManager", service=ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER, open=False
    )
    database = MySqlDatabase(stack, "Database", vpc=vpc, secrets_manager_endpoint=endpoint)
    template = Template.from_stack(stack).to_json()
    rotation_id = stack.resolve(database.rotation_security_group.node.default_child.logical_id)
    rotation = template["Resources"][rotation_id]["Properties"]
    assert not [
        rule for rule in rotation.get("SecurityGroupEgress", []) if rule["CidrIp"] != "255.255.255.255/32"
    ]
    egress = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::EC2::SecurityGroupEgress"
        and r["Properties"]["GroupId"] == {"Fn::GetAtt": [rotation_id, "GroupId"]}
    ]
    destinations = {
        (stack.resolve(rule["DestinationSecurityGroupId"])["Fn::GetAtt"][0], rule["FromPort"])
        for rule in egress
    }
    assert destinations == {
        (stack.resolve(database.security_groups[0].node.default_child.logical_id), 3307),
        (stack.resolve(endpoint.connections.security_groups[0].node.default_child.logical_id), 443),
    }


def test_without_an_endpoint_the_rotation_function_may_reach_secrets_manager_through_a_nat():
    stack, _, database = _database()
    rotation_id = stack.resolve(database.rotation_security_group.node.default_child.logical_id)
    egress = Template.from_stack(stack).to_json()["Resources"][rotation_id]["Properties"][
        "SecurityGroupEgress"
    ]
    assert [rule["CidrIp"] for rule in egress] == ["0.0.0.0/0"]


def test_extended_support_is_set_explicitly_on_every_instance_and_8_0_needs_it():
    stack, _, _ = _database(engine_version="8.0.43", extended_support=True, read_replica_count=1)
    template = Template.from_stack(stack)
    writer, replicas = _instances(template)
    for instance in (writer, *replicas):
        assert instance["EngineLifecycleSupport"] == "open-source-rds-extended-support"
    template.has_resource_properties("AWS::RDS::DBParameterGroup", {"Family": "mysql8.0"})


def test_every_parameter_exists_in_mysql_8_4():
    """MySQL 8.4 removed a set of server variables; a mysql8.4 parameter group may not name any of them."""
    from caching_constructs.data.mysql_parts import PARAMETERS, REMOVED_IN_MYSQL_84

    normalized = {name.replace("-", "_") for name in PARAMETERS}
    assert not normalized & {name.replace("-", "_") for name in REMOVED_IN_MYSQL_84}
    # The cache library depends on GTIDs (replica freshness by GTID position).
    assert PARAMETERS["gtid-mode"] == "ON" and PARAMETERS["enforce_gtid_consistency"] == "ON"
