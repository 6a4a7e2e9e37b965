"""Builds the typed, frozen ``EnvironmentConfig`` from plain data and validates it.

Errors are one line: ``<key path>: <bad value> is not allowed; expected <what is allowed>``. Each field's
own rule sits on the field (``config/schema.py``); the rules here relate several settings, and those a
construct checks too come from ``caching_constructs.core.rules``, so the two layers cannot disagree.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any

from caching_constructs.core import rules
from caching_constructs.elasticache.cache_access import IAM
from caching_constructs.elasticache.engine_families import supports_iam_auth, version_rule
from config.global_datastore import check_global_datastore
from config.regions import DAX_REGIONS
from config.schema import CacheConfig, ConfigError, DatabaseConfig, EnvironmentConfig, MonitoringConfig


def _fail(path: str, value: Any, expected: str) -> ConfigError:
    return ConfigError(f"{path}: {value!r} is not allowed; expected {expected}")


def _coerce(path: str, value: Any, annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(path, value, inner)
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        if not isinstance(value, Mapping):
            raise _fail(path, value, f"a mapping of {annotation.__name__} settings")
        return build(annotation, value, path)
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise _fail(path, value, "a list of strings")
        return tuple(value)
    if origin in (Mapping, dict):
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise _fail(path, value, "a mapping of strings to strings")
        return types.MappingProxyType(dict(value))
    if annotation is bool:
        if not isinstance(value, bool):
            raise _fail(path, value, "true or false")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(path, value, "an integer")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(path, value, "a number")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise _fail(path, value, "a string")
        return value
    raise TypeError(f"{path}: unsupported config annotation {annotation!r}")


def build(cls: type, raw: Mapping[str, Any], path: str) -> Any:
    """Build dataclass ``cls`` from ``raw``; unknown keys and bad values raise ``ConfigError``."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise _fail(f"{path}.{unknown[0]}", raw[unknown[0]], "one of the keys " + ", ".join(sorted(fields)))
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for name, value in raw.items():
        key_path = f"{path}.{name}"
        coerced = _coerce(key_path, value, hints[name])
        check = fields[name].metadata.get("check")
        if check is not None and coerced is not None:
            expected = check(coerced)
            if expected:
                raise _fail(key_path, value, expected)
        values[name] = coerced
    return cls(**values)


def _check(path: str, value: Any, rule: rules.Rule) -> None:
    expected = rule(value)
    if expected:
        raise _fail(path, value, expected)


def _check_problem(path: str, problem: rules.Problem | None) -> None:
    if problem is not None:
        raise _fail(f"{path}.{problem.key}", problem.value, problem.expected)


SERVICE_SET_KEYS = (
    "node_type",
    "cluster_mode",
    "num_shards",
    "replicas_per_shard",
    "maxmemory_policy",
    "port",
    "maintenance_window",
    "log_retention_days",
)
"""What ElastiCache Serverless decides itself: with ``mode: serverless`` these keep their defaults, so a
value that would be silently ignored (an eviction policy above all) stops synth instead."""


def _check_serverless(path: str, cache: CacheConfig) -> None:
    if cache.engine == "memcached":
        raise _fail(
            f"{path}.mode",
            cache.mode,
            "'replication-group' with memcached (this project runs Serverless on Redis OSS or Valkey)",
        )
    _check(
        f"{path}.engine_version",
        cache.engine_version,
        lambda version: rules.serverless_version(cache.engine, version),
    )
    if cache.auth != IAM:
        raise _fail(f"{path}.auth", cache.auth, "'iam' with mode 'serverless' (Serverless has no AUTH token)")
    defaults = {field.name: field.default for field in dataclasses.fields(CacheConfig)}
    for key in SERVICE_SET_KEYS:
        if getattr(cache, key) != defaults[key]:
            raise _fail(
                f"{path}.{key}",
                getattr(cache, key),
                f"the default {defaults[key]!r} with mode 'serverless' (the service sets it)",
            )


def _check_cache(path: str, cache: CacheConfig) -> None:
    _check(f"{path}.engine_version", cache.engine_version, version_rule(cache.engine))
    if cache.mode == rules.SERVERLESS:
        _check_serverless(path, cache)
        return
    if cache.engine == "memcached":
        if cache.cluster_mode:
            raise _fail(f"{path}.cluster_mode", True, "false for memcached (it shards on the client)")
        if cache.replicas_per_shard:
            raise _fail(
                f"{path}.replicas_per_shard",
                cache.replicas_per_shard,
                "0 for memcached (no replication, so no Multi-AZ failover)",
            )
        # num_shards is MemcachedCluster's num_nodes.
        _check(f"{path}.num_shards", cache.num_shards, rules.MEMCACHED_NODES)
    else:
        _check_problem(
            path, rules.redis_topology(cache.cluster_mode, cache.num_shards, cache.replicas_per_shard)
        )
    _check(f"{path}.port", cache.port, rules.service_port(cache.engine))
    if (
        cache.engine != "memcached"
        and cache.auth == "iam"
        and not supports_iam_auth(cache.engine, cache.engine_version)
    ):
        raise _fail(
            f"{path}.auth",
            cache.auth,
            f"'token' with {cache.engine} {cache.engine_version} (IAM auth needs 7 or later)",
        )


