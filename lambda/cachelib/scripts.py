"""The Lua scripts that make cache-aside safe. Each touches one entry and its sidecars (one hash slot).

KEYS[1] = entry, KEYS[2] = lease (token of the one caller allowed to fill), KEYS[3] = fence (present for
a short window after a write; misses then read the writer endpoint).
"""

from __future__ import annotations

# Try to become the loader of KEYS[1]. ARGV: token, lease ms, "1" when called on a miss.
# On a miss, an entry that appeared meanwhile is returned instead of a lease (a waiter's poll).
# Reply: {granted 0/1, fenced 0/1, entry or nil}.
ACQUIRE = """
local entry = redis.call('GET', KEYS[1])
local fenced = redis.call('EXISTS', KEYS[3])
if entry and ARGV[3] == '1' then
  return {0, fenced, entry}
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, fenced, entry}
end
return {0, fenced, entry}
"""

# Store a loaded entry only if this caller still holds the lease. An invalidation deletes the lease, so a
# reader that loaded the old row before a write can never store it after the write's invalidation.
# ARGV: token, entry, ttl ms. Reply: 1 stored, 0 lease lost.
FILL = """
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
"""

# Give up a lease (the loader failed) so a waiter can take over at once. ARGV: token.
RELEASE = """
if redis.call('GET', KEYS[2]) == ARGV[1] then
  return redis.call('DEL', KEYS[2])
end
return 0
"""

# After a commit: drop the entry (and any stale copy), revoke every outstanding lease, and fence the key
# so misses during the replica-lag window read the writer. ARGV: fence ms.
INVALIDATE = """
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SET', KEYS[3], '1', 'PX', ARGV[1])
return 1
"""

# Delete an undecodable entry, but only if it is still the same bytes (never a fresh value).
# KEYS[1] = entry. ARGV: the corrupt bytes.
DELETE_IF_EQUAL = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# Read a version counter and whether it is fenced. KEYS[1] = counter, KEYS[2] = its fence.
# A missing counter is created from the server clock (ms * 1000), so one evicted by LRU comes back
# larger than any number it ever had, and page keys built from old numbers can never be reused.
VERSION_READ = """
local v = redis.call('GET', KEYS[1])
if not v then
  local t = redis.call('TIME')
  v = string.format('%.0f', tonumber(t[1]) * 1000000 + math.floor(tonumber(t[2]) / 1000) * 1000)
  redis.call('SET', KEYS[1], v, 'NX')
  v = redis.call('GET', KEYS[1])
end
return {v, redis.call('EXISTS', KEYS[2])}
"""

# Bump a version counter after a commit and fence it. KEYS as VERSION_READ. ARGV: fence ms.
VERSION_BUMP = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  local t = redis.call('TIME')
  local start = tonumber(t[1]) * 1000000 + math.floor(tonumber(t[2]) / 1000) * 1000
  redis.call('SET', KEYS[1], string.format('%.0f', start))
end
local v = redis.call('INCR', KEYS[1])
redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
return v
"""
