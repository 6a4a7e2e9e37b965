"""Failures: Redis killed and restarted mid-run, MySQL stopped, invalidation during an outage."""

from __future__ import annotations

import time

import pytest

from cachelib import (
    BreakerState,
    CacheStatus,
    CircuitBreaker,
    DatabaseUnavailable,
    InvalidationFailed,
    ReadEndpoint,
)
from caching_contract.metrics import CACHE_ERROR, CACHE_MISS


@pytest.fixture
def products(db):
    with db.transaction() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS products_f (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL)")
        cur.executemany("INSERT INTO products_f VALUES (%s, %s)", [(i, f"p{i}") for i in range(1, 21)])
    return db


def load(db, endpoint: ReadEndpoint, product_id: int):
    with db.cursor(endpoint) as cur:
        cur.execute("SELECT id, name FROM products_f WHERE id = %s", (product_id,))
        row = cur.fetchone()
    return None if row is None else {"id": row[0], "name": row[1]}


def test_redis_killed_mid_run_then_restarted_reads_keep_succeeding_and_the_breaker_cycles(
    make_cache, products, redis_outage
):
    cache = make_cache(breaker_failures=3, breaker_reset_seconds=1)
    seen_states = set()
    statuses = []

    def read_all():
        for pid in range(1, 21):
            result = cache.get_or_load(
                cache.keys.key("product", pid), lambda ep, p=pid: load(products, ep, p)
            )
            assert result.value == {"id": pid, "name": f"p{pid}"}  # every read answers correctly
            statuses.append(result.status)
            seen_states.add(cache.breaker.state)

    read_all()
    assert set(statuses) == {CacheStatus.MISS}
    misses_before_outage = cache.metrics.snapshot()[CACHE_MISS]

    redis_outage.kill()
    statuses.clear()
    started = time.monotonic()
    read_all()
    outage_seconds = time.monotonic() - started

    assert cache.breaker.state is BreakerState.OPEN
    assert set(statuses) == {CacheStatus.BYPASS} and statuses[0].x_cache == "MISS"
    counts = cache.metrics.snapshot()
    assert counts[CACHE_ERROR] >= 20 and counts[CACHE_MISS] == misses_before_outage  # never a "miss"
    assert outage_seconds < 2.0  # refused fast, not a timeout per request

    redis_outage.start()
    time.sleep(1.05)  # breaker reset period
    statuses.clear()
    read_all()
    assert cache.breaker.state is BreakerState.CLOSED
    assert statuses.count(CacheStatus.MISS) == 20  # the restarted Redis is empty: refilled
    statuses.clear()
    read_all()
    assert set(statuses) == {CacheStatus.HIT}


def test_an_unreachable_redis_at_cold_start_is_a_cache_error_not_a_crash(make_cache, products, redis_outage):
    redis_outage.stop()
    cache = make_cache()
    result = cache.get_or_load(cache.keys.key("product", 1), lambda ep: load(products, ep, 1))
    assert result.status is CacheStatus.BYPASS and result.value == {"id": 1, "name": "p1"}


def test_during_an_outage_reads_use_the_fresh_reader_endpoint_not_the_writer(
    make_cache, products, redis_outage
):
    """The reader endpoint checks replica freshness itself (Database.fresh_read_target), so a Redis
    outage does not move the read load onto the writer."""
    cache = make_cache()
    redis_outage.stop()
    endpoints = []
    cache.get_or_load(cache.keys.key("product", 1), lambda ep: endpoints.append(ep) or load(products, ep, 1))
    assert endpoints == [ReadEndpoint.READER]


def test_invalidation_during_an_outage_raises_a_typed_error(make_cache, redis_outage):
    cache = make_cache()
    redis_outage.stop()
    with pytest.raises(InvalidationFailed, match="product"):
        cache.invalidate(cache.keys.key("product", 1))
    with pytest.raises(InvalidationFailed):
        cache.bump_versions(cache.keys.version_key("products", "books"))


def test_mysql_stopped_hits_are_served_and_misses_raise_database_unavailable(
    make_cache, products, mysql_outage
):
    cache = make_cache(cache_stale_seconds=60)
    warm = cache.keys.key("product", 1)
    stale = cache.keys.key("product", 2)
    cache.get_or_load(warm, lambda ep: load(products, ep, 1), ttl=300)
    cache.get_or_load(stale, lambda ep: load(products, ep, 2), ttl=0.05)
    products.close()
    time.sleep(0.06)

    mysql_outage.stop()

    hit = cache.get_or_load(warm, lambda ep: load(products, ep, 1))
    assert hit.status is CacheStatus.HIT and hit.value["name"] == "p1"
    served_stale = cache.get_or_load(stale, lambda ep: load(products, ep, 2))
    assert served_stale.status is CacheStatus.STALE and served_stale.value["name"] == "p2"
    with pytest.raises(DatabaseUnavailable):
        cache.get_or_load(cache.keys.key("product", 3), lambda ep: load(products, ep, 3))
    with pytest.raises(DatabaseUnavailable), products.transaction() as cur:
        cur.execute("UPDATE products_f SET name = 'x' WHERE id = 1")

    mysql_outage.start()
    result = cache.get_or_load(cache.keys.key("product", 3), lambda ep: load(products, ep, 3))
    assert result.value == {"id": 3, "name": "p3"}  # reconnects by itself


