"""The Lua scripts of the Redis alert store (redis_store.py), one per atomic unit of AlertStore.

KEYS[1] is the store's key base (`{<prefix>}:alerts:`): the scripts build every key name from
it, so all keys share the base's hash tag and one Redis Cluster slot. A writing script takes
three ARGV in front of its own: the leader key's name, the value it must hold ("" when the
caller does not fence its writes), and an operation id unique to the call.

redis-py sends a call again when the connection broke after it was sent, so a write may reach
Redis twice. A writing script therefore saves its reply under `done:<operation id>` for
300 seconds, and a repeat returns that reply without writing again.

Layout under the base:
- state:alerts, state:groups, state:silences (hashes): key -> the row as JSON.
- history:seq (string): the last history id handed out (INCR).
- history (hash): id -> the entry as JSON, with `at` as a string (no float is rounded by Lua)
  and `detail` as a JSON text of its own.
- history:ids (sorted set): every id, scored by itself, for `history(None)` and pages.
- history:about:<key> (sorted set): ids of the entries whose fingerprint or group key is key.
- history:groupwide:<group> (sorted set): ids of the entries of a group without a fingerprint.
- history:groups-of:<fingerprint> (set): the groups an alert was in, by its history.
- outbox:seq (string): the last outbox id handed out.
- outbox:entry:<id> (hash): notification_id, channel, group_key, group_started, payload,
  detail (entry_history's detail as JSON), state, attempts, created_at, next_attempt_at,
  claimed_at, finished_at, last_detail. Times are the strings Python wrote (repr of a float).
- outbox:ids (hash): "<notification id>\\x1f<channel>" -> id, which makes each pair unique.
- outbox:due:<channel> (sorted set): pending ids scored by their next attempt time.
- outbox:open:<channel>\\x1f<group> (sorted set): unfinished (pending or claimed) ids scored
  by id, so the first member is the one entry of the group that may be claimed.
- outbox:claimed (sorted set): claimed ids scored by id.
- outbox:channels (set): every channel with an entry.
- outbox:counts (hash): "<channel>\\x1f<state>" -> number of entries.
- references:<group>\\x1f<group_started> (hash): channel -> reference of one group life.
- done:<operation id> (string, with a TTL): the JSON reply of a writing script.
"""

from __future__ import annotations

# Shared functions, prepended to every writing script. Redis does not undo the writes of a
# script that fails part way, so each script checks what it needs before its first write.
_COMMON = r"""
local base = KEYS[1]
local done_key = base .. 'done:' .. ARGV[3]
-- Seconds a reply is kept for a repeat: redis-py repeats a call within about a second
-- (three retries, backoff up to 0.5 s each).
local DONE_TTL = 300

-- Return the saved reply of a repeated call, or the error reply of a failed fencing check.
local function replay_or_reject()
  local earlier = redis.call('GET', done_key)
  if earlier then
    return cjson.decode(earlier)
  end
  if ARGV[2] ~= '' and redis.call('GET', ARGV[1]) ~= ARGV[2] then
    return redis.error_reply('NOTLEADER the leader key does not name this node')
  end
  return nil
end

local function finish(reply)
  redis.call('SET', done_key, cjson.encode(reply), 'EX', DONE_TTL)
  return reply
end

local function append_history(record, fingerprint, group_key)
  local id = redis.call('INCR', base .. 'history:seq')
  redis.call('HSET', base .. 'history', id, record)
  redis.call('ZADD', base .. 'history:ids', id, id)
  if fingerprint then
    redis.call('ZADD', base .. 'history:about:' .. fingerprint, id, id)
  end
  if group_key then
    redis.call('ZADD', base .. 'history:about:' .. group_key, id, id)
    if fingerprint then
      redis.call('SADD', base .. 'history:groups-of:' .. fingerprint, group_key)
    else
      redis.call('ZADD', base .. 'history:groupwide:' .. group_key, id, id)
    end
  end
end

local function outbox_history(entry_key, now, kind, extra_name, extra_value)
  local fields = redis.call('HMGET', entry_key, 'detail', 'attempts', 'group_key')
  local detail = cjson.decode(fields[1])
  detail['attempt'] = tonumber(fields[2])
  if extra_name then
    detail[extra_name] = extra_value
  end
  local record = cjson.encode({at = now, kind = kind, actor = 'outbox',
                               group_key = fields[3], detail = cjson.encode(detail)})
  append_history(record, nil, fields[3])
end

local function count_move(channel, from_state, to_state)
  local counts = base .. 'outbox:counts'
  if from_state then
    if redis.call('HINCRBY', counts, channel .. '\31' .. from_state, -1) <= 0 then
      redis.call('HDEL', counts, channel .. '\31' .. from_state)
    end
  end
  redis.call('HINCRBY', counts, channel .. '\31' .. to_state, 1)
end

local function entry_key(id)
  return base .. 'outbox:entry:' .. id
end

local function open_key(channel, group_key)
  return base .. 'outbox:open:' .. channel .. '\31' .. group_key
end
"""

