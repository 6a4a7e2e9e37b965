"""Cache-aside reads on a real memcached: the Redis behaviour tests that apply, through the same ``Cache``.

Hit/miss, typed values, TTLs (whole seconds on memcached) and jitter, serve-stale, negative caching, corrupt
entries, a failing loader, one loader per stampede, keys longer than memcached's 250 bytes, and the
settings memcached refuses.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pymemcache.client.base import Client

from cachelib import Cache, CacheStatus, ConfigurationError, ReadEndpoint, Settings
from cachelib.memcached_backend import LEASE_PREFIX, MemcachedBackend, wire_key
from caching_contract.metrics import CACHE_HIT, CACHE_MISS, CACHE_NEGATIVE_HIT, CACHE_STALE_SERVED

pytest_plugins = ["memcached_fixtures"]

PRODUCT = {
    "id": 42,
    "name": "Kettle",
    "price": Decimal("19.99"),
    "updated_at": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
    "released": date(2025, 12, 24),
    "tags": ["kitchen", "steel"],
    "looks_like_a_tag": {"$dec": "not a decimal"},
}


class CountingLoader:
    def __init__(self, value: object) -> None:
        self.value = value
        self.calls: list[ReadEndpoint] = []

    def __call__(self, endpoint: ReadEndpoint) -> object:
        self.calls.append(endpoint)
        return self.value


@pytest.fixture
def raw(memcached_server):
    client = Client((memcached_server.host, memcached_server.port), connect_timeout=2, timeout=2)
    yield client
    client.close()


def test_the_cache_runs_on_memcached_through_the_same_api(make_mc_cache):
    cache = make_mc_cache()
    assert isinstance(cache.backend, MemcachedBackend) and cache.near_cache is None
    assert cache.keys.key("product", 42) == "test:1:{product:42}"


def test_a_miss_loads_from_the_reader_and_the_next_read_is_a_hit(make_mc_cache, raw):
    cache = make_mc_cache()
    key = cache.keys.key("product", 42)
    loader = CountingLoader(PRODUCT)

    first = cache.get_or_load(key, loader, ttl=60)
    second = cache.get_or_load(key, loader, ttl=60)

    assert (first.status, second.status) == (CacheStatus.MISS, CacheStatus.HIT)
    assert loader.calls == [ReadEndpoint.READER]
    assert second.value == PRODUCT and isinstance(second.value["price"], Decimal)
    assert cache.metrics.snapshot()[CACHE_MISS] == 1 and cache.metrics.snapshot()[CACHE_HIT] == 1
    assert raw.get(key).startswith(b"V|")  # the same frame as on Redis


def test_the_hard_expiry_is_the_jittered_ttl_plus_the_stale_grace_in_whole_seconds(make_mc_cache, raw):
    cache = make_mc_cache(cache_stale_seconds=1)
    keys = [cache.keys.key("product", i) for i in range(10)]
    for key in keys:
        cache.get_or_load(key, CountingLoader({"id": 1}), ttl=1)  # soft 0.9-1 s, hard +1 s: expiry 2 s
    time.sleep(0.9)
    assert all(raw.get(key) is not None for key in keys)
    time.sleep(2.3)  # memcached's clock ticks in seconds: 2 s lives 1-2 s, and is gone after 3
    assert all(raw.get(key) is None for key in keys)


def test_after_the_soft_ttl_one_caller_refreshes_and_the_value_changes(make_mc_cache):
    cache = make_mc_cache(cache_stale_seconds=30)
    key = cache.keys.key("product", 7)
    cache.get_or_load(key, CountingLoader({"v": 1}), ttl=0.05)
    time.sleep(0.08)
    refreshed = cache.get_or_load(key, CountingLoader({"v": 2}), ttl=60)
    assert refreshed.status is CacheStatus.MISS and refreshed.value == {"v": 2}
    assert cache.get_or_load(key, CountingLoader({"v": 3}), ttl=60).value == {"v": 2}


def test_past_the_soft_ttl_others_are_served_stale_while_a_refresh_is_running(make_mc_cache, raw):
    cache = make_mc_cache(cache_stale_seconds=30)
    key = cache.keys.key("product", 8)
    cache.get_or_load(key, CountingLoader({"v": 1}), ttl=0.05)
    time.sleep(0.08)
    deadline = int(time.time() * 1000) + 5000
    raw.set(key + ":lease", b"L|%d|someone-else" % deadline, expire=5)  # another caller is refreshing
    loader = CountingLoader({"v": 2})
    stale = cache.get_or_load(key, loader, ttl=60)
    assert stale.status is CacheStatus.STALE and stale.value == {"v": 1}
    assert loader.calls == [] and cache.metrics.snapshot()[CACHE_STALE_SERVED] == 1


def test_a_missing_row_is_cached_with_the_short_negative_ttl(make_mc_cache):
    cache = make_mc_cache(cache_negative_ttl_seconds=5)
    key = cache.keys.key("product", 404)
    loader = CountingLoader(None)
    first = cache.get_or_load(key, loader, ttl=300)
    second = cache.get_or_load(key, loader, ttl=300)
    assert first.value is None and first.status is CacheStatus.MISS
    assert second.status is CacheStatus.NEGATIVE_HIT and len(loader.calls) == 1
    assert cache.metrics.snapshot()[CACHE_NEGATIVE_HIT] == 1


@pytest.mark.parametrize(
    "garbage", [b"not an entry", b"V|notanumber|{}", b"V|99999999999999|{broken json", b"\xff\xfe", b"L|x"]
)
def test_a_corrupt_entry_counts_as_a_miss_and_is_replaced(make_mc_cache, raw, garbage):
    """``L|x`` is a garbled lease placeholder: it reads as lapsed and is taken over."""
    cache = make_mc_cache()
    key = cache.keys.key("product", 5)
    raw.set(key, garbage)
    loader = CountingLoader({"ok": True})
    result = cache.get_or_load(key, loader, ttl=60)
    assert result.status is CacheStatus.MISS and result.value == {"ok": True} and len(loader.calls) == 1
    assert cache.get_or_load(key, loader, ttl=60).status is CacheStatus.HIT


def test_a_loader_error_propagates_and_releases_the_lease(make_mc_cache, raw):
    cache = make_mc_cache()
    key = cache.keys.key("product", 6)

    def failing(_endpoint):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        cache.get_or_load(key, failing, ttl=60)
    assert raw.get(key) is None  # the placeholder is gone: the next caller loads at once
    assert cache.get_or_load(key, CountingLoader(1), ttl=60).status is CacheStatus.MISS


def stampede(cache: Cache, threads: int = 64) -> int:
    key = cache.keys.key("product", 1)
    calls = 0
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def loader(_endpoint):
        nonlocal calls
        with lock:
            calls += 1
        time.sleep(0.2)
        return {"id": 1}

    def read() -> object:
        start.wait()
        return cache.get_or_load(key, loader, ttl=60).value

    results: list[object] = []
    workers = [threading.Thread(target=lambda: results.append(read())) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert results == [{"id": 1}] * threads
    return calls


def test_64_threads_missing_one_key_run_the_loader_exactly_once(make_mc_cache):
    cache = make_mc_cache(cache_wait_ms=5000)
    assert stampede(cache) == 1
    counts = cache.metrics.snapshot()
    assert counts[CACHE_MISS] == 1 and counts["CacheLoaderWait"] + counts[CACHE_HIT] == 63


def test_sabotage_without_the_add_lease_every_thread_loads(make_mc_cache, monkeypatch):
    """Proves the stampede test can fail: an ``add`` that always succeeds (a ``set``) grants every caller."""
    import cachelib.memcached_backend as backend

    real = backend.MemcachedBackend._acquire_miss

    def set_instead_of_add(client, key, token, lease_ms):
        client.delete(wire_key(key))  # whatever was there, as a plain set would overwrite it
        return real(client, key, token, lease_ms)

    monkeypatch.setattr(backend.MemcachedBackend, "_acquire_miss", staticmethod(set_instead_of_add))
    assert stampede(make_mc_cache(cache_wait_ms=5000), threads=16) > 1


def test_a_lease_placeholder_is_never_served_as_a_value(make_mc_cache, raw):
    cache = make_mc_cache(cache_wait_ms=200)
    key = cache.keys.key("product", 9)
    raw.set(key, LEASE_PREFIX + b"%d|holder" % (int(time.time() * 1000) + 60_000), expire=60)
    result = cache.get_or_load(key, CountingLoader({"id": 9}), ttl=60)
    assert result.value == {"id": 9} and result.status is CacheStatus.MISS  # waited, then read itself
    assert raw.get(key).startswith(LEASE_PREFIX)  # the live holder's lease is left alone


def test_keys_longer_than_250_bytes_are_hashed_and_still_distinct(make_mc_cache):
    cache = make_mc_cache()
    long_a, long_b = cache.keys.key("products", "a" * 300), cache.keys.key("products", "a" * 299 + "b")
    assert len(wire_key(long_a)) < 250 and wire_key(long_a) != wire_key(long_b)
    assert cache.get_or_load(long_a, CountingLoader("A"), ttl=60).value == "A"
    assert cache.get_or_load(long_b, CountingLoader("B"), ttl=60).value == "B"
    assert cache.get_or_load(long_a, CountingLoader("x"), ttl=60).status is CacheStatus.HIT


# --- settings ---------------------------------------------------------------------------------------------


def test_the_near_cache_is_refused_with_memcached_in_one_line(memcached_env):
    with pytest.raises(ConfigurationError, match=r"^CACHE_L1_ENABLED: .*memcached") as caught:
        Settings.from_env({**memcached_env, "CACHE_L1_ENABLED": "true"})
    assert "\n" not in str(caught.value)


def test_from_settings_refuses_the_near_cache_too(mc_settings):
    from cachelib import NearCache

    with pytest.raises(ConfigurationError, match="pub/sub"):
        Cache.from_settings(mc_settings, near_cache=NearCache(1))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CACHE_ENGINE": "mongodb"}, r"^CACHE_ENGINE: 'mongodb' is not one of redis, memcached$"),
        ({"CACHE_NODES": "host-without-port"}, r"^CACHE_NODES: 'host-without-port' is not host:port$"),
        ({"CACHE_NODES": ""}, r"^CACHE_NODES: not set"),
        ({"CACHE_REPLICA_ACKS": "1"}, r"^CACHE_REPLICA_ACKS: 1, but memcached has no replicas"),
    ],
)
def test_invalid_memcached_settings_are_refused_naming_the_variable(memcached_env, env, message):
    with pytest.raises(ConfigurationError, match=message):
        Cache.from_settings(Settings.from_env({**memcached_env, **env}))


def test_nodes_parse_into_host_port_pairs(memcached_env):
    settings = Settings.from_env({**memcached_env, "CACHE_NODES": "a.example:11212, b.example:11213"})
    assert settings.cache_nodes == (("a.example", 11212), ("b.example", 11213))
    assert dataclasses.replace(settings, cache_engine="redis").cache_engine == "redis"


# --- TLS --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def memcached_tls_server(tmp_path_factory, tls_files):
    from servers import start_memcached

    server = start_memcached(tmp_path_factory.mktemp("memcached-tls"), tls=tls_files)
    yield server
    server.stop()


def tls_settings(memcached_env, server, ca_file) -> Settings:
    env = {**memcached_env, "CACHE_NODES": f"localhost:{server.port}", "MEMCACHED_TLS": "true"}
    if ca_file is not None:
        env["MEMCACHED_TLS_CA_FILE"] = str(ca_file)
    return Settings.from_env(env)


def test_tls_against_a_real_memcached_verifies_the_server(memcached_env, memcached_tls_server, tls_files):
    cache = Cache.from_settings(tls_settings(memcached_env, memcached_tls_server, tls_files.ca))
    try:
        key = cache.keys.key("product", 1)
        assert cache.get_or_load(key, CountingLoader({"id": 1}), ttl=60).status is CacheStatus.MISS
        assert cache.get_or_load(key, CountingLoader({"id": 1}), ttl=60).status is CacheStatus.HIT
    finally:
        cache.close()


def test_an_untrusted_memcached_certificate_is_a_cache_error_and_reads_still_succeed(
    memcached_env, memcached_tls_server
):
    cache = Cache.from_settings(tls_settings(memcached_env, memcached_tls_server, None))
    try:
        result = cache.get_or_load(cache.keys.key("product", 1), CountingLoader({"id": 1}), ttl=60)
        assert (result.status, result.value) == (CacheStatus.BYPASS, {"id": 1})
    finally:
        cache.close()


def test_one_tls_context_per_container_and_none_without_tls(memcached_env, monkeypatch, tls_files):
    import ssl

    from cachelib import connections

    built = []
    real = ssl.create_default_context
    monkeypatch.setattr(ssl, "create_default_context", lambda *a, **k: built.append(1) or real(*a, **k))
    monkeypatch.setattr(connections, "_TLS_CONTEXTS", {})
    plain = Settings.from_env(memcached_env)
    connections.create_memcached_client(plain).close()
    assert built == []
    tls = dataclasses.replace(plain, memcached_tls=True, memcached_tls_ca_file=str(tls_files.ca))
    for _ in range(3):
        client = connections.create_memcached_client(tls)
        assert client.default_kwargs["tls_context"] is not None and client.default_kwargs["timeout"] == 0.25
        client.close()
    assert len(built) == 1