def _check_database(path: str, env_name: str, database: DatabaseConfig) -> None:
    support = rules.mysql_support(
        database.engine_version,
        database.accept_extended_support,
        switch="database.accept_extended_support: true",
    )
    if support:
        raise _fail(f"{path}.engine_version", database.engine_version, support)
    size = database.instance_class.split(".")[-1]
    if database.performance_insights and size in rules.NO_PERFORMANCE_INSIGHTS_SIZES:
        raise _fail(
            f"{path}.performance_insights",
            True,
            f"false for {database.instance_class!r} (no Performance Insights on micro/small classes)",
        )
    if not database.performance_insights and database.monitoring_interval_seconds == 0:
        raise _fail(
            f"{path}.monitoring_interval_seconds",
            0,
            "1 to 60 when performance_insights is false (one of the two must watch the database)",
        )
    if env_name != "dev" and database.backup_retention_days < 7:
        raise _fail(f"{path}.backup_retention_days", database.backup_retention_days, "at least 7 outside dev")
    _check(
        f"{path}.max_allocated_storage_gib",
        database.max_allocated_storage_gib,
        rules.max_allocated_storage(database.allocated_storage_gib),
    )


ALARM_SUBSCRIBER_KEYS = ("alarm_emails", "alarm_topic_arns", "alarm_slack_channels")
ENVIRONMENTS_WITHOUT_SUBSCRIBERS = ("dev",)
"""Environments whose alarms may reach nobody (they still show on the dashboard)."""


def has_alarm_subscribers(monitoring: MonitoringConfig) -> bool:
    return any(getattr(monitoring, key) for key in ALARM_SUBSCRIBER_KEYS)


def _check_alarm_subscribers(path: str, env_name: str, monitoring: MonitoringConfig) -> None:
    if env_name not in ENVIRONMENTS_WITHOUT_SUBSCRIBERS and not has_alarm_subscribers(monitoring):
        raise _fail(
            f"{path}.alarm_emails",
            monitoring.alarm_emails,
            "at least one alarm subscriber outside dev: an address in alarm_emails, a topic in "
            "alarm_topic_arns or a channel in alarm_slack_channels",
        )


def _check_region(path: str, region: str | None) -> None:
    if region is not None and region not in DAX_REGIONS:
        raise _fail(
            path,
            region,
            "a region that offers DynamoDB Accelerator (config/regions.py): " + ", ".join(DAX_REGIONS),
        )


def parse_environment(name: str, raw: Mapping[str, Any]) -> EnvironmentConfig:
    """Validate ``raw`` (the settings of one environment) and return its frozen config."""
    path = f"environments.{name}"
    if not isinstance(raw, Mapping):
        raise _fail(path, raw, "a mapping of settings")
    if "name" in raw:
        raise _fail(f"{path}.name", raw["name"], "no 'name' key (the environment's key is its name)")
    config = build(EnvironmentConfig, {**raw, "name": name}, path)
    _check_cache(f"{path}.cache", config.cache)
    _check_database(f"{path}.database", name, config.database)
    if config.cache.engine == "memcached" and config.functions.l1_enabled:
        raise _fail(
            f"{path}.functions.l1_enabled",
            True,
            "false with cache.engine 'memcached' (the near cache is invalidated over pub/sub, which "
            "memcached does not have)",
        )
    _check_alarm_subscribers(f"{path}.monitoring", name, config.monitoring)
    _check_region(f"{path}.region", config.region)
    if config.cache.mode == rules.SERVERLESS and config.global_datastore.secondary_regions:
        raise _fail(
            f"{path}.cache.mode",
            config.cache.mode,
            "'replication-group' with global_datastore.secondary_regions (Global Datastore replicates "
            "replication groups only)",
        )
    check_global_datastore(path, config)
    if (config.account is None) != (config.region is None):
        raise _fail(f"{path}.account", config.account, "account and region both set, or both null")
    if (config.edge.domain_name is None) != (config.edge.certificate_arn is None):
        raise _fail(
            f"{path}.edge.certificate_arn",
            config.edge.certificate_arn,
            "domain_name and certificate_arn together",
        )
    pipeline = config.pipeline
    if (pipeline.connection_arn is None) != (pipeline.repository is None):
        raise _fail(
            f"{path}.pipeline.connection_arn",
            pipeline.connection_arn,
            "connection_arn and repository together",
        )
    if name != "prod" and pipeline.connection_arn is not None:
        # The pipeline lives with prod and deploys every environment; a source set elsewhere would be ignored.
        raise _fail(f"{path}.pipeline.connection_arn", pipeline.connection_arn, "null outside prod")
    if pipeline.connection_arn is not None and config.account is None:
        # Cross-environment actions (us-east-1 for the CloudFront web ACL, other environments' accounts) need
        # the pipeline stack pinned; CDK Pipelines refuses an environment-agnostic one.
        raise _fail(
            f"{path}.account",
            None,
            "a 12-digit account, with region, when pipeline.connection_arn is set (the pipeline deploys "
            "across accounts and regions)",
        )
    return config
