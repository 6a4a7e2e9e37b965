"""The one door to the cache engine: every call the library makes goes through :meth:`Gateway.call`.

Reads, fills, invalidations, version counters, access counts, lease renewals and the near cache's pub/sub
all pass here, so the circuit breaker hears the outcome of every call it lets through:

* an engine error (``REDIS_ERRORS``, or ``memcached_backend.MEMCACHED_ERRORS``: pymemcache's errors,
  socket timeouts, refused connections) records a failure and becomes :class:`CacheUnavailable`;
* a normal return records a success;
* anything else (a bug, a decode error in the caller's function) releases a half-open trial without a
  verdict, so the next caller can try.

No caller can take the breaker's half-open trial and leave it unresolved, and the breaker bounds a trial
in time anyway (``CircuitBreaker.trial_seconds``). Callers catch only :class:`CacheUnavailable`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from redis.exceptions import RedisClusterException, RedisError

from cachelib.breaker import CircuitBreaker
from cachelib.errors import CacheUnavailable

# Everything a Redis call can raise when the cache is unreachable or misbehaving (RedisCluster raises its
# own types for topology failures): reads treat these as a cache error, never as a failed request.
REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisError, RedisClusterException, OSError)

T = TypeVar("T")

logger = logging.getLogger(__name__)


class Gateway:
    """Owns the engine's client (created lazily) and the breaker. Thread-safe."""

    def __init__(
        self,
        client: Any | Callable[[], Any],
        breaker: CircuitBreaker,
        *,
        errors: tuple[type[BaseException], ...] = REDIS_ERRORS,
        engine: str = "redis",
    ) -> None:
        """``client`` is a client (anything with a ``get`` method) or a zero-argument factory of one
        (called on first use, so a cluster that is down at cold start is a cache error, not a crash).
        ``errors`` are what the engine raises when it is unreachable or misbehaving."""
        self.breaker = breaker
        self.errors = errors
        self.engine = engine
        self._factory: Callable[[], Any] | None = None if hasattr(client, "get") else client
        self._client: Any = client if self._factory is None else None
        self._client_lock = threading.Lock()

    def client(self) -> Any:
        """The raw client, created on first call. Only for :meth:`call`'s functions and for tests."""
        client = self._client
        if client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = self._factory()  # type: ignore[misc]
                client = self._client
        return client

    def call(self, fn: Callable[..., T], *args: Any, force: bool = False) -> T:
        """``fn(client, *args)``, with its outcome reported to the breaker.

        Raises :class:`CacheUnavailable` when the breaker refuses the call (unless ``force``: a write's
        invalidation must try even while the breaker is open) or when the engine fails.
        """
        breaker = self.breaker
        if not breaker.allow() and not force:
            # A new instance each time: re-raising one shared exception grows its traceback with every raise.
            raise CacheUnavailable(f"circuit breaker open: {self.engine} is not being called")
        try:
            result = fn(self.client(), *args)
        except self.errors as exc:
            breaker.record_failure()
            logger.warning("%s call failed: %s: %s", self.engine, type(exc).__name__, exc)
            raise CacheUnavailable(f"{type(exc).__name__}: {exc}") from exc
        except BaseException:
            breaker.release_trial()
            raise
        breaker.record_success()
        return result

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


class RedisGateway(Gateway):
    """The gateway to Redis, which also runs the library's Lua scripts."""

    def __init__(self, redis_client: Any | Callable[[], Any], breaker: CircuitBreaker) -> None:
        super().__init__(redis_client, breaker, errors=REDIS_ERRORS, engine="redis")
        self._scripts: dict[str, Any] = {}

    def script(self, source: str) -> Any:
        """A registered ``Script`` for ``source`` (EVALSHA with transparent reload); call it inside
        :meth:`call` or through :meth:`run_script`."""
        found = self._scripts.get(source)
        if found is None:
            found = self._scripts[source] = self.client().register_script(source)
        return found

    def run_script(
        self, source: str, keys: list[str], args: list[Any] | tuple[Any, ...] = (), *, force: bool = False
    ) -> Any:
        """Run one Lua script through :meth:`call`."""
        return self.call(self._run_script, source, keys, args, force=force)

    def _run_script(self, client: Any, source: str, keys: list[str], args: Any) -> Any:
        return self.script(source)(keys=keys, args=args, client=client)
