"""Pure-Python parts: settings contract, typed codec, key builder, metrics EMF output."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cachelib import ConfigurationError, KeyBuilder, SerializationError, Settings, codec
from cachelib.errors import CorruptEntry
from cachelib.metrics import CacheMetrics, flush_cache_metrics
from caching_contract.metrics import ALL_METRICS, CACHE_HIT, CACHE_LATENCY

MINIMAL = {"REDIS_HOST": "cache.internal"}


def test_settings_defaults_from_a_minimal_environment():
    s = Settings.from_env(MINIMAL)
    assert (s.redis_port, s.redis_tls, s.redis_cluster_mode, s.db_tls) == (6379, False, False, True)
    assert s.metrics_namespace == "CachingArchitecture" and s.db_reader_host == s.db_writer_host
    assert s.redis_socket_timeout_ms <= 500 and s.redis_retries <= 2  # never redis-py's 5 s x 10


def test_settings_read_every_documented_variable():
    env = {
        **MINIMAL,
        "REDIS_PORT": "6380",
        "REDIS_TLS": "true",
        "REDIS_CLUSTER_MODE": "TRUE",
        "REDIS_AUTH_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:1:secret:redis",
        "REDIS_USERNAME": "app",
        "DB_WRITER_HOST": "writer",
        "DB_READER_HOST": "reader",
        "DB_PORT": "3307",
        "DB_NAME": "shop",
        "DB_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:1:secret:db",
        "DB_TLS": "false",
        "CACHE_TTL_SECONDS": "120",
        "CACHE_NEGATIVE_TTL_SECONDS": "7",
        "CACHE_L1_ENABLED": "true",
        "CACHE_L1_TTL_SECONDS": "3",
        "CACHE_KEY_PREFIX": "shop",
        "CACHE_KEY_VERSION": "v2",
        "POWERTOOLS_SERVICE_NAME": "product-api",
        "POWERTOOLS_METRICS_NAMESPACE": "Custom",
    }
    s = Settings.from_env(env)
    assert (s.redis_port, s.redis_tls, s.redis_cluster_mode, s.redis_username) == (6380, True, True, "app")
    assert (s.db_writer_host, s.db_reader_host, s.db_port, s.db_name, s.db_tls) == (
        "writer",
        "reader",
        3307,
        "shop",
        False,
    )
    assert (
        s.cache_ttl_seconds,
        s.cache_negative_ttl_seconds,
        s.cache_l1_enabled,
        s.cache_l1_ttl_seconds,
    ) == (
        120,
        7,
        True,
        3,
    )
    assert (s.cache_key_prefix, s.cache_key_version, s.service_name, s.metrics_namespace) == (
        "shop",
        "v2",
        "product-api",
        "Custom",
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({**MINIMAL, "REDIS_TLS": "maybe"}, "REDIS_TLS: 'maybe'"),
        ({**MINIMAL, "REDIS_PORT": "six"}, "REDIS_PORT: 'six'"),
        ({**MINIMAL, "CACHE_TTL_SECONDS": "0"}, "CACHE_TTL_SECONDS: 0"),
        ({**MINIMAL, "CACHE_KEY_PREFIX": "a:b"}, "CACHE_KEY_PREFIX"),
    ],
)
def test_a_bad_setting_names_the_variable_and_the_value(env, message):
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env(env)


def test_redis_host_is_optional_until_a_redis_client_is_requested():
    from cachelib import Cache, create_redis_client

    s = Settings.from_env({"DB_WRITER_HOST": "writer", "DB_NAME": "shop"})  # a database-only function
    assert s.redis_host is None and s.db_writer_host == "writer"
    with pytest.raises(ConfigurationError, match="REDIS_HOST: not set"):
        create_redis_client(s)
    with pytest.raises(ConfigurationError, match="REDIS_HOST: not set"):
        Cache.from_settings(s)  # at construction, not on the first read
    with pytest.raises(ConfigurationError, match="REDIS_HOST: not set"):
        s.require_redis_host()
    assert Settings.from_env({"REDIS_HOST": " "}).redis_host is None  # blank counts as unset


typed_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.datetimes(timezones=st.just(UTC))
    | st.datetimes()
    | st.dates(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)


@given(typed_values)
def test_codec_round_trips_typed_values(value):
    if value is None:  # "no such row" travels as a negative entry; a value entry holding null is corrupt
        return
    _kind, _soft, decoded = codec.decode_entry(codec.encode_entry(codec.KIND_VALUE, 1, value))
    assert decoded == value and type(decoded) is type(value)


def test_codec_keeps_decimal_precision_and_timezones():
    value = {
        "p": Decimal("0.10"),
        "t": datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=2))),
        "d": date.min,
    }
    assert repr(codec.loads(codec.dumps(value))) == repr(value)


def test_codec_escapes_user_dicts_that_look_like_tags():
    value = {"$dec": "x"}
    assert codec.loads(codec.dumps(value)) == value


def test_codec_rejects_unsupported_types():
    with pytest.raises(SerializationError, match="object"):
        codec.dumps({"x": object()})


@pytest.mark.parametrize("raw", [b"", b"V|1", b"N|1|payload", b"V|x|1", b"Z|1|1", b"V|1|{"])
def test_codec_reports_corrupt_entries(raw):
    with pytest.raises(CorruptEntry):
        codec.decode_entry(raw)


def test_keys_are_namespaced_versioned_hash_tagged_and_escape_user_input():
    keys = KeyBuilder("shop", "3")
    assert keys.key("product", 42) == "shop:3:{product:42}"
    assert keys.key("products", page=2, category="books") == keys.key("products", category="books", page=2)
    hostile = keys.key("search", "a}:b{ *")
    assert hostile.count("{") == 1 and hostile.count("}") == 1 and " " not in hostile
    assert keys.version_key("products", "books") == "shop:3:{ver-products:books}"
    with pytest.raises(ValueError, match="namespace"):
        keys.key("bad:ns", 1)
    with pytest.raises(TypeError):
        keys.key("product", 1.5)


def assert_valid_emf(doc: dict) -> None:
    """The EMF specification's rules (docs.aws.amazon.com, "Embedded metric format specification")."""
    directive = doc["_aws"]
    assert isinstance(directive["Timestamp"], int) and directive["Timestamp"] > 1_600_000_000_000
    for block in directive["CloudWatchMetrics"]:
        assert isinstance(block["Namespace"], str) and block["Namespace"]
        for dimension_set in block["Dimensions"]:
            assert 1 <= len(dimension_set) <= 30
            assert all(isinstance(doc[name], str) for name in dimension_set)  # each dimension is a member
        for metric in block["Metrics"]:
            assert metric["Unit"] in {"Count", "Milliseconds"}
            value = doc[metric["Name"]]  # each metric is a member: a number or up to 100 numbers
            values = value if isinstance(value, list) else [value]
            assert 1 <= len(values) <= 100 and all(isinstance(v, (int, float)) for v in values)


