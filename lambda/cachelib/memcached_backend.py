"""The memcached backend: the Redis scripts' guarantees rebuilt from add, gets/cas, incr and delete.

memcached runs no scripts, so no step spanning two keys is atomic. Every step that must not race a write
is therefore a compare-and-swap on the *entry key itself*, and a write changes that key first:

* **A miss lease is a placeholder in the entry key**, ``L|<deadline ms>|<token>``, stored with ``add`` (only
  one caller can add it) and a short expiry. Readers that find it wait, as for a Redis lease. The holder
  fills with ``gets`` + ``cas``: it stores only if the placeholder still holds its token, and the CAS fails
  if anything touched the key in between. A write's ``delete`` removes the placeholder, so a reader that
  loaded the old row can never store it afterwards (NSDI 2013's stale-set race, as on Redis).
* **A refresh** (serve-stale) keeps the stale entry readable: the refresher takes a placeholder in
  ``<key>:lease`` with ``add``, remembers the entry's bytes and CAS identity, and fills with ``cas`` only if
  the entry is still exactly that (a write replaced or deleted it otherwise).
* **A lease whose holder died** lapses at its deadline (the client clock, checked by waiters, who then take
  it over with ``cas``); the memcached expiry (whole seconds, one more than the lease) only cleans it up.
* **Writes** delete the write-through claim, then the refresh lease, then the entry (see ``invalidate``).
  A write-through store is ``gets`` of the entry, a claim check, then ``cas``, so it cannot land after a
  newer write's delete. memcached has no replicas (nothing to ``WAIT`` for) and no pub/sub (no near cache).
* **Version counters** use ``incr``; a missing one is created with ``add`` from the client clock in
  microseconds, so one that was evicted comes back larger than any number it had.

Keys longer than memcached's 250 bytes are replaced by ``<prefix>:<version>:#<sha256 of the key>``
(:func:`wire_key`), which no ``KeyBuilder`` key can equal (those have ``{`` after the version).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any

from pymemcache.client.hash import HashClient  # type: ignore[import-untyped]
from pymemcache.exceptions import (  # type: ignore[import-untyped]
    MemcacheError,
    MemcacheServerError,
    MemcacheUnexpectedCloseError,
    MemcacheUnknownError,
)

from cachelib.backend import Acquired, WriteItem
from cachelib.breaker import CircuitBreaker
from cachelib.errors import CacheUnavailable
from cachelib.gateway import Gateway
from cachelib.keys import lease_key, writer_key

MEMCACHED_ERRORS: tuple[type[BaseException], ...] = (MemcacheError, OSError)
"""What a memcached call raises when the cache is unreachable or misbehaving: pymemcache's errors (server
errors, an unexpected close, an unparseable reply) and socket errors (refused, reset, timed out)."""

LEASE_PREFIX = b"L|"
MAX_KEY_BYTES = 250
_RELATIVE_EXPIRY_LIMIT = 30 * 24 * 3600  # memcached reads a larger expiry as an absolute Unix time
_DELETE_NOW = -1  # a negative expiry expires the item at once: cas with it is a compare-and-delete
# A CAS on a lease placeholder can lose to this process's own renewal (the lease keeper thread rewrites the
# placeholder): it is tried again while the placeholder still holds the token.
_LEASE_CAS_ATTEMPTS = 3


def wire_key(key: str) -> str:
    """The memcached key for a library key (ASCII, no spaces: ``KeyBuilder`` escapes every part)."""
    if len(key) <= MAX_KEY_BYTES:
        return key
    head = key.split("{", 1)[0]
    return f"{head}#{hashlib.sha256(key.encode()).hexdigest()}"


def expiry(ms: int) -> int:
    """memcached's expiry (whole seconds, rounded up) for a TTL in milliseconds."""
    seconds = max(1, -(-ms // 1000))
    return seconds if seconds <= _RELATIVE_EXPIRY_LIMIT else int(time.time()) + seconds


def lease_expiry(lease_ms: int) -> int:
    # memcached expires on its own one-second clock ticks, so an expiry of n lives n-1 to n seconds; one
    # more keeps a live lease present between renewals. Waiters go by the deadline in the placeholder.
    return -(-lease_ms // 1000) + 1


def placeholder(token: str, lease_ms: int) -> bytes:
    return b"L|%d|%s" % (int(time.time() * 1000) + lease_ms, token.encode())


def parse_lease(raw: bytes | None) -> tuple[int, bytes] | None:
    """``(deadline ms, token)`` of a lease placeholder, ``None`` for anything else; a malformed deadline
    reads as lapsed, so a garbled placeholder can always be taken over."""
    if raw is None or not raw.startswith(LEASE_PREFIX):
        return None
    _, deadline, token = [*raw.split(b"|", 2), b"", b""][:3]
    return (int(deadline) if deadline.isdigit() else 0, token)


def counter_start() -> int:
    """A new version counter: microseconds of the client clock (memcached has no server-time command)."""
    return time.time_ns() // 1000


def _too_large(exc: MemcacheServerError) -> bool:
    return "too large" in str(exc)


CONNECTION_ERRORS = (OSError, MemcacheUnexpectedCloseError, MemcacheUnknownError)
"""What a dead or unreachable node raises: the ring drops it, and discovery re-reads the cluster's nodes."""


class RingClient(HashClient):
    """pymemcache's ``HashClient`` (rendezvous hashing over the nodes) that never takes a node out.

    ``HashClient`` marks a failing node, answers its keys with the default value (a ``get`` would look like
    a miss) and, after ``retry_attempts``, removes it so its keys move to other nodes; when it comes back,
    those keys move back to whatever it still holds, which may be older than writes made meanwhile. Here
    every failure raises, the breaker decides, and a key always lives on the same node.

    A connection error also drops the node's idle pooled connections: after a node restarted every one of
    them is dead, and each would otherwise fail a breaker trial in turn.
    """

    def _safely_run_func(
        self, client: Any, func: Callable[..., Any], default_val: Any, *args: Any, **kwargs: Any
    ) -> Any:
        try:
            return func(*args, **kwargs)
        except CONNECTION_ERRORS:
            client.close()
            raise

    def _mark_failed_server(self, server: Any) -> None:
        return None


def _fetch(client: Any, key: str) -> bytes | None:
    raw = client.get(wire_key(key))
    if raw is not None and raw.startswith(LEASE_PREFIX):
        return None  # someone is loading it: a miss, which then finds the lease and waits
    return raw


def _take(client: Any, key: str, token: str, lease_ms: int) -> bool:
    """Add a lease placeholder at ``key`` (a wire key), or take over one whose deadline has passed."""
    if client.add(key, placeholder(token, lease_ms), expire=lease_expiry(lease_ms)):
        return True
    raw, cas = client.gets(key)
    if raw is None:
        return bool(client.add(key, placeholder(token, lease_ms), expire=lease_expiry(lease_ms)))
    held = parse_lease(raw)
    if held is not None and held[0] > time.time() * 1000:
        return False
    return client.cas(key, placeholder(token, lease_ms), cas, expire=lease_expiry(lease_ms)) is True


def _release(client: Any, key: str, token: str) -> None:
    for _ in range(_LEASE_CAS_ATTEMPTS):
        raw, cas = client.gets(key)
        held = parse_lease(raw)
        if held is None or held[1] != token.encode():
            return
        if client.cas(key, b"", cas, expire=_DELETE_NOW) is not False:
            return  # deleted, or gone already


def _renew(client: Any, lease: str, token: str, lease_ms: int) -> bool:
    key = wire_key(lease)
    raw, cas = client.gets(key)
    held = parse_lease(raw)
    if held is None or held[1] != token.encode():
        return False
    return client.cas(key, placeholder(token, lease_ms), cas, expire=lease_expiry(lease_ms)) is True


def _store(client: Any, key: str, entry: bytes, cas: bytes, hard_ms: int) -> bool | None:
    """``cas``'s answer: True stored, False the key changed since ``cas`` was read, None it is gone (or the
    entry is over memcached's item size limit: then it is not cached and the lease is given up)."""
    try:
        return client.cas(key, entry, cas, expire=expiry(hard_ms))
    except MemcacheServerError as exc:
        if not _too_large(exc):
            raise
        client.cas(key, b"", cas, expire=_DELETE_NOW)
        return None


class MemcachedBackend:
    engine = "memcached"

    def __init__(
        self, client: Any | Callable[[], Any], breaker: CircuitBreaker, *, claim_lease_ms: int
    ) -> None:
        """``client`` is a :class:`RingClient` or a zero-argument factory of one. ``claim_lease_ms``: how
        long a write-through holds the placeholder it adds to an absent entry (``CACHE_LEASE_MS``)."""
        self.gateway = Gateway(client, breaker, errors=MEMCACHED_ERRORS, engine="memcached")
        self.fetch: Callable[[str], bytes | None] = partial(self.gateway.call, _fetch)
        self._claim_lease_ms = claim_lease_ms

    # --- reads ------------------------------------------------------------------------------------

    def acquire(self, key: str, token: str, lease_ms: int, on_miss: bool) -> Acquired:
        run = self._acquire_miss if on_miss else self._acquire_refresh
        return self.gateway.call(run, key, token, lease_ms)

    @staticmethod
    def _acquire_miss(client: Any, key: str, token: str, lease_ms: int) -> Acquired:
        wire = wire_key(key)
        for _ in range(3):
            if client.add(wire, placeholder(token, lease_ms), expire=lease_expiry(lease_ms)):
                return Acquired(True, False, None, key)
            raw, cas = client.gets(wire)
            if raw is None:
                continue  # deleted since the add: try again
            held = parse_lease(raw)
            if held is None:
                return Acquired(False, False, raw)  # filled meanwhile: the waiter's answer
            if held[0] > time.time() * 1000:
                return Acquired(False, True, None)
            # The holder stopped renewing (dead or frozen): take over, unless someone else just did.
            if client.cas(wire, placeholder(token, lease_ms), cas, expire=lease_expiry(lease_ms)) is True:
                return Acquired(True, False, None, key)
        return Acquired(False, True, None)

    @staticmethod
    def _acquire_refresh(client: Any, key: str, token: str, lease_ms: int) -> Acquired:
        lease = lease_key(key)
        if not _take(client, wire_key(lease), token, lease_ms):
            return Acquired(False, True, None)
        raw, cas = client.gets(wire_key(key))
        if raw is None or raw.startswith(LEASE_PREFIX):
            # A write or an eviction removed the stale entry: nothing to refresh; the next read misses.
            _release(client, wire_key(lease), token)
            return Acquired(False, False, None)
        return Acquired(True, False, raw, lease, (raw, cas))

    def fill(self, key: str, lease: Acquired, token: str, entry: bytes, hard_ms: int) -> bool:
        return self.gateway.call(self._fill, key, lease, token, entry, hard_ms)

    @staticmethod
    def _fill(client: Any, key: str, lease: Acquired, token: str, entry: bytes, hard_ms: int) -> bool:
        wire = wire_key(key)
        if lease.fence is None:  # a miss: the placeholder in the entry must still be ours
            for _ in range(_LEASE_CAS_ATTEMPTS):
                raw, cas = client.gets(wire)
                held = parse_lease(raw)
                if held is None or held[1] != token.encode():
                    return False
                stored = _store(client, wire, entry, cas, hard_ms)
                if stored is not False:  # False: lost to our own lease renewal; the token check decides
                    return stored is True
            return False
        stale, stale_cas = lease.fence  # a refresh: the entry must still be the one we refresh
        raw, cas = client.gets(wire)
        refreshed = raw == stale and cas == stale_cas and _store(client, wire, entry, cas, hard_ms) is True
        _release(client, wire_key(lease.lease), token)
        return refreshed

    def release(self, key: str, lease: str, token: str) -> None:
        self.gateway.call(_release, wire_key(lease), token)

    def renew(self, lease: str, token: str, lease_ms: int) -> bool:
        return self.gateway.call(_renew, lease, token, lease_ms)

    def delete_if_equal(self, key: str, raw: bytes) -> None:
        def run(client: Any) -> None:
            wire = wire_key(key)
            now, cas = client.gets(wire)
            if now == raw:
                client.cas(wire, b"", cas, expire=_DELETE_NOW)

        self.gateway.call(run)

    def version(self, version_key: str) -> int:
        return self.gateway.call(self._version, wire_key(version_key))

    @staticmethod
    def _version(client: Any, wire: str) -> int:
        raw = client.get(wire)
        if raw is not None and raw.isdigit():
            return int(raw)
        start = counter_start()
        if raw is None:  # never created, evicted, or lost in a restart
            client.add(wire, b"%d" % start, expire=0)
        else:  # garbled: replaced like a lost one
            client.set(wire, b"%d" % start, expire=0)
        raw = client.get(wire)
        # Gone again at once (evicted): our own start is a number no old page can carry either.
        return int(raw) if raw is not None and raw.isdigit() else start

    # --- writes -----------------------------------------------------------------------------------

    def invalidate(self, keys: Sequence[str], channel: str | None) -> None:
        # In this order: a write-through that checked its claim before this deleted it had stored (with a
        # CAS on the entry) before the entry is deleted below, and one that checks after finds no claim.
        # Refresh leases go too, so a refresher's fill (a CAS on the stale entry) cannot land anyway.
        def run(client: Any) -> None:
            for sidecar in (writer_key, lease_key, str):
                for key in keys:
                    client.delete(wire_key(sidecar(key)))

        self.gateway.call(run, force=True)

    def claim(self, claims: Mapping[str, str], claim_ms: int) -> None:
        def run(client: Any) -> None:
            for key, token in claims.items():
                client.set(wire_key(writer_key(key)), token.encode(), expire=expiry(claim_ms))

        self.gateway.call(run)

    def write_through(self, items: Sequence[WriteItem], channel: str | None) -> list[bool]:
        return self.gateway.call(self._write_through, items, force=True)

    def _write_through(self, client: Any, items: Sequence[WriteItem]) -> list[bool]:
        stored = []
        for item in items:
            wire = wire_key(item.key)
            stored.append(bool(item.token) and self._store_claimed(client, wire, item))
            if not stored[-1]:
                client.delete(
                    wire
                )  # a newer write claimed the key, or raced this store: only deleting is safe
        return stored

    def _store_claimed(self, client: Any, wire: str, item: WriteItem) -> bool:
        # The entry's CAS identity first, the claim second: a newer write deletes the claim before the
        # entry, so if the claim is still ours here, that delete of the entry comes after this gets and
        # makes the CAS below fail. An absent entry gets a placeholder, so there is something to CAS.
        raw, cas = client.gets(wire)
        if raw is None:
            lease_ms = self._claim_lease_ms
            client.add(wire, placeholder(item.token, lease_ms), expire=lease_expiry(lease_ms))
            raw, cas = client.gets(wire)
        if raw is None or client.get(wire_key(writer_key(item.key))) != item.token.encode():
            return False
        return _store(client, wire, item.entry, cas, item.hard_ms) is True

    def bump(self, version_keys: Sequence[str]) -> list[int]:
        return self.gateway.call(self._bump, version_keys, force=True)

    @staticmethod
    def _bump(client: Any, version_keys: Sequence[str]) -> list[int]:
        numbers = []
        for version_key in version_keys:
            wire = wire_key(version_key)
            number = client.incr(wire, 1)
            if number is None:  # missing: a new start is larger than anything it had (see version)
                client.add(wire, b"%d" % counter_start(), expire=0)
                number = client.incr(wire, 1)
            if number is None:
                raise CacheUnavailable(f"version counter {version_key} vanished twice while being bumped")
            numbers.append(int(number))
        return numbers

    # --- primitives for the handlers (access counts) ----------------------------------------------

    def get_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        """The values of ``keys`` that exist (one round trip per node)."""
        wires = {wire_key(key): key for key in keys}
        found = self.gateway.call(lambda client: client.get_many(list(wires)))
        return {wires[wire]: value for wire, value in found.items()}

    def add_counts(self, deltas: Mapping[str, int], expire_seconds: int) -> None:
        """Add each delta to its counter (created when missing, expiring after ``expire_seconds``)."""

        def run(client: Any) -> None:
            for key, delta in deltas.items():
                wire = wire_key(key)
                if client.incr(wire, delta) is None and not client.add(
                    wire, b"%d" % delta, expire=expire_seconds
                ):
                    client.incr(wire, delta)  # created by someone else meanwhile

        self.gateway.call(run)

    def close(self) -> None:
        self.gateway.close()
