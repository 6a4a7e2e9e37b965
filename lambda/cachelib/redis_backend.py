"""The Redis backend: every cache-aside step is one Lua script of ``scripts.py``, atomic on the server.

Writes run their scripts in one pipeline and then ``WAIT`` on the same connection until
``CACHE_REPLICA_ACKS`` replicas have them (per node in cluster mode), so a failover cannot bring back what
a write removed, and publish the keys to the near caches. The scripts are looked up in ``scripts`` at call
time, so a sabotage test can replace one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from cachelib import scripts
from cachelib.backend import Acquired, WriteItem
from cachelib.breaker import CircuitBreaker
from cachelib.gateway import RedisGateway
from cachelib.keys import lease_key, writer_key
from cachelib.near_cache import encode_keys

if TYPE_CHECKING:
    from cachelib.settings import Settings


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


def _get(client: Any, key: str) -> Any:
    return client.get(key)


class RedisBackend:
    engine = "redis"

    def __init__(self, client: Any | Callable[[], Any], breaker: CircuitBreaker, settings: Settings) -> None:
        self.gateway = RedisGateway(client, breaker)
        self.settings = settings
        # The hit path: one partial, as cheap as the gateway call it wraps.
        self.fetch: Callable[[str], bytes | None] = partial(self.gateway.call, _get)

    # --- reads ------------------------------------------------------------------------------------

    def acquire(self, key: str, token: str, lease_ms: int, on_miss: bool) -> Acquired:
        lease = lease_key(key)
        reply = self.gateway.run_script(
            scripts.ACQUIRE, [key, lease], [token, lease_ms, "1" if on_miss else "0"]
        )
        return Acquired(bool(reply[0]), bool(reply[1]), reply[2] if len(reply) > 2 else None, lease)

    def fill(self, key: str, lease: Acquired, token: str, entry: bytes, hard_ms: int) -> bool:
        return bool(self.gateway.run_script(scripts.FILL, [key, lease.lease], [token, entry, hard_ms]))

    def release(self, key: str, lease: str, token: str) -> None:
        self.gateway.run_script(scripts.RELEASE, [key, lease], [token])

    def renew(self, lease: str, token: str, lease_ms: int) -> bool:
        return bool(self.gateway.run_script(scripts.RENEW, [lease], [token, lease_ms]))

    def delete_if_equal(self, key: str, raw: bytes) -> None:
        self.gateway.run_script(scripts.DELETE_IF_EQUAL, [key], [raw])

    def version(self, version_key: str) -> int:
        return int(self.gateway.run_script(scripts.VERSION_READ, [version_key]))

    # --- writes -----------------------------------------------------------------------------------

    def invalidate(self, keys: Sequence[str], channel: str | None) -> None:
        script = self.gateway.script(scripts.INVALIDATE)
        calls: list[tuple[Any, list[str], list[Any]]] = [
            (script, [key, lease_key(key), writer_key(key)], []) for key in keys
        ]
        self.gateway.call(self._run_confirmed, keys, calls, channel, force=True)

    def claim(self, claims: Mapping[str, str], claim_ms: int) -> None:
        script = self.gateway.script(scripts.WRITE_CLAIM)

        def run(client: Any) -> None:
            for key, token in claims.items():
                script(keys=[writer_key(key)], args=[token, claim_ms], client=client)

        self.gateway.call(run)

    def write_through(self, items: Sequence[WriteItem], channel: str | None) -> list[bool]:
        script = self.gateway.script(scripts.WRITE_THROUGH)
        calls = [
            (
                script,
                [item.key, lease_key(item.key), writer_key(item.key)],
                [item.token, item.entry, item.hard_ms],
            )
            for item in items
        ]
        keys = [item.key for item in items]
        return [
            bool(reply) for reply in self.gateway.call(self._run_confirmed, keys, calls, channel, force=True)
        ]

    def bump(self, version_keys: Sequence[str]) -> list[int]:
        script = self.gateway.script(scripts.VERSION_BUMP)
        calls: list[tuple[Any, list[str], list[Any]]] = [(script, [key], []) for key in version_keys]
        # Counters are never near-cached: nothing to publish.
        replies = self.gateway.call(self._run_confirmed, version_keys, calls, None, force=True)
        return [int(number) for number in replies]

    def _run_confirmed(
        self,
        client: Any,
        keys: Sequence[str],
        calls: Sequence[tuple[Any, list, list]],
        channel: str | None,
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
        if channel is not None:
            # Part of the write: a near cache elsewhere holding the old value must hear about it.
            client.publish(channel, encode_keys(keys))
        return replies

    def close(self) -> None:
        self.gateway.close()