# ARGV after the operation id, in three parts that each start with their count:
# - row writes: (table, key, JSON) for each, where an empty JSON deletes the row;
# - history entries: (record, fingerprint, group key) for each, "" for a missing one;
# - outbox entries: (notification id, channel, group key, group started, payload, created at,
#   detail, record of its notification.queued entry) for each.
APPLY = _COMMON + r"""
local earlier = replay_or_reject()
if earlier then return earlier end

local at = 4
local rows = tonumber(ARGV[at])
for i = 1, rows do
  local table_key = base .. 'state:' .. ARGV[at + 1]
  if ARGV[at + 3] == '' then
    redis.call('HDEL', table_key, ARGV[at + 2])
  else
    redis.call('HSET', table_key, ARGV[at + 2], ARGV[at + 3])
  end
  at = at + 3
end

at = at + 1
local entries = tonumber(ARGV[at])
for i = 1, entries do
  local fingerprint = ARGV[at + 2] ~= '' and ARGV[at + 2] or nil
  local group_key = ARGV[at + 3] ~= '' and ARGV[at + 3] or nil
  append_history(ARGV[at + 1], fingerprint, group_key)
  at = at + 3
end

at = at + 1
local queued = tonumber(ARGV[at])
for i = 1, queued do
  local notification_id, channel, group_key = ARGV[at + 1], ARGV[at + 2], ARGV[at + 3]
  local created_at = ARGV[at + 6]
  local pair = notification_id .. '\31' .. channel
  if redis.call('HEXISTS', base .. 'outbox:ids', pair) == 0 then
    local id = redis.call('INCR', base .. 'outbox:seq')
    redis.call('HSET', base .. 'outbox:ids', pair, id)
    redis.call('HSET', entry_key(id), 'notification_id', notification_id, 'channel', channel,
               'group_key', group_key, 'group_started', ARGV[at + 4], 'payload', ARGV[at + 5],
               'created_at', created_at, 'next_attempt_at', created_at, 'detail', ARGV[at + 7],
               'state', 'pending', 'attempts', 0)
    redis.call('ZADD', base .. 'outbox:due:' .. channel, created_at, id)
    redis.call('ZADD', open_key(channel, group_key), id, id)
    redis.call('SADD', base .. 'outbox:channels', channel)
    count_move(channel, nil, 'pending')
    append_history(ARGV[at + 8], nil, group_key)
  end
  at = at + 8
end
return finish('OK')
"""

# NOTE: a claim reads every due entry of the channel to find the oldest of each group, so its
# cost grows with the entries that wait behind an earlier one of their group.
# ARGV after the operation id: channel, now, limit. Returns one list per claimed entry: id, channel,
# group_started, payload, attempts, created_at, group_key, then the group life's references
# as channel, reference pairs.
CLAIM = _COMMON + r"""
local earlier = replay_or_reject()
if earlier then return earlier end

local channel, now, limit = ARGV[4], ARGV[5], tonumber(ARGV[6])
local due_key = base .. 'outbox:due:' .. channel
local due = redis.call('ZRANGEBYSCORE', due_key, '-inf', now)
local ids = {}
for _, id in ipairs(due) do
  local group_key = redis.call('HGET', entry_key(id), 'group_key')
  local oldest = redis.call('ZRANGE', open_key(channel, group_key), 0, 0)[1]
  if oldest == id then
    table.insert(ids, tonumber(id))
  end
end
table.sort(ids)

local claimed = {}
for i = 1, math.min(limit, #ids) do
  local key = entry_key(ids[i])
  redis.call('HSET', key, 'state', 'claimed', 'claimed_at', now)
  redis.call('HINCRBY', key, 'attempts', 1)
  redis.call('ZREM', due_key, ids[i])
  redis.call('ZADD', base .. 'outbox:claimed', ids[i], ids[i])
  count_move(channel, 'pending', 'claimed')
  outbox_history(key, now, 'notification.attempt')

  local fields = redis.call('HMGET', key, 'channel', 'group_started', 'payload', 'attempts',
                            'created_at', 'group_key')
  local life = base .. 'references:' .. fields[6] .. '\31' .. fields[2]
  local row = {tostring(ids[i]), fields[1], fields[2], fields[3], fields[4], fields[5], fields[6]}
  for _, value in ipairs(redis.call('HGETALL', life)) do
    table.insert(row, value)
  end
  table.insert(claimed, row)
end
return finish(claimed)
"""

