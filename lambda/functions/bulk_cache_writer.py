"""Bulk cache fill for the warmer: one EVALSHA writes a whole batch of entries, TTLs intact.

Why not a pipeline of ``SET key value PX ttl``: redis-py spends several microseconds of Python per command
(packing, then parsing one reply each), which caps a pipelined warm near 60k keys/s. Here a batch of ~1000
entries is one command with one argument, the batch itself, so the client does no per-key work at all and
the per-key work runs inside Redis (a short Lua loop over C string functions). One call holds Redis for
about 2-3 ms, which bounds the latency a warm adds to concurrent reads.

A batch is ``<key> <px> <entry>`` lines joined by ``\\n``, produced by the database in one row
(``cache_warmer``). That framing is unambiguous: keys contain no whitespace (``KeyBuilder`` percent-encodes
every part; ``cache_warmer.key_parts`` checks the rest), PX is digits, and an entry is
``V|<soft deadline ms>|<typed JSON>`` whose JSON escapes every control character. Each entry is exactly what
``cachelib.Cache`` writes on a miss: a fresh lifetime jittered down by up to 10%, and a hard TTL (PX) of that
lifetime + ``CACHE_STALE_SECONDS``.

Correctness against concurrent writes: the warmer uses the library's lease protocol, in bulk. Before it
reads a batch from the database it takes a lease with its own token on every key of the batch (``SET NX``:
a key whose lease a reader holds is left to that reader). A write's invalidation deletes the leases of the
keys it changed, so the fill stores a line only if its lease still holds the warmer's token. A row the
warmer read before a write can therefore never land after that write's invalidation, however old the batch
is, and losing a lease (eviction, restart, failover) can only skip a line, never store a stale one. What
the batch read is fresh as of its read: the reader endpoint is used only once the replica has caught up
with the writer (``cachelib.Database.fresh_read_target``).

Cluster mode: lines are regrouped by the node that owns their key's slot, one call per node. The script
declares only the group's first key (which routes the call; a declared key list must be one slot) and
carries the ``allow-cross-slot-keys`` flag (Redis 7), which lets it touch that node's other slots; a key on
another node would be refused by the server, never written to the wrong place. The lease key is derived
inside the script; it shares the entry's hash tag (``{...}``), hence its slot and node. The ids of a batch
are grouped by node the same way before their leases are taken.
"""

from __future__ import annotations

from typing import Any

from cachelib.keys import LEASE_SUFFIX

# Take the warmer's lease on every key of a batch. ARGV: ids "7,42,3", key head, key tail, token, lease ms.
# The declared key only routes the call in cluster mode. Reply: leases taken.
BULK_LEASE_LUA = f"""#!lua flags=allow-cross-slot-keys
local taken = 0
for id in string.gmatch(ARGV[1], '[^,]+') do
  if redis.call('SET', ARGV[2] .. id .. ARGV[3] .. '{LEASE_SUFFIX}', ARGV[4], 'NX', 'PX', ARGV[5]) then
    taken = taken + 1
  end
end
return taken
"""

# Store each "<key> <px> <entry>" line of ARGV[1] whose lease still holds the warmer's token ARGV[2], then
# give back the leases of ids that had no row (ARGV[3..5] as in BULK_LEASE_LUA). Reply: lines stored.
BULK_FILL_LUA = f"""#!lua flags=allow-cross-slot-keys
local batch, token = ARGV[1], ARGV[2]
local pos, size, written = 1, #batch, 0
while pos <= size do
  local key_end = string.find(batch, ' ', pos, true)
  local px_end = string.find(batch, ' ', key_end + 1, true)
  local line_end = string.find(batch, '\\n', px_end + 1, true) or (size + 1)
  local key = string.sub(batch, pos, key_end - 1)
  local lease = key .. '{LEASE_SUFFIX}'
  if redis.call('GET', lease) == token then
    local px = string.sub(batch, key_end + 1, px_end - 1)
    redis.call('SET', key, string.sub(batch, px_end + 1, line_end - 1), 'PX', px)
    redis.call('DEL', lease)
    written = written + 1
  end
  pos = line_end + 1
end
for id in string.gmatch(ARGV[3], '[^,]+') do
  local lease = ARGV[4] .. id .. ARGV[5] .. '{LEASE_SUFFIX}'
  if redis.call('GET', lease) == token then redis.call('DEL', lease) end
end
return written
"""


