"""Optional L1: a small in-process cache in front of Redis, invalidated over Redis pub/sub.

Off by default (``CACHE_L1_ENABLED``). It saves the Redis round trip for the hottest keys at the price of a
bounded staleness window *in other containers*: a write invalidates this process's L1 synchronously and
publishes the key; other processes drain their subscription at the start of every read, so they drop it as
soon as the message has arrived (sub-millisecond in one AZ). Cached objects are shared: callers must not
mutate them.

A subscription that may have lost messages clears L1, however it failed:

* **broken**: reading it raises; L1 is cleared and stops serving until a new subscription is confirmed.
* **silently re-established**: redis-py reconnects and resubscribes on its own (its connect callback);
  ours runs on that same reconnect and clears L1, since whatever was published meanwhile is lost.
* **silent** (a hung server or a dead network path that raises nothing): every ``CACHE_L1_HEARTBEAT_MS``
  the drain sends a ``PING`` down the subscription. Redis answers in order, after every message published
  before it, so a pong proves that nothing published before the ping is missing. L1 serves only while the
  last pong is younger than two heartbeats; without one it stops serving and keeps asking.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cachelib.gateway import RedisGateway

_NEVER = float("-inf")


class NearCache:
    def __init__(
        self,
        ttl_seconds: float,
        *,
        heartbeat_seconds: float = 0.5,
        max_entries: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, bytes, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.heartbeat_seconds = heartbeat_seconds
        self._pubsub: Any = None
        self._channel: str | None = None
        self._gateway: RedisGateway | None = None
        self._drain_lock = threading.Lock()
        self._generation = 0
        self._retry_at = 0.0
        self._confirmed_at = _NEVER
        self._ping_token: bytes | None = None
        self._ping_sent_at = _NEVER
        self.subscription_losses = 0
        """How often L1 was cleared because the subscription broke, reconnected or went silent."""

    @property
    def generation(self) -> int:
        """Read it before fetching a value from Redis and pass it to :meth:`put`: a put is refused if any
        invalidation happened in between, so a value read before a write never lands in L1 after it."""
        return self._generation

    @property
    def listening(self) -> bool:
        """L1 serves only while the invalidation subscription is proven live by a recent pong (or no
        subscription is configured)."""
        if self._channel is None:
            return True
        return self._pubsub is not None and self._clock() - self._confirmed_at < 2 * self.heartbeat_seconds

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

    def subscribe(self, gateway: RedisGateway, channel: str) -> None:
        """Listen for invalidations on ``channel``; connects on the first :meth:`drain` and is drained there
        (no background thread, which Lambda would freeze between invocations anyway)."""
        self._gateway = gateway
        self._channel = channel

    def _lost(self) -> None:
        """Messages may have been lost: forget everything and stop serving until a pong proves otherwise."""
        self.clear()
        self._confirmed_at = _NEVER
        self._ping_token = None
        self.subscription_losses += 1

    def _on_reconnect(self, _connection: Any) -> None:
        # Runs when redis-py reconnects the subscription by itself (it resubscribes in its own callback).
        self._lost()

    def _drop_subscription(self) -> None:
        """Close the subscription (already broken, so best effort) and forget what L1 holds."""
        old, self._pubsub = self._pubsub, None
        if old is not None:
            with contextlib.suppress(Exception):
                old.close()
        self._lost()

    def _resubscribe(self, client: Any) -> None:
        self._drop_subscription()
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(self._channel)
        pubsub.connection.register_connect_callback(self._on_reconnect)
        self._pubsub = pubsub

    def _drain_on(self, client: Any) -> None:
        if self._pubsub is None:
            if self._clock() < self._retry_at:
                return  # L1 stays off (``listening`` is False) until the subscription is back
            self._resubscribe(client)
        pubsub = self._pubsub
        while True:
            message = pubsub.get_message(timeout=0.0)
            if message is None:
                break
            kind = message.get("type")
            if kind == "message":
                self.invalidate(decode_keys(message.get("data")))
            elif kind == "pong" and self._ping_token is not None and message.get("data") == self._ping_token:
                self._confirmed_at = self._ping_sent_at
                self._ping_token = None
        now = self._clock()
        if self._ping_token is None:
            if now - self._confirmed_at >= self.heartbeat_seconds:
                self._ping_token = secrets.token_hex(4).encode()
                self._ping_sent_at = now
                pubsub.ping(self._ping_token.decode())
        elif now - self._ping_sent_at >= 2 * self.heartbeat_seconds:
            raise RuntimeError("near-cache subscription did not answer its heartbeat")

    def drain(self) -> None:
        """Apply every invalidation that has arrived, and keep the heartbeat going. Cheap when there is
        nothing to read (a non-blocking poll)."""
        if self._channel is None or self._gateway is None:
            return
        if not self._drain_lock.acquire(blocking=False):
            return  # another thread is draining right now
        try:
            self._gateway.call(self._drain_on)
        except Exception:  # CacheUnavailable, a silent subscription, a bad message: messages may be lost
            # Stop serving L1; resubscribe at most once a second.
            self._drop_subscription()
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