# ARGV after the operation id: id, new state, at, detail, next attempt time or "", reference or "",
# history record, its fingerprint or "", its group key or "".
RECORD_OUTCOME = _COMMON + r"""
local earlier = replay_or_reject()
if earlier then return earlier end

local id, state, at, detail, next_attempt = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local key = entry_key(id)
local fields = redis.call('HMGET', key, 'state', 'channel', 'group_key', 'group_started')
local old_state, channel, group_key = fields[1], fields[2], fields[3]
if not old_state then
  return redis.error_reply('NOENTRY outbox entry ' .. id .. ' does not exist')
end

redis.call('ZREM', base .. 'outbox:claimed', id)
if state == 'pending' then
  redis.call('HSET', key, 'state', state, 'next_attempt_at', next_attempt, 'last_detail', detail)
  redis.call('ZADD', base .. 'outbox:due:' .. channel, next_attempt, id)
else
  redis.call('HSET', key, 'state', state, 'finished_at', at, 'last_detail', detail)
  redis.call('ZREM', base .. 'outbox:due:' .. channel, id)
  redis.call('ZREM', open_key(channel, group_key), id)
end
count_move(channel, old_state, state)

if ARGV[9] ~= '' then
  local life = base .. 'references:' .. group_key .. '\31' .. fields[4]
  redis.call('HSET', life, channel, ARGV[9])
end
local fingerprint = ARGV[11] ~= '' and ARGV[11] or nil
local history_group = ARGV[12] ~= '' and ARGV[12] or nil
append_history(ARGV[10], fingerprint, history_group)
return finish('OK')
"""

# ARGV after the operation id: now, reason. Returns the number of entries put back.
REQUEUE_CLAIMED = _COMMON + r"""
local earlier = replay_or_reject()
if earlier then return earlier end

local now, reason = ARGV[4], ARGV[5]
local claimed = redis.call('ZRANGE', base .. 'outbox:claimed', 0, -1)
for _, id in ipairs(claimed) do
  local key = entry_key(id)
  local channel = redis.call('HGET', key, 'channel')
  redis.call('HSET', key, 'state', 'pending', 'next_attempt_at', now)
  redis.call('ZADD', base .. 'outbox:due:' .. channel, now, id)
  count_move(channel, 'claimed', 'pending')
  outbox_history(key, now, 'notification.requeued', 'reason', reason)
end
redis.call('DEL', base .. 'outbox:claimed')
return finish(#claimed)
"""

# ARGV after the operation id: now, then (channel, detail) pairs of the channels to dead-letter.
# Returns the number of entries finished, one per pair.
DEAD_LETTER = _COMMON + r"""
local earlier = replay_or_reject()
if earlier then return earlier end

local now = ARGV[4]
local counts = {}
for at = 5, #ARGV, 2 do
  local channel, detail = ARGV[at], ARGV[at + 1]
  local due_key = base .. 'outbox:due:' .. channel
  local pending = redis.call('ZRANGE', due_key, 0, -1)
  local ids = {}
  for _, id in ipairs(pending) do table.insert(ids, tonumber(id)) end
  table.sort(ids)
  for _, id in ipairs(ids) do
    local key = entry_key(id)
    local group_key = redis.call('HGET', key, 'group_key')
    redis.call('HSET', key, 'state', 'dead', 'finished_at', now, 'last_detail', detail)
    redis.call('ZREM', open_key(channel, group_key), id)
    count_move(channel, 'pending', 'dead')
    outbox_history(key, now, 'notification.failed', 'detail', detail)
  end
  redis.call('DEL', due_key)
  table.insert(counts, #ids)
end
return finish(counts)
"""

