"""Cache metrics as CloudWatch Embedded Metric Format (EMF) lines on stdout (never ``PutMetricData``).

The names are the contract with the ops dashboard (``caching_contract.metrics``): import them, never retype
them.

Recording a metric is on the hit path, so :class:`CacheMetrics` only bumps integers and appends latencies
in-process; :meth:`CacheMetrics.emit` writes the aggregate as one EMF document per invocation (counts as one
value each, zeros included so dashboards show 0 rather than gaps; latencies as a uniform sample of up to 99:
EMF takes 100 values per metric). The document is built from a prefix computed once per container, which is
what makes it cheap: Powertools' ``Metrics`` cost ~57 us per invocation for the same line, and 2 MiB of
asset. ``tests/runtime/test_library_units.py`` checks the line against the EMF specification.

Dimensions: ``service`` (``POWERTOOLS_SERVICE_NAME``) and ``environment`` (``APP_ENVIRONMENT``; left out when
unset, as in local runs). ``POWERTOOLS_METRICS_DISABLED=true`` (local runs, tests) writes nothing.
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
from typing import Any, TextIO

from caching_contract.metrics import (
    CACHE_LATENCY,
    COUNT_METRICS,
    ENVIRONMENT_DIMENSION,
    NAMESPACE,
    SERVICE_DIMENSION,
)
from caching_contract.variables import ENVIRONMENT, METRICS_DISABLED

_COUNT_MEMBERS = "".join(f',"{name}":%d' for name in COUNT_METRICS)
_random = random.random  # cheaper than randrange for the reservoir draw
_MAX_SAMPLES = 99  # EMF takes 100 values per metric


class CacheMetrics:
    """Thread-safe in-process aggregate of the cache metrics, written as EMF on demand."""

    def __init__(
        self, namespace: str = NAMESPACE, service: str | None = None, environment: str | None = None
    ) -> None:
        self.namespace = namespace
        self.service = service
        self.environment = environment or os.environ.get(ENVIRONMENT) or None
        """The ``environment`` dimension; default ``APP_ENVIRONMENT``, none when that is unset."""
        self._lock = threading.Lock()
        self._counts: dict[str, int] = dict.fromkeys(COUNT_METRICS, 0)
        self._latencies: list[float] = []
        self._seen = 0
        self._since: float | None = None  # wall clock of the first record since the last drain
        self._prefix: tuple[str, str] | None = None
        self.enabled = os.environ.get(METRICS_DISABLED, "").strip().lower() != "true"
        """Read once: a function's environment does not change while its container lives."""

    def incr(self, name: str, value: int = 1) -> None:
        """Add ``value`` to the count metric ``name`` (one of :data:`COUNT_METRICS`)."""
        with self._lock:
            self._counts[name] += value
            if self._since is None:
                self._since = time.time()

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
        if self._since is None:
            self._since = time.time()
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
            self._since = None
        return counts, samples

    def pending_since(self) -> float | None:
        """When (epoch seconds) the oldest record not yet written was made; ``None`` when nothing is."""
        return self._since

    def _prefixes(self) -> tuple[str, str]:
        """The document's fixed parts after the timestamp: without, and with, the latency metric."""
        if self._prefix is None:
            dimensions = {SERVICE_DIMENSION: self.service or "caching-service"}
            if self.environment:
                dimensions[ENVIRONMENT_DIMENSION] = self.environment
            definitions = [{"Name": name, "Unit": "Count"} for name in COUNT_METRICS]
            with_latency = [*definitions, {"Name": CACHE_LATENCY, "Unit": "Milliseconds"}]

            def directive(metrics: list[dict[str, str]]) -> str:
                block = [{"Namespace": self.namespace, "Dimensions": [list(dimensions)], "Metrics": metrics}]
                text = json.dumps({"CloudWatchMetrics": block, **dimensions}, separators=(",", ":"))
                # '{"CloudWatchMetrics":[...],"service":...}' -> ',"CloudWatchMetrics":[...]},"service":...'
                first = f',"{SERVICE_DIMENSION}"'
                head, _, tail = text[1:].partition(first)
                return "," + head + "}" + first + tail[:-1]

            self._prefix = (directive(definitions), directive(with_latency))
        return self._prefix

    def document(self, timestamp_ms: int | None = None, members: str = "") -> str:
        """Drain the aggregate into one EMF document (a JSON line without the newline). ``members`` are more
        pre-encoded top-level members (``"key":value,...``), such as a request line's: EMF leaves members
        that no metric names as plain log fields."""
        counts, samples = self.drain()
        plain, with_latency = self._prefixes()
        stamp = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
        parts = [
            '{"_aws":{"Timestamp":',
            str(stamp),
            with_latency if samples else plain,
            _COUNT_MEMBERS % tuple(counts.values()),  # counts keep COUNT_METRICS' order (dict.fromkeys)
        ]
        if samples:
            parts.append(f',"{CACHE_LATENCY}":[' + ",".join(repr(round(ms, 3)) for ms in samples) + "]")
        if members:
            parts.append(",")
            parts.append(members)
        parts.append("}")
        return "".join(parts)

    def emf_line(self, members: str = "", timestamp_ms: int | None = None) -> str:
        """Drain the aggregate into its EMF line (with the newline), or ``""`` when metrics are disabled, for
        a caller that writes it itself; ``members`` and ``timestamp_ms`` as for :meth:`document`."""
        if not self.enabled:
            self.drain()
            return ""
        return self.document(timestamp_ms, members) + "\n"

    def emit(self, stream: TextIO | None = None) -> None:
        """Write the aggregate as one EMF line on stdout (or ``stream``) and reset it. Call it once per
        invocation, at its end: the line is flushed before the runtime can freeze the container."""
        line = self.emf_line()
        if line:
            out = stream or sys.stdout
            out.write(line)
            out.flush()


def flush_cache_metrics(*caches_or_metrics: Any) -> Any:
    """Decorator for a Lambda handler: write the given caches' metrics (one EMF line each) after each call::

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
                    recorder.emit()

        return wrapper

    return decorate
