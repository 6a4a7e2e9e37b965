"""The product API connects while Lambda initializes the container (issue 14: the first request after a
cold start), and an unreachable store at that moment never fails the container."""

from __future__ import annotations

import logging

import pymysql
import redis
from handler_support import event

from functions import product_api

pytest_plugins = ["handler_fixtures"]  # fixtures shared by the handler tests


def app_sessions(mysql_server) -> int:
    """Sessions of the application user, not counting the one asking."""
    conn = pymysql.connect(**mysql_server.connect_kwargs())
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = %s", (mysql_server.user,)
            )
            return int(cursor.fetchone()[0]) - 1
    finally:
        conn.close()


def test_init_opens_the_cache_and_both_database_connections_a_miss_uses(
    handler_env, redis_server, mysql_server
):
    client = redis.Redis(host=redis_server.host, port=redis_server.port)
    redis_before, db_before = len(client.client_list()), app_sessions(mysql_server)
    product_api.connect_on_init()
    assert len(client.client_list()) == redis_before + 1
    opened = app_sessions(mysql_server) - db_before
    assert opened >= 1  # the writer (its GTID position) and the reader: one session here, where they coincide
    response = product_api.lambda_handler(event("GET", "/products/3"), None)
    assert response["statusCode"] == 200
    assert len(client.client_list()) == redis_before + 1  # the first request reused them
    assert app_sessions(mysql_server) == db_before + opened


def test_stores_down_at_init_cost_a_warning_not_the_container(
    handler_env, redis_outage, mysql_outage, caplog
):
    redis_outage.stop()
    mysql_outage.stop()
    with caplog.at_level(logging.WARNING, logger="product_api"):
        product_api.connect_on_init()  # must not raise
    assert any(r.getMessage().startswith("connecting on init failed") for r in caplog.records)
    mysql_outage.start()
    response = product_api.lambda_handler(event("GET", "/products/3"), None)
    assert response["statusCode"] == 200 and response["headers"]["X-Cache"] == "MISS"  # Redis still down
