"""The staging-like environment on Memcached: staging's config with its cache replaced by an ElastiCache
Memcached cluster (the shipped environments keep Redis/Valkey). Built by ``conftest.staging_memcached``."""

from __future__ import annotations

import copy

from config import EnvironmentConfig, parse_environment
from config.environments import ENVIRONMENTS

MEMCACHED_CACHE = {
    "engine": "memcached",
    "engine_version": "1.6.22",
    "node_type": "cache.t4g.small",
    "num_shards": 2,  # nodes, one per AZ
    "port": 11212,
}


def memcached_staging_config() -> EnvironmentConfig:
    raw = copy.deepcopy(ENVIRONMENTS["staging"])
    raw["cache"] = dict(MEMCACHED_CACHE)
    return parse_environment("staging", raw)