def test_metrics_are_one_valid_emf_line_with_the_contract_names_and_dimensions(capsys, monkeypatch):
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    recorder = CacheMetrics("CachingArchitecture", "product-api", environment="staging")

    @flush_cache_metrics(recorder)
    def handler(event, context):
        recorder.incr(CACHE_HIT, 3)
        for ms in range(250):
            recorder.latency(ms / 10)
        return "ok"

    assert handler({}, None) == "ok"
    (line,) = capsys.readouterr().out.splitlines()
    doc = json.loads(line)
    assert_valid_emf(doc)
    (block,) = doc["_aws"]["CloudWatchMetrics"]
    assert {m["Name"] for m in block["Metrics"]} == set(ALL_METRICS)
    assert block["Namespace"] == "CachingArchitecture" and block["Dimensions"] == [["service", "environment"]]
    assert (doc["service"], doc["environment"]) == ("product-api", "staging")
    assert doc[CACHE_HIT] == 3 and doc["CacheMiss"] == 0  # zeros are reported: dashboards show 0, not gaps
    assert len(doc[CACHE_LATENCY]) == 99  # a uniform reservoir, within EMF's 100 values per metric
    assert recorder.snapshot()[CACHE_HIT] == 0  # drained


def test_without_latencies_or_an_environment_the_line_is_still_valid_emf(monkeypatch):
    recorder = CacheMetrics("CachingArchitecture", "warmer", environment=None)
    monkeypatch.delenv("APP_ENVIRONMENT", raising=False)
    doc = json.loads(CacheMetrics("CachingArchitecture", "warmer").document(1_700_000_000_000))
    assert_valid_emf(doc)
    assert doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]] and CACHE_LATENCY not in doc
    assert recorder.environment is None


def test_metrics_disabled_writes_nothing_and_drains(capsys, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    recorder = CacheMetrics("CachingArchitecture", "x")
    recorder.incr(CACHE_HIT)
    recorder.emit()
    assert capsys.readouterr().out == "" and recorder.snapshot()[CACHE_HIT] == 0


def test_a_missing_server_binary_names_the_setup_target(monkeypatch):
    import server_process
    import servers

    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(server_process, "_SBIN", ("/nonexistent",))
    with pytest.raises(servers.ServerSetupError, match=r"redis-server.*make setup-servers"):
        servers.start_redis()
    with pytest.raises(servers.ServerSetupError, match=r"mariadbd.*make setup-servers"):
        servers.start_mariadb()


def test_test_redis_uses_the_dev_configs_eviction_policy(redis_server):
    from config import load_environment

    policy = redis_server.cli("CONFIG", "GET", "maxmemory-policy").splitlines()[-1]
    assert policy == load_environment("dev").cache.maxmemory_policy


def test_no_tls_context_is_built_when_database_tls_is_off_and_one_per_container_when_on(monkeypatch):
    """PyMySQL builds a default TLS context on every connect unless told TLS is off (issue 14)."""
    import ssl

    import pymysql

    from cachelib import Database, Settings

    built = []
    real = ssl.create_default_context
    monkeypatch.setattr(ssl, "create_default_context", lambda *a, **k: built.append(1) or real(*a, **k))
    seen = []
    monkeypatch.setattr(pymysql, "connect", lambda **kwargs: seen.append(kwargs) or _OpenConnection())
    plain = Database(Settings(db_tls=False, db_user="u"))
    plain.connection()
    assert built == [] and seen[-1]["ssl_disabled"] is True and seen[-1]["ssl"] is None
    tls = Database(Settings(db_tls=True, db_user="u", db_reader_host="localhost"))
    tls.connection()
    tls.close()
    tls.connection()
    assert len(built) == 1 and seen[-1]["ssl_disabled"] is False


class _OpenConnection:
    open = True

    def close(self) -> None:
        self.open = False
