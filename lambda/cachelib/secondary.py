"""Reads in a Global Datastore secondary region (``CACHE_ROLE=secondary``).

The secondary region's Redis is a read-only replica of the primary region's: ElastiCache refuses every write
there, so cache-aside cannot fill, take a lease or bump a counter locally. :class:`SecondaryReads` does
what is left, and nothing else:

* **A fresh entry is served** from the local replica (one ``GET`` through the gateway and its breaker).
* **Anything else** (no entry, a soft-expired one, a corrupt one, Redis unreachable) **is answered from the
  local database replica and never stored**: the key is queued (:class:`RefillQueue`) for the primary
  region, where ``functions/secondary_refill.py`` reads it through the ordinary ``Cache.get_or_load``,
  i.e. with a lease and a GTID-proven replica read, and Global Datastore replication brings the entry back.

Why no write ever reaches the replica: this class only calls ``backend.fetch`` (``GET``); a corrupt entry
is skipped rather than deleted (``Cache``'s decoding would delete it); list pages read their version counter
with a plain ``GET`` and, when it is missing, read the database instead of creating it (``VERSION_READ``
would ``SET`` it).

Why the local database replica is read unproven: proving its freshness needs the writer's executed GTID set,
which lives in the other region (a cross-region connection per miss, and a VPC peering the design otherwise
does not need). So a miss here is as stale as the cross-region replica's lag (``ReplicaLag``, alarmed), and
a hit as stale as Global Datastore's replication lag (``GlobalDatastoreReplicationLag``, alarmed): a read
after a write returned in the primary is stale for at most the larger of the two. Nothing stale is stored
for a TTL: the secondary stores nothing, and the primary stores only proven-fresh values.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from cachelib import codec
from cachelib.database import ReadEndpoint
from cachelib.errors import CacheUnavailable, CorruptEntry
from cachelib.result import CacheResult, CacheStatus
from caching_contract.metrics import CACHE_ERROR, CACHE_HIT, CACHE_MISS, CACHE_NEGATIVE_HIT

T = TypeVar("T")
Loader = Callable[[ReadEndpoint], T | None]
Accept = Callable[[Any], bool]

logger = logging.getLogger(__name__)

REFILL_DEDUP_SECONDS = 5.0
"""A key queued once is not queued again by this container for this long: a hot key missing in the
secondary would otherwise send one message per request until the entry replicates back."""
_REMEMBERED_REQUESTS = 4096


class RefillQueue:
    """Hands keys to the primary region's refill queue (SQS, ``CACHE_REFILL_QUEUE_URL``); best effort.

    A failed send costs one more miss later, never the read: logged, counted in ``failures``. ``send`` may be
    replaced (tests); by default it is boto3's ``send_message`` in the queue's own region, which the URL
    names (``https://sqs.<region>.amazonaws.com/...``)."""

    def __init__(
        self,
        queue_url: str | None,
        *,
        send: Callable[[str], None] | None = None,
        dedup_seconds: float = REFILL_DEDUP_SECONDS,
    ) -> None:
        self.queue_url = queue_url
        self._send = send
        self.dedup_seconds = dedup_seconds
        self._sent: dict[str, float] = {}
        self._lock = threading.Lock()
        self.sent = 0
        self.failures = 0

    def _default_send(self, body: str) -> None:
        import boto3  # in the Lambda runtime; loaded on the first miss only

        region = str(self.queue_url).split("//", 1)[-1].split(".")[1]
        client = boto3.client("sqs", region_name=region)
        self._send = lambda message: client.send_message(QueueUrl=self.queue_url, MessageBody=message)
        self._send(body)

    def request(self, request: dict[str, Any]) -> bool:
        """Queue ``request`` (JSON, e.g. ``{"product": 42}``) unless the same one went out recently."""
        if self.queue_url is None and self._send is None:
            return False
        body = json.dumps(request, sort_keys=True)
        now = time.monotonic()
        with self._lock:
            if now - self._sent.get(body, float("-inf")) < self.dedup_seconds:
                return False
            if len(self._sent) >= _REMEMBERED_REQUESTS:
                self._sent.clear()
            self._sent[body] = now
        try:
            (self._send or self._default_send)(body)
        except Exception as exc:  # a later read asks again; the read itself must not fail for this
            self.failures += 1
            with self._lock:
                self._sent.pop(body, None)
            logger.warning("refill not queued", extra={"request": request, "error": f"{exc}"})
            return False
        self.sent += 1
        return True


class SecondaryReads:
    """The read path of a secondary region over a ``cachelib.Cache`` whose Redis is read-only."""

    def __init__(self, cache: Any, refill: RefillQueue, *, clock: Callable[[], float] = time.time) -> None:
        self.cache = cache
        self.refill = refill
        self._clock = clock
        self.fetches = 0

    def _fetch(self, key: str) -> bytes | None:
        self.fetches += 1
        result: bytes | None = self.cache.backend.fetch(key)
        return result

    def get_or_load(
        self,
        key: str,
        loader: Loader[T],
        *,
        refill: dict[str, Any] | None = None,
        accept: Accept | None = None,
    ) -> CacheResult[T]:
        """A fresh entry of ``key`` from the replica, else ``loader(READER)`` unstored (``refill`` queued)."""
        started = time.perf_counter()
        try:
            raw = self._fetch(key)
        except CacheUnavailable:
            return self._observe(self._load(loader, None, CacheStatus.BYPASS), started)
        if raw is not None:
            try:
                _kind, soft_ms, value = codec.decode_entry(raw)
                if accept is not None and value is not None and not accept(value):
                    raise CorruptEntry("cached value has an unexpected shape")
            except CorruptEntry:
                value, soft_ms = None, 0  # the primary replaces it on its next fill; never deleted here
            if soft_ms > self._clock() * 1000:
                status = CacheStatus.NEGATIVE_HIT if value is None else CacheStatus.HIT
                return self._observe(CacheResult(value, status), started)
        return self._observe(self._load(loader, refill, CacheStatus.MISS), started)

    def version(self, version_key: str) -> int | None:
        """A list version counter's value, read-only: None when it is missing or Redis is unreachable."""
        try:
            raw = self._fetch(version_key)
        except CacheUnavailable:
            return None
        try:
            return int(raw) if raw is not None else None
        except ValueError:
            return None

    def bypass(self, loader: Loader[T]) -> CacheResult[T]:
        started = time.perf_counter()
        return self._observe(self._load(loader, None, CacheStatus.BYPASS), started)

    def _load(self, loader: Loader[T], refill: dict[str, Any] | None, status: CacheStatus) -> CacheResult[T]:
        value = loader(ReadEndpoint.READER)
        if refill is not None:
            self.refill.request(refill)
        return CacheResult(value, status)

    def _observe(self, result: CacheResult[T], started: float) -> CacheResult[T]:
        metric = {
            CacheStatus.HIT: CACHE_HIT,
            CacheStatus.NEGATIVE_HIT: CACHE_NEGATIVE_HIT,
            CacheStatus.MISS: CACHE_MISS,
        }.get(result.status, CACHE_ERROR)
        self.cache.metrics.observe(metric, (time.perf_counter() - started) * 1000)
        return result
