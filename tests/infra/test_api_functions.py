"""The API stack's Lambda functions: placement, architecture, tracing, limits, wiring, schedules."""

from __future__ import annotations

import json

import pytest

from caching_contract import variables as contract_variables
from tests.infra.templates import resources_of_type

HANDLERS = {
    "functions.product_api.lambda_handler",
    "functions.cache_warmer.lambda_handler",
    "functions.schema_seed.on_event",
    "functions.dax_demo.lambda_handler",
}


def _functions(env) -> dict[str, dict]:
    """The project's functions keyed by handler (the CDK's own Node.js helpers are left out)."""
    template = env.template(env.stage.api).to_json()
    return {
        resource["Properties"]["Handler"]: resource["Properties"]
        for resource in resources_of_type(template, "AWS::Lambda::Function").values()
        if resource["Properties"]["Handler"].startswith("functions.")
    }


def _subnet_ids(env, group_name: str) -> list[str]:
    return [
        subnet.subnet_id
        for subnet in env.stage.network.vpc.select_subnets(subnet_group_name=group_name).subnets
    ]


def test_there_is_one_function_per_handler(synthesized):
    for env in synthesized.values():
        assert set(_functions(env)) == HANDLERS


@pytest.mark.parametrize("name", ["dev", "staging", "prod"])
def test_functions_run_python_3_12_on_the_configured_architecture_with_tracing(synthesized, name):
    env = synthesized[name]
    assert env.config.functions.architecture == "arm64"
    for function in _functions(env).values():
        assert function["Runtime"] == "python3.12"
        assert function["Architectures"] == ["arm64"]
        assert function["TracingConfig"] == {"Mode": "Active"}


def test_functions_run_in_the_application_subnets_each_in_a_security_group_of_its_own(dev):
    template = dev.template(dev.stage.api).to_json()
    imports = json.dumps(template)
    groups = resources_of_type(template, "AWS::EC2::SecurityGroup")
    own_groups = []
    for function in _functions(dev).values():
        vpc_config = function["VpcConfig"]
        assert len(vpc_config["SubnetIds"]) == dev.config.network.max_azs
        # Cross-stack references to the network stack's application subnets.
        assert "ApplicationSubnet" in json.dumps(vpc_config["SubnetIds"])
        ((group_id, _),) = [group["Fn::GetAtt"] for group in vpc_config["SecurityGroupIds"]]
        assert group_id in groups
        own_groups.append(group_id)
    assert len(set(own_groups)) == len(HANDLERS)
    assert "PublicSubnet" not in imports and "DataSubnet" not in imports


@pytest.mark.parametrize("name", ["dev", "staging", "prod"])
def test_timeouts_memory_and_reserved_concurrency_follow_the_config(synthesized, name):
    env = synthesized[name]
    config = env.config.functions
    functions = _functions(env)
    api = functions["functions.product_api.lambda_handler"]
    assert api["Timeout"] == config.timeout_seconds
    assert api["MemorySize"] == config.memory_mb
    assert api.get("ReservedConcurrentExecutions") == config.reserved_concurrency
    assert functions["functions.cache_warmer.lambda_handler"]["Timeout"] == config.warmer_timeout_seconds
    assert functions["functions.schema_seed.on_event"]["Timeout"] == config.schema_seed_timeout_seconds
    warmer_reserved = functions["functions.cache_warmer.lambda_handler"].get("ReservedConcurrentExecutions")
    assert warmer_reserved == (None if config.reserved_concurrency is None else 1)


def test_every_function_logs_to_its_own_group_with_retention(synthesized):
    for env in synthesized.values():
        template = env.template(env.stage.api).to_json()
        groups = resources_of_type(template, "AWS::Logs::LogGroup")
        for function in _functions(env).values():
            group_id = function["LoggingConfig"]["LogGroup"]["Ref"]
            assert (
                groups[group_id]["Properties"]["RetentionInDays"] == env.config.functions.log_retention_days
            )


