"""Every config key, given a bad value, stops synth as a user meets it: one line naming
``environments.<env>.<section>.<key>``, the value and what is allowed. Never a traceback, and never a stage:
the walk replaces ``CachingStage`` with a stub that fails the test, so a value the loader lets through (and a
construct would refuse halfway through building the stage) shows as a failure here, not at synth.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import subprocess
import sys
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import pytest

import app as app_module
from caching_constructs.core import rules
from caching_constructs.elasticache.engine_families import CACHE_ENGINE
from config.environments import ENVIRONMENTS
from config.schema import CacheConfig, DatabaseConfig, EnvironmentConfig
from tests.infra.conftest import ROOT


class Key(NamedTuple):
    path: str
    annotation: Any
    rule: rules.Rule | None


def config_keys(cls: type = EnvironmentConfig, prefix: str = "") -> Iterator[Key]:
    """Every leaf setting of the frozen dataclasses, found by introspection (new fields are walked too)."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        annotation = hints[field.name]
        if dataclasses.is_dataclass(annotation):
            yield from config_keys(annotation, f"{prefix}{field.name}.")
        else:
            yield Key(f"{prefix}{field.name}", annotation, field.metadata.get("check"))


class Bad(NamedTuple):
    value: Any
    env: str = "dev"
    why: str = ""


CURATED: dict[str, Bad] = {
    # Values the config used to accept and a construct then refused with a traceback halfway through synth.
    "cache.port": Bad(6379, why="Redis's well-known port: RedisReplicationGroup raised ValueError"),
    "database.port": Bad(3306, why="MySQL's well-known port: MySqlDatabase raised ValueError"),
    "api.item_cache_ttl_seconds": Bad(0, why="ApiRoute refused a cached route with TTL 0"),
    "api.list_cache_ttl_seconds": Bad(0, why="ApiRoute refused a cached route with TTL 0"),
    "cache.maintenance_window": Bad("sun:25:00-sun:26:00", why="hour 25 passed the config's \\d{2}"),
    "cache.snapshot_window": Bad("24:00-25:00", why="hour 24 passed the config's \\d{2}"),
    "edge.api_default_ttl_seconds": Bad(86400, why="CDK silently raised the API policy's 1-hour maximum"),
    # Rules over several settings, each naming the key walked.
    "cache.engine_version": Bad("8.0", why="Redis OSS has no 8.x family (Valkey has)"),
    "cache.num_shards": Bad(2, why="shards need cluster_mode"),
    "database.engine_version": Bad("8.0.43", why="8.0 needs accept_extended_support"),
    "database.max_allocated_storage_gib": Bad(50, env="prod", why="below prod's allocated_storage_gib 100"),
    "database.backup_retention_days": Bad(3, env="staging", why="at least 7 outside dev"),
    "database.performance_insights": Bad(True, why="none on dev's t4g.micro"),
    "database.database_name": Bad("1st", why="must start with a letter"),
    "region": Bad("eu-south-1", why="no DAX there"),
    "pipeline.connection_arn": Bad(
        "arn:aws:codeconnections:eu-west-1:111111111111:connection/1", why="without pipeline.repository"
    ),
    "pipeline.repository": Bad("caching-architecture", env="prod", why="CDK Pipelines needs 'owner/name'"),
    "pipeline.branch": Bad("feature branch", env="prod", why="no spaces in a branch"),
    "edge.certificate_arn": Bad(
        "arn:aws:acm:eu-west-1:123456789012:certificate/1", why="CloudFront: us-east-1"
    ),
    "functions.reserved_concurrency": Bad(-1, why="Lambda refuses it at deploy time"),
    "tags": Bad({"aws:owner": "platform"}, why="CloudFormation refuses the reserved aws: prefix"),
}
"""Bad values chosen by hand: the ones that used to get past the config, and those a rule over several
settings refuses. Every other key gets a value its own rule refuses (``probe``) or one of the wrong type."""

FREE_TEXT: dict[str, str] = {
    "name": "not a setting: the environment's key in ENVIRONMENTS (the loader refuses it among the settings)",
    "cache.engine_version": "its rule depends on cache.engine, so the loader applies it (curated above)",
}
"""Non-boolean keys without a rule on their field, each with the reason. A new free-text key fails
``test_every_free_text_key_is_listed_with_its_reason`` until it gets a rule or a line here."""

