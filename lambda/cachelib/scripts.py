"""The Lua scripts that make cache-aside safe. Each touches one entry and its lease (one hash slot).

KEYS[1] = entry, KEYS[2] = lease (the token of the one caller allowed to fill the entry).

Every protection here is a *permission*, never a prohibition: a fill needs its lease to be present, so
losing a lease (LRU eviction, a Redis restart, a failover) can only refuse a fill, never let a stale one
through. Freshness of what a filler loaded comes from the database (``replication.py``), not from a key.
"""

from __future__ import annotations

# Try to become the loader of KEYS[1]. ARGV: token, lease ms, "1" when called on a miss.
# On a miss, an entry that appeared meanwhile is returned instead of a lease (a waiter's poll).
# Reply: {granted 0/1, lease held by someone 0/1, entry or nil}.
ACQUIRE = """
local entry = redis.call('GET', KEYS[1])
if entry and ARGV[3] == '1' then
  return {0, 0, entry}
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, 0, entry}
end
return {0, 1, entry}
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

# Keep a lease for ARGV[2] ms more if this caller still holds it: renewed while a slow loader runs, and
# held after a refresh failed so the next callers serve stale instead of each waiting on a hung database.
# KEYS[1] = lease. ARGV: token, ms. Reply: 1 renewed, 0 lost.
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# After a commit: drop the entry (and any stale copy), revoke every outstanding lease, and void any
# write-through claim (an older write's late store must not land after this one). KEYS[3] = writer claim.
INVALIDATE = """
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return 1
"""

# Inside a write's transaction, once it holds the row lock: claim the key for its write-through store.
# Row locks serialize writers of one row, so the last claim is the last commit. KEYS[1] = writer claim.
# ARGV: token, ms.
WRITE_CLAIM = """
return redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
"""

# After that commit: revoke every lease (no concurrent fill can land), then store the new entry if this
# write still holds the claim; otherwise a later write claimed the key (or the claim was lost), so only
# deleting is safe. KEYS: entry, lease, writer claim. ARGV: token, entry, ttl ms. Reply: 1 stored, 0 deleted.
WRITE_THROUGH = """
redis.call('DEL', KEYS[2])
if redis.call('GET', KEYS[3]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  redis.call('DEL', KEYS[3])
  return 1
end
redis.call('DEL', KEYS[1])
return 0
"""

# Delete an undecodable entry, but only if it is still the same bytes (never a fresh value).
# KEYS[1] = entry. ARGV: the corrupt bytes.
DELETE_IF_EQUAL = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# Read a version counter. KEYS[1] = counter.
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
return v
"""

# Bump a version counter after a commit. KEYS as VERSION_READ.
VERSION_BUMP = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  local t = redis.call('TIME')
  local start = tonumber(t[1]) * 1000000 + math.floor(tonumber(t[2]) / 1000) * 1000
  redis.call('SET', KEYS[1], string.format('%.0f', start))
end
return redis.call('INCR', KEYS[1])
"""
