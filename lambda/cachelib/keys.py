"""Cache key builders: namespaced, versioned, cluster-safe, and never a hash of SQL text.

Shape: ``<prefix>:<key version>:{<namespace>:<part>:<part>...}``, e.g. ``shop:1:{product:42}``.

* ``prefix`` (``CACHE_KEY_PREFIX``) separates applications sharing one cache.
* ``key version`` (``CACHE_KEY_VERSION``) orphans every key at once when the value format changes.
* The braces are a Redis Cluster hash tag: the entry and its sidecar keys (``...}:lease``, ``...}:fence``)
  land in one slot, so the Lua scripts that touch them together also work in cluster mode.
* Parts are ints or strings; strings are percent-encoded, so user input can never forge a separator.

List pages embed a *version counter* of what they list (:meth:`KeyBuilder.version_key` names the
counter, :class:`cachelib.versions.VersionCounters` reads and bumps it). A write bumps the counter, so every
page built from the old number becomes unreachable at once -- no ``KEYS``/``SCAN``, no delete storm; the
orphans age out by TTL or LRU.
"""

from __future__ import annotations

from urllib.parse import quote

LEASE_SUFFIX = ":lease"
FENCE_SUFFIX = ":fence"
_MAX_KEY_LENGTH = 512


def _part(value: str | int) -> str:
    if isinstance(value, bool):
        raise TypeError("a key part must be str or int, not bool")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return quote(value, safe="-_.=")
    raise TypeError(f"a key part must be str or int, not {type(value).__name__}")


class KeyBuilder:
    """Builds every key of one application; create one at module scope from :class:`Settings`."""

    __slots__ = ("_head", "prefix", "version")

    def __init__(self, prefix: str, version: str) -> None:
        for label, value in (("prefix", prefix), ("version", version)):
            if not value or any(c in value for c in ":{} "):
                raise ValueError(f"key {label} {value!r} must be non-empty without ':', '{{', '}}' or spaces")
        self.prefix = prefix
        self.version = version
        self._head = f"{prefix}:{version}:"

    @classmethod
    def from_settings(cls, settings: object) -> KeyBuilder:
        return cls(settings.cache_key_prefix, settings.cache_key_version)  # type: ignore[attr-defined]

    def key(self, namespace: str, *parts: str | int, **labels: str | int) -> str:
        """Key of one cached value: ``key("product", 42)`` -> ``app:1:{product:42}``.

        Keyword ``labels`` are appended sorted as ``name=value`` so call order never changes the key:
        ``key("products", category="books", page=2, v=7)``.
        """
        if not namespace or not namespace.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"namespace {namespace!r} must be alphanumeric (with '-' or '_')")
        segments = [namespace, *(_part(p) for p in parts)]
        segments.extend(f"{name}={_part(labels[name])}" for name in sorted(labels))
        result = self._head + "{" + ":".join(segments) + "}"
        if len(result) > _MAX_KEY_LENGTH:
            raise ValueError(f"cache key longer than {_MAX_KEY_LENGTH} characters")
        return result

    def version_key(self, scope: str, *parts: str | int) -> str:
        """Key of a version counter, e.g. ``version_key("products", "books")`` for one category's lists."""
        return self.key("ver-" + scope, *parts)

    def channel(self) -> str:
        """Pub/sub channel of near-cache invalidations for this prefix and key version."""
        return f"{self._head}l1-invalidate"


def lease_key(key: str) -> str:
    """Sidecar holding the token of the one caller allowed to fill ``key``."""
    return key + LEASE_SUFFIX


def fence_key(key: str) -> str:
    """Sidecar present for a short window after a write: misses then read the writer, not the replica."""
    return key + FENCE_SUFFIX
