"""Environment config: every environment loads, and every kind of bad value stops synth with one line."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest

from config import ENVIRONMENT_NAMES, ConfigError, load_environment, parse_environment
from config.environments import ENVIRONMENTS
from tests.infra.conftest import ROOT


def _with(name: str, path: str, value) -> dict:
    raw = copy.deepcopy(ENVIRONMENTS[name])
    *parents, leaf = path.split(".")
    node = raw
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    return raw


def test_there_are_exactly_dev_staging_and_prod():
    assert ENVIRONMENT_NAMES == ("dev", "staging", "prod")


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_every_environment_loads_into_a_frozen_config(name):
    config = load_environment(name)
    assert config.name == name
    with pytest.raises(AttributeError):
        config.cache.engine = "memcached"  # type: ignore[misc]


def test_production_is_protected_and_dev_is_disposable():
    prod, dev = load_environment("prod"), load_environment("dev")
    assert prod.deletion_protection and prod.termination_protection and prod.removal_policy == "snapshot"
    assert not dev.deletion_protection and dev.removal_policy == "destroy"
    assert prod.network.nat_gateways == prod.network.max_azs
    assert dev.network.nat_gateways == 1


def test_staging_and_prod_have_failover_and_dev_may_run_one_node():
    assert not load_environment("dev").cache.automatic_failover
    assert load_environment("staging").cache.automatic_failover
    assert load_environment("prod").cache.automatic_failover


def test_unknown_environment_names_the_allowed_ones():
    with pytest.raises(ConfigError, match=r"^env: 'qa' is not allowed; expected one of dev, staging, prod$"):
        load_environment("qa")


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            "cache.engine",
            "mongodb",
            r"^environments\.staging\.cache\.engine: 'mongodb' is not allowed; "
            r"expected one of 'redis', 'valkey', 'memcached'$",
        ),
        ("cache.replicas_per_shard", -1, r"cache\.replicas_per_shard: -1 .*from 0 to 5"),
        ("cache.maxmemory_policy", "lru", r"cache\.maxmemory_policy: 'lru' .*'allkeys-lru'"),
        ("cache.port", 6379.5, r"cache\.port: 6379\.5 .*an integer"),
        ("cache.cluster_mode", "yes", r"cache\.cluster_mode: 'yes' .*true or false"),
        ("cache.engine_version", "6.2", r"cache\.engine_version: '6\.2' .*7\.x or 8\.x for engine 'valkey'"),
        ("database.read_replica_count", -1, r"database\.read_replica_count: -1 .*from 0 to 5"),
        (
            "database.engine_version",
            "8.0",
            r"database\.engine_version: '8\.0' .*full MySQL 8\.4 or 8\.0 version",
        ),
        ("database.backup_retention_days", 3, r"database\.backup_retention_days: 3 .*at least 7 outside dev"),
        ("network.cidr", "10.0.0.0/8", r"network\.cidr: '10\.0\.0\.0/8' .*prefix from /16 to /22"),
        ("network.max_azs", 1, r"network\.max_azs: 1 .*from 2 to 3"),
        (
            "network.colour",
            "blue",
            r"network\.colour: 'blue' .*one of the keys cidr, flow_log_retention_days",
        ),
        ("removal_policy", "keep", r"removal_policy: 'keep' .*'destroy', 'snapshot', 'retain'"),
        ("account", "123", r"account: '123' .*12-digit"),
        ("tags", {"owner": 7}, r"tags: \{'owner': 7\} .*mapping of strings to strings"),
        ("api.cache_cluster_size", "1.0", r"api\.cache_cluster_size: '1\.0' .*'0\.5', '1\.6'"),
        ("functions.architecture", "arm", r"functions\.architecture: 'arm' .*'arm64', 'x86_64'"),
        ("monitoring.cache_hit_rate_warning", 80, r"cache_hit_rate_warning: 80 .*from 0\.0 to 1\.0"),
    ],
)
def test_a_bad_value_names_the_key_the_value_and_what_is_allowed(path, value, message):
    name = "staging"
    with pytest.raises(ConfigError, match=message) as error:
        parse_environment(name, _with(name, path, value))
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"engine": "redis", "cluster_mode": True, "num_shards": 2, "replicas_per_shard": 0},
            r"cache\.replicas_per_shard: 0 .*at least 1 with cluster_mode",
        ),
        (
            {"engine": "memcached", "engine_version": "1.6.22", "replicas_per_shard": 1},
            r"cache\.replicas_per_shard: 1 .*no replication, so no Multi-AZ failover",
        ),
        (
            {
                "engine": "memcached",
                "engine_version": "1.6.22",
                "cluster_mode": True,
                "replicas_per_shard": 0,
            },
            r"cache\.cluster_mode: True .*false for memcached",
        ),
        ({"engine": "redis", "num_shards": 3}, r"cache\.num_shards: 3 .*1 unless cluster_mode"),
        (
            {"engine": "redis", "cluster_mode": True, "num_shards": 100, "replicas_per_shard": 5},
            r"cache\.num_shards: 100 .*at most 83 .*500 nodes per cluster",
        ),
    ],
)
def test_invalid_cache_combinations_are_rejected(settings, message):
    raw = copy.deepcopy(ENVIRONMENTS["dev"])
    raw["cache"] = {**raw["cache"], **settings}
    with pytest.raises(ConfigError, match=message):
        parse_environment("dev", raw)


def test_account_without_region_is_rejected():
    with pytest.raises(ConfigError, match=r"account: '123456789012' .*both set, or both null"):
        parse_environment("dev", _with("dev", "account", "123456789012"))


def test_synth_with_an_unknown_environment_stops_with_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", "import app; app.main()"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**_clean_env(), "CDK_CONTEXT_JSON": '{"env": "qa"}', "CDK_OUTDIR": str(tmp_path)},
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Configuration error: env: 'qa' is not allowed; expected one of dev, staging, prod"
    ]


def _clean_env() -> dict[str, str]:
    import os

    return {key: value for key, value in os.environ.items() if not key.startswith("CDK_")}
