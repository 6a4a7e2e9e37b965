"""Typed errors. Handlers map them to responses; nothing here is ever swallowed into ``None``."""

from __future__ import annotations


class CacheLibError(Exception):
    """Base class of every error this library raises."""


class ConfigurationError(CacheLibError):
    """A setting is missing or invalid. The message names the variable and the bad value."""


class DatabaseUnavailable(CacheLibError):
    """The database could not be reached or timed out. Handlers answer 503 with ``Retry-After``."""


class CacheUnavailable(CacheLibError):
    """Redis could not be reached, timed out, or the circuit breaker is open.

    Reads never raise it (they fall back to the database); invalidation raises it because the write's
    guarantee cannot be given while the cache is unreachable.
    """


class InvalidationFailed(CacheUnavailable):
    """The database write committed but the cache could not be put right.

    The old value can survive at most until its TTL; the caller should answer 503 so the client retries
    (the retry's own invalidation repairs the cache).
    """


class CorruptEntry(CacheLibError):
    """A cached entry could not be decoded. Internal: counted as a miss and deleted, never surfaced."""


class SerializationError(CacheLibError):
    """A value handed to the cache cannot be encoded as typed JSON (a programming error)."""
