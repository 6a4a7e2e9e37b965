"""Cache engines, their supported versions and the parameter group family each one implies.

The family is always derived from engine + version here, never typed by hand: ElastiCache's families are
``redis7``, ``valkey7``, ``valkey8`` and ``memcached1.6`` (``redis7.x`` does not exist and fails on deploy).
"""

from __future__ import annotations

import enum
import re
from typing import Any

from caching_constructs.core.rules import InvalidValue, OneOf, Rule

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


CACHE_ENGINE = OneOf(tuple(engine.value for engine in CacheEngine))
"""The rule for a cache engine setting (``config`` checks ``cache.engine`` with it)."""


def parse_engine(engine: str | CacheEngine) -> CacheEngine:
    """``engine`` as a ``CacheEngine``; anything else raises ``InvalidValue`` showing the bad value."""
    expected = CACHE_ENGINE(engine)
    if expected:
        raise InvalidValue("engine", engine, expected)
    return CacheEngine(engine)


def _family_key(engine: CacheEngine, version: Any) -> tuple[str | None, str | None]:
    """(the ``_FAMILIES`` key of ``version``, None) or (None, what is allowed)."""
    match = _VERSION.fullmatch(version) if isinstance(version, str) else None
    if match is None:
        return None, "a version such as '7.1' or '1.6.22'"
    key = match["major"] if engine.replicates else f"{match['major']}.{match['minor']}"
    if key not in _FAMILIES[engine]:
        return None, " or ".join(f"{k}.x" for k in _FAMILIES[engine]) + f" for engine {engine.value!r}"
    return key, None


def version_rule(engine: str | CacheEngine) -> Rule:
    """The rule for ``engine``'s version: one ElastiCache has a parameter group family for, and for
    Memcached one with TLS (1.6.12+, named in full), since the project never runs a cache without it."""
    cache_engine = parse_engine(engine)

    def rule(value: Any) -> str | None:
        _, expected = _family_key(cache_engine, value)
        if expected is None and cache_engine is CacheEngine.MEMCACHED and not memcached_supports_tls(value):
            return "a full memcached version from 1.6.12 on, such as '1.6.22' (TLS)"
        return expected

    return rule


def parameter_group_family(engine: str | CacheEngine, engine_version: str) -> str:
    """The ``CacheParameterGroupFamily`` for ``engine`` at ``engine_version`` (e.g. redis, 7.1 -> redis7);
    a version without a family raises ``InvalidValue``."""
    cache_engine = parse_engine(engine)
    key, expected = _family_key(cache_engine, engine_version)
    if key is None:
        raise InvalidValue("engine_version", engine_version, expected or "")
    return _FAMILIES[cache_engine][key]


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


def supports_iam_auth(engine: str | CacheEngine, engine_version: str) -> bool:
    """RBAC users with IAM authentication: Redis OSS 7 and later, every Valkey (7.2 onward)."""
    return supports_transit_encryption_mode(engine, engine_version)