_PROBES: dict[Any, tuple[Any, ...]] = {
    int: (-1, 0, 10**13),
    float: (-1.0, 0.0, 1e13),
    str: ("not valid!", ""),
    tuple: (("not valid!",),),
    Mapping: ({"aws:reserved": "x"},),
}


def _base(annotation: Any) -> Any:
    """The type without ``| None``."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        (annotation,) = [a for a in typing.get_args(annotation) if a is not type(None)]
    return annotation


def probe(key: Key) -> Any:
    """A value of the right type that the key's own rule refuses; None when it has no rule or none fails."""
    base = _base(key.annotation)
    candidates = _PROBES.get(typing.get_origin(base) or base, ())
    return next((value for value in candidates if key.rule and key.rule(value)), None)


def wrong_type(annotation: Any) -> Any:
    base = _base(annotation)
    origin = typing.get_origin(base)
    if base is bool:
        return "yes"
    if base in (int, float):
        return "10"
    if origin is tuple:
        return "ops@example.com"
    if origin in (Mapping, dict):
        return ["project", "caching"]
    return 7


def bad_value(key: Key) -> Bad:
    if key.path in CURATED:
        return CURATED[key.path]
    probed = probe(key)
    return Bad(wrong_type(key.annotation) if probed is None else probed)


def _raw_with(env: str, path: str, value: Any) -> dict:
    raw = copy.deepcopy(ENVIRONMENTS[env])
    *sections, leaf = path.split(".")
    node = raw
    for section in sections:
        node = node.setdefault(section, {})
    node[leaf] = value
    return raw


def _no_stage(*args, **kwargs):
    raise AssertionError("the loader accepted the bad value: synth went on to build the stage")


def run_app(monkeypatch, capsys, env: str, raw: Mapping[str, Any]) -> list[str]:
    """``app.main()`` for ``-c env=<env>`` with ``raw`` as that environment's settings: the lines a user
    would see on stderr (what was printed, then the message ``sys.exit`` hands the interpreter)."""

    class OneEnvironment(app_module.cdk.App):
        def __init__(self) -> None:
            super().__init__(context={"env": env})

    monkeypatch.setitem(ENVIRONMENTS, env, raw)
    monkeypatch.setattr(app_module.cdk, "App", OneEnvironment)
    monkeypatch.setattr(app_module, "CachingStage", _no_stage)
    with pytest.raises(SystemExit) as exited:
        app_module.main()
    printed = capsys.readouterr().err.splitlines()
    return printed + ([] if exited.value.code in (None, 0, 1) else str(exited.value.code).splitlines())


def _assert_one_line(lines: list[str], env: str, path: str, value: Any) -> None:
    prefix = f"Configuration error: environments.{env}.{path}: {value!r} is not allowed; expected "
    assert len(lines) == 1, lines
    assert lines[0].startswith(prefix) and len(lines[0]) > len(prefix), (lines[0], prefix)
    assert "Traceback" not in lines[0]


ALL_KEYS = list(config_keys())


@pytest.mark.parametrize("key", ALL_KEYS, ids=[key.path for key in ALL_KEYS])
def test_a_bad_value_of_every_key_ends_as_one_line_naming_it(key, monkeypatch, capsys):
    bad = bad_value(key)
    lines = run_app(monkeypatch, capsys, bad.env, _raw_with(bad.env, key.path, bad.value))
    _assert_one_line(lines, bad.env, key.path, bad.value)


@pytest.mark.parametrize("key", ALL_KEYS, ids=[key.path for key in ALL_KEYS])
def test_a_value_of_the_wrong_type_of_every_key_ends_as_one_line(key, monkeypatch, capsys):
    value = wrong_type(key.annotation)
    lines = run_app(monkeypatch, capsys, "dev", _raw_with("dev", key.path, value))
    _assert_one_line(lines, "dev", key.path, value)


SECTIONS = sorted({key.path.split(".")[0] for key in ALL_KEYS if "." in key.path})


