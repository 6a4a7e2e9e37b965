"""The write side of :class:`cachelib.Cache`: after a commit, make the old value unreachable everywhere.

Two ways to put the cache right after a commit, chosen per entity:

* **invalidate** (the default): ``INVALIDATE`` deletes each entry, revokes its outstanding leases and voids
  any write-through claim. The next read misses and loads the new row. Cheapest when writes outnumber the
  reads that follow them, or when the written value is not what readers read.
* **write-through**: inside the write's transaction, once it holds the row lock, :meth:`claim_write_through`
  claims the key; after the commit :meth:`write_through` revokes the leases and stores the new value if the
  claim is still this write's (row locks serialize writers, so the last claim is the last commit), else
  deletes the entry. No stale fill can land after it (leases are revoked in the same script) and no older
  write's late store can overwrite a newer one (its claim was replaced or voided). The next read is a hit.

On Redis the keys are also published to other near caches, and the write waits until
``CACHE_REPLICA_ACKS`` Redis replicas have it (``WAIT``), so a failover cannot bring the old value back;
memcached has neither (``memcached_backend.py`` says how the same steps are made safe there). Either way
it tries a few times even with the breaker open, because a write's guarantee ("no later read returns the
old value") cannot be given while the cache is unreachable: it raises
:class:`~cachelib.errors.InvalidationFailed` instead, and the handler tells its client the write is saved
but not yet confirmed everywhere.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from cachelib.backend import WriteItem
from cachelib.errors import CacheUnavailable, InvalidationFailed
from cachelib.redis_backend import ReplicationUnconfirmed

if TYPE_CHECKING:
    from cachelib.backend import CacheBackend
    from cachelib.database import Database
    from cachelib.keys import KeyBuilder
    from cachelib.near_cache import NearCache

T = TypeVar("T")

WRITE_CLAIM_MS = 30_000
"""How long a write-through claim lives: longer than any write transaction (a lapsed claim only turns the
store into a delete)."""


class CacheWrites:
    """Mixed into :class:`cachelib.cache.Cache`, whose attributes (``settings``, ``keys``, ``near_cache``,
    ``backend``, ``_entry``, ``count_error``) it uses."""

    if TYPE_CHECKING:
        keys: KeyBuilder
        near_cache: NearCache | None
        backend: CacheBackend

        def _entry(
            self, value: Any, ttl: float | None, negative_ttl: float | None
        ) -> tuple[bytes, int, int]: ...

        def count_error(self) -> None: ...

    # --- invalidate -------------------------------------------------------------------------------

    def invalidate(self, *keys: str, attempts: int = 3) -> None:
        """After a commit: make ``keys`` unreadable everywhere (see README, "Writes").

        Tries even when the breaker is open, ``attempts`` times; raises :class:`InvalidationFailed` if
        the cache stays unreachable or its replicas do not confirm, so the caller can tell its client.
        """
        if not keys:
            return
        self._apply(keys, attempts, lambda: self.backend.invalidate(keys, self._channel()))

    # --- write-through ----------------------------------------------------------------------------

    def claim_write_through(self, *keys: str) -> dict[str, str]:
        """Inside the write's transaction, after it has locked the rows behind ``keys``: claim them for
        :meth:`write_through`. Returns the claims; ``{}`` if the cache cannot be reached now (the write then
        stores nothing and :meth:`write_through` deletes instead)."""
        tokens = {key: secrets.token_hex(8) for key in keys}
        try:
            self.backend.claim(tokens, WRITE_CLAIM_MS)
        except CacheUnavailable:
            self.count_error()
            return {}
        return tokens

    def write_through(
        self,
        values: Mapping[str, Any],
        claims: Mapping[str, str],
        *,
        ttl: float | None = None,
        attempts: int = 3,
    ) -> dict[str, bool]:
        """After the commit: store each of ``values`` (a value, or ``None`` for "does not exist") if this
        write still holds its claim, else delete the entry. Returns ``{key: stored}``. Confirmed like
        :meth:`invalidate`; raises :class:`InvalidationFailed` if the cache stays unreachable."""
        if not values:
            return {}
        items = []
        for key, value in values.items():
            entry, _soft_ms, hard_ms = self._entry(value, ttl, None)
            items.append(WriteItem(key, claims.get(key, ""), entry, hard_ms))  # no claim: deleted
        keys = list(values)
        replies = self._apply(keys, attempts, lambda: self.backend.write_through(items, self._channel()))
        return {key: bool(reply) for key, reply in zip(keys, replies, strict=True)}

    # --- shared -----------------------------------------------------------------------------------

    def _channel(self) -> str | None:
        """Where a write publishes its keys: the near caches' channel, when this process has one."""
        return self.keys.channel() if self.near_cache is not None else None

    def _apply(self, keys: Sequence[str], attempts: int, action: Callable[[], T]) -> T:
        if self.near_cache is not None:
            self.near_cache.invalidate(keys)
        result = self._with_retries(attempts, keys, action)
        if self.near_cache is not None:
            # Again after the cache: a read racing with it in this process may have fetched the old entry;
            # bumping the L1 generation makes its pending put a no-op.
            self.near_cache.invalidate(keys)
        return result

    def _with_retries(self, attempts: int, keys: Iterable[str], action: Callable[[], T]) -> T:
        last: BaseException | None = None
        for attempt in range(max(1, attempts)):
            try:
                return action()
            except (CacheUnavailable, ReplicationUnconfirmed) as exc:
                last = exc
                self.count_error()
                time.sleep(0.02 * (2**attempt))
        raise InvalidationFailed(f"could not invalidate {', '.join(keys)}: {last}") from last

    def write(
        self,
        db: Database,
        statement: Callable[[Any], T],
        *,
        keys: Sequence[str] = (),
        version_keys: Sequence[str] = (),
        write_through: Callable[[T], Mapping[str, Any]] | None = None,
        ttl: float | None = None,
    ) -> T:
        """Run ``statement(cursor)`` in a writer transaction, commit, then put the cache right and bump
        ``version_keys``. Returns what ``statement`` returned.

        Without ``write_through``, ``keys`` are invalidated. With it, ``write_through(result)`` gives the
        new value of each key (``None``: the row does not exist), computed inside the transaction after
        ``statement`` has locked its rows; those keys are claimed there and stored after the commit. The
        cache is touched only after the commit, and this returns only after it is right (or raises
        :class:`InvalidationFailed`)."""
        values: Mapping[str, Any] = {}
        claims: dict[str, str] = {}
        with db.transaction() as cursor:
            result = statement(cursor)
            if write_through is not None:
                values = write_through(result)
                claims = self.claim_write_through(*values)
        self.write_through(values, claims, ttl=ttl)
        self.invalidate(*(key for key in keys if key not in values))
        if version_keys:
            self.bump_versions(*version_keys)
        return result

    def bump_versions(self, *version_keys: str, attempts: int = 3) -> dict[str, int]:
        """After a commit: advance each list-page version counter (replica-confirmed like ``invalidate``).
        Raises :class:`InvalidationFailed` if the cache stays unreachable for ``attempts`` tries."""
        if not version_keys:
            return {}
        numbers = self._with_retries(attempts, version_keys, lambda: self.backend.bump(version_keys))
        return dict(zip(version_keys, numbers, strict=True))
