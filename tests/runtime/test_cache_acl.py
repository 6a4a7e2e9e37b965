"""Each function's RBAC user, with exactly the access string the template grants
(``caching_constructs.elasticache.cache_access``), on a real redis-server: its code path works under it,
nothing it sends is refused, what it is granted it uses, and it is refused what it must never do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from handler_support import call

from cachelib import Cache
from caching_constructs.elasticache.cache_access import (
    CACHE_WARMER,
    DISABLED_DEFAULT_USER,
    FUNCTION_ACCESS,
    KEY_PREFIX,
    PRODUCT_API,
)
from functions import cache_warmer, product_api
from functions.product_store import hot_products_key

pytest_plugins = ["handler_fixtures"]  # fixtures shared by the handler tests

PASSWORD = "acl-test-password"  # the local stand-in for the IAM token: the same AUTH, another secret
# Sent only under conditions these runs do not meet: NOSCRIPT after a restart or failover (script|load),
# replicas to wait for (wait), a connection idle for 30 s (ping), a load that outlasts a third of the lease
# (pexpire, inside the renewal script). Each is proven allowed on its own below.
CONDITIONAL = {"script|load", "wait", "ping", "pexpire"}


def _user(name: str) -> str:
    return name.lower()


@pytest.fixture
def acl_users(redis_server) -> Iterator[redis.Redis]:
    """The functions' users, created as ElastiCache creates them from the template's access strings."""
    admin = redis.Redis(host=redis_server.host, port=redis_server.port)
    for name, access in FUNCTION_ACCESS.items():
        admin.execute_command(
            "ACL", "SETUSER", _user(name), "reset", *access.access_string().split(), f">{PASSWORD}"
        )
    admin.execute_command("ACL", "LOG", "RESET")
    admin.config_resetstat()
    yield admin
    for name in FUNCTION_ACCESS:
        admin.execute_command("ACL", "DELUSER", _user(name))
    admin.close()


@pytest.fixture
def as_user(handler_env, monkeypatch):
    def switch(name: str, **extra: str) -> None:
        for variable, value in {
            "REDIS_USERNAME": _user(name),
            "REDIS_PASSWORD": PASSWORD,
            "CACHE_KEY_PREFIX": KEY_PREFIX,
            **extra,
        }.items():
            monkeypatch.setenv(variable, value)

    return switch


def _refusals(admin: redis.Redis) -> list[str]:
    return [f"{entry['username']}: {entry['object']}" for entry in admin.acl_log()]


def _sent(admin: redis.Redis) -> set[str]:
    """Commands the server ran since the reset, minus the test's own admin calls, as ACL names them."""
    names = set()
    for stat in admin.info("commandstats"):
        name = stat.removeprefix("cmdstat_")
        names.add(name)
    return names - {"info", "acl|log", "config|resetstat", "acl|setuser", "flushall", "zadd"}


def _commands(user: redis.Redis, *commands: tuple) -> list[str]:
    refused = []
    for command in commands:
        try:
            user.execute_command(*command)
        except redis.exceptions.NoPermissionError:
            refused.append(command[0])
    return refused


def _connect(redis_server, name: str) -> redis.Redis:
    return redis.Redis(
        host=redis_server.host, port=redis_server.port, username=_user(name), password=PASSWORD
    )


def test_the_product_api_reads_fills_writes_and_listens_under_its_user(acl_users, as_user):
    as_user("ProductApi", CACHE_L1_ENABLED="true")
    for _ in range(2):  # a miss that fills, then a hit
        status, headers, _ = call(product_api.lambda_handler, "GET", "/products/7")
        assert status == 200
    assert headers["X-Cache"] == "HIT"
    call(product_api.lambda_handler, "GET", "/products", query={"limit": "10"})
    status, _, _ = call(
        product_api.lambda_handler,
        "PUT",
        "/products/7",
        body={"name": "Lamp", "category": "home", "price": "1.00", "stock": 1, "description": "d"},
    )
    assert status == 200
    status, headers, body = call(product_api.lambda_handler, "GET", "/products/7")
    assert (status, headers["X-Cache"], body["name"]) == (200, "MISS", "Lamp")
    assert product_api.store().flush_hot_counts(force=True) > 0

    assert _refusals(acl_users) == []
    granted = {name.lower() for name in PRODUCT_API.commands}
    assert granted - CONDITIONAL <= _sent(acl_users), "granted but never sent: drop it from the access string"


def test_the_warmer_warms_the_hot_set_under_its_user(acl_users, as_user, handler_env):
    as_user("CacheWarmer")
    cache, _ = cache_warmer._state()
    acl_users.zadd(hot_products_key(cache), {str(i): 100 - i for i in range(1, 21)})
    result = cache_warmer.lambda_handler({"topN": 5})
    assert result["warmed"] == 5
    assert acl_users.exists(f"{KEY_PREFIX}:1:{{product:1}}")

    assert _refusals(acl_users) == []
    granted = {name.lower() for name in CACHE_WARMER.commands}
    assert granted - CONDITIONAL <= _sent(acl_users), "granted but never sent: drop it from the access string"


