"""The write side of :class:`cachelib.Cache`: after a commit, make the old value unreachable.

``invalidate`` runs the INVALIDATE script per key (delete the entry, revoke outstanding leases, set the
write fence) and retries a few times even with the breaker open, because a write's guarantee ("no later
read returns the old value") cannot be given while Redis is unreachable: it raises
:class:`~cachelib.errors.InvalidationFailed` instead, and the handler answers 503 so the client retries.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from cachelib import scripts
from cachelib.connections import REDIS_ERRORS
from cachelib.errors import InvalidationFailed
from cachelib.keys import fence_key, lease_key
from cachelib.near_cache import encode_keys

if TYPE_CHECKING:
    from cachelib.database import Database

T = TypeVar("T")


class CacheWrites:
    """Mixed into :class:`cachelib.cache.Cache`, whose attributes (``settings``, ``keys``, ``near_cache``,
    ``breaker``, ``versions``, ``script``, ``client``, ``redis_failed``) it uses."""

    def invalidate(self, *keys: str, attempts: int = 3) -> None:
        """After a commit: make ``keys`` unreadable and fence them (see README, "Writes").

        Tries even when the breaker is open, ``attempts`` times; raises :class:`InvalidationFailed` if
        Redis stays unreachable, so the caller can tell its client that the write is not yet visible.
        """
        if not keys:
            return
        if self.near_cache is not None:
            self.near_cache.invalidate(keys)
        fence_ms = self.settings.cache_write_fence_seconds * 1000
        self._with_retries(
            attempts,
            keys,
            lambda: [
                self.script(scripts.INVALIDATE)(keys=[k, lease_key(k), fence_key(k)], args=[fence_ms])
                for k in keys
            ],
        )
        if self.near_cache is not None:
            # Again after the delete: a read racing with it in this process may have fetched the old
            # entry; bumping the L1 generation makes its pending put a no-op.
            self.near_cache.invalidate(keys)
            self._publish(keys)

    def _publish(self, keys: Sequence[str]) -> None:
        try:
            self.client().publish(self.keys.channel(), encode_keys(keys))
        except REDIS_ERRORS as exc:  # L1 entries then expire by their short TTL
            self.redis_failed(exc)

    def _with_retries(self, attempts: int, keys: Iterable[str], action: Callable[[], Any]) -> Any:
        last: BaseException | None = None
        for attempt in range(max(1, attempts)):
            try:
                result = action()
            except REDIS_ERRORS as exc:
                last = exc
                self.redis_failed(exc)
                time.sleep(0.02 * (2**attempt))
                continue
            self.breaker.record_success()
            return result
        raise InvalidationFailed(f"could not invalidate {', '.join(keys)}: {last}") from last

    def write(
        self,
        db: Database,
        statement: Callable[[Any], T],
        *,
        keys: Sequence[str] = (),
        version_keys: Sequence[str] = (),
    ) -> T:
        """Run ``statement(cursor)`` in a writer transaction, commit, then invalidate ``keys`` and bump
        ``version_keys``. Returns what ``statement`` returned. The cache is touched only after the commit,
        and this returns only after it is right (or raises :class:`InvalidationFailed`)."""
        with db.transaction() as cursor:
            result = statement(cursor)
        self.invalidate(*keys)
        if version_keys:
            self.versions.bump(*version_keys)
        return result
