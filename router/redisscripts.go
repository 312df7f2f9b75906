package router

import "github.com/redis/go-redis/v9"

// The RedisStore's Lua scripts: one per decision, so that replicas sharing
// one Redis agree without holding a lock across the network (Redis runs a
// script alone, start to end). Keys are passed in KEYS, so the scripts
// work on a Redis Cluster too as long as every key shares the prefix's
// hash tag (the default prefix "{vox}:" is one).
//
// Data (P is the prefix):
//
//	P sessions           hash  session → pod
//	P slotid             string, INCR'd: slot ids
//	P slots:<pod>        hash  slot id → "deadline_ms|new|stamped|seq|session";
//	                     the key expires SlotTTL after its last new slot
//	P pod:<pod>          hash  the pod's last shared report: instance, seq,
//	                     prev_seq, received_ms, sessions, participants, max_sessions,
//	                     max_participants, report (JSON); expires
//	                     ReportTTL (forget-after) after the last report
//	P pods               set   pod names with a pod:<pod> hash
//	P boot               string, a random id set by the first client of an
//	                     empty Redis (see RedisStore's rebuild wait)

// slotLib is prepended to the scripts that read or write slots.
const slotLib = `
-- now_ms is the Redis server's clock in milliseconds, so replicas whose
-- clocks differ still agree on when a slot expires.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- parse splits a slot value "deadline_ms|new|stamped|seq|session"; the
-- session (an id of [A-Za-z0-9._-]) comes last. Numbers stay strings.
local function parse(v)
  return string.match(v, '^(%d+)|(%d)|(%d)|(%d+)|(.*)$')
end

-- live_load drops the expired slots of a pod's slot hash (a replica that
-- died mid-admission never released them) and counts the others: slots
-- holding a new session, and all slots (each holds a participant).
local function live_load(key, now)
  local all = redis.call('HGETALL', key)
  local sessions, participants = 0, 0
  for i = 1, #all, 2 do
    local deadline, new = parse(all[i + 1])
    if tonumber(deadline) < now then
      redis.call('HDEL', key, all[i])
    else
      participants = participants + 1
      if new == '1' then sessions = sessions + 1 end
    end
  end
  return sessions, participants
end
`

// scriptPlace is PlaceIfAbsent.
//
//	KEYS[1] sessions hash; ARGV[1] session, ARGV[2] pod
//	returns {pod the session is on, 1 if this call placed it}
var scriptPlace = redis.NewScript(`
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  return {ARGV[2], 1}
end
return {redis.call('HGET', KEYS[1], ARGV[1]), 0}
`)

// scriptMove is MoveIfStill.
//
//	KEYS[1] sessions hash; ARGV[1] session, ARGV[2] from, ARGV[3] to
//	returns {pod the session is on ("" if none), 1 if this call moved it}
var scriptMove = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur ~= ARGV[2] then
  return {cur or '', 0}
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return {ARGV[3], 1}
`)

// scriptDelete is DeleteIfStill.
//
//	KEYS[1] sessions hash; ARGV[1] session, ARGV[2] pod
//	returns 1 if this call removed the mapping
var scriptDelete = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then
  return 0
end
return redis.call('HDEL', KEYS[1], ARGV[1])
`)

