"""Lua scripts that make each state transition atomic on the Redis server.

Atomicity is what gives the guarantees: "never run twice" needs check-terminal-and-lease in
one step, and "ack only after the terminal state is stored" needs store-and-ack in one step
(a pipeline alone would still ack when the store command fails). Every key a script touches
carries the stream's hash tag, so each call stays in one Redis Cluster slot. The optional
trailing keys (the first layout's `prediction:<id>` names) are passed on standalone Redis only.
"""

from __future__ import annotations

_IS_TERMINAL = """
local function is_terminal(key)
  local raw = redis.call('GET', key)
  if not raw then return false end
  local ok, state = pcall(cjson.decode, raw)
  if not ok or type(state) ~= 'table' then return false end
  local s = state['status']
  return s == 'succeeded' or s == 'failed' or s == 'canceled'
end
"""

# -> 'done' (terminal state exists), 'busy' (another live run holds the lease),
#    'canceled' (a cancel request is waiting), 'run' (lease taken: go)
_BEGIN = """
local function begin(state, lease, cancel, legacy_state, legacy_cancel, token, lease_ms)
  if is_terminal(state) or (legacy_state and is_terminal(legacy_state)) then return 'done' end
  local holder = redis.call('GET', lease)
  if holder and holder ~= token then return 'busy' end
  redis.call('SET', lease, token, 'PX', lease_ms)
  if redis.call('EXISTS', cancel) == 1 then return 'canceled' end
  if legacy_cancel and redis.call('EXISTS', legacy_cancel) == 1 then return 'canceled' end
  return 'run'
end
"""

# KEYS: state, lease, cancel [, legacy state, legacy cancel]   ARGV: lease token, lease ms
BEGIN = (
    _IS_TERMINAL
    + _BEGIN
    + """
return begin(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], ARGV[2])
"""
)

# KEYS: queue stream
# ARGV: group, consumer, min idle ms, autoclaim cursor, count, read new (0/1), lease ms,
#       key prefix, legacy (0/1), then the ids of the entries this consumer holds
# One round trip per read: refresh our own entries (so a late heartbeat never makes XAUTOCLAIM
# re-take and re-count them), adopt entries idle for a visibility timeout FIRST, fill the rest
# with new entries, and begin every entry that names its prediction in an `id` field (entries
# without one are begun by the worker once it has parsed the request).
# A reclaimed entry found `busy` keeps its delivery count: --max-deliveries counts workers that
# died holding an entry, not reclaims that raced a lease by a millisecond.
# -> {next cursor, number reclaimed, entries, delivery counts of the reclaimed, verdicts}
TAKE = (
    _IS_TERMINAL
    + _BEGIN
    + """
local stream, group, consumer = KEYS[1], ARGV[1], ARGV[2]
local count = tonumber(ARGV[5])
local prefix, legacy = ARGV[8], ARGV[9] == '1'
if #ARGV > 9 then
  redis.call('XCLAIM', stream, group, consumer, 0, unpack(ARGV, 10), 'JUSTID')
end
local entries, deliveries = {}, {}
local claim = redis.call('XAUTOCLAIM', stream, group, consumer, ARGV[3], ARGV[4], 'COUNT', count)
for _, e in ipairs(claim[2]) do
  if e[2] then  -- 6.2 returns deleted entries without fields
    entries[#entries + 1] = e
    local p = redis.call('XPENDING', stream, group, e[1], e[1], 1)
    deliveries[#deliveries + 1] = p[1] and p[1][4] or 0
  end
end
local reclaimed = #entries
if ARGV[6] == '1' and reclaimed < count then
  local r = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count - reclaimed,
                       'STREAMS', stream, '>')
  if r then for _, e in ipairs(r[1][2]) do entries[#entries + 1] = e end end
end
local verdicts = {}
for i, e in ipairs(entries) do
  local f, pid = e[2], nil
  for j = 1, #f, 2 do
    if f[j] == 'id' then pid = f[j + 1]; break end
  end
  if pid then
    local key = prefix .. pid
    local ls, lc = nil, nil
    if legacy then ls, lc = 'prediction:' .. pid, 'prediction:' .. pid .. ':cancel' end
    verdicts[i] = begin(key, key .. ':lease', key .. ':cancel', ls, lc, consumer .. '/' .. e[1], ARGV[7])
    if verdicts[i] == 'busy' and i <= reclaimed then
      -- Idle for a visibility timeout, yet its lease lives (a late heartbeat, or the holder died
      -- less than a lease ago): no worker died holding this delivery, so take back the count
      -- XAUTOCLAIM added, and age the entry so it is reclaimable the moment that lease lapses.
      local left = math.max(redis.call('PTTL', key .. ':lease'), 0)
      deliveries[i] = math.max(deliveries[i] - 1, 1)
      redis.call('XCLAIM', stream, group, consumer, 0, e[1], 'IDLE', math.max(tonumber(ARGV[3]) - left, 0),
                 'RETRYCOUNT', deliveries[i], 'JUSTID')
    end
  else
    verdicts[i] = ''
  end
end
return {claim[1], reclaimed, entries, deliveries, verdicts}
"""
)

# KEYS: state, events   ARGV: state json, ttl s, events maxlen, event name
# A non-terminal update never overwrites a terminal state (a late write from a presumed-dead
# worker must not resurrect a finished prediction).
UPDATE = (
    _IS_TERMINAL
    + """
if is_terminal(KEYS[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'event', ARGV[4], 'state', ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
"""
)

# KEYS: state, events, lease, queue stream [, legacy state]
# ARGV: state json, ttl s, maxlen, group, entry id, token
# The first terminal state wins; the entry is acked in the same step, never before.
FINISH = (
    _IS_TERMINAL
    + """
local stored = 0
if not is_terminal(KEYS[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'event', 'completed', 'state', ARGV[1])
  redis.call('EXPIRE', KEYS[2], ARGV[2])
  if KEYS[5] then redis.call('SET', KEYS[5], ARGV[1], 'EX', ARGV[2]) end
  stored = 1
end
if redis.call('GET', KEYS[3]) == ARGV[6] then redis.call('DEL', KEYS[3]) end
redis.call('XACK', KEYS[4], ARGV[4], ARGV[5])
return stored
"""
)

# KEYS: lease, queue stream   ARGV: group, entry id, token
# Ack an entry whose prediction is already terminal, releasing our lease if we hold it.
ACK = """
if redis.call('GET', KEYS[1]) == ARGV[3] then redis.call('DEL', KEYS[1]) end
return redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
"""

# KEYS: lease   ARGV: token — give the lease back without finishing (the entry goes to another worker)
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