# Reads. A script reads one consistent snapshot, since no other command runs meanwhile.

# Returns the JSON rows of the alerts, groups and silences, in three lists.
LOAD_STATE = r"""
local base = KEYS[1]
return {redis.call('HVALS', base .. 'state:alerts'), redis.call('HVALS', base .. 'state:groups'),
        redis.call('HVALS', base .. 'state:silences')}
"""

# ARGV: limit, then the key, or nothing for every entry. Returns id, record pairs, oldest
# first.
HISTORY = r"""
local base = KEYS[1]
local limit, key = tonumber(ARGV[1]), ARGV[2]
local ids = {}
if key == nil then
  ids = redis.call('ZREVRANGE', base .. 'history:ids', 0, limit - 1)
else
  local found = {}
  for _, id in ipairs(redis.call('ZREVRANGE', base .. 'history:about:' .. key, 0, limit - 1)) do
    found[tonumber(id)] = true
  end
  for _, group in ipairs(redis.call('SMEMBERS', base .. 'history:groups-of:' .. key)) do
    local groupwide = base .. 'history:groupwide:' .. group
    for _, id in ipairs(redis.call('ZREVRANGE', groupwide, 0, limit - 1)) do
      found[tonumber(id)] = true
    end
  end
  for id in pairs(found) do table.insert(ids, id) end
  table.sort(ids, function(a, b) return a > b end)
end

local reply = {}
for i = math.min(limit, #ids), 1, -1 do
  table.insert(reply, tostring(ids[i]))
  table.insert(reply, redis.call('HGET', base .. 'history', ids[i]))
end
return reply
"""

# NOTE: with a kind, the script reads entries newest first until it found enough, so a rare
# kind costs a walk through the whole history.
# ARGV: limit + 1, the exclusive upper id bound or "+inf", then the kind, or nothing for
# every kind. Returns id, record pairs, newest first.
HISTORY_PAGE = r"""
local base = KEYS[1]
local wanted, upper, kind = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local is_family = kind ~= nil and string.sub(kind, -1) == '.'
local batch = 500
local reply = {}
local found = 0
while found < wanted do
  local ids = redis.call('ZREVRANGEBYSCORE', base .. 'history:ids', upper, '-inf',
                         'LIMIT', 0, batch)
  for _, id in ipairs(ids) do
    local record = redis.call('HGET', base .. 'history', id)
    local keep = kind == nil
    if not keep then
      local entry_kind = cjson.decode(record)['kind']
      if is_family then
        keep = string.sub(entry_kind, 1, #kind) == kind
      else
        keep = entry_kind == kind
      end
    end
    if keep and found < wanted then
      table.insert(reply, id)
      table.insert(reply, record)
      found = found + 1
    end
  end
  if #ids < batch then break end
  upper = '(' .. ids[#ids]
end
return reply
"""

# ARGV: the channel, or nothing for all. Returns the earliest next attempt time as Redis wrote the
# score (17 digits, which round-trip to the same float), or nil.
NEXT_DUE = r"""
local base = KEYS[1]
local channels = {ARGV[1]}
if ARGV[1] == nil then
  channels = redis.call('SMEMBERS', base .. 'outbox:channels')
end
local best, best_text = nil, nil
for _, channel in ipairs(channels) do
  local first = redis.call('ZRANGE', base .. 'outbox:due:' .. channel, 0, 0, 'WITHSCORES')
  if first[2] and (best == nil or tonumber(first[2]) < best) then
    best, best_text = tonumber(first[2]), first[2]
  end
end
return best_text
"""

# Returns the channels that have pending entries.
PENDING_CHANNELS = r"""
local base = KEYS[1]
local found = {}
for _, channel in ipairs(redis.call('SMEMBERS', base .. 'outbox:channels')) do
  if redis.call('ZCARD', base .. 'outbox:due:' .. channel) > 0 then
    table.insert(found, channel)
  end
end
return found
"""