// scriptReserve is Reserve: the choice of the pod and the slot taken on
// it are one step, so two replicas never both take a pod's last room.
//
//	KEYS[1] slotid; then per candidate i: KEYS[2i] its slot hash,
//	        KEYS[2i+1] its shared report hash
//	ARGV[1] session, ARGV[2] slot TTL ms, ARGV[3] "1": a candidate must
//	        have a shared report (its load is taken from there); then per
//	        candidate 5 values: pod, sessions, participants, max sessions,
//	        max participants (the replica's own view of its last report)
//	returns {pod, slot id}, or nil when no candidate has room
//
// The rule is MemStore's pick: the fullest by share of participants in
// use, then of sessions, then the first name; the candidates come sorted
// by name, so a tie keeps the earlier one (Lua's string order follows the
// server's locale, Go's does not: no string comparison here).
var scriptReserve = redis.NewScript(slotLib + `
local now = now_ms()
local ttl = tonumber(ARGV[2])
local need_shared = ARGV[3] == '1'
local best, best_p, best_s = nil, 0, 0
for i = 1, (#KEYS - 1) / 2 do
  local a = 3 + (i - 1) * 5
  local pod = ARGV[a + 1]
  local s, p = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local max_s, max_p = tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5])
  -- The latest shared report of the pod, whichever replica received it,
  -- is newer than (or as new as) this replica's view: its counts are the
  -- ones the settled slots were checked against (see scriptSettle).
  local shared = redis.call('HMGET', KEYS[2 * i + 1], 'sessions', 'participants', 'max_sessions', 'max_participants')
  local usable = true
  if shared[1] then
    s, p = tonumber(shared[1]), tonumber(shared[2])
    max_s, max_p = tonumber(shared[3]), tonumber(shared[4])
  elseif need_shared then
    usable = false -- no report since Redis was emptied: its load is unknown
  end
  if usable then
    local ps, pp = live_load(KEYS[2 * i], now)
    s, p = s + ps, p + pp
    if s < max_s and p < max_p then
      local fp, fs = p / max_p, s / max_s
      if best == nil or fp > best_p or (fp == best_p and fs > best_s) then
        best, best_p, best_s = i, fp, fs
      end
    end
  end
end
if best == nil then
  return nil
end
local id = redis.call('INCR', KEYS[1])
local key = KEYS[2 * best]
redis.call('HSET', key, id, (now + ttl) .. '|1|0|0|' .. ARGV[1])
redis.call('PEXPIRE', key, ttl)
return {ARGV[3 + (best - 1) * 5 + 1], id}
`)

// scriptJoin is Join: a participant slot, never refused.
//
//	KEYS[1] slotid, KEYS[2] the pod's slot hash
//	ARGV[1] session, ARGV[2] slot TTL ms
//	returns the slot id
var scriptJoin = redis.NewScript(slotLib + `
local now = now_ms()
local ttl = tonumber(ARGV[2])
local id = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[2], id, (now + ttl) .. '|0|0|0|' .. ARGV[1])
redis.call('PEXPIRE', KEYS[2], ttl)
return id
`)

// scriptStamp is Stamp: the slot now waits for a report built after the
// latest report received of its pod. That seq is the highest of the
// caller's and the shared one: a replica that did not receive the pod's
// latest report itself must not stamp lower than the one that did
// (a lower seq would settle the slot before a report shows it).
//
//	KEYS[1] the pod's slot hash, KEYS[2] the pod's shared report hash
//	ARGV[1] slot id, ARGV[2] the caller's seq
//	returns 1 if the slot was there
var scriptStamp = redis.NewScript(slotLib + `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then
  return 0
end
local deadline, new, _, _, session = parse(v)
local seq = ARGV[2]
local shared = redis.call('HGET', KEYS[2], 'seq')
if shared and tonumber(shared) > tonumber(seq) then
  seq = shared
end
redis.call('HSET', KEYS[1], ARGV[1], deadline .. '|' .. new .. '|1|' .. seq .. '|' .. session)
return 1
`)