def test_the_commands_sent_only_after_a_restart_or_with_replicas_are_allowed(acl_users, redis_server):
    for name in FUNCTION_ACCESS:
        user = _connect(redis_server, name)
        user.script_load("return 1")
        assert user.ping()
        if "wait" in FUNCTION_ACCESS[name].commands:
            assert user.execute_command("WAIT", 0, 0) == 0
        if "pexpire" in FUNCTION_ACCESS[name].commands:
            assert user.pexpire(f"{KEY_PREFIX}:1:{{product:1}}:lease", 3000) is False  # no such lease
        user.close()
    assert _refusals(acl_users) == []


def test_the_warmer_is_refused_what_it_must_never_do(acl_users, redis_server):
    warmer = _connect(redis_server, "CacheWarmer")
    refused = _commands(
        warmer,
        ("FLUSHALL",),
        ("FLUSHDB",),
        ("CONFIG", "GET", "maxmemory-policy"),
        ("CONFIG", "SET", "maxmemory-policy", "noeviction"),
        ("KEYS", "*"),
        ("SCAN", 0),
        ("EVAL", "return 1", 0),
        ("PUBLISH", f"{KEY_PREFIX}:1:l1-invalidate", "x"),
        ("ACL", "LIST"),
        ("SHUTDOWN",),
    )
    assert refused == [
        "FLUSHALL",
        "FLUSHDB",
        "CONFIG",
        "CONFIG",
        "KEYS",
        "SCAN",
        "EVAL",
        "PUBLISH",
        "ACL",
        "SHUTDOWN",
    ]
    warmer.close()


def test_no_user_reaches_keys_or_channels_outside_the_prefix(acl_users, redis_server):
    for name in FUNCTION_ACCESS:
        user = _connect(redis_server, name)
        with pytest.raises(redis.exceptions.NoPermissionError):
            user.evalsha("0" * 40, 1, "other-app:1:{product:1}")
        if FUNCTION_ACCESS[name].channels:
            with pytest.raises(redis.exceptions.NoPermissionError):
                user.publish("other-app:1:l1-invalidate", "x")
        user.close()


def test_the_product_api_is_refused_administration(acl_users, redis_server):
    api = _connect(redis_server, "ProductApi")
    assert _commands(
        api, ("FLUSHALL",), ("CONFIG", "GET", "*"), ("KEYS", "*"), ("SCAN", 0), ("SHUTDOWN",)
    ) == [
        "FLUSHALL",
        "CONFIG",
        "KEYS",
        "SCAN",
        "SHUTDOWN",
    ]
    api.close()


def test_the_disabled_default_user_cannot_log_in_or_run_anything(redis_server):
    admin = redis.Redis(host=redis_server.host, port=redis_server.port)
    admin.execute_command(
        "ACL", "SETUSER", "stand-in-default", "reset", *DISABLED_DEFAULT_USER.split(), f">{PASSWORD}"
    )
    try:
        with pytest.raises(redis.exceptions.AuthenticationError):
            _connect(redis_server, "stand-in-default").ping()
    finally:
        admin.execute_command("ACL", "DELUSER", "stand-in-default")
        admin.close()


def test_the_schema_step_and_the_dax_demo_have_no_user():
    assert set(FUNCTION_ACCESS) == {"ProductApi", "CacheWarmer"}


def test_a_cache_built_for_a_user_keeps_to_the_prefix(acl_users, settings, redis_server):
    import dataclasses

    cache = Cache.from_settings(
        dataclasses.replace(
            settings, cache_key_prefix=KEY_PREFIX, redis_username="productapi", redis_password=PASSWORD
        )
    )
    try:
        assert cache.keys.channel().startswith(f"{KEY_PREFIX}:")
    finally:
        cache.close()


def test_in_cluster_mode_the_library_works_under_the_product_api_user(redis_cluster, settings):
    import dataclasses

    access = PRODUCT_API.access_string(cluster_mode=True).split()
    admins = [redis.Redis(host=node.host, port=node.port) for node in redis_cluster.nodes]
    for admin in admins:
        admin.execute_command("ACL", "SETUSER", "productapi", "reset", *access, f">{PASSWORD}")
        admin.execute_command("ACL", "LOG", "RESET")
    host, port = redis_cluster.startup
    cache = Cache.from_settings(
        dataclasses.replace(
            settings,
            redis_host=host,
            redis_port=port,
            redis_cluster_mode=True,
            redis_username="productapi",
            redis_password=PASSWORD,
            cache_key_prefix=KEY_PREFIX,
        )
    )
    try:
        keys = [cache.keys.key("product", i) for i in range(20)]
        for i, key in enumerate(keys):
            cache.get_or_load(key, lambda _ep, i=i: {"id": i}, ttl=60)
        assert all(cache.get_or_load(k, lambda _ep: None, ttl=60).status.name == "HIT" for k in keys)
        cache.invalidate(*keys[:5])
        cache.bump_versions(cache.keys.version_key("products", "books"))
        assert [_refusals(admin) for admin in admins] == [[], [], []]
    finally:
        cache.close()
        for admin in admins:
            admin.execute_command("ACL", "DELUSER", "productapi")
            admin.close()
