"""Schema/seed custom resource: Create, Update and Delete, each run twice, against a real MariaDB."""

from __future__ import annotations

import pymysql
import pytest

from cachelib import DatabaseUnavailable
from functions import catalog_schema, schema_seed
from functions.catalog_schema import CATEGORIES

pytest_plugins = ["handler_fixtures"]  # fixtures shared by the handler tests


@pytest.fixture
def seed_env(server_env, mysql_server, monkeypatch):
    for name, value in server_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SEED_PRODUCT_COUNT", "25")
    conn = pymysql.connect(**mysql_server.connect_kwargs(), autocommit=True)
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS products")
        cur.execute("DROP TABLE IF EXISTS schema_meta")
    conn.close()
    return server_env


def _query(mysql_server, sql):
    conn = pymysql.connect(**mysql_server.connect_kwargs())
    with conn.cursor() as cur:
        cur.execute(sql)
        rows = cur.fetchall()
    conn.close()
    return rows


def _event(request_type, properties=None, physical_id=None):
    event = {
        "RequestType": request_type,
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:provider",
        "ResourceType": "Custom::ProductsSchema",
        "LogicalResourceId": "ProductsSchema",
        "ResourceProperties": {"ServiceToken": "arn", **(properties or {})},
    }
    if physical_id:
        event["PhysicalResourceId"] = physical_id
    return event


def test_create_needs_no_redis_configuration(seed_env, mysql_server, monkeypatch):
    # The schema step is database-only: the stack gives it no REDIS_HOST, and no placeholder is invented.
    for name in [n for n in seed_env if n.startswith("REDIS_")]:
        monkeypatch.delenv(name)
    result = schema_seed.on_event(_event("Create", {"SeedProductCount": "3"}))
    assert result["Data"]["SeededProducts"] == 3
    assert schema_seed._get_database().settings.redis_host is None
    assert _query(mysql_server, "SELECT COUNT(*) FROM products") == ((3,),)


def test_create_twice_is_idempotent(seed_env, mysql_server):
    first = schema_seed.on_event(_event("Create"))
    second = schema_seed.on_event(_event("Create"))
    assert first["PhysicalResourceId"] == second["PhysicalResourceId"]
    assert (
        first["Data"]["SeededProducts"] == 25
        and first["Data"]["SchemaVersion"] == catalog_schema.SCHEMA_VERSION
    )
    assert _query(mysql_server, "SELECT COUNT(*), MIN(id), MAX(id) FROM products") == ((25, 1, 25),)
    categories = {row[0] for row in _query(mysql_server, "SELECT DISTINCT category FROM products")}
    assert categories <= set(CATEGORIES)
    assert _query(mysql_server, "SELECT value FROM schema_meta WHERE name = 'schema_version'") == (
        (catalog_schema.SCHEMA_VERSION,),
    )


def test_update_twice_keeps_the_physical_id_and_applies_the_new_count(seed_env, mysql_server):
    created = schema_seed.on_event(_event("Create"))
    physical_id = created["PhysicalResourceId"]
    for _ in range(2):
        updated = schema_seed.on_event(_event("Update", {"SeedProductCount": "40"}, physical_id))
        assert updated["PhysicalResourceId"] == physical_id
        assert updated["Data"]["SeededProducts"] == 40
    assert _query(mysql_server, "SELECT COUNT(*) FROM products") == ((40,),)


def test_update_does_not_undo_application_writes_to_other_columns(seed_env, mysql_server):
    schema_seed.on_event(_event("Create", {"SeedProductCount": "5"}))
    conn = pymysql.connect(**mysql_server.connect_kwargs(), autocommit=True)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO products (name, category, price) VALUES ('user row', 'toys', 1.00)")
    conn.close()
    schema_seed.on_event(_event("Update", {"SeedProductCount": "5"}, "products-schema:app"))
    assert _query(mysql_server, "SELECT COUNT(*) FROM products WHERE name = 'user row'") == ((1,),)


def test_delete_twice_keeps_tables_and_data(seed_env, mysql_server):
    created = schema_seed.on_event(_event("Create", {"SeedProductCount": "3"}))
    for _ in range(2):
        deleted = schema_seed.on_event(_event("Delete", physical_id=created["PhysicalResourceId"]))
        assert deleted["PhysicalResourceId"] == created["PhysicalResourceId"]
        assert deleted["Data"] == {"Retained": "true"}
    assert _query(mysql_server, "SELECT COUNT(*) FROM products") == ((3,),)


def test_delete_needs_no_database(seed_env, mysql_outage):
    mysql_outage.stop()
    assert (
        schema_seed.on_event(_event("Delete", physical_id="products-schema:app"))["Data"]["Retained"]
        == "true"
    )


def test_zero_seeds_schema_only(seed_env, mysql_server):
    assert schema_seed.on_event(_event("Create", {"SeedProductCount": "0"}))["Data"]["SeededProducts"] == 0
    assert _query(mysql_server, "SELECT COUNT(*) FROM products") == ((0,),)


@pytest.mark.parametrize("count", ["lots", "-1", "1000001"])
def test_invalid_seed_count_raises_so_the_provider_reports_failure(seed_env, count):
    with pytest.raises(ValueError, match="SeedProductCount"):
        schema_seed.on_event(_event("Create", {"SeedProductCount": count}))


def test_unknown_request_type_raises(seed_env):
    with pytest.raises(ValueError, match="RequestType"):
        schema_seed.on_event({"RequestType": "Replace"})


def test_database_unreachable_raises_instead_of_hanging(seed_env, mysql_outage):
    mysql_outage.stop()
    with pytest.raises(DatabaseUnavailable):
        schema_seed.on_event(_event("Create"))
