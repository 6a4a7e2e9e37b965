"""Cache-aside with leases, serve-stale refresh and fresh replica reads. See README.md for the argument.

One :class:`Cache` per container, at module scope::

    SETTINGS = Settings.from_env()
    CACHE = Cache.from_settings(SETTINGS)
    result = CACHE.get_or_load(CACHE.keys.key("product", 42), lambda endpoint: load(endpoint, 42))
"""

from __future__ import annotations

import logging
import random
import secrets
import time
from collections.abc import Callable
from typing import Any, TypeVar

from cachelib import codec, replication
from cachelib.backend import Acquired, CacheBackend
from cachelib.breaker import CircuitBreaker
from cachelib.database import ReadEndpoint
from cachelib.engines import client_factory, create_backend
from cachelib.entries import Accept, EntryDecoder
from cachelib.errors import CacheUnavailable, ConfigurationError, DatabaseUnavailable
from cachelib.gateway import Gateway, RedisGateway
from cachelib.keys import KeyBuilder
from cachelib.leases import LeaseKeeper
from cachelib.metrics import CacheMetrics
from cachelib.near_cache import NearCache
from cachelib.result import CacheResult, CacheStatus
from cachelib.settings import Settings
from cachelib.versions import VersionCounters
from cachelib.writes import CacheWrites
from caching_contract.metrics import (
    CACHE_ERROR,
    CACHE_HIT,
    CACHE_LOADER_WAIT,
    CACHE_MISS,
    CACHE_NEGATIVE_HIT,
    CACHE_STALE_SERVED,
)

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
    """Cache-aside over Redis or memcached (``CACHE_ENGINE``). Thread-safe; connections are opened lazily.

    Reads are here; invalidation and ``write`` come from :class:`cachelib.writes.CacheWrites`. Every call
    to the engine goes through ``self.backend`` (:mod:`cachelib.backend`) and its ``gateway``."""

    def __init__(
        self,
        client: Any | Callable[[], Any],
        settings: Settings | None = None,
        *,
        metrics: CacheMetrics | None = None,
        breaker: CircuitBreaker | None = None,
        near_cache: NearCache | None = None,
    ) -> None:
        """``client`` is a client of the engine ``settings.cache_engine`` names (``redis.Redis``/
        ``RedisCluster``, or a :class:`~cachelib.memcached_backend.RingClient`) or a zero-argument factory
        of one (called on first use, so a cluster that is down at cold start is a cache error, not a
        crash)."""
        self.settings = settings or Settings()
        s = self.settings
        self.keys = KeyBuilder.from_settings(s)
        self.metrics = metrics or CacheMetrics(s.metrics_namespace, s.service_name)
        self.breaker = breaker or CircuitBreaker(
            failure_threshold=s.breaker_failures, reset_seconds=s.breaker_reset_seconds
        )
        self.backend: CacheBackend = create_backend(client, self.breaker, s)
        self.gateway: Gateway = self.backend.gateway
        self._fetch = self.backend.fetch
        self.entries = EntryDecoder(self._drop_corrupt)
        self._decode = self.entries.decode
        self.leases = LeaseKeeper(self.backend, s.cache_lease_ms)
        if near_cache is None and s.cache_l1_enabled:
            near_cache = NearCache(s.cache_l1_ttl_seconds, heartbeat_seconds=s.cache_l1_heartbeat_ms / 1000)
        if near_cache is not None:
            if not isinstance(self.gateway, RedisGateway):
                raise ConfigurationError(
                    "a near cache needs Redis pub/sub; memcached has none (CACHE_L1_ENABLED)"
                )
            near_cache.subscribe(self.gateway, self.keys.channel())
        self.near_cache = near_cache
        self.versions = VersionCounters(self.backend)
        # The reader endpoint is fresh by itself (it falls back to the writer when the replica lags), so a
        # Redis outage keeps the read load on the replicas.
        self.bypass_endpoint = ReadEndpoint.READER
        self.poll_seconds = 0.005
        self.refresh_pause_seconds = float(s.breaker_reset_seconds)
        """After a refresh failed because the database is unavailable, this container serves soft-expired
        entries stale without trying again for this long."""
        self._refresh_paused_until = 0.0

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> Cache:
        """A cache whose client (Redis or memcached: ``CACHE_ENGINE``) is built from ``settings`` when first
        used. Raises ``ConfigurationError`` at once when ``REDIS_HOST`` (Redis) or ``CACHE_NODES``
        (memcached) is not set, or a near cache is asked of memcached, rather than on every read."""
        return cls(client_factory(settings), settings, **kwargs)

    # --- plumbing ---------------------------------------------------------------------------------

    @property
    def redis(self) -> RedisGateway:
        """The Redis gateway, for Redis-only work (pub/sub, sorted sets, the warmer's bulk scripts); raises
        ``ConfigurationError`` on memcached, so Redis-only code cannot run there by accident."""
        if not isinstance(self.gateway, RedisGateway):
            raise ConfigurationError(f"this cache runs on {self.backend.engine}: it has no Redis gateway")
        return self.gateway

    def client(self) -> Any:
        """The engine's raw client (tests, tools). Library code goes through ``self.backend``."""
        return self.gateway.client()

    def count_error(self) -> None:
        """Count one cache failure that did not end in a ``BYPASS`` answer (which counts itself)."""
        self.metrics.incr(CACHE_ERROR)

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
        entry = codec.encode_entry(
            codec.KIND_VALUE, now_ms + soft, value, compress_min_bytes=s.cache_compress_min_bytes
        )
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
        accept: Accept | None = None,
    ) -> CacheResult[T]:
        """The value of ``key``, from the cache or, on a miss, from ``loader`` (then cached).

        * ``ttl`` (seconds, default ``CACHE_TTL_SECONDS``) is the fresh lifetime, jittered down by up to 10%;
          the entry is kept ``CACHE_STALE_SECONDS`` longer to be served stale while one caller refreshes.
        * ``loader(endpoint)`` returning ``None`` is cached as "not found" for ``negative_ttl``.
        * ``read_primary`` makes a miss load from the writer (the reader endpoint is already fresh: see
          ``Database.cursor``; this is for loaders that must see uncommitted-elsewhere state, rarely needed).
        * ``accept(value)`` returning False for a decoded cached (non-``None``) value treats the entry as
          corrupt: it is deleted and the value loaded again.

        Never raises because of the cache engine; raises :class:`DatabaseUnavailable` (or whatever the loader
        raises) only when the value is not in the cache and the database cannot provide it.
        """
        started = time.perf_counter()
        try:
            result = self._get_or_load(key, loader, ttl, negative_ttl, read_primary, accept)
        except BaseException:
            self.metrics.latency((time.perf_counter() - started) * 1000)
            raise
        self.metrics.observe(_STATUS_METRIC[result.status], (time.perf_counter() - started) * 1000)
        return result

    def connect(self) -> bool:
        """Open the engine's connection now rather than on the first read (a function calls it while Lambda
        initializes the container); ``False`` when the engine cannot be reached, which the breaker counts
        like any failed call, and the first read connects (or bypasses) as usual."""
        try:
            self._fetch(self.keys.key("connect"))
        except CacheUnavailable:
            return False
        return True

    def _get_or_load(
        self,
        key: str,
        loader: Loader[T],
        ttl: float | None,
        negative_ttl: float | None,
        read_primary: bool,
        accept: Accept | None,
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
        try:
            raw = self._fetch(key)
        except CacheUnavailable:
            return self._bypass(loader)
        if raw is not None:
            decoded = self._decode(key, raw, accept)
            if decoded is not None:
                kind, soft_ms, value = decoded
                remaining_ms = soft_ms - time.time() * 1000
                if remaining_ms > 0:
                    if near is not None:
                        near.put(key, kind, value, remaining_ms / 1000, generation)
                    return self._served(value, CacheStatus.NEGATIVE_HIT if value is None else CacheStatus.HIT)
                return self._refresh_or_stale(key, loader, ttl, negative_ttl, read_primary, value, generation)
        return self._miss(key, loader, ttl, negative_ttl, read_primary, generation, accept)

    def bypass(self, loader: Loader[T]) -> CacheResult[T]:
        """Load from the database without touching the cache, counted as ``CacheError`` (status ``BYPASS``):
        for a read whose key cannot be built because the cache is unreachable (an unavailable list
        version)."""
        started = time.perf_counter()
        result = self._bypass(loader)
        self.metrics.observe(CACHE_ERROR, (time.perf_counter() - started) * 1000)
        return result

    def _bypass(self, loader: Loader[T]) -> CacheResult[T]:
        return CacheResult(loader(self.bypass_endpoint), CacheStatus.BYPASS)

    def _miss(
        self,
        key: str,
        loader: Loader[T],
        ttl: float | None,
        negative_ttl: float | None,
        read_primary: bool,
        generation: int,
        accept: Accept | None,
    ) -> CacheResult[T]:
        token = secrets.token_hex(8)
        # Waiters wait for a *live* holder (it renews its lease while loading) up to CACHE_WAIT_MS; a dead
        # holder's lease lapses within CACHE_LEASE_MS and a waiter takes over.
        deadline = time.monotonic() + self.settings.cache_wait_ms / 1000
        pause = self.poll_seconds
        waited = False
        endpoint = ReadEndpoint.WRITER if read_primary else ReadEndpoint.READER
        while True:
            try:
                acquired = self.backend.acquire(key, token, self.settings.cache_lease_ms, True)
            except CacheUnavailable:
                return self._bypass(loader)
            if acquired.granted:
                value = self._load_and_fill(
                    key, acquired, token, loader, endpoint, ttl, negative_ttl, generation
                )
                return self._served(value, CacheStatus.MISS)
            if acquired.entry is not None:
                decoded = self._decode(key, acquired.entry, accept)
                if decoded is None:
                    continue
                value = decoded[2]
                if waited:
                    return self._served(value, CacheStatus.WAITED)
                return self._served(value, CacheStatus.NEGATIVE_HIT if value is None else CacheStatus.HIT)
            if time.monotonic() + pause > deadline:
                # The holder is alive but slower than CACHE_WAIT_MS: answer from the DB ourselves, without
                # storing (the holder will).
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
        if time.monotonic() < self._refresh_paused_until:
            return self._served(stale, CacheStatus.STALE)  # the database just failed a refresh here
        token = secrets.token_hex(8)
        try:
            acquired = self.backend.acquire(key, token, self.settings.cache_lease_ms, False)
        except CacheUnavailable:
            self.count_error()
            return self._served(stale, CacheStatus.STALE)
        if not acquired.granted:
            return self._served(stale, CacheStatus.STALE)  # dogpile: one refreshes, the rest serve stale
        endpoint = ReadEndpoint.WRITER if read_primary else ReadEndpoint.READER
        try:
            value = self._load_and_fill(
                key,
                acquired,
                token,
                loader,
                endpoint,
                ttl,
                negative_ttl,
                generation,
                keep_lease_on_db_failure=True,
            )
        except DatabaseUnavailable:
            # A stale answer beats a 503. This container stops trying for a moment, and the lease is kept
            # (not released), so other containers serve stale at once instead of each waiting on a database
            # that hangs: only one refresher per lease period waits for it.
            self._refresh_paused_until = time.monotonic() + self.refresh_pause_seconds
            return self._served(stale, CacheStatus.STALE)
        return self._served(value, CacheStatus.MISS)

    def _load_and_fill(
        self,
        key: str,
        acquired: Acquired,
        token: str,
        loader: Loader[T],
        endpoint: ReadEndpoint,
        ttl: float | None,
        negative_ttl: float | None,
        generation: int,
        *,
        keep_lease_on_db_failure: bool = False,
    ) -> T | None:
        lease = acquired.lease
        scope = replication.begin_verified_scope()
        try:
            try:
                with self.leases.holding(lease, token):
                    value = loader(endpoint)
                entry, soft_ms, hard_ms = self._entry(value, ttl, negative_ttl)
            finally:
                verified = replication.end_verified_scope(scope)
        except DatabaseUnavailable:
            if keep_lease_on_db_failure:
                self._renew(lease, token)
            else:
                self._release(key, lease, token)
            raise
        except BaseException:
            self._release(key, lease, token)
            raise
        if not verified:
            # Read from a replica whose freshness could not be proven: answer it, never store it.
            self._release(key, lease, token)
            return value
        try:
            stored = self.backend.fill(key, acquired, token, entry, hard_ms)
        except CacheUnavailable:
            self.count_error()
            return value
        if stored and self.near_cache is not None:  # never a value whose lease an invalidation revoked
            kind = codec.KIND_NEGATIVE if value is None else codec.KIND_VALUE
            self.near_cache.put(key, kind, value, soft_ms / 1000, generation)
        return value

    def _release(self, key: str, lease: str, token: str) -> None:
        try:
            self.backend.release(key, lease, token)
        except CacheUnavailable:
            self.count_error()

    def _renew(self, lease: str, token: str) -> None:
        try:
            self.backend.renew(lease, token, self.settings.cache_lease_ms)
        except CacheUnavailable:
            self.count_error()

    def _drop_corrupt(self, key: str, raw: bytes, exc: Exception) -> None:
        logger.warning("deleting corrupt cache entry %s: %s", key, exc)
        try:
            self.backend.delete_if_equal(key, raw)
        except CacheUnavailable:
            self.count_error()

    def close(self) -> None:
        if self.near_cache is not None:
            self.near_cache.close()
        self.backend.close()
