"""Cache key builders: namespaced, versioned, cluster-safe, and never a hash of SQL text.

Shape: ``<prefix>:<key version>:{<namespace>:<part>:...:<label>=<value>:...}``, e.g. ``shop:1:{product:42}``
or ``shop:1:{products:category=books:limit=20:page=2:v=7}``.

* ``prefix`` (``CACHE_KEY_PREFIX``) separates applications sharing one cache.
* ``key version`` (``CACHE_KEY_VERSION``) orphans every key at once when the value format changes.
* The braces are a Redis Cluster hash tag: the entry and its sidecar keys (``...}:lease``)
  land in one slot, so the Lua scripts that touch them together also work in cluster mode. A key holds
  exactly one ``{`` and one ``}``, and the ``}`` is its last character.

The encoding is injective: two different calls never build the same key, and no key is a sidecar of another
or the :meth:`KeyBuilder.channel`. Every segment between the braces is separated by ``:``, which no segment
contains:

* a namespace is ASCII ``[A-Za-z0-9_-]+`` with at least one letter or digit and does not start with
  ``ver-``: that prefix is reserved for :meth:`KeyBuilder.version_key` (``ver-<scope>``), so a value key
  never names a version counter. (Reserving the prefix, rather than renaming counters, keeps the names of
  the counters already in Redis, so old and new code bump the same ones during a deployment.)
* an ``int`` part is plain decimal (``42``, ``-7``), which ``functions.cache_warmer.key_parts`` relies on;
* a ``str`` part is percent-encoded (UTF-8) with only letters, digits and ``-_.~`` left as they are, so
  ``:``, ``=``, ``%``, ``{``, ``}``, spaces and non-ASCII are escaped; a string that would read as an
  ``int`` (ASCII ``-?[0-9]+``) also gets its first character escaped (``"5"`` -> ``%35``, ``"-5"`` ->
  ``%2D5``), so ``key("p", "5")`` and ``key("p", 5)`` differ;
* a keyword label is ``name=value``, sorted by name, where the name is an ASCII identifier and the value is
  encoded like a part. A positional part never contains ``=``, so labels and parts cannot be confused.

A key longer than 512 characters is refused with ``ValueError``, never truncated (a truncated key could
collide).

List pages embed a *version counter* of what they list (:meth:`KeyBuilder.version_key` names the
counter, :class:`cachelib.versions.VersionCounters` reads and bumps it). A write bumps the counter, so every
page built from the old number becomes unreachable at once -- no ``KEYS``/``SCAN``, no delete storm; the
orphans age out by TTL or LRU.
"""

from __future__ import annotations

from urllib.parse import quote

LEASE_SUFFIX = ":lease"
WRITER_SUFFIX = ":writer"
_MAX_KEY_LENGTH = 512
VERSION_NAMESPACE_PREFIX = "ver-"  # reserved: user namespaces may not start with it


def _part(value: str | int) -> str:
    # A bool is an int but not a key part; int.__str__ because an int subclass (IntFlag) may override __str__.
    if isinstance(value, bool):
        raise TypeError("a key part must be str or int, not bool")
    if isinstance(value, int):
        return int.__str__(value)
    if isinstance(value, str):
        if len(value) > _MAX_KEY_LENGTH:  # the encoding is never shorter: fail before encoding it
            raise ValueError(f"cache key longer than {_MAX_KEY_LENGTH} characters")
        try:
            encoded = quote(value, safe="-_.")
        except UnicodeEncodeError:
            raise ValueError(f"key part {value!r} is not encodable as UTF-8 (a lone surrogate)") from None
        # ASCII after quote(), so isdigit() means [0-9]+: a string that would read as an int gets its first
        # character escaped.
        if encoded.isdigit() or (encoded[:1] == "-" and encoded[1:].isdigit()):
            return f"%{ord(encoded[0]):02X}{encoded[1:]}"
        return encoded
    raise TypeError(f"a key part must be str or int, not {type(value).__name__}")


def _is_namespace(name: object) -> bool:
    # ASCII letters and digits, with '-' or '_' (the old rule, now ASCII-only); no ':', '.', '=', '%', braces.
    return isinstance(name, str) and name.isascii() and name.replace("-", "").replace("_", "").isalnum()


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
        ``key("products", category="books", page=2, v=7)`` -> ``app:1:{products:category=books:page=2:v=7}``.
        """
        if not _is_namespace(namespace):
            raise ValueError(f"namespace {namespace!r} must be ASCII letters and digits (with '-' or '_')")
        if namespace.startswith(VERSION_NAMESPACE_PREFIX):
            raise ValueError(f"namespace {namespace!r}: the prefix {VERSION_NAMESPACE_PREFIX!r} is reserved")
        return self._build(namespace, parts, labels)

    def version_key(self, scope: str, *parts: str | int) -> str:
        """Key of a version counter, e.g. ``version_key("products", "books")`` for one category's lists."""
        if not _is_namespace(scope):
            raise ValueError(f"version scope {scope!r} must be ASCII letters and digits (with '-' or '_')")
        return self._build(VERSION_NAMESPACE_PREFIX + scope, parts, {})

    def _build(self, namespace: str, parts: tuple[str | int, ...], labels: dict[str, str | int]) -> str:
        segments = [namespace, *(_part(p) for p in parts)]
        for name in sorted(labels):
            if not (name.isascii() and name.isidentifier()):
                raise ValueError(f"key label {name!r} must be an ASCII identifier")
            segments.append(f"{name}={_part(labels[name])}")
        result = self._head + "{" + ":".join(segments) + "}"
        if len(result) > _MAX_KEY_LENGTH:
            raise ValueError(f"cache key longer than {_MAX_KEY_LENGTH} characters")
        return result

    def channel(self) -> str:
        """Pub/sub channel of near-cache invalidations for this prefix and key version (never a key: no
        braces)."""
        return f"{self._head}l1-invalidate"


def lease_key(key: str) -> str:
    """Sidecar holding the token of the one caller allowed to fill ``key``."""
    return key + LEASE_SUFFIX


def writer_key(key: str) -> str:
    """Sidecar holding the token of the last write that claimed ``key`` for a write-through store."""
    return key + WRITER_SUFFIX
