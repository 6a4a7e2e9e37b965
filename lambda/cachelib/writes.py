"""The write side of :class:`cachelib.Cache`: after a commit, make the old value unreachable.

``invalidate`` deletes each entry and revokes its outstanding leases (one Lua script per key), publishes
the keys to other containers' near caches, and waits until ``CACHE_REPLICA_ACKS`` Redis replicas have the
deletion (``WAIT``), so a failover to a replica cannot bring the old value back. It tries a few times even
with the breaker open, because a write's guarantee ("no later read returns the old value") cannot be given
while Redis is unreachable: it raises :class:`~cachelib.errors.InvalidationFailed` instead, and the handler
tells its client the write is saved but not yet confirmed everywhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from cachelib import scripts
from cachelib.errors import CacheUnavailable, InvalidationFailed
from cachelib.keys import lease_key
from cachelib.near_cache import encode_keys

if TYPE_CHECKING:
    from cachelib.database import Database

T = TypeVar("T")

_REPLICA_COUNT_SECONDS = 5.0


class ReplicationUnconfirmed(Exception):
    """Fewer Redis replicas than required acknowledged a write within ``CACHE_REPLICA_ACK_MS``."""


def wait_for_replicas(client: Any, required: int, timeout_ms: int) -> None:
    """``WAIT`` on ``client``'s connection until ``required`` replicas have its writes. ``required`` 0
    returns at once."""
    if required > 0:
        check_acks(client, int(client.execute_command("WAIT", required, timeout_ms)), required)


def check_acks(client: Any, acked: int, required: int) -> None:
    """Accept ``acked`` when it covers ``required`` replicas, or every replica connected right now (one
    being replaced is not connected; it copies the whole data set, deletion included, when it joins).
    Raises :class:`ReplicationUnconfirmed` otherwise."""
    if acked >= required:
        return
    connected = int(client.info("replication").get("connected_slaves", 0))
    if acked < connected:
        raise ReplicationUnconfirmed(f"{acked} of {connected} connected Redis replicas confirmed the write")


class CacheWrites:
    """Mixed into :class:`cachelib.cache.Cache`, whose attributes (``settings``, ``keys``, ``near_cache``,
    ``redis``, ``versions``) it uses."""

    def invalidate(self, *keys: str, attempts: int = 3) -> None:
        """After a commit: make ``keys`` unreadable everywhere (see README, "Writes").

        Tries even when the breaker is open, ``attempts`` times; raises :class:`InvalidationFailed` if
        Redis stays unreachable or its replicas do not confirm, so the caller can tell its client.
        """
        if not keys:
            return
        if self.near_cache is not None:
            self.near_cache.invalidate(keys)
        self._with_retries(attempts, keys, lambda client: self._invalidate_on(client, keys))
        if self.near_cache is not None:
            # Again after the delete: a read racing with it in this process may have fetched the old
            # entry; bumping the L1 generation makes its pending put a no-op.
            self.near_cache.invalidate(keys)

    def _invalidate_on(self, client: Any, keys: Sequence[str]) -> None:
        script = self.redis.script(scripts.INVALIDATE)
        if self.settings.redis_cluster_mode:
            for key in keys:  # WAIT must run on the connection of the node that owns the key
                node_client = client.get_redis_connection(client.get_node_from_key(key))
                pipe = node_client.pipeline(transaction=False)
                script(keys=[key, lease_key(key)], client=pipe)
                pipe.execute()
                wait_for_replicas(
                    node_client, self.settings.cache_replica_acks, self.settings.cache_replica_ack_ms
                )
        else:
            pipe = client.pipeline(transaction=False)
            for key in keys:
                script(keys=[key, lease_key(key)], client=pipe)
            required = self.settings.cache_replica_acks
            if required > 0:  # same connection as the scripts: WAIT covers exactly these deletions
                pipe.execute_command("WAIT", required, self.settings.cache_replica_ack_ms)
            replies = pipe.execute()
            if required > 0:
                check_acks(client, int(replies[-1]), required)
        if self.near_cache is not None:
            # Part of the invalidation: a near cache elsewhere holding the old value must hear about it.
            client.publish(self.keys.channel(), encode_keys(keys))

    def _with_retries(self, attempts: int, keys: Iterable[str], action: Callable[[Any], T]) -> T:
        last: BaseException | None = None
        for attempt in range(max(1, attempts)):
            try:
                return self.redis.call(action, force=True)
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
    ) -> T:
        """Run ``statement(cursor)`` in a writer transaction, commit, then invalidate ``keys`` and bump
        ``version_keys``. Returns what ``statement`` returned. The cache is touched only after the commit,
        and this returns only after it is right (or raises :class:`InvalidationFailed`)."""
        with db.transaction() as cursor:
            result = statement(cursor)
        self.invalidate(*keys)
        if version_keys:
            self.bump_versions(*version_keys)
        return result

    def bump_versions(self, *version_keys: str, attempts: int = 3) -> dict[str, int]:
        """After a commit: advance each list-page version counter (replica-confirmed like ``invalidate``).
        Raises :class:`InvalidationFailed` if Redis stays unreachable for ``attempts`` tries."""
        return self._with_retries(attempts, version_keys, lambda client: self._bump_on(client, version_keys))

    def _bump_on(self, client: Any, version_keys: Sequence[str]) -> dict[str, int]:
        script = self.redis.script(scripts.VERSION_BUMP)
        s = self.settings
        numbers: dict[str, int] = {}
        for key in version_keys:
            target = (
                client.get_redis_connection(client.get_node_from_key(key)) if s.redis_cluster_mode else client
            )
            numbers[key] = int(script(keys=[key], client=target))
            wait_for_replicas(target, s.cache_replica_acks, s.cache_replica_ack_ms)
        return numbers
