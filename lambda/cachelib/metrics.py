"""Cache metrics as CloudWatch EMF through Powertools ``Metrics`` (never ``PutMetricData``).

The names below are a contract with the ops dashboard: import them, never retype them.

Recording a metric is on the hit path, and Powertools' ``add_metric`` costs ~7 us per call, more than the
hit path's whole budget. So :class:`CacheMetrics` only bumps integers and appends latencies in-process;
:meth:`CacheMetrics.flush` hands the aggregate to Powertools once per invocation (counts as one value each,
latencies as a uniform sample of up to 99: EMF takes 100 per metric). Powertools shares one metric set
across all ``Metrics`` instances of a process, so the handler's ``@metrics.log_metrics`` emits ours.
"""

from __future__ import annotations

import random
import threading
from typing import Any

NAMESPACE_DEFAULT = "CachingArchitecture"

CACHE_HIT = "CacheHit"
CACHE_MISS = "CacheMiss"
CACHE_STALE_SERVED = "CacheStaleServed"
CACHE_LOADER_WAIT = "CacheLoaderWait"
CACHE_NEGATIVE_HIT = "CacheNegativeHit"
CACHE_ERROR = "CacheError"
CACHE_LATENCY = "CacheLatency"

COUNT_METRICS: tuple[str, ...] = (
    CACHE_HIT,
    CACHE_MISS,
    CACHE_STALE_SERVED,
    CACHE_LOADER_WAIT,
    CACHE_NEGATIVE_HIT,
    CACHE_ERROR,
)
ALL_METRICS: tuple[str, ...] = (*COUNT_METRICS, CACHE_LATENCY)

_random = random.random  # cheaper than randrange for the reservoir draw
_MAX_SAMPLES = 99  # EMF takes 100 values per metric; Powertools flushes early at the 100th


class CacheMetrics:
    """Thread-safe in-process aggregate of the cache metrics, flushed to Powertools on demand."""

    def __init__(self, namespace: str = NAMESPACE_DEFAULT, service: str | None = None) -> None:
        self.namespace = namespace
        self.service = service
        self._lock = threading.Lock()
        self._counts: dict[str, int] = dict.fromkeys(COUNT_METRICS, 0)
        self._latencies: list[float] = []
        self._seen = 0
        self._powertools: Any = None

    def incr(self, name: str, value: int = 1) -> None:
        """Add ``value`` to the count metric ``name`` (one of :data:`COUNT_METRICS`)."""
        with self._lock:
            self._counts[name] += value

    def observe(self, name: str, millis: float) -> None:
        """Count one read under ``name`` and record its latency (one lock round for the hit path)."""
        with self._lock:
            self._counts[name] += 1
            self._sample(millis)

    def latency(self, millis: float) -> None:
        """Record one cache-operation latency; keeps a uniform reservoir sample of at most 99."""
        with self._lock:
            self._sample(millis)

    def _sample(self, millis: float) -> None:
        """Reservoir sampling (Algorithm R); the caller holds ``_lock``."""
        self._seen += 1
        if len(self._latencies) < _MAX_SAMPLES:
            self._latencies.append(millis)
        else:
            slot = int(_random() * self._seen)
            if slot < _MAX_SAMPLES:
                self._latencies[slot] = millis

    def snapshot(self) -> dict[str, int]:
        """The counts recorded since the last flush (for tests, logs and benchmarks)."""
        with self._lock:
            return dict(self._counts)

    def drain(self) -> tuple[dict[str, int], list[float]]:
        """Return and reset the counts and latency samples."""
        with self._lock:
            counts, self._counts = self._counts, dict.fromkeys(COUNT_METRICS, 0)
            samples, self._latencies, self._seen = self._latencies, [], 0
        return counts, samples

    def flush(self, metrics: Any = None) -> None:
        """Move the aggregate into a Powertools ``Metrics`` (ours by default) for its next EMF flush.

        Call it at the end of each invocation, before ``@metrics.log_metrics`` publishes, e.g. through
        :func:`flush_cache_metrics`. Counts that are zero are still reported so dashboards show 0, not gaps.
        """
        counts, samples = self.drain()
        target = metrics if metrics is not None else self._metrics()
        from aws_lambda_powertools.metrics import MetricUnit

        for name, value in counts.items():
            target.add_metric(name=name, unit=MetricUnit.Count, value=value)
        for millis in samples:
            target.add_metric(name=CACHE_LATENCY, unit=MetricUnit.Milliseconds, value=round(millis, 3))

    def _metrics(self) -> Any:
        if self._powertools is None:
            from aws_lambda_powertools import Metrics

            self._powertools = Metrics(namespace=self.namespace, service=self.service)
        return self._powertools


def flush_cache_metrics(*caches_or_metrics: Any) -> Any:
    """Decorator for a Lambda handler: flush the given caches' metrics into Powertools after each call.

    Put it *inside* ``@metrics.log_metrics`` so the flush lands in the same EMF document::

        @METRICS.log_metrics
        @flush_cache_metrics(CACHE)
        def lambda_handler(event, context): ...
    """
    import functools

    recorders = [getattr(c, "metrics", c) for c in caches_or_metrics]

    def decorate(handler: Any) -> Any:
        @functools.wraps(handler)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return handler(*args, **kwargs)
            finally:
                for recorder in recorders:
                    recorder.flush()

        return wrapper

    return decorate
