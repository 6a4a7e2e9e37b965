"""Fixtures shared by the handler tests (issue 7); test modules load them with ``pytest_plugins``.

The servers come from ``conftest.py`` (throwaway redis-server and mariadbd). ``handler_env`` points the
process environment at them exactly as the CDK app would point a function at ElastiCache and RDS, applies
the schema through the schema step's code and seeds a few products.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pymysql
import pytest
from handler_support import SEEDED, reset_handler_state

from functions import catalog_schema


@pytest.fixture(autouse=True)
def _fresh_handler_modules() -> Iterator[None]:
    """Module-level clients are per container in Lambda; per test here."""
    reset_handler_state()
    yield
    reset_handler_state()


@pytest.fixture
def handler_env(
    server_env: dict[str, str], mysql_server: Any, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    env = {**server_env, "POWERTOOLS_METRICS_DISABLED": "true", "WARM_TOP_N": "10", "SEED_PRODUCT_COUNT": "0"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    conn = pymysql.connect(**mysql_server.connect_kwargs(), autocommit=True, charset="utf8mb4")
    try:
        catalog_schema.apply_schema(conn)
        catalog_schema.seed_products(conn, SEEDED)
    finally:
        conn.close()
    return env
