"""Cache-aside with leases, serve-stale refresh and write fences. See README.md for the argument.

One :class:`Cache` per container, at module scope::

    SETTINGS = Settings.from_env()
    CACHE = Cache.from_settings(SETTINGS)
    result = CACHE.get_or_load(CACHE.keys.key("product", 42), lambda endpoint: load(endpoint, 42))
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from cachelib import codec, scripts
from cachelib.breaker import CircuitBreaker
from cachelib.connections import REDIS_ERRORS as _REDIS_ERRORS
from cachelib.database import ReadEndpoint
from cachelib.errors import CorruptEntry, DatabaseUnavailable
from cachelib.keys import KeyBuilder, fence_key, lease_key
from cachelib.metrics import (
    CACHE_ERROR,
    CACHE_HIT,
    CACHE_LOADER_WAIT,
    CACHE_MISS,
    CACHE_NEGATIVE_HIT,
    CACHE_STALE_SERVED,
    CacheMetrics,
)
from cachelib.near_cache import NearCache
from cachelib.result import CacheResult, CacheStatus
from cachelib.settings import Settings
from cachelib.writes import CacheWrites

T = TypeVar("T")
Loader = Callable[[ReadEndpoint], T | None]
"""Loads one value from the database at ``endpoint``; returns ``None`` when the row does not exist."""

logger = logging.getLogger(__name__)

_STATUS_METRIC = {
    CacheStatus.HIT: CACHE_HIT,
    CacheStatus.L1_HIT: CACHE_HIT,
    CacheStatus.NEGATIVE_HIT: CACHE_NEGATIVE_HIT,
    CacheStatus.STALE: CACHE_STALE_SERVED,
    CacheStatus.WAITED: CACHE_LOADER_WAIT,
    CacheStatus.MISS: CACHE_MISS,
    CacheStatus.BYPASS: CACHE_ERROR,
}


class Cache(CacheWrites):
    """Cache-aside over Redis. Thread-safe; connections are opened lazily on first use.

    Reads are here; invalidation and ``write`` come from :class:`cachelib.writes.CacheWrites`."""

    def __init__(
        self,
        redis_client: Any | Callable[[], Any],
        settings: Settings | None = None,
        *,
        metrics: CacheMetrics | None = None,
        breaker: CircuitBreaker | None = None,
        near_cache: NearCache | None = None,
    ) -> None:
        """``redis_client`` is a ``redis.Redis``/``RedisCluster`` or a zero-argument factory of one
        (called on first use, so a cluster that is down at cold start is a cache error, not a crash)."""
        from cachelib.versions import VersionCounters

        self.settings = settings or Settings()
        s = self.settings
        self._factory: Callable[[], Any] | None = None if hasattr(redis_client, "get") else redis_client
        self._client: Any = redis_client if self._factory is None else None
        self._client_lock = threading.Lock()
        self._scripts: dict[str, Any] = {}
        self.keys = KeyBuilder.from_settings(s)
        self.metrics = metrics or CacheMetrics(s.metrics_namespace, s.service_name)
        self.breaker = breaker or CircuitBreaker(
            failure_threshold=s.breaker_failures, reset_seconds=s.breaker_reset_seconds
        )
        if near_cache is None and s.cache_l1_enabled:
            near_cache = NearCache(s.cache_l1_ttl_seconds)
        self.near_cache = near_cache
        if self.near_cache is not None:
            self.near_cache.subscribe(self.client, self.keys.channel())
        self.versions = VersionCounters(self)
        self.bypass_endpoint = ReadEndpoint.WRITER  # see README: read-your-writes while fences are unreadable
        self.poll_seconds = 0.005

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> Cache:
        """A cache whose Redis client is built from ``settings`` on first use.

        Raises ``ConfigurationError`` at once when ``REDIS_HOST`` is not set, rather than on every read."""
        from cachelib.connections import create_redis_client

        settings.require_redis_host()
        return cls(lambda: create_redis_client(settings), settings, **kwargs)

    # --- plumbing ---------------------------------------------------------------------------------

    def client(self) -> Any:
        """The Redis client, created on first call."""
        client = self._client
        if client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = self._factory()  # type: ignore[misc]
                client = self._client
        return client

    def script(self, source: str) -> Any:
        """A registered ``Script`` for ``source`` (EVALSHA with transparent reload)."""
        found = self._scripts.get(source)
        if found is None:
            found = self._scripts[source] = self.client().register_script(source)
        return found

    def redis_failed(self, exc: BaseException, *, count: bool = True) -> None:
        """Record a Redis failure: feeds the breaker and counts ``CacheError`` (unless the caller is about to
        answer ``BYPASS``, which counts it)."""
        self.breaker.record_failure()
        if count:
            self.metrics.incr(CACHE_ERROR)
        logger.warning("redis call failed: %s: %s", type(exc).__name__, exc)

    def _ttl_ms(self, ttl: float) -> int:
        return max(1, int(ttl * 1000 * random.uniform(0.9, 1.0)))  # jitter spreads expiries of a batch

    def _entry(self, value: Any, ttl: float | None, negative_ttl: float | None) -> tuple[bytes, int, int]:
        """``(framed entry, soft ms, hard ms)``: negative entries get no stale grace."""
        s = self.settings
        now_ms = int(time.time() * 1000)
        if value is None:
            soft = self._ttl_ms(negative_ttl if negative_ttl is not None else s.cache_negative_ttl_seconds)
            return codec.encode_entry(codec.KIND_NEGATIVE, now_ms + soft, None), soft, soft
        soft = self._ttl_ms(ttl if ttl is not None else s.cache_ttl_seconds)
        entry = codec.encode_entry(codec.KIND_VALUE, now_ms + soft, value)
        return entry, soft, soft + s.cache_stale_seconds * 1000

    @staticmethod
    def _served(value: Any, status: CacheStatus) -> CacheResult[Any]:
        return CacheResult(value, status)  # get_or_load counts the status' metric

    # --- reads ------------------------------------------------------------------------------------

    def get_or_load(
        self,
        key: str,
        loader: Loader[T],
        ttl: float | None = None,
        *,
        negative_ttl: float | None = None,
        read_primary: bool = False,
    ) -> CacheResult[T]:
        """The value of ``key``, from the cache or, on a miss, from ``loader`` (then cached).

        * ``ttl`` (seconds, default ``CACHE_TTL_SECONDS``) is the fresh lifetime, jittered down by up to 10%;
          the entry is kept ``CACHE_STALE_SECONDS`` longer to be served stale while one caller refreshes.
        * ``loader(endpoint)`` returning ``None`` is cached as "not found" for ``negative_ttl``.
        * ``read_primary`` makes a miss load from the writer (e.g. a list page whose version is fenced).

        Never raises because of Redis; raises :class:`DatabaseUnavailable` (or whatever the loader raises)
        only when the value is not in the cache and the database cannot provide it.
        """
        started = time.perf_counter()
        try:
            result = self._get_or_load(key, loader, ttl, negative_ttl, read_primary)
        except BaseException:
            self.metrics.latency((time.perf_counter() - started) * 1000)
            raise
        self.metrics.observe(_STATUS_METRIC[result.status], (time.perf_counter() - started) * 1000)
        return result

    def _get_or_load(
        self, key: str, loader: Loader[T], ttl: float | None, negative_ttl: float | None, read_primary: bool
    ) -> CacheResult[T]:
        near = self.near_cache
        generation = 0
        if near is not None:
            near.drain()
            generation = near.generation
            cached = near.get(key)
            if cached is not None:
                kind, value = cached
                return self._served(value, CacheStatus.NEGATIVE_HIT if value is None else CacheStatus.L1_HIT)
        if not self.breaker.allow():
            return self._bypass(loader)
        try:
            raw = self.client().get(key)
        except _REDIS_ERRORS as exc:
            self.redis_failed(exc, count=False)
            return self._bypass(loader)
        self.breaker.record_success()
        if raw is not None:
            try:
                kind, soft_ms, value = codec.decode_entry(raw)
            except CorruptEntry as exc:
                self._drop_corrupt(key, raw, exc)
            else:
                remaining_ms = soft_ms - time.time() * 1000
                if remaining_ms > 0:
                    if near is not None:
                        near.put(key, kind, value, remaining_ms / 1000, generation)
                    return self._served(value, CacheStatus.NEGATIVE_HIT if value is None else CacheStatus.HIT)
                return self._refresh_or_stale(key, loader, ttl, negative_ttl, read_primary, value, generation)
        return self._miss(key, loader, ttl, negative_ttl, read_primary, generation)

    def bypass(self, loader: Loader[T]) -> CacheResult[T]:
        """Load from the writer without touching Redis, counted as ``CacheError`` (status ``BYPASS``): for a
        read whose key cannot be built because Redis is unreachable (an unavailable list version)."""
        started = time.perf_counter()
        result = self._bypass(loader)
        self.metrics.observe(CACHE_ERROR, (time.perf_counter() - started) * 1000)
        return result

    def _bypass(self, loader: Loader[T]) -> CacheResult[T]:
        return CacheResult(loader(self.bypass_endpoint), CacheStatus.BYPASS)

    def _acquire(self, key: str, token: str, on_miss: bool) -> tuple[bool, bool, bytes | None]:
        reply = self.script(scripts.ACQUIRE)(
            keys=[key, lease_key(key), fence_key(key)],
            args=[token, self.settings.cache_lease_ms, "1" if on_miss else "0"],
        )
        entry = reply[2] if len(reply) > 2 else None
        return bool(reply[0]), bool(reply[1]), entry

    def _miss(
        self,
        key: str,
        loader: Loader[T],
        ttl: float | None,
        negative_ttl: float | None,
        read_primary: bool,
        generation: int,
    ) -> CacheResult[T]:
        token = secrets.token_hex(8)
        deadline = time.monotonic() + self.settings.cache_wait_ms / 1000
        pause = self.poll_seconds
        waited = False
        while True:
            try:
                granted, fenced, entry = self._acquire(key, token, on_miss=True)
            except _REDIS_ERRORS as exc:
                self.redis_failed(exc, count=False)
                return self._bypass(loader)
            endpoint = ReadEndpoint.WRITER if (fenced or read_primary) else ReadEndpoint.READER
            if granted:
                value = self._load_and_fill(key, token, loader, endpoint, ttl, negative_ttl, generation)
                return self._served(value, CacheStatus.MISS)
            if entry is not None:
                try:
                    _kind, _soft, value = codec.decode_entry(entry)
                except CorruptEntry as exc:
                    self._drop_corrupt(key, entry, exc)
                    continue
                if waited:
                    return self._served(value, CacheStatus.WAITED)
                return self._served(value, CacheStatus.NEGATIVE_HIT if value is None else CacheStatus.HIT)
            if time.monotonic() + pause > deadline:
                # The loader holding the lease is slow: answer from the DB ourselves, without storing
                # (the lease holder will), so a slow DB never makes callers wait longer than CACHE_WAIT_MS.
                return self._served(loader(endpoint), CacheStatus.MISS)
            waited = True
            time.sleep(pause)
            pause = min(pause * 1.5, 0.05)

    def _refresh_or_stale(
        self,
        key: str,
        loader: Loader[T],
        ttl: float | None,
        negative_ttl: float | None,
        read_primary: bool,
        stale: Any,
        generation: int,
    ) -> CacheResult[T]:
        token = secrets.token_hex(8)
        try:
            granted, fenced, _entry = self._acquire(key, token, on_miss=False)
        except _REDIS_ERRORS as exc:
            self.redis_failed(exc)
            return self._served(stale, CacheStatus.STALE)
        if not granted:
            return self._served(stale, CacheStatus.STALE)  # dogpile: one refreshes, the rest serve stale
        endpoint = ReadEndpoint.WRITER if (fenced or read_primary) else ReadEndpoint.READER
        try:
            value = self._load_and_fill(key, token, loader, endpoint, ttl, negative_ttl, generation)
        except DatabaseUnavailable:
            return self._served(stale, CacheStatus.STALE)  # a stale answer beats a 503
        return self._served(value, CacheStatus.MISS)

    def _load_and_fill(
        self,
        key: str,
        token: str,
        loader: Loader[T],
        endpoint: ReadEndpoint,
        ttl: float | None,
        negative_ttl: float | None,
        generation: int,
    ) -> T | None:
        try:
            value = loader(endpoint)
            entry, soft_ms, hard_ms = self._entry(value, ttl, negative_ttl)
        except BaseException:
            self._release(key, token)
            raise
        try:
            stored = self.script(scripts.FILL)(
                keys=[key, lease_key(key), fence_key(key)], args=[token, entry, hard_ms]
            )
        except _REDIS_ERRORS as exc:
            self.redis_failed(exc)
            return value
        if stored and self.near_cache is not None:  # never a value whose lease an invalidation revoked
            kind = codec.KIND_NEGATIVE if value is None else codec.KIND_VALUE
            self.near_cache.put(key, kind, value, soft_ms / 1000, generation)
        return value

    def _release(self, key: str, token: str) -> None:
        try:
            self.script(scripts.RELEASE)(keys=[key, lease_key(key), fence_key(key)], args=[token])
        except _REDIS_ERRORS as exc:
            self.redis_failed(exc)

    def _drop_corrupt(self, key: str, raw: bytes, exc: Exception) -> None:
        logger.warning("deleting corrupt cache entry %s: %s", key, exc)
        try:
            self.script(scripts.DELETE_IF_EQUAL)(keys=[key], args=[raw])
        except _REDIS_ERRORS as redis_exc:
            self.redis_failed(redis_exc)

    def close(self) -> None:
        if self.near_cache is not None:
            self.near_cache.close()
        if self._client is not None:
            self._client.close()
