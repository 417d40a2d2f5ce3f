"""Lua scripts that make each state transition atomic on the Redis server.

Atomicity is what gives the guarantees: "never run twice" needs check-terminal-and-lease in
one step, and "ack only after the terminal state is stored" needs store-and-ack in one step
(a pipeline alone would still ack when the store command fails).
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

# KEYS: state, lease, cancel   ARGV: lease token, lease ms
# -> 'done' (terminal state exists), 'busy' (another live run holds the lease),
#    'canceled' (a cancel request is waiting), 'run' (lease taken: go)
BEGIN = (
    _IS_TERMINAL
    + """
if is_terminal(KEYS[1]) then return 'done' end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[1] then return 'busy' end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
if redis.call('EXISTS', KEYS[3]) == 1 then return 'canceled' end
return 'run'
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

# KEYS: state, events, lease, queue stream   ARGV: state json, ttl s, maxlen, group, entry id, token
# The first terminal state wins; the entry is acked in the same step, never before.
FINISH = (
    _IS_TERMINAL
    + """
local stored = 0
if not is_terminal(KEYS[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'event', 'completed', 'state', ARGV[1])
  redis.call('EXPIRE', KEYS[2], ARGV[2])
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
