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

Correctness against concurrent writes: a key whose write *fence* exists is skipped. Every product write
sets the fence (``cachelib`` INVALIDATE) for ``CACHE_WRITE_FENCE_SECONDS``; the warmer drops any batch read
more than half that long ago, so a write that committed after (or, through replica lag, shortly before)
the read is always still fenced when the fill runs, and the old row is never stored over it.

Cluster mode: lines are regrouped by the node that owns their key's slot, one call per node. The script
declares only the group's first key (which routes the call; a declared key list must be one slot) and
carries the ``allow-cross-slot-keys`` flag (Redis 7), which lets it touch that node's other slots; a key on
another node would be refused by the server, never written to the wrong place. The fence key is derived
inside the script; it shares the entry's hash tag (``{...}``), hence its slot and node.
"""

from __future__ import annotations

from typing import Any

from cachelib.keys import FENCE_SUFFIX

BULK_FILL_LUA = f"""#!lua flags=allow-cross-slot-keys
local batch = ARGV[1]
local pos, size, written = 1, #batch, 0
while pos <= size do
  local key_end = string.find(batch, ' ', pos, true)
  local px_end = string.find(batch, ' ', key_end + 1, true)
  local line_end = string.find(batch, '\\n', px_end + 1, true) or (size + 1)
  local key = string.sub(batch, pos, key_end - 1)
  if redis.call('EXISTS', key .. '{FENCE_SUFFIX}') == 0 then
    local px = string.sub(batch, key_end + 1, px_end - 1)
    redis.call('SET', key, string.sub(batch, px_end + 1, line_end - 1), 'PX', px)
    written = written + 1
  end
  pos = line_end + 1
end
return written
"""


def first_key(batch: bytes) -> bytes:
    return batch[: batch.index(b" ")]


class BulkEntryWriter:
    """Writes batches of ready-made cache entries. One per warm; not thread-safe."""

    def __init__(self, client: Any, *, cluster: bool = False) -> None:
        self.client = client
        self.cluster = cluster
        self._scripts: dict[str, Any] = {}

    def _call(self, node_name: str, node_client: Any, batch: bytes) -> int:
        script = self._scripts.get(node_name)
        if script is None:
            script = self._scripts[node_name] = node_client.register_script(BULK_FILL_LUA)
        return int(script(keys=[first_key(batch)], args=[batch]))

    def write(self, batch: bytes) -> int:
        """Store each ``<key> <px> <entry>`` line of ``batch`` unless fenced; returns how many were stored."""
        if not batch:
            return 0
        if not self.cluster:
            return self._call("primary", self.client, batch)
        groups: dict[str, tuple[Any, list[bytes]]] = {}
        nodes = self.client.nodes_manager
        for line in batch.split(b"\n"):
            node = nodes.get_node_from_slot(self.client.keyslot(first_key(line)))
            groups.setdefault(node.name, (node, []))[1].append(line)
        return sum(
            self._call(name, self.client.get_redis_connection(node), b"\n".join(lines))
            for name, (node, lines) in groups.items()
        )


def count_lines(batch: bytes) -> int:
    return batch.count(b"\n") + 1 if batch else 0
