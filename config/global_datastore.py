"""The rules over several settings that a Global Datastore (``global_datastore``) adds, one line each.

Field-level rules (the regions themselves) sit on ``GlobalDatastoreConfig``; these relate the secondary
regions to the cache and the environment's own region. Every member of a global datastore has the
primary's node type, engine version and shard count, so checking the primary's checks them all.
"""

from __future__ import annotations

from typing import Any

from caching_constructs.elasticache import global_datastore_rules
from config.schema import ConfigError, EnvironmentConfig


def _fail(path: str, value: Any, expected: str) -> ConfigError:
    return ConfigError(f"{path}: {value!r} is not allowed; expected {expected}")


def check_global_datastore(path: str, config: EnvironmentConfig) -> None:
    """Raise ``ConfigError`` (one line) when the environment cannot have its secondary regions."""
    settings = config.global_datastore
    if not settings.secondary_regions:
        if settings.primary_region is not None:
            raise _fail(f"{path}.global_datastore.primary_region", settings.primary_region, "null without "
                        "secondary_regions")  # fmt: skip
        return
    cache = config.cache
    if cache.engine == "memcached":
        raise _fail(f"{path}.cache.engine", cache.engine, "'redis' or 'valkey' with global_datastore")
    if expected := global_datastore_rules.engine_version(cache.engine, cache.engine_version):
        raise _fail(f"{path}.cache.engine_version", cache.engine_version, expected)
    if expected := global_datastore_rules.node_type(cache.node_type):
        raise _fail(f"{path}.cache.node_type", cache.node_type, expected + " with global_datastore")
    primary = settings.primary_region or config.region
    if primary is None:
        raise _fail(
            f"{path}.global_datastore.primary_region",
            None,
            "the primary region (e.g. 'us-east-1') while region is null: the secondary regions read the "
            "primary's stack outputs there",
        )
    if config.region is not None and settings.primary_region not in (None, config.region):
        raise _fail(
            f"{path}.global_datastore.primary_region",
            settings.primary_region,
            f"{config.region!r} (the environment's region) or null",
        )
    if expected := global_datastore_rules.region(primary):
        raise _fail(f"{path}.region", primary, expected + " (the primary's)")
    if primary in settings.secondary_regions:
        raise _fail(
            f"{path}.global_datastore.secondary_regions",
            list(settings.secondary_regions),
            f"regions other than the primary region {primary!r}",
        )
