"""Cache engines, their supported versions and the parameter group family each one implies.

The family is always derived from engine + version here, never typed by hand: ElastiCache's families are
``redis7``, ``valkey7``, ``valkey8`` and ``memcached1.6`` (``redis7.x`` does not exist and fails on deploy).
"""

from __future__ import annotations

import enum
import re

_VERSION = re.compile(r"(?P<major>\d+)\.(?P<minor>\d+)(\.(?P<patch>\d+))?")


class CacheEngine(enum.StrEnum):
    """The ElastiCache engine. The values are the strings CloudFormation's ``Engine`` property takes."""

    REDIS = "redis"
    VALKEY = "valkey"
    MEMCACHED = "memcached"

    @property
    def replicates(self) -> bool:
        """Redis OSS and Valkey have replicas, AUTH and failover; Memcached has none of them."""
        return self is not CacheEngine.MEMCACHED


# Major (or major.minor for Memcached) -> family. Redis OSS 6 used the odd "redis6.x" name; 7 dropped it.
_FAMILIES: dict[CacheEngine, dict[str, str]] = {
    CacheEngine.REDIS: {"6": "redis6.x", "7": "redis7"},
    CacheEngine.VALKEY: {"7": "valkey7", "8": "valkey8"},
    CacheEngine.MEMCACHED: {"1.6": "memcached1.6"},
}


def parse_engine(engine: str | CacheEngine) -> CacheEngine:
    """``engine`` as a ``CacheEngine``; anything else raises ``ValueError`` showing the bad value."""
    try:
        return CacheEngine(engine)
    except ValueError:
        allowed = ", ".join(repr(e.value) for e in CacheEngine)
        raise ValueError(f"engine: {engine!r} is not supported; expected one of {allowed}") from None


def parameter_group_family(engine: str | CacheEngine, engine_version: str) -> str:
    """The ``CacheParameterGroupFamily`` for ``engine`` at ``engine_version`` (e.g. redis, 7.1 -> redis7)."""
    cache_engine = parse_engine(engine)
    match = _VERSION.fullmatch(engine_version)
    if match is None:
        raise ValueError(f"engine_version: {engine_version!r} is not a version such as '7.1' or '1.6.22'")
    families = _FAMILIES[cache_engine]
    key = match["major"] if cache_engine.replicates else f"{match['major']}.{match['minor']}"
    if key not in families:
        allowed = " or ".join(f"{k}.x" for k in families)
        raise ValueError(
            f"engine_version: {engine_version!r} is not supported for {cache_engine.value}; "
            f"expected {allowed}"
        )
    return families[key]


def supports_transit_encryption_mode(engine: str | CacheEngine, engine_version: str) -> bool:
    """``TransitEncryptionMode`` (preferred/required) exists from Redis OSS 7 and on every Valkey."""
    cache_engine = parse_engine(engine)
    return cache_engine is CacheEngine.VALKEY or (
        cache_engine is CacheEngine.REDIS and int(engine_version.split(".")[0]) >= 7
    )


def memcached_supports_tls(engine_version: str) -> bool:
    """Memcached encrypts in transit from 1.6.12; the version must name the patch level to tell."""
    match = _VERSION.fullmatch(engine_version)
    return bool(
        match
        and match["patch"] is not None
        and (int(match["major"]), int(match["minor"])) == (1, 6)
        and int(match["patch"]) >= 12
    )
