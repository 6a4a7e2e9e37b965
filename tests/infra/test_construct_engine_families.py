"""Parameter group families come from engine + version, never from hand-typed strings."""

from __future__ import annotations

import pytest

from caching_constructs.elasticache.engine_families import (
    CacheEngine,
    memcached_supports_tls,
    parameter_group_family,
    supports_transit_encryption_mode,
)


@pytest.mark.parametrize(
    ("engine", "version", "family"),
    [
        ("redis", "7.1", "redis7"),
        ("redis", "7.0.7", "redis7"),
        ("redis", "6.2", "redis6.x"),
        ("valkey", "7.2", "valkey7"),
        ("valkey", "8.0", "valkey8"),
        (CacheEngine.VALKEY, "8.1", "valkey8"),
        ("memcached", "1.6.22", "memcached1.6"),
    ],
)
def test_family_is_derived_from_engine_and_version(engine, version, family):
    assert parameter_group_family(engine, version) == family


def test_no_family_is_ever_the_nonexistent_redis7_x():
    assert parameter_group_family("redis", "7.1") != "redis7.x"


@pytest.mark.parametrize(
    ("engine", "version", "message"),
    [
        (
            "redis",
            "5.0.6",
            r"engine_version: '5\.0\.6' is not allowed; expected 6\.x or 7\.x for engine 'redis'",
        ),
        (
            "valkey",
            "6.2",
            r"engine_version: '6\.2' is not allowed; expected 7\.x or 8\.x for engine 'valkey'",
        ),
        (
            "memcached",
            "1.5.16",
            r"engine_version: '1\.5\.16' is not allowed; expected 1\.6\.x for engine 'memcached'",
        ),
        ("redis", "seven", r"engine_version: 'seven' is not allowed; expected a version such as '7\.1'"),
        (
            "mongodb",
            "7.0",
            r"engine: 'mongodb' is not allowed; expected one of 'redis', 'valkey', 'memcached'",
        ),
    ],
)
def test_unknown_engines_and_versions_name_the_bad_value(engine, version, message):
    with pytest.raises(ValueError, match=message):
        parameter_group_family(engine, version)


def test_transit_encryption_mode_exists_from_redis_7_and_on_valkey():
    assert supports_transit_encryption_mode("redis", "7.1")
    assert supports_transit_encryption_mode("valkey", "7.2")
    assert not supports_transit_encryption_mode("redis", "6.2")


@pytest.mark.parametrize(
    ("version", "tls"), [("1.6.22", True), ("1.6.12", True), ("1.6.6", False), ("1.6", False)]
)
def test_memcached_tls_needs_1_6_12_named_in_full(version, tls):
    assert memcached_supports_tls(version) is tls
