"""What the first real deploy needs from config: a supported MySQL, alarms that reach someone outside dev,
a region that has DAX, and environments that together fit the account's default quotas."""

from __future__ import annotations

import copy
import dataclasses

import pytest

import app as app_module
from config import ENVIRONMENT_NAMES, ConfigError, load_environment, parse_environment
from config.environments import ENVIRONMENTS
from config.quotas import check_shared_quotas, quota_report
from config.regions import DAX_REGIONS


def _raw(name: str, **sections) -> dict:
    raw = copy.deepcopy(ENVIRONMENTS[name])
    for section, values in sections.items():
        if isinstance(values, dict):
            raw[section] = {**raw.get(section, {}), **values}
        else:
            raw[section] = values
    return raw


# --- MySQL: 8.4 LTS, extended support only when asked for ---


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_every_environment_runs_mysql_8_4_without_extended_support(name):
    database = load_environment(name).database
    assert database.engine_version.startswith("8.4.")
    assert database.accept_extended_support is False


def test_an_8_0_version_is_refused_in_one_line_unless_extended_support_is_accepted():
    raw = _raw("prod", database={"engine_version": "8.0.43"})
    with pytest.raises(ConfigError) as error:
        parse_environment("prod", raw)
    message = str(error.value)
    assert message.startswith("environments.prod.database.engine_version: '8.0.43' is not allowed; expected")
    assert "2026-07-31" in message and "database.accept_extended_support: true" in message
    assert "\n" not in message
    accepted = parse_environment(
        "prod", _raw("prod", database={"engine_version": "8.0.43", "accept_extended_support": True})
    )
    assert accepted.database.accept_extended_support


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_the_writer_and_every_replica_state_their_engine_lifecycle_support(synthesized, name):
    env = synthesized[name]
    instances = env.template(env.stage.data).find_resources("AWS::RDS::DBInstance")
    assert len(instances) == 1 + env.config.database.read_replica_count
    for instance in instances.values():
        assert instance["Properties"]["EngineLifecycleSupport"] == "open-source-rds-extended-support-disabled"
        if "SourceDBInstanceIdentifier" not in instance["Properties"]:
            assert instance["Properties"]["EngineVersion"] == env.config.database.engine_version
    env.template(env.stage.data).has_resource_properties("AWS::RDS::DBParameterGroup", {"Family": "mysql8.4"})


# --- alarm subscribers ---


@pytest.mark.parametrize("name", ["staging", "prod"])
def test_staging_and_prod_refuse_alarms_that_reach_nobody(name):
    raw = _raw(name, monitoring={"alarm_emails": []})
    with pytest.raises(ConfigError) as error:
        parse_environment(name, raw)
    message = str(error.value)
    assert message.startswith(f"environments.{name}.monitoring.alarm_emails: () is not allowed; expected")
    assert "alarm_topic_arns" in message and "alarm_slack_channels" in message and "\n" not in message


@pytest.mark.parametrize(
    "subscriber",
    [
        {"alarm_topic_arns": ["arn:aws:sns:eu-west-1:123456789012:on-call"]},
        {"alarm_slack_channels": ["T0123ABCD/C0456EFGH"]},
    ],
)
def test_a_topic_or_a_slack_channel_is_subscriber_enough(subscriber):
    config = parse_environment("prod", _raw("prod", monitoring={"alarm_emails": [], **subscriber}))
    assert config.monitoring.alarm_emails == ()


@pytest.mark.parametrize(
    ("key", "value"),
    [("alarm_topic_arns", ["arn:aws:sqs:eu-west-1:123456789012:q"]), ("alarm_slack_channels", ["#ops"])],
)
def test_malformed_subscribers_are_refused_in_one_line(key, value):
    with pytest.raises(ConfigError, match=rf"^environments\.prod\.monitoring\.{key}: .* is not allowed"):
        parse_environment("prod", _raw("prod", monitoring={key: value}))


def test_dev_may_have_no_subscriber_and_synth_says_so_in_one_line(monkeypatch, capsys):
    assert load_environment("dev").monitoring.alarm_emails == ()

    class DevOnly(app_module.cdk.App):
        def __init__(self) -> None:
            super().__init__(context={"env": "dev"})

        def synth(self, *args, **kwargs) -> None:
            return None

    monkeypatch.setattr(app_module.cdk, "App", DevOnly)
    monkeypatch.setattr(app_module, "CachingStage", lambda *args, **kwargs: None)
    monkeypatch.setattr(app_module, "apply_compliance_checks", lambda *args, **kwargs: None)
    app_module.main()
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        "dev: alarms notify nobody (no monitoring.alarm_emails, alarm_topic_arns or alarm_slack_channels); "
        "they show on the dashboard only."
    ]