def first_key(batch: bytes) -> bytes:
    return batch[: batch.index(b" ")]


class BulkEntryWriter:
    """Leases and writes batches of ready-made cache entries. One per warm; not thread-safe.

    ``head``/``tail`` are the text around the id in a product key (``cache_warmer.key_parts``)."""

    def __init__(self, client: Any, head: str, tail: str, *, cluster: bool = False) -> None:
        self.client = client
        self.head = head
        self.tail = tail
        self.cluster = cluster
        self._scripts: dict[tuple[str, str], Any] = {}

    def _call(self, node_name: str, node_client: Any, source: str, route_key: bytes | str, args: list) -> int:
        script = self._scripts.get((node_name, source))
        if script is None:
            script = self._scripts[node_name, source] = node_client.register_script(source)
        return int(script(keys=[route_key], args=args))

    def _ids_by_node(self, ids: bytes) -> dict[str, tuple[Any, bytes]]:
        if not self.cluster:
            return {"primary": (self.client, ids)}
        groups: dict[str, tuple[Any, list[bytes]]] = {}
        nodes = self.client.nodes_manager
        for product_id in ids.split(b","):
            key = self.head.encode() + product_id + self.tail.encode()
            node = nodes.get_node_from_slot(self.client.keyslot(key))
            groups.setdefault(node.name, (node, []))[1].append(product_id)
        return {
            name: (self.client.get_redis_connection(node), b",".join(members))
            for name, (node, members) in groups.items()
        }

    def lease(self, ids: bytes, token: str, lease_ms: int) -> int:
        """Take the warmer's lease on the key of each id in ``ids`` (``b"7,42"``); returns how many."""
        return sum(
            self._call(
                name,
                node_client,
                BULK_LEASE_LUA,
                self.head + group.split(b",")[0].decode() + self.tail,
                [group, self.head, self.tail, token, lease_ms],
            )
            for name, (node_client, group) in self._ids_by_node(ids).items()
        )

    def write(self, batch: bytes, ids: bytes, token: str) -> int:
        """Store each ``<key> <px> <entry>`` line of ``batch`` whose lease still holds ``token``, and give
        back the leases of ``ids`` without a line; returns how many lines were stored."""
        if count_lines(batch) == ids.count(b",") + 1:
            # Every id had a row, so every lease the fill did not use was already someone else's: nothing
            # to give back. (The common case; it halves the fill's work.)
            return self._write_all(batch, ids, token)
        return self._write_and_release(batch, ids, token)

    def _write_all(self, batch: bytes, ids: bytes, token: str) -> int:
        if not self.cluster:
            return self._call(
                "primary", self.client, BULK_FILL_LUA, first_key(batch), [batch, token, b"", "", ""]
            )
        lines: dict[str, tuple[Any, list[bytes]]] = {}
        nodes = self.client.nodes_manager
        for line in batch.split(b"\n"):
            node = nodes.get_node_from_slot(self.client.keyslot(first_key(line)))
            lines.setdefault(node.name, (node, []))[1].append(line)
        return sum(
            self._call(
                name,
                self.client.get_redis_connection(node),
                BULK_FILL_LUA,
                first_key(group[0]),
                [b"\n".join(group), token, b"", "", ""],
            )
            for name, (node, group) in lines.items()
        )

    def _write_and_release(self, batch: bytes, ids: bytes, token: str) -> int:
        by_node = self._ids_by_node(ids)
        if not self.cluster:
            node_client, group = by_node["primary"]
            route = first_key(batch) if batch else (self.head + group.split(b",")[0].decode() + self.tail)
            return self._call(
                "primary", node_client, BULK_FILL_LUA, route, [batch, token, group, self.head, self.tail]
            )
        lines: dict[str, list[bytes]] = {}
        nodes = self.client.nodes_manager
        for line in batch.split(b"\n") if batch else ():
            node = nodes.get_node_from_slot(self.client.keyslot(first_key(line)))
            lines.setdefault(node.name, []).append(line)
        written = 0
        for name, (node_client, group) in by_node.items():
            node_batch = b"\n".join(lines.get(name, []))
            route = (
                first_key(node_batch)
                if node_batch
                else (self.head + group.split(b",")[0].decode() + self.tail)
            )
            written += self._call(
                name, node_client, BULK_FILL_LUA, route, [node_batch, token, group, self.head, self.tail]
            )
        return written


def count_lines(batch: bytes) -> int:
    return batch.count(b"\n") + 1 if batch else 0
