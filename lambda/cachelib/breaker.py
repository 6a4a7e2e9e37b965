"""A small thread-safe circuit breaker around Redis calls.

CLOSED: calls go through; ``failure_threshold`` consecutive failures open it.
OPEN: calls are refused for ``reset_seconds`` (the caller goes straight to the database), so an outage
costs one fast refusal instead of a connect timeout per request.
HALF_OPEN: after the pause one trial call is let through; success closes, failure re-opens.

The trial is bounded in time: a trial not resolved within ``trial_seconds`` (its caller died, hung, or
never reported back) is forgotten and the next caller gets a new trial, so the breaker can never stay
half-open for good. Only :class:`cachelib.gateway.RedisGateway` calls :meth:`allow` and the ``record_*``
methods, and it resolves every trial it takes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


_CLOSED = BreakerState.CLOSED  # a module global is cheaper to read than an Enum member on the hit path


class CircuitBreaker:
    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        reset_seconds: float = 5.0,
        trial_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState, BreakerState], None] | None = None,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self.trial_seconds = reset_seconds if trial_seconds is None else trial_seconds
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False
        self._trial_started_at = 0.0

    @property
    def state(self) -> BreakerState:
        with self._lock:
            if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.reset_seconds:
                return BreakerState.HALF_OPEN
            return self._state

    def allow(self) -> bool:
        """True when a call may be attempted now. In HALF_OPEN only one caller gets True."""
        if self._state is _CLOSED:  # lock-free fast path for the hit path
            return True
        with self._lock:
            if self._state is BreakerState.OPEN:
                if self._clock() - self._opened_at < self.reset_seconds:
                    return False
                self._set(BreakerState.HALF_OPEN)
            if self._state is BreakerState.HALF_OPEN:
                now = self._clock()
                if self._trial_in_flight and now - self._trial_started_at < self.trial_seconds:
                    return False
                self._trial_in_flight = True
                self._trial_started_at = now
                return True
            return True

    def record_success(self) -> None:
        if self._failures == 0 and self._state is _CLOSED:
            return
        with self._lock:
            self._failures = 0
            self._trial_in_flight = False
            if self._state is not BreakerState.CLOSED:
                self._set(BreakerState.CLOSED)

    def release_trial(self) -> None:
        """The trial call ended without a verdict on Redis (it raised something that is not a Redis error):
        let the next caller try instead of waiting for ``trial_seconds``."""
        if self._trial_in_flight:
            with self._lock:
                self._trial_in_flight = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            self._trial_in_flight = False
            if self._state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
                self._opened_at = self._clock()
                if self._state is not BreakerState.OPEN:
                    self._set(BreakerState.OPEN)

    def _set(self, new: BreakerState) -> None:
        old, self._state = self._state, new
        if self._on_change is not None and old is not new:
            self._on_change(old, new)
