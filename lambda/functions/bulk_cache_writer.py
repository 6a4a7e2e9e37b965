"""Bulk cache fill for the warmer: one EVALSHA writes a whole batch of entries, TTLs intact.

Why not a pipeline of ``SET key value PX ttl``: redis-py spends several microseconds of Python per command
(packing, then parsing one reply each), which caps a pipelined warm near 60k keys/s. Here a batch of ~1000
entries is one command with three big arguments (the keys, one string of payload lengths, one
concatenated payload blob), so the client's cost per key is a list append; the per-key work runs inside
Redis, in C and a short Lua loop.

Per key the script writes exactly what ``cachelib.Cache`` writes on a miss: the entry framing
``V|<soft deadline ms>|<payload>``, a fresh lifetime jittered down by up to 10% (spread by position so a
warmed batch does not expire at once), and a hard TTL of fresh + ``CACHE_STALE_SECONDS``.

Correctness against concurrent writes: a key whose write *fence* exists is skipped. Every product write
sets the fence (``cachelib`` INVALIDATE) for ``CACHE_WRITE_FENCE_SECONDS``; the warmer fills a row well
under a second after reading it, so a write that committed after (or, through replica lag, shortly before)
the read is always still fenced when the fill runs, and the old row is never stored over it.

Cluster mode: the script is flagged ``allow-cross-slot-keys`` and keys are grouped by the node that owns
their slot, so each call touches only local keys. The fence key is derived inside the script; it shares
the entry's hash tag (``{...}``), hence its slot and node.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any

from cachelib.codec import KIND_VALUE
from cachelib.keys import FENCE_SUFFIX

_JITTER_STEP = 7919  # a prime: consecutive positions land far apart inside the jitter span

BULK_FILL_LUA = f"""#!lua flags=allow-cross-slot-keys
local now, ttl, span = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local stale, offset = tonumber(ARGV[4]), tonumber(ARGV[5])
local blob = ARGV[7]
local pos, i, written = 1, 0, 0
for length in string.gmatch(ARGV[6], '%d+') do
  i = i + 1
  local stop = pos + tonumber(length)
  local key = KEYS[i]
  if redis.call('EXISTS', key .. '{FENCE_SUFFIX}') == 0 then
    local soft = ttl - (i * {_JITTER_STEP} + offset) % (span + 1)
    local entry = '{KIND_VALUE.decode()}|' .. string.format('%.0f', now + soft) .. '|' .. string.sub(blob, pos, stop - 1)
    redis.call('SET', key, entry, 'PX', soft + stale)
    written = written + 1
  end
  pos = stop
end
return written
"""


class BulkEntryWriter:
    """Writes batches of (key, typed-JSON payload) as cache entries. One per warm; not thread-safe."""

    def __init__(self, client: Any, *, ttl_seconds: float, stale_seconds: float, cluster: bool = False) -> None:
        self.client = client
        self.cluster = cluster
        self.ttl_ms = max(1, int(ttl_seconds * 1000))
        self.span_ms = self.ttl_ms // 10  # the library jitters fresh lifetimes down by up to 10% too
        self.stale_ms = int(stale_seconds * 1000)
        self._scripts: dict[str, Any] = {}

    def _script(self, node_name: str, node_client: Any) -> Any:
        script = self._scripts.get(node_name)
        if script is None:
            script = self._scripts[node_name] = node_client.register_script(BULK_FILL_LUA)
        return script

    def _call(self, node_name: str, node_client: Any, keys: Sequence[bytes], payloads: Sequence[bytes]) -> int:
        args = [
            int(time.time() * 1000),
            self.ttl_ms,
            self.span_ms,
            self.stale_ms,
            random.randrange(self.span_ms + 1),
            " ".join(map(str, map(len, payloads))),
            b"".join(payloads),
        ]
        return int(self._script(node_name, node_client)(keys=keys, args=args))

    def write(self, keys: Sequence[bytes], payloads: Sequence[bytes]) -> int:
        """Store the batch; returns how many entries were written (fenced keys are skipped)."""
        if not keys:
            return 0
        if not self.cluster:
            return self._call("primary", self.client, keys, payloads)
        return self._write_cluster(keys, payloads)

    def _write_cluster(self, keys: Sequence[bytes], payloads: Sequence[bytes]) -> int:
        groups: dict[str, tuple[Any, list[bytes], list[bytes]]] = {}
        nodes = self.client.nodes_manager
        for key, payload in zip(keys, payloads):
            node = nodes.get_node_from_slot(self.client.keyslot(key))
            group = groups.get(node.name)
            if group is None:
                group = groups[node.name] = (node, [], [])
            group[1].append(key)
            group[2].append(payload)
        written = 0
        for name, (node, node_keys, node_payloads) in groups.items():
            node_client = self.client.get_redis_connection(node)
            written += self._call(name, node_client, node_keys, node_payloads)
        return written
