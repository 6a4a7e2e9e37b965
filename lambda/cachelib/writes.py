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

Either way the keys are published to other near caches, and the write waits until ``CACHE_REPLICA_ACKS``
Redis replicas have it (``WAIT``), so a failover cannot bring the old value back. It tries a few times even
with the breaker open, because a write's guarantee ("no later read returns the old value") cannot be given
while Redis is unreachable: it raises :class:`~cachelib.errors.InvalidationFailed` instead, and the handler
tells its client the write is saved but not yet confirmed everywhere.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from cachelib import scripts
from cachelib.errors import CacheUnavailable, InvalidationFailed
from cachelib.keys import lease_key, writer_key
from cachelib.near_cache import encode_keys

if TYPE_CHECKING:
    from cachelib.database import Database

T = TypeVar("T")

WRITE_CLAIM_MS = 30_000
"""How long a write-through claim lives: longer than any write transaction (a lapsed claim only turns the
store into a delete)."""


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
    ``redis``, ``_entry``, ``count_error``) it uses."""

    # --- invalidate -------------------------------------------------------------------------------

    def invalidate(self, *keys: str, attempts: int = 3) -> None:
        """After a commit: make ``keys`` unreadable everywhere (see README, "Writes").

        Tries even when the breaker is open, ``attempts`` times; raises :class:`InvalidationFailed` if
        Redis stays unreachable or its replicas do not confirm, so the caller can tell its client.
        """
        if not keys:
            return
        script = self.redis.script(scripts.INVALIDATE)
        calls = [(script, [key, lease_key(key), writer_key(key)], []) for key in keys]
        self._apply(keys, calls, attempts)

    # --- write-through ----------------------------------------------------------------------------

    def claim_write_through(self, *keys: str) -> dict[str, str]:
        """Inside the write's transaction, after it has locked the rows behind ``keys``: claim them for
        :meth:`write_through`. Returns the claims; ``{}`` if Redis cannot be reached now (the write then
        stores nothing and :meth:`write_through` deletes instead)."""
        tokens = {key: secrets.token_hex(8) for key in keys}
        script = self.redis.script(scripts.WRITE_CLAIM)

        def claim(client: Any) -> None:
            for key, token in tokens.items():
                script(keys=[writer_key(key)], args=[token, WRITE_CLAIM_MS], client=client)

        try:
            self.redis.call(claim)
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
        :meth:`invalidate`; raises :class:`InvalidationFailed` if Redis stays unreachable."""
        if not values:
            return {}
        script = self.redis.script(scripts.WRITE_THROUGH)
        calls = []
        for key, value in values.items():
            entry, _soft_ms, hard_ms = self._entry(value, ttl, None)
            token = claims.get(key, "")  # no claim: the script deletes
            calls.append((script, [key, lease_key(key), writer_key(key)], [token, entry, hard_ms]))
        replies = self._apply(list(values), calls, attempts)
        return {key: bool(reply) for key, reply in zip(values, replies, strict=True)}

    # --- shared -----------------------------------------------------------------------------------

    def _apply(
        self, keys: Sequence[str], calls: list[tuple[Any, list[str], list[Any]]], attempts: int
    ) -> list:
        if self.near_cache is not None:
            self.near_cache.invalidate(keys)
        replies = self._with_retries(attempts, keys, lambda client: self._run_confirmed(client, keys, calls))
        if self.near_cache is not None:
            # Again after Redis: a read racing with it in this process may have fetched the old entry;
            # bumping the L1 generation makes its pending put a no-op.
            self.near_cache.invalidate(keys)
        return replies

    def _run_confirmed(
        self,
        client: Any,
        keys: Sequence[str],
        calls: Sequence[tuple[Any, list, list]],
        *,
        publish: bool = True,
    ) -> list:
        """Run ``(script, keys, args)`` calls, then ``WAIT`` for the replicas on the same connection (per
        node in cluster mode), then publish ``keys`` to the near caches."""
        s = self.settings
        replies: list[Any] = []
        if s.redis_cluster_mode:
            for script, call_keys, args in calls:  # WAIT must run on the node that owns the key
                node_client = client.get_redis_connection(client.get_node_from_key(call_keys[0]))
                replies.append(script(keys=call_keys, args=args, client=node_client))
                wait_for_replicas(node_client, s.cache_replica_acks, s.cache_replica_ack_ms)
        else:
            pipe = client.pipeline(transaction=False)
            for script, call_keys, args in calls:
                script(keys=call_keys, args=args, client=pipe)
            required = s.cache_replica_acks
            if required > 0:  # same connection as the scripts: WAIT covers exactly these writes
                pipe.execute_command("WAIT", required, s.cache_replica_ack_ms)
            replies = pipe.execute()
            if required > 0:
                check_acks(client, int(replies.pop()), required)
        if publish and self.near_cache is not None:
            # Part of the write: a near cache elsewhere holding the old value must hear about it.
            client.publish(self.keys.channel(), encode_keys(keys))
        return replies

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
        Raises :class:`InvalidationFailed` if Redis stays unreachable for ``attempts`` tries."""
        if not version_keys:
            return {}
        script = self.redis.script(scripts.VERSION_BUMP)
        calls = [(script, [key], []) for key in version_keys]
        replies = self._with_retries(  # counters are never near-cached: nothing to publish
            attempts,
            version_keys,
            lambda client: self._run_confirmed(client, version_keys, calls, publish=False),
        )
        return {key: int(number) for key, number in zip(version_keys, replies, strict=True)}
