"""The Lua scripts that change cluster state in Redis, each in one atomic step.

Each script takes the cluster's key base (`{prefix}:`) as ARGV[1] and builds its key names from
it. All keys share the base's hash tag, so on a Redis Cluster they live in one slot and a script
may touch them even though it does not list them all in KEYS (KEYS[1] names that slot).

Times come from Redis's own clock (`TIME`, in milliseconds), never from a node's, so that nodes
whose clocks drift still agree on which lease has expired. Redis 5 and later replicate a script's
effects rather than the script, which makes reading TIME in a script that writes safe.
"""

from __future__ import annotations

HEARTBEAT = """
local base, node, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local instance, stale = ARGV[4], tonumber(ARGV[5])
local members = base .. 'members'
local events = base .. 'events'
local key = base .. 'member:' .. node
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

-- Another live process with this node id: refuse, and change nothing. A process that stopped
-- beating (a crashed node restarting within its lease) is replaced.
if redis.call('ZSCORE', members, node) then
  local other = redis.call('HGET', key, 'instance')
  local beat = tonumber(redis.call('HGET', key, 'heartbeat_ms') or '0')
  if other and other ~= instance and now - beat < stale then
    return {'conflict', now, other}
  end
end

-- Members whose lease ended are dead: remove them and record the expiry.
local dead = redis.call('ZRANGEBYSCORE', members, '-inf', now)
for _, id in ipairs(dead) do
  local owned = redis.call('HGET', base .. 'member:' .. id, 'owned') or '0'
  redis.call('ZREM', members, id)
  redis.call('DEL', base .. 'member:' .. id)
  redis.call('XADD', events, 'MAXLEN', '~', 1000, '*', 'kind', 'expire', 'node', id,
             'at_ms', now, 'targets', owned)
end

-- This node: a new lease, and a join event when it was not a member.
local joined = now
if redis.call('ZSCORE', members, node) then
  joined = tonumber(redis.call('HGET', key, 'joined_ms') or now)
else
  redis.call('XADD', events, 'MAXLEN', '~', 1000, '*', 'kind', 'join', 'node', node,
             'at_ms', now, 'targets', 0)
end
redis.call('ZADD', members, now + ttl, node)
redis.call('HSET', key, 'node_id', node, 'joined_ms', joined, 'heartbeat_ms', now,
           'instance', instance)
for i = 6, #ARGV, 2 do
  redis.call('HSET', key, ARGV[i], ARGV[i + 1])
end
redis.call('PEXPIRE', key, 3 * ttl)

-- The leader lease goes to whoever asks first while it is free.
local leader = redis.call('GET', base .. 'leader')
if not leader or leader == node then
  redis.call('SET', base .. 'leader', node, 'PX', ttl)
  leader = node
end

-- Reply: now, leader, then id, joined_ms, capacity, config_hash for each live member.
local reply = {now, leader}
for _, id in ipairs(redis.call('ZRANGE', members, 0, -1)) do
  local fields = redis.call('HMGET', base .. 'member:' .. id, 'joined_ms', 'capacity',
                            'config_hash')
  table.insert(reply, id)
  table.insert(reply, fields[1] or now)
  table.insert(reply, fields[2] or '1')
  table.insert(reply, fields[3] or '')
end
return reply
"""
"""ARGV: base, node id, lease TTL (ms), this process's instance id, the age (ms) after which
another instance's heartbeat is stale, then field/value pairs of the member hash. Reply: now,
leader, then four values per live member; or "conflict", now and the other instance id when
another live process uses this node id."""

LEAVE = """
local base, node, instance = ARGV[1], ARGV[2], ARGV[3]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- A process that was refused as a duplicate never owned the member entry: leave it alone.
if redis.call('HGET', base .. 'member:' .. node, 'instance') ~= instance then
  return 0
end
if redis.call('ZREM', base .. 'members', node) == 1 then
  redis.call('XADD', base .. 'events', 'MAXLEN', '~', 1000, '*', 'kind', 'leave', 'node', node,
             'at_ms', now, 'targets', 0)
end
redis.call('DEL', base .. 'member:' .. node)
if redis.call('GET', base .. 'leader') == node then
  redis.call('DEL', base .. 'leader')
end
return 1
"""
"""ARGV: base, node id, instance id. The node's target leases are released by LEASES
beforehand."""

LEASES = """
local base, node, ttl, holds = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local prefix = node .. ' '
local reply = {}
for i = 5, 4 + holds do
  local target = ARGV[i]
  local key = base .. 'lease:' .. target
  local value = redis.call('GET', key)
  if not value then
    local token = redis.call('HINCRBY', base .. 'fences', target, 1)
    redis.call('SET', key, prefix .. token, 'PX', ttl)
    table.insert(reply, token)
  elseif string.sub(value, 1, #prefix) == prefix then
    redis.call('PEXPIRE', key, ttl)
    table.insert(reply, tonumber(string.sub(value, #prefix + 1)))
  else
    table.insert(reply, 0)
  end
end
for i = 5 + holds, #ARGV do
  local key = base .. 'lease:' .. ARGV[i]
  local value = redis.call('GET', key)
  if value and string.sub(value, 1, #prefix) == prefix then
    redis.call('DEL', key)
  end
end
return reply
"""
"""ARGV: base, node id, lease TTL (ms), the number of targets to hold, those targets, then the
targets to release. Reply: per held target its fencing token, 0 when another node has it.
A new holder gets a new token (HINCRBY on `fences`), so a token never repeats for a target."""

COMMIT_POLL = """
local base, target, lease = ARGV[1], ARGV[2], ARGV[3]
if redis.call('GET', base .. 'lease:' .. target) ~= lease then
  return 0
end
-- A repeat of the same slot under the same lease is the client's retry of this very write:
-- written already. The same slot under another lease is a double poll, and is recorded.
local slot_field = target .. '\\31' .. ARGV[5]
local recorded = ARGV[6] .. ' ' .. lease
if redis.call('HGET', base .. 'slots', slot_field) == recorded then
  return 1
end
redis.call('HSET', base .. 'slots', slot_field, recorded)
redis.call('XADD', base .. 'polls', 'MAXLEN', '~', tonumber(ARGV[4]), '*', 'job', ARGV[5],
           'slot', ARGV[6], unpack(ARGV, 7))
return 1
"""
"""ARGV: base, target, the lease value the poll started under ("<node> <token>"), the stream's
length cap, the job, the slot (Unix seconds, as text), then the entry's other field/value pairs.
Reply 0 (nothing written) when the lease changed: the fencing check that keeps a node that lost
its lease from writing. The `slots` hash keeps the last slot and lease recorded per target and
job, which makes the write idempotent: the Redis client may send it again after a broken
connection."""
