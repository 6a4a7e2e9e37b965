"""The staging-like environment on ElastiCache Serverless: staging's config with ``cache.mode: serverless``
(the shipped environments keep the replication group and its allkeys-lru parameter group). Built by
``conftest.staging_serverless``."""

from __future__ import annotations

import copy

from config import EnvironmentConfig, parse_environment
from config.environments import ENVIRONMENTS

SERVERLESS_CACHE = {
    "mode": "serverless",
    "engine": "valkey",
    "engine_version": "8.0",
    "serverless_max_data_storage_gb": 5,
    "serverless_max_ecpu_per_second": 5000,
    "snapshot_retention_days": 7,
    "snapshot_window": "03:00-04:00",
}


def serverless_staging_config() -> EnvironmentConfig:
    raw = copy.deepcopy(ENVIRONMENTS["staging"])
    raw["cache"] = dict(SERVERLESS_CACHE)
    return parse_environment("staging", raw)