def test_the_asynchronous_warmer_has_a_failure_destination(dev):
    template = dev.template(dev.stage.api).to_json()
    (config,) = resources_of_type(template, "AWS::Lambda::EventInvokeConfig").values()
    queue_id = config["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    queue = resources_of_type(template, "AWS::SQS::Queue")[queue_id]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    assert config["Properties"]["MaximumRetryAttempts"] == 2


@pytest.mark.parametrize("name", ["dev", "staging", "prod"])
def test_the_warmer_runs_on_the_configured_schedule_with_a_dead_letter_queue(synthesized, name):
    env = synthesized[name]
    template = env.template(env.stage.api).to_json()
    (rule,) = resources_of_type(template, "AWS::Events::Rule").values()
    assert rule["Properties"]["ScheduleExpression"] == env.config.functions.warm_schedule
    (target,) = rule["Properties"]["Targets"]
    warmer_id = next(
        key
        for key, resource in resources_of_type(template, "AWS::Lambda::Function").items()
        if resource["Properties"]["Handler"] == "functions.cache_warmer.lambda_handler"
    )
    assert target["Arn"] == {"Fn::GetAtt": [warmer_id, "Arn"]}
    assert "DeadLetterConfig" in target


def test_environment_carries_endpoints_and_secret_arns_never_secret_values(synthesized):
    for env in synthesized.values():
        for handler, function in _functions(env).items():
            variables = function["Environment"]["Variables"]
            rendered = json.dumps(variables)
            assert "resolve:secretsmanager" not in rendered, handler
            assert not {"REDIS_PASSWORD", "DB_PASSWORD", "DB_USER"} & set(variables), handler
            assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "CachingArchitecture"
        api = _functions(env)["functions.product_api.lambda_handler"]["Environment"]["Variables"]
        assert {
            "REDIS_HOST",
            "DB_WRITER_HOST",
            "DB_READER_HOST",
            "DB_SECRET_ARN",
        } <= set(api)
        assert api["REDIS_TLS"] == "true" and api["DB_TLS"] == "true"
        # IAM auth (the default): the function's own RBAC user, no cache secret at all.
        assert api["REDIS_IAM_AUTH"] == "true" and "REDIS_AUTH_SECRET_ARN" not in api
        assert api["REDIS_USERNAME"].endswith("-productapi") and api["CACHE_KEY_PREFIX"] == "app"
        assert api["REDIS_PORT"] == str(env.config.cache.port)
        assert api["CACHE_TTL_SECONDS"] == str(env.config.functions.cache_ttl_seconds)
        # Every Redis replica must confirm an invalidation before a write returns (failover safety).
        assert api["CACHE_REPLICA_ACKS"] == str(env.config.cache.replicas_per_shard)
        dax = _functions(env)["functions.dax_demo.lambda_handler"]["Environment"]["Variables"]
        assert {"DAX_ENDPOINT", "DAX_TABLE_NAME"} <= set(dax)


@pytest.mark.parametrize(("name", "near_cache"), [("dev", "true"), ("staging", "false"), ("prod", "false")])
def test_the_near_cache_runs_only_where_the_config_turns_it_on(synthesized, name, near_cache):
    """Off outside dev: another container's L1 could serve an old value until pub/sub invalidation lands."""
    for handler in ("functions.product_api.lambda_handler", "functions.cache_warmer.lambda_handler"):
        variables = _functions(synthesized[name])[handler]["Environment"]["Variables"]
        assert variables["CACHE_L1_ENABLED"] == near_cache, handler


def test_the_dax_function_has_its_own_asset_and_the_others_share_one(dev):
    functions = _functions(dev)
    keys = {handler: json.dumps(function["Code"]) for handler, function in functions.items()}
    dax_key = keys.pop("functions.dax_demo.lambda_handler")
    assert len(set(keys.values())) == 1
    assert dax_key not in keys.values()


def test_functions_read_only_their_own_secrets_and_no_statement_grants_a_wildcard_except_xray(dev):
    template = dev.template(dev.stage.api).to_json()
    for policy in resources_of_type(template, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Resource"] == "*":
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                assert all(action.startswith("xray:") for action in actions), statement
    reads = [
        statement
        for policy in resources_of_type(template, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "secretsmanager:GetSecretValue" in json.dumps(statement["Action"])
    ]
    assert reads and all(statement["Resource"] != "*" for statement in reads)


def test_the_dax_function_may_read_and_write_through_dax(dev):
    template = dev.template(dev.stage.api).to_json()
    actions = {
        action
        for policy in resources_of_type(template, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        if action.startswith("dax:")
    }
    assert {"dax:GetItem", "dax:PutItem"} <= actions


@pytest.mark.parametrize("name", ["dev", "staging", "prod"])
def test_the_schema_step_is_a_provider_custom_resource_with_seed_count_and_version(synthesized, name):
    from functions import catalog_schema

    env = synthesized[name]
    template = env.template(env.stage.api).to_json()
    (schema,) = resources_of_type(template, "Custom::CatalogSchema").values()
    properties = schema["Properties"]
    assert properties["SeedProductCount"] == str(env.config.functions.seed_product_count)
    assert properties["SchemaVersion"].startswith(catalog_schema.SCHEMA_VERSION + "-")
    provider_function = resources_of_type(template, "AWS::Lambda::Function")[
        properties["ServiceToken"]["Fn::GetAtt"][0]
    ]
    assert provider_function["Properties"]["Handler"] == "framework.onEvent"
    assert "functions.schema_seed" not in json.dumps(provider_function)  # the framework invokes our handler


def test_an_unknown_architecture_names_the_allowed_ones():
    from caching_constructs.core.python_function import architecture_named

    with pytest.raises(ValueError, match=r"architecture must be one of \['arm64', 'x86_64'\], got 'sparc'"):
        architecture_named("sparc")


@pytest.mark.parametrize("name", ["dev", "staging", "prod"])
def test_every_function_knows_its_environment_for_the_metrics_dimension(synthesized, name):
    functions = _functions(synthesized[name])
    assert len(functions) == len(HANDLERS)
    for handler, function in functions.items():
        assert function["Environment"]["Variables"][contract_variables.ENVIRONMENT] == name, handler


def _hosts(value) -> list:
    """DB_READER_HOSTS as the template holds it: a Fn::Join of one reference per host."""
    if isinstance(value, str):
        return value.split(",")
    if "Fn::Join" not in value:  # one host: the CDK renders a join of one as that reference
        return [value]
    delimiter, parts = value["Fn::Join"]
    assert delimiter == ","
    return parts


@pytest.mark.parametrize("name", ["dev", "staging", "prod"])
def test_functions_get_every_read_replica_and_the_first_as_before(synthesized, name):
    """Prod's second replica is read: DB_READER_HOSTS lists every replica (all on DB_PORT); DB_READER_HOST
    stays the first, for clients that read one."""
    env = synthesized[name]
    replicas = env.config.database.read_replica_count
    for handler in ("functions.product_api.lambda_handler", "functions.cache_warmer.lambda_handler"):
        variables = _functions(env)[handler]["Environment"]["Variables"]
        hosts = _hosts(variables["DB_READER_HOSTS"])
        assert len(hosts) == replicas, handler
        assert len({json.dumps(host) for host in hosts}) == replicas  # each replica once
        assert hosts[0] == variables["DB_READER_HOST"]
        assert variables["DB_WRITER_HOST"] not in hosts
        outputs = [host["Fn::GetStackOutput"]["OutputName"] for host in hosts]
        assert all("Replica" in output and "EndpointAddress" in output for output in outputs)


def test_without_replicas_reads_go_to_the_writer():
    from caching_constructs.data.mysql_database import MySqlDatabase
    from tests.infra.bare_stack import bare_stack

    stack, vpc = bare_stack()
    database = MySqlDatabase(stack, "Database", vpc=vpc, read_replica_count=0)
    assert [stack.resolve(e.hostname) for e in database.read_endpoints] == [
        stack.resolve(database.writer_endpoint.hostname)
    ]


@pytest.mark.parametrize("name", ["dev", "staging", "prod"])
def test_the_product_api_gets_its_write_mode_and_idempotency_ttl_from_config(synthesized, name):
    env = synthesized[name]
    variables = _functions(env)["functions.product_api.lambda_handler"]["Environment"]["Variables"]
    assert variables["PRODUCT_WRITE_MODE"] == env.config.functions.product_write_mode
    assert variables["IDEMPOTENCY_TTL_SECONDS"] == str(env.config.functions.idempotency_ttl_hours * 3600)
    assert variables[contract_variables.CONNECT_ON_INIT] == "true"


def test_write_through_and_a_week_of_idempotency_keys_reach_the_function(tmp_path):
    from aws_cdk.assertions import Template

    from config import parse_environment
    from config.environments import ENVIRONMENTS
    from stacks.stage import CachingStage
    from tests.infra.conftest import new_app

    functions = {
        **ENVIRONMENTS["dev"]["functions"],
        "product_write_mode": "write-through",
        "idempotency_ttl_hours": 168,
    }
    config = parse_environment("dev", {**ENVIRONMENTS["dev"], "functions": functions})
    stage = CachingStage(new_app(tmp_path), "dev", config=config)
    template = Template.from_stack(stage.api).to_json()
    (variables,) = [
        resource["Properties"]["Environment"]["Variables"]
        for resource in resources_of_type(template, "AWS::Lambda::Function").values()
        if resource["Properties"].get("Handler") == "functions.product_api.lambda_handler"
    ]
    assert variables["PRODUCT_WRITE_MODE"] == "write-through"
    assert variables["IDEMPOTENCY_TTL_SECONDS"] == str(168 * 3600)


@pytest.mark.parametrize("name", ["dev", "staging", "prod"])
def test_a_network_rule_names_the_auth_token_only_when_functions_read_one(synthesized, name):
    """With IAM auth a function signs its own cache token: its rule to the Secrets Manager endpoint is for the
    database credentials alone, and says so."""
    env = synthesized[name]
    descriptions = [
        str(rule["Properties"].get("Description", ""))
        for stack in env.stacks()
        for kind in ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress")
        for rule in resources_of_type(env.template(stack).to_json(), kind).values()
    ]
    assert any("reads the database credentials" in text for text in descriptions)
    mentions_token = [text for text in descriptions if "AUTH token" in text]
    assert bool(mentions_token) == (env.config.cache.auth == "token"), mentions_token