def test_every_subscriber_kind_reaches_the_alarms(tmp_path):
    from aws_cdk.assertions import Template

    from stacks.stage import CachingStage
    from tests.infra.conftest import new_app

    base = load_environment("staging")
    topic = "arn:aws:sns:eu-west-1:123456789012:on-call"
    monitoring = dataclasses.replace(
        base.monitoring, alarm_topic_arns=(topic,), alarm_slack_channels=("T0123ABCD/C0456EFGH",)
    )
    stage = CachingStage(
        new_app(tmp_path), "staging", config=dataclasses.replace(base, monitoring=monitoring)
    )
    template = Template.from_stack(stage.monitoring)
    template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"}
    )
    template.has_resource_properties(
        "AWS::Chatbot::SlackChannelConfiguration",
        {
            "SlackWorkspaceId": "T0123ABCD",
            "SlackChannelId": "C0456EFGH",
            "SnsTopicArns": [{"Ref": _topic(template)}],
        },
    )
    for alarm in template.find_resources("AWS::CloudWatch::Alarm").values():
        actions = alarm["Properties"]["AlarmActions"]
        assert {"Ref": _topic(template)} in actions and topic in actions


def _topic(template) -> str:
    (logical_id,) = template.find_resources("AWS::SNS::Topic")
    return logical_id


# --- DAX regions ---


def test_a_pinned_region_without_dax_is_refused_in_one_line():
    raw = _raw("staging", account="123456789012", region="eu-south-1")
    with pytest.raises(ConfigError) as error:
        parse_environment("staging", raw)
    message = str(error.value)
    assert message.startswith("environments.staging.region: 'eu-south-1' is not allowed; expected a region")
    assert "eu-west-1" in message and "\n" not in message


@pytest.mark.parametrize("region", DAX_REGIONS)
def test_every_listed_region_loads(region):
    assert (
        parse_environment("staging", _raw("staging", account="123456789012", region=region)).region == region
    )


# --- quotas of environments sharing an account and region ---


def test_the_three_environments_fit_one_accounts_default_quotas():
    configs = [load_environment(name) for name in ENVIRONMENT_NAMES]
    assert quota_report(configs) == []
    check_shared_quotas(configs)


def test_one_nat_gateway_more_than_five_elastic_ips_stops_synth_with_the_list():
    configs = [load_environment(name) for name in ENVIRONMENT_NAMES]
    configs[1] = dataclasses.replace(
        configs[1], network=dataclasses.replace(configs[1].network, nat_gateways=2)
    )
    with pytest.raises(ConfigError) as error:
        check_shared_quotas(configs)
    message = str(error.value)
    assert "EC2-VPC Elastic IPs (one per NAT gateway): 6 > 5 (dev 1, staging 2, prod 3)" in message
    assert "the credentials' account and region (dev, staging, prod)" in message


def test_a_new_account_with_10_concurrent_executions_can_reserve_nothing():
    prod = load_environment("prod")
    new_account = dataclasses.replace(
        prod, quotas=dataclasses.replace(prod.quotas, lambda_concurrent_executions=10)
    )
    primary, secondary = quota_report([new_account])
    assert "Reserved Lambda concurrency" in primary and "201 > 0 (prod 201)" in primary
    # Its us-west-2 read path reserves the product API's 200 there (no warmer in a secondary region).
    assert "Reserved Lambda concurrency" in secondary and "200 > 0 (prod us-west-2 200)" in secondary


def test_every_exceeded_quota_is_listed_not_only_the_first():
    configs = [load_environment("prod")] * 5 + [load_environment("staging")]
    configs = [
        dataclasses.replace(config, name=f"{config.name}{index}") for index, config in enumerate(configs)
    ]
    names = {problem.split(": ")[1] for problem in quota_report(configs)}
    assert {"VPCs per Region", "EC2-VPC Elastic IPs (one per NAT gateway)"} <= names
    assert any(name.startswith("Reserved Lambda concurrency") for name in names)


def test_environments_in_their_own_accounts_do_not_add_up():
    configs = [
        dataclasses.replace(load_environment(name), account=f"{index + 1:012d}", region="eu-west-1")
        for index, name in enumerate(ENVIRONMENT_NAMES)
    ] * 2
    # Each pair shares an account: still within the defaults.
    assert quota_report(configs[:3]) == []


def test_environments_sharing_an_account_must_state_the_same_quotas():
    dev, prod = load_environment("dev"), load_environment("prod")
    raised = dataclasses.replace(prod, quotas=dataclasses.replace(prod.quotas, elastic_ips=10))
    with pytest.raises(ConfigError, match=r"^environments\.prod\.quotas: .* the same quotas as dev"):
        check_shared_quotas([dev, raised])


def test_a_secondary_region_counts_against_the_quotas_of_the_region_it_runs_in():
    """prod's us-west-2 read path (VPC, NAT gateways, database replica, cache member) shares that region
    with an environment deployed there: their sum is what the account's quotas must hold."""
    prod = dataclasses.replace(load_environment("prod"), account="111111111111", region="us-east-1")
    staging = load_environment("staging")
    staging = dataclasses.replace(
        staging,
        account="111111111111",
        region="us-west-2",
        network=dataclasses.replace(staging.network, nat_gateways=3),
    )
    (problem,) = [p for p in quota_report([prod, staging]) if "Elastic IPs" in p]
    assert problem.startswith("account 111111111111 region us-west-2 (prod us-west-2, staging)")
    assert problem.endswith(": 6 > 5 (prod us-west-2 3, staging 3)")
    # In its own region the secondary adds to nothing: the primary region's report is unchanged.
    assert not [p for p in quota_report([prod]) if "us-west-2" in p]