// scriptSettle is Settle: it drops the pod's stamped slots whose seq is
// below ARGV[1] (a report built after that seq was received shows them)
// and its expired slots, and returns the settled ones. With a shared
// report, before is at most the seq that report replaced: if sharing the
// previous report failed (Redis down a moment), a replica may have
// stamped a slot with an older seq than the caller's registry has, and
// only the shared seqs bound what the stamps can be.
//
//	KEYS[1] the pod's slot hash, KEYS[2] the pod's shared report hash
//	ARGV[1] before
//	returns {id, value, id, value, ...}
var scriptSettle = redis.NewScript(slotLib + `
local now = now_ms()
local before = tonumber(ARGV[1])
local prev = redis.call('HGET', KEYS[2], 'prev_seq')
if prev and tonumber(prev) < before then
  before = tonumber(prev)
end
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  local deadline, _, stamped, seq = parse(all[i + 1])
  if tonumber(deadline) < now then
    redis.call('HDEL', KEYS[1], all[i])
  elseif stamped == '1' and tonumber(seq) < before then
    redis.call('HDEL', KEYS[1], all[i])
    out[#out + 1] = all[i]
    out[#out + 1] = all[i + 1]
  end
end
return out
`)

// scriptPending is Pending: the pod's live slots (expired ones dropped).
//
//	KEYS[1] the pod's slot hash
//	returns {id, value, id, value, ...}
var scriptPending = redis.NewScript(slotLib + `
local now = now_ms()
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  local deadline = parse(all[i + 1])
  if tonumber(deadline) < now then
    redis.call('HDEL', KEYS[1], all[i])
  else
    out[#out + 1] = all[i]
    out[#out + 1] = all[i + 1]
  end
end
return out
`)

// scriptShare is ShareReport: it keeps a pod's report unless the one
// stored is of the same instance with a seq as high (two replicas may
// receive the same pod's reports, out of order).
//
//	KEYS[1] pods set, KEYS[2] the pod's report hash
//	ARGV[1] pod, [2] instance, [3] seq, [4] received_ms, [5] sessions,
//	[6] participants, [7] max sessions, [8] max participants,
//	[9] report JSON, [10] TTL ms
//	returns 1 if stored
var scriptShare = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[2], 'instance', 'seq')
if cur[1] == ARGV[2] and cur[2] and tonumber(cur[2]) >= tonumber(ARGV[3]) then
  return 0
end
-- prev_seq: the seq this report replaces (0 for a new instance), the
-- highest a Settle after it may use (see scriptSettle).
local prev = '0'
if cur[1] == ARGV[2] and cur[2] then prev = cur[2] end
redis.call('HSET', KEYS[2], 'instance', ARGV[2], 'seq', ARGV[3], 'prev_seq', prev, 'received_ms', ARGV[4],
  'sessions', ARGV[5], 'participants', ARGV[6], 'max_sessions', ARGV[7], 'max_participants', ARGV[8],
  'report', ARGV[9])
redis.call('PEXPIRE', KEYS[2], ARGV[10])
redis.call('SADD', KEYS[1], ARGV[1])
return 1
`)

// scriptPrunePods removes from the pods set the names whose report hash
// expired (checked and removed in one step, so a report stored meanwhile
// keeps its name). It builds the hashes' names from the prefix rather
// than taking them in KEYS (it cannot know them before): fine on one
// Redis, and on a Cluster the prefix's hash tag keeps them on one node.
//
//	KEYS[1] pods set; ARGV[1] the prefix of the report hashes
//	returns the number removed
var scriptPrunePods = redis.NewScript(`
local n = 0
for _, name in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. name) == 0 then
    redis.call('SREM', KEYS[1], name)
    n = n + 1
  end
end
return n
`)

// scriptPlaceAll is PlaceAllIfAbsent: a report's sessions mapped to its
// pod when they are not mapped yet, in one step instead of one call each.
//
//	KEYS[1] sessions hash; ARGV[1] pod, ARGV[2..] sessions
//	returns per session {pod it is on, 1 if this call placed it}
var scriptPlaceAll = redis.NewScript(`
local out = {}
for i = 2, #ARGV do
  if redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[1]) == 1 then
    out[#out + 1] = {ARGV[1], 1}
  else
    out[#out + 1] = {redis.call('HGET', KEYS[1], ARGV[i]), 0}
  end
end
return out
`)
