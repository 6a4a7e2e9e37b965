"""Bulk cache fill for the warmer: one EVALSHA writes a whole batch of entries, TTLs intact.

Why not a pipeline of ``SET key value PX ttl``: redis-py spends several microseconds of Python per command
(packing, then parsing one reply each), which caps a pipelined warm near 60k keys/s. Here a batch of ~1000
entries is one command with four big arguments (the keys joined by spaces, the entry lengths, the hard TTLs,
and the entries concatenated), so the client's cost per key is near zero and the per-key work runs inside
Redis. Keys never contain spaces: ``cachelib.KeyBuilder`` percent-encodes every part and ``Settings`` rejects
a prefix with one.

The entries arrive ready-made (``cache_warmer`` has the database render them): the framing
``V|<soft deadline ms>|<typed JSON>`` that ``cachelib.Cache`` writes on a miss, a fresh lifetime jittered
down by up to 10%, and a hard TTL (PX) of that lifetime + ``CACHE_STALE_SECONDS``, as the library does.

Correctness against concurrent writes: a key whose write *fence* exists is skipped. Every product write
sets the fence (``cachelib`` INVALIDATE) for ``CACHE_WRITE_FENCE_SECONDS``; the warmer drops any batch read
more than half that long ago, so a write that committed after (or, through replica lag, shortly before)
the read is always still fenced when the fill runs, and the old row is never stored over it.

Cluster mode: keys are grouped by the node that owns their slot and each group is one call to that node.
The script declares only the group's first key (which routes the call; a declared key list must be one
slot) and carries the ``allow-cross-slot-keys`` flag (Redis 7), which lets it touch the node's other slots;
a key on another node would be refused by the server, never written to the wrong place. The fence key is
derived inside the script; it shares the entry's hash tag (``{...}``), hence its slot and node.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cachelib.keys import FENCE_SUFFIX

# ARGV[1] keys joined by spaces, ARGV[2] entry lengths, ARGV[3] PX values, ARGV[4] the entries concatenated.
BULK_FILL_LUA = f"""#!lua flags=allow-cross-slot-keys
local next_key, next_px = string.gmatch(ARGV[1], '%S+'), string.gmatch(ARGV[3], '%d+')
local blob = ARGV[4]
local pos, written = 1, 0
for length in string.gmatch(ARGV[2], '%d+') do
  local key, px = next_key(), next_px()
  local stop = pos + tonumber(length)
  if redis.call('EXISTS', key .. '{FENCE_SUFFIX}') == 0 then
    redis.call('SET', key, string.sub(blob, pos, stop - 1), 'PX', px)
    written = written + 1
  end
  pos = stop
end
return written
"""


class BulkEntryWriter:
    """Writes batches of ready-made cache entries. One per warm; not thread-safe."""

    def __init__(self, client: Any, *, cluster: bool = False) -> None:
        self.client = client
        self.cluster = cluster
        self._scripts: dict[str, Any] = {}

    def _script(self, node_name: str, node_client: Any) -> Any:
        script = self._scripts.get(node_name)
        if script is None:
            script = self._scripts[node_name] = node_client.register_script(BULK_FILL_LUA)
        return script

    def _call(
        self,
        node_name: str,
        node_client: Any,
        keys: Sequence[bytes],
        pxs: Sequence[bytes],
        entries: Sequence[bytes],
    ) -> int:
        args = [b" ".join(keys), " ".join(map(str, map(len, entries))), b" ".join(pxs), b"".join(entries)]
        # One declared key routes the call (and names its node); the script reaches the others itself.
        return int(self._script(node_name, node_client)(keys=keys[:1], args=args))

    def write(self, keys: Sequence[bytes], pxs: Sequence[bytes], entries: Sequence[bytes]) -> int:
        """Store ``entries[i]`` under ``keys[i]`` for ``pxs[i]`` ms unless fenced; returns how many."""
        if not keys:
            return 0
        if not self.cluster:
            return self._call("primary", self.client, keys, pxs, entries)
        groups: dict[str, tuple[Any, list[bytes], list[bytes], list[bytes]]] = {}
        nodes = self.client.nodes_manager
        for key, px, entry in zip(keys, pxs, entries, strict=True):
            node = nodes.get_node_from_slot(self.client.keyslot(key))
            group = groups.get(node.name)
            if group is None:
                group = groups[node.name] = (node, [], [], [])
            group[1].append(key)
            group[2].append(px)
            group[3].append(entry)
        return sum(
            self._call(name, self.client.get_redis_connection(node), node_keys, node_pxs, node_entries)
            for name, (node, node_keys, node_pxs, node_entries) in groups.items()
        )
