"""Optional L1: a small in-process cache in front of Redis, invalidated over Redis pub/sub.

Off by default (``CACHE_L1_ENABLED``). It saves the Redis round trip for the hottest keys at the price of a
bounded staleness window *in other containers*: a write invalidates this process's L1 synchronously and
publishes the key; other processes drain their subscription at the start of every read, so they drop it as
soon as the message has arrived (sub-millisecond in one AZ). If the subscription breaks, the whole L1 is
cleared and re-subscribed, because messages may have been lost. The worst case is ``CACHE_L1_TTL_SECONDS``
(default 2 s), which is why the TTL is short. Cached objects are shared: callers must not mutate them.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any


class NearCache:
    def __init__(
        self,
        ttl_seconds: float,
        *,
        max_entries: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, bytes, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._pubsub: Any = None
        self._channel: str | None = None
        self._client_factory: Callable[[], Any] | None = None
        self._drain_lock = threading.Lock()
        self._generation = 0
        self._retry_at = 0.0

    @property
    def generation(self) -> int:
        """Read it before fetching a value from Redis and pass it to :meth:`put`: a put is refused if any
        invalidation happened in between, so a value read before a write never lands in L1 after it."""
        return self._generation

    @property
    def listening(self) -> bool:
        """L1 serves only while the invalidation subscription is up (or no subscription is configured)."""
        return self._channel is None or self._pubsub is not None

    def get(self, key: str) -> tuple[bytes, Any] | None:
        """``(kind, value)`` if present and fresh."""
        if not self.listening:
            return None
        with self._lock:
            item = self._entries.get(key)
            if item is None:
                return None
            if item[0] <= self._clock():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return item[1], item[2]

    def put(self, key: str, kind: bytes, value: Any, max_age_seconds: float, generation: int) -> None:
        """Keep ``value`` for at most ``min(ttl, max_age_seconds)``: never past the entry's fresh TTL."""
        lifetime = min(self.ttl_seconds, max_age_seconds)
        if lifetime <= 0 or not self.listening:
            return
        with self._lock:
            if generation != self._generation:
                return
            self._entries[key] = (self._clock() + lifetime, kind, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def invalidate(self, keys: Iterable[str]) -> None:
        with self._lock:
            self._generation += 1
            for key in keys:
                self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    # --- pub/sub ---------------------------------------------------------------------------------

    def subscribe(self, client_factory: Callable[[], Any], channel: str) -> None:
        """Listen for invalidations on ``channel``; connects on the first :meth:`drain` and is drained there
        (no background thread, which Lambda would freeze between invocations anyway)."""
        self._client_factory = client_factory
        self._channel = channel

    def _resubscribe(self) -> None:
        self.clear()
        old, self._pubsub = self._pubsub, None
        if old is not None:
            with contextlib.suppress(Exception):  # the old connection is already broken
                old.close()
        if self._client_factory is None or self._channel is None:
            return
        pubsub = self._client_factory().pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(self._channel)
        self._pubsub = pubsub

    def drain(self) -> None:
        """Apply every invalidation that has arrived. Cheap when there is none (a non-blocking poll)."""
        if self._channel is None:
            return
        if not self._drain_lock.acquire(blocking=False):
            return  # another thread is draining right now
        try:
            if self._pubsub is None:
                if self._clock() < self._retry_at:
                    return  # L1 stays off (``listening`` is False) until the subscription is back
                self._resubscribe()
            while True:
                message = self._pubsub.get_message(timeout=0.0)
                if message is None:
                    break
                if message.get("type") == "message":
                    self.invalidate(decode_keys(message.get("data")))
        except Exception:  # any failure means messages may be lost
            # Forget everything and stop serving L1; resubscribe at most once a second.
            self.clear()
            self._pubsub = None
            self._retry_at = self._clock() + 1.0
        finally:
            self._drain_lock.release()

    def close(self) -> None:
        if self._pubsub is not None:
            try:
                self._pubsub.close()
            finally:
                self._pubsub = None


def encode_keys(keys: Iterable[str]) -> str:
    return json.dumps(list(keys), separators=(",", ":"))


def decode_keys(data: Any) -> list[str]:
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    keys = json.loads(data)
    if not isinstance(keys, list):
        raise ValueError("invalidation message is not a list")
    return [k for k in keys if isinstance(k, str)]