def test_breaker_opens_after_the_threshold_and_half_opens_for_one_trial():
    now = [0.0]
    changes = []
    breaker = CircuitBreaker(
        failure_threshold=2, reset_seconds=5, clock=lambda: now[0], on_change=lambda a, b: changes.append(b)
    )
    breaker.record_failure()
    assert breaker.allow()
    breaker.record_failure()
    assert not breaker.allow() and breaker.state is BreakerState.OPEN
    now[0] = 5.0
    assert breaker.allow() and not breaker.allow()  # exactly one trial
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    now[0] = 10.0
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()
    assert changes == [
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.CLOSED,
    ]


def test_database_credentials_come_from_the_secret_and_a_rotation_is_picked_up(
    settings, mysql_server, aws_credentials
):
    import dataclasses
    import json

    import boto3
    from moto import mock_aws

    from cachelib import Database

    with mock_aws():
        sm = boto3.client("secretsmanager", region_name="us-east-1")
        rotating_user = "rotating"
        mysql_server.admin_sql(
            f"CREATE OR REPLACE USER '{rotating_user}'@'127.0.0.1' IDENTIFIED BY 'first-password';"
            f"GRANT SELECT ON `{mysql_server.database}`.* TO '{rotating_user}'@'127.0.0.1';"
        )
        secret = {"username": rotating_user, "password": "first-password", "engine": "mysql"}
        arn = sm.create_secret(Name="db-rotating", SecretString=json.dumps(secret))["ARN"]
        db = Database(dataclasses.replace(settings, db_secret_arn=arn, db_user=None, db_password=None))
        try:
            with db.cursor() as cur:
                cur.execute("SELECT CURRENT_USER()")
                assert cur.fetchone()[0].startswith(rotating_user)
            # What rotation does: new password on the server and in the secret; our copy is cached.
            mysql_server.admin_sql(
                f"ALTER USER '{rotating_user}'@'127.0.0.1' IDENTIFIED BY 'second-password';"
            )
            sm.put_secret_value(
                SecretId=arn, SecretString=json.dumps({**secret, "password": "second-password"})
            )
            db.close()
            with db.cursor() as cur:  # access denied with the cached secret -> refetched once -> connected
                cur.execute("SELECT 1")
                assert cur.fetchone() == (1,)
        finally:
            db.close()
            mysql_server.admin_sql(f"DROP USER IF EXISTS '{rotating_user}'@'127.0.0.1';")


def test_a_connection_dropped_while_idle_is_replaced_instead_of_failing_the_read(products, mysql_server):
    import pymysql

    products.idle_check_seconds = 0  # as if the container had been frozen past the idle threshold
    assert load(products, ReadEndpoint.READER, 1) == {"id": 1, "name": "p1"}
    dropped = products.connection(ReadEndpoint.READER)
    admin = pymysql.connect(**mysql_server.connect_kwargs(), autocommit=True)
    with admin.cursor() as cur:
        cur.execute("KILL %s", (dropped.thread_id(),))  # what a server timeout or a failover does
    admin.close()
    assert load(products, ReadEndpoint.READER, 2) == {"id": 2, "name": "p2"}  # not DatabaseUnavailable
    assert products.connection(ReadEndpoint.READER) is not dropped


def test_a_trial_nobody_resolves_is_forgotten_after_trial_seconds():
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=5, trial_seconds=2, clock=lambda: now[0])
    breaker.record_failure()
    now[0] = 5.0
    assert breaker.allow()  # the trial is taken... and its taker never reports back
    now[0] = 6.9
    assert not breaker.allow()
    now[0] = 7.0
    assert breaker.allow()  # half-open is bounded in time: a new trial
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED


def test_the_gateway_resolves_every_trial_it_grants_whatever_the_call_raises(redis_client):
    from cachelib.errors import CacheUnavailable
    from cachelib.gateway import RedisGateway

    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=1, trial_seconds=1e9, clock=lambda: now[0])
    gateway = RedisGateway(redis_client, breaker)
    breaker.record_failure()
    now[0] = 1.0

    def buggy(_client):
        raise KeyError("not a Redis error")

    with pytest.raises(KeyError):
        gateway.call(buggy)  # took the trial, raised something else: the trial is released
    with pytest.raises(CacheUnavailable):
        gateway.call(lambda _client: (_ for _ in ()).throw(ConnectionError("down")))  # a failure: re-opens
    assert breaker.state is BreakerState.OPEN
    now[0] = 2.0
    assert gateway.call(lambda client: client.ping()) is True  # the next trial succeeds and closes it
    assert breaker.state is BreakerState.CLOSED
