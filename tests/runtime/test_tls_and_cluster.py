"""The production connection shapes: TLS + AUTH (secret from Secrets Manager), and cluster mode."""

from __future__ import annotations

import dataclasses
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
import redis
from conftest import TLS_ACL_USER
from moto import mock_aws

from cachelib import Cache, CacheStatus, Settings, create_redis_client


@pytest.fixture
def secrets_manager(aws_credentials):
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


def tls_settings(server, tls_files, **overrides) -> Settings:
    env = {
        "REDIS_HOST": "localhost",  # the name in the certificate: hostname verification stays on
        "REDIS_PORT": str(server.port),
        "REDIS_TLS": "true",
        "REDIS_TLS_CA_FILE": str(tls_files.ca),
        "CACHE_KEY_PREFIX": "tls",
    }
    return dataclasses.replace(Settings.from_env(env), **overrides)


def test_tls_with_an_acl_user_from_a_json_secret(redis_tls_server, tls_files, secrets_manager):
    user, password = TLS_ACL_USER
    arn = secrets_manager.create_secret(
        Name="redis-rbac", SecretString=json.dumps({"username": user, "password": password})
    )["ARN"]
    cache = Cache.from_settings(tls_settings(redis_tls_server, tls_files, redis_auth_secret_arn=arn))
    try:
        key = cache.keys.key("product", 1)
        assert cache.get_or_load(key, lambda _ep: {"id": 1}, ttl=60).status is CacheStatus.MISS
        assert cache.get_or_load(key, lambda _ep: {"id": 1}, ttl=60).status is CacheStatus.HIT
        assert cache.client().acl_whoami() == user
        assert cache.client().connection_pool.connection_kwargs.get("ssl_cert_reqs") is not None
    finally:
        cache.close()


def test_tls_with_a_plain_auth_token_secret(redis_tls_server, tls_files, secrets_manager):
    arn = secrets_manager.create_secret(Name="redis-token", SecretString=redis_tls_server.password)["ARN"]
    client = create_redis_client(tls_settings(redis_tls_server, tls_files, redis_auth_secret_arn=arn))
    try:
        assert client.ping() and client.acl_whoami() == "default"
    finally:
        client.close()


def test_a_wrong_password_is_a_cache_error_and_reads_still_succeed(redis_tls_server, tls_files):
    cache = Cache.from_settings(tls_settings(redis_tls_server, tls_files, redis_password="wrong"))
    try:
        result = cache.get_or_load(cache.keys.key("product", 1), lambda _ep: {"id": 1}, ttl=60)
        assert result.status is CacheStatus.BYPASS and result.value == {"id": 1}
    finally:
        cache.close()


def test_an_untrusted_certificate_is_rejected(redis_tls_server, tls_files):
    client = create_redis_client(
        tls_settings(redis_tls_server, tls_files, redis_tls_ca_file=None, redis_password="x")
    )
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
        client.ping()


def test_plaintext_is_not_served(redis_tls_server):
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis(
        host="localhost", port=redis_tls_server.port, socket_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    with pytest.raises(redis.ConnectionError):
        client.ping()


@pytest.fixture
def cluster_cache(redis_cluster):
    host, port = redis_cluster.startup
    settings = Settings.from_env(
        {"REDIS_HOST": host, "REDIS_PORT": str(port), "REDIS_CLUSTER_MODE": "true", "CACHE_KEY_PREFIX": "c"}
    )
    caches = []

    def make(**overrides):
        cache = Cache.from_settings(dataclasses.replace(settings, **overrides))
        caches.append(cache)
        return cache

    yield make
    for cache in caches:
        cache.close()


def test_cluster_mode_reads_writes_and_versions_across_slots(cluster_cache):
    cache = cluster_cache()
    client = cache.client()
    assert type(client).__name__ == "RedisCluster"
    keys = [cache.keys.key("product", i) for i in range(50)]
    nodes = {client.get_node_from_key(k).port for k in keys}
    assert len(nodes) == 3  # the keys really are spread over the three masters

    for i, key in enumerate(keys):
        assert cache.get_or_load(key, lambda _ep, i=i: {"id": i}, ttl=60).status is CacheStatus.MISS
    assert all(cache.get_or_load(k, lambda _ep: None, ttl=60).status is CacheStatus.HIT for k in keys)

    cache.invalidate(*keys[:10])
    assert cache.get_or_load(keys[0], lambda _ep: {"id": "new"}, ttl=60).value == {"id": "new"}

    counter = cache.keys.version_key("products", "books")
    before = cache.versions.current(counter)
    cache.bump_versions(counter)
    after = cache.versions.current(counter)
    assert after.number == before.number + 1


def test_cluster_mode_stampede_runs_one_loader(cluster_cache):
    cache = cluster_cache(cache_wait_ms=5000)
    key = cache.keys.key("product", "hot")
    calls = []
    barrier = threading.Barrier(16)

    def loader(_ep):
        calls.append(1)
        threading.Event().wait(0.1)
        return {"hot": True}

    def read(_):
        barrier.wait()
        return cache.get_or_load(key, loader, ttl=60).value

    with ThreadPoolExecutor(16) as pool:
        assert all(v == {"hot": True} for v in pool.map(read, range(16)))
    assert len(calls) == 1


def test_cluster_mode_l1_invalidation_reaches_another_instance(cluster_cache):
    a = cluster_cache(cache_l1_enabled=True, cache_l1_ttl_seconds=30)
    b = cluster_cache(cache_l1_enabled=True, cache_l1_ttl_seconds=30)
    key = a.keys.key("product", 1)
    for _ in range(200):  # until b's subscription has answered its first heartbeat
        if b.near_cache.listening:
            break
        b.near_cache.drain()
        threading.Event().wait(0.005)
    b.get_or_load(key, lambda _ep: "old", ttl=60)
    assert b.get_or_load(key, lambda _ep: "old", ttl=60).status is CacheStatus.L1_HIT
    a.invalidate(key)
    deadline = threading.Event()
    for _ in range(200):
        if b.get_or_load(key, lambda _ep: "new", ttl=60).value == "new":
            break
        deadline.wait(0.01)
    assert b.get_or_load(key, lambda _ep: "new", ttl=60).value == "new"


def test_an_unreadable_auth_secret_is_a_cache_error_not_a_failed_read(
    redis_tls_server, tls_files, secrets_manager
):
    missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:does-not-exist-AbCdEf"
    cache = Cache.from_settings(tls_settings(redis_tls_server, tls_files, redis_auth_secret_arn=missing))
    try:
        result = cache.get_or_load(cache.keys.key("product", 1), lambda _ep: {"id": 1}, ttl=60)
        assert result.status is CacheStatus.BYPASS and result.value == {"id": 1}
    finally:
        cache.close()


def test_an_unreadable_database_secret_is_database_unavailable(secrets_manager):
    from cachelib import Database, DatabaseUnavailable

    settings = Settings.from_env(
        {
            "REDIS_HOST": "unused",
            "DB_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:no-db-AbCdEf",
        }
    )
    with pytest.raises(DatabaseUnavailable, match="database secret"):
        Database(settings).connection()