@pytest.mark.parametrize("section", SECTIONS)
def test_a_section_that_is_not_a_mapping_ends_as_one_line(section, monkeypatch, capsys):
    raw = {**ENVIRONMENTS["dev"], section: "on"}
    _assert_one_line(run_app(monkeypatch, capsys, "dev", raw), "dev", section, "on")


def test_every_curated_key_still_exists():
    assert set(CURATED) <= {key.path for key in ALL_KEYS}


def test_every_free_text_key_is_listed_with_its_reason():
    free = {key.path for key in ALL_KEYS if key.rule is None and _base(key.annotation) is not bool}
    assert free == set(FREE_TEXT), "give the new key a rule, or list it in FREE_TEXT with a reason"


def test_a_construct_refusing_a_value_the_loader_missed_is_still_one_line(monkeypatch, capsys):
    def refusing_stage(*args, **kwargs):
        rules.check("port", 6379, rules.service_port("redis"))

    class Prod(app_module.cdk.App):
        def __init__(self) -> None:
            super().__init__(context={"env": "prod"})

    monkeypatch.setattr(app_module.cdk, "App", Prod)
    monkeypatch.setattr(app_module, "CachingStage", refusing_stage)
    with pytest.raises(SystemExit) as exited:
        app_module.main()
    lines = capsys.readouterr().err.splitlines() + str(exited.value.code).splitlines()
    assert lines == [
        "Configuration error: environments.prod: port: 6379 is not allowed; expected a port other than "
        "Redis's well-known 6379 (scanners probe it first)"
    ]


@pytest.mark.parametrize(
    ("config_class", "field", "rule"),
    [
        (CacheConfig, "engine", CACHE_ENGINE),
        (CacheConfig, "node_type", rules.CACHE_NODE_TYPE),
        (CacheConfig, "num_shards", rules.NUM_SHARDS),
        (CacheConfig, "replicas_per_shard", rules.REPLICAS_PER_SHARD),
        (CacheConfig, "maxmemory_policy", rules.MAXMEMORY_POLICY),
        (CacheConfig, "snapshot_window", rules.DAILY_WINDOW),
        (CacheConfig, "maintenance_window", rules.WEEKLY_WINDOW),
        (DatabaseConfig, "engine_version", rules.MYSQL_VERSION),
        (DatabaseConfig, "allocated_storage_gib", rules.ALLOCATED_STORAGE_GIB),
        (DatabaseConfig, "database_name", rules.DATABASE_NAME),
    ],
)
def test_config_fields_carry_the_rule_objects_the_constructs_check(config_class, field, rule):
    assert config_class.__dataclass_fields__[field].metadata["check"] is rule


def test_every_log_retention_the_rules_allow_has_a_cloudwatch_value():
    from stacks.cdk_values import log_retention

    for days in rules.LOG_RETENTION_DAYS.allowed:
        assert log_retention(days) is not None


def test_every_architecture_the_rules_allow_has_a_lambda_architecture_and_a_pip_platform():
    """The function and bundling modules keep their own tables (CDK types, pip tags): they must cover the
    rule's values, or the config would accept an architecture the stacks cannot build."""
    from caching_constructs.core.python_function import architecture_named
    from lambda_bundling import bundling

    assert set(rules.LAMBDA_ARCHITECTURE.allowed) == set(bundling._PLATFORMS)
    for architecture in rules.LAMBDA_ARCHITECTURE.allowed:
        assert architecture_named(architecture) is not None


def test_the_rules_and_the_config_load_without_aws_cdk():
    code = (
        "import json, sys, config; config.load_environment('prod'); "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('aws_cdk', 'jsii'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(result.stdout) == []


def test_the_real_command_prints_one_line_for_a_well_known_port(tmp_path):
    """The whole path once, as ``cdk synth -c env=dev`` runs it: a fresh interpreter and the real stage (which
    would raise halfway through, were the loader to let the port through)."""
    code = (
        "from config.environments import ENVIRONMENTS; ENVIRONMENTS['dev']['cache']['port'] = 6379; "
        "import app; app.main()"
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CDK_")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**environment, "CDK_CONTEXT_JSON": '{"env": "dev"}', "CDK_OUTDIR": str(tmp_path)},
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Configuration error: environments.dev.cache.port: 6379 is not allowed; expected a port other than "
        "Redis's well-known 6379 (scanners probe it first)"
    ]
