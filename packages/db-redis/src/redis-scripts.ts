/**
 * The Lua scripts behind every write. Each one touches the keys of a single hash tag (one session,
 * one index, one user or one memory id), so each is valid on Redis Cluster, and each is atomic:
 * all reads and every write that can fail come before the first write, so a script that errors
 * has written nothing. (`ACQUIRE_LEASE_READ` reads after its write on purpose and undoes the
 * write itself when the read fails.)
 *
 * Scripts answer with a status word first (`ok`, `lease`, `owner`, `missing`, `corrupt`) instead
 * of raising errors, so the caller maps each outcome to its `BuddyError` and can repair indexes.
 * Numbers travel as strings: Lua would print large ones in exponent form.
 */
import { luaScript } from './redis-connection.ts';

/** Fields of the session hash, in the order `HMGET` returns them. */
export const SESSION_FIELDS = [
  'state',
  'name',
  'summary',
  'version',
  'run_count',
  'created_at',
  'updated_at',
  'user_id',
  'agent_id',
] as const;

/** `SESSION_FIELDS` as Lua arguments of `HMGET`, so scripts read the same fields in the same order. */
const SESSION_FIELDS_LUA = SESSION_FIELDS.map((field) => `'${field}'`).join(', ');

/** Lua for "the later of the stored updated_at and now", keeping the exact stored text. */
const LATER_OF = `
local function later(previous, now)
  if previous and tonumber(previous) and tonumber(previous) > tonumber(now) then return previous end
  return now
end`;

/**
 * Appends one run: fencing, ownership, create-if-missing, RPUSH, version, state, name, TTL.
 * Cost does not depend on the history length (LLEN and RPUSH are O(1)); history is never read.
 *
 * With a lease token and the release flag, a successful append also deletes the lease (the
 * fencing check above already proved the key holds that token), sparing the turn its separate
 * release round trip.
 *
 * KEYS: session hash, runs list, lease.
 * ARGV: lease token ('' = no fencing), has user ('1'/'0'), user id, agent id ('' = none),
 *       has name, name, state JSON, run JSON after its `"index":N`, now (ms), ttl seconds ('0'),
 *       release the lease ('1'/'0', only honoured with a token).
 * Returns {'ok', index, version, updated_at, owner, agent, released ('1'/'0')} or
 * {'lease'|'owner', owner, agent, updated_at}.
 */
export const APPEND_RUN = luaScript(
  'append_run',
  3,
  `${LATER_OF}
local exists = redis.call('EXISTS', KEYS[1]) == 1
local owner, agent, previous = false, false, false
if exists then
  local current = redis.call('HMGET', KEYS[1], 'user_id', 'agent_id', 'updated_at')
  owner, agent, previous = current[1], current[2], current[3]
end
if ARGV[1] ~= '' and redis.call('GET', KEYS[3]) ~= ARGV[1] then
  return {'lease', owner, agent, previous}
end
if exists and ARGV[2] == '1' and owner ~= ARGV[3] then
  return {'owner', owner, agent, previous}
end
local now = ARGV[9]
local index, version, updated
if exists then
  index = redis.call('LLEN', KEYS[2])
  version = redis.call('HINCRBY', KEYS[1], 'version', 1)
  updated = later(previous, now)
  redis.call('HSET', KEYS[1], 'state', ARGV[7], 'updated_at', updated, 'run_count', index + 1)
  if ARGV[5] == '1' then redis.call('HSET', KEYS[1], 'name', ARGV[6]) end
else
  -- Runs left behind by a session hash that is gone (it expired first) are not this session's.
  redis.call('DEL', KEYS[2])
  index, version, updated = 0, 1, now
  redis.call('HSET', KEYS[1], 'state', ARGV[7], 'version', 1, 'run_count', 1,
    'created_at', now, 'updated_at', now)
  if ARGV[2] == '1' then
    redis.call('HSET', KEYS[1], 'user_id', ARGV[3])
    owner = ARGV[3]
  end
  if ARGV[4] ~= '' then
    redis.call('HSET', KEYS[1], 'agent_id', ARGV[4])
    agent = ARGV[4]
  end
  if ARGV[5] == '1' then redis.call('HSET', KEYS[1], 'name', ARGV[6]) end
end
redis.call('RPUSH', KEYS[2], '{"index":' .. string.format('%d', index) .. ARGV[8])
local ttl = tonumber(ARGV[10])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
end
local released = '0'
if ARGV[1] ~= '' and ARGV[11] == '1' then
  redis.call('DEL', KEYS[3])
  released = '1'
end
return {'ok', string.format('%d', index), string.format('%d', version), updated, owner, agent,
  released}
`,
);

/**
 * Creates a session or patches the given fields. The summary is replaced only when its
 * `runsCovered` is at least the stored one's (kept in `summary_runs`, compared here, atomically).
 *
 * KEYS: session hash, runs list.
 * ARGV: has user, user id, agent id ('' = none), has name, name, has state, state JSON,
 *       has summary, summary JSON, summary runsCovered, now, ttl seconds.
 * Returns {'ok', ...SESSION_FIELDS values} or {'owner', owner, agent, updated_at}.
 */
export const UPSERT_SESSION = luaScript(
  'upsert_session',
  2,
  `${LATER_OF}
local exists = redis.call('EXISTS', KEYS[1]) == 1
local now = ARGV[11]
if exists then
  local current = redis.call('HMGET', KEYS[1], 'user_id', 'agent_id', 'updated_at', 'summary_runs',
    'summary')
  if ARGV[1] == '1' and current[1] ~= ARGV[2] then
    return {'owner', current[1], current[2], current[3]}
  end
  redis.call('HINCRBY', KEYS[1], 'version', 1)
  redis.call('HSET', KEYS[1], 'updated_at', later(current[3], now))
  if ARGV[4] == '1' then redis.call('HSET', KEYS[1], 'name', ARGV[5]) end
  if ARGV[6] == '1' then redis.call('HSET', KEYS[1], 'state', ARGV[7]) end
  if ARGV[8] == '1' then
    local stored = current[4] and current[5] and tonumber(current[4])
    if not stored or tonumber(ARGV[10]) >= stored then
      redis.call('HSET', KEYS[1], 'summary', ARGV[9], 'summary_runs', ARGV[10])
    end
  end
else
  redis.call('DEL', KEYS[2])
  local state = '{}'
  if ARGV[6] == '1' then state = ARGV[7] end
  redis.call('HSET', KEYS[1], 'state', state, 'version', 1, 'run_count', 0,
    'created_at', now, 'updated_at', now)
  if ARGV[1] == '1' then redis.call('HSET', KEYS[1], 'user_id', ARGV[2]) end
  if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'agent_id', ARGV[3]) end
  if ARGV[4] == '1' then redis.call('HSET', KEYS[1], 'name', ARGV[5]) end
  if ARGV[8] == '1' then redis.call('HSET', KEYS[1], 'summary', ARGV[9], 'summary_runs', ARGV[10]) end
end
local ttl = tonumber(ARGV[12])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
end
local record = redis.call('HMGET', KEYS[1], ${SESSION_FIELDS_LUA})
table.insert(record, 1, 'ok')
return record
`,
);

/**
 * Deletes a session's hash, runs and lease. With a user id, only when that user owns it.
 *
 * KEYS: session hash, runs list, lease. ARGV: has user, user id.
 * Returns {'deleted', owner, agent, updated_at}, {'missing'} or {'owner', owner, agent, updated_at}.
 */
export const DELETE_SESSION = luaScript(
  'delete_session',
  3,
  `
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2])
  return {'missing'}
end
local current = redis.call('HMGET', KEYS[1], 'user_id', 'agent_id', 'updated_at')
if ARGV[1] == '1' and current[1] ~= ARGV[2] then
  return {'owner', current[1], current[2], current[3]}
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return {'deleted', current[1], current[2], current[3]}
`,
);

/**
 * Takes a lease and reads the session in the same step (`acquireLease({ readSession: true })`).
 * The hash is read only once the lease is taken, so waiting callers do not copy a large state
 * on every retry. The read can fail after the lease was written (a session key of the wrong
 * type): the script then deletes the lease again and reports it, so nothing stays held.
 *
 * KEYS: lease, session hash (same hash tag). ARGV: token, ttl ms.
 * Returns {'ok', ...SESSION_FIELDS values}, {'busy'} or {'corrupt', error text}.
 */
export const ACQUIRE_LEASE_READ = luaScript(
  'acquire_lease_read',
  2,
  `
if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return {'busy'} end
local record = redis.pcall('HMGET', KEYS[2], ${SESSION_FIELDS_LUA})
if record.err then
  redis.call('DEL', KEYS[1])
  return {'corrupt', record.err}
end
table.insert(record, 1, 'ok')
return record
`,
);

/** Extends a lease only while it still holds `token`. KEYS: lease. ARGV: token, ttl ms. */
export const RENEW_LEASE = luaScript(
  'renew_lease',
  1,
  `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`,
);

/** Compare-and-delete: releases a lease only while it still holds `token`. KEYS: lease. ARGV: token. */
export const RELEASE_LEASE = luaScript(
  'release_lease',
  1,
  `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`,
);

/**
 * Raises a member's score to `score` (never lowers it): `ZADD GT` for servers before 6.2, which
 * lack it (newer ones get the plain command).
 * Concurrent writers may deliver their index updates out of order; the highest one wins.
 * KEYS: sorted set. ARGV: score, member.
 */
export const INDEX_RAISE = luaScript(
  'index_raise',
  1,
  `
local current = redis.call('ZSCORE', KEYS[1], ARGV[2])
if not current or tonumber(current) < tonumber(ARGV[1]) then
  return redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
end
return 0
`,
);

/**
 * Repairs one index entry only if it still has the score the caller saw: moves it to `score`, or
 * removes it when `score` is ''. A concurrent write that moved the entry meanwhile wins.
 * KEYS: sorted set. ARGV: expected score, new score or '', member.
 */
export const INDEX_REPAIR = luaScript(
  'index_repair',
  1,
  `
local current = redis.call('ZSCORE', KEYS[1], ARGV[3])
if not current or tonumber(current) ~= tonumber(ARGV[1]) then return 0 end
if ARGV[2] == '' then return redis.call('ZREM', KEYS[1], ARGV[3]) end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
return 1
`,
);

/**
 * Claims a memory id for a user unless another user holds it. KEYS: owner key. ARGV: user id.
 * Returns the owner after the call.
 */
export const CLAIM_MEMORY_ID = luaScript(
  'claim_memory_id',
  1,
  `
local owner = redis.call('GET', KEYS[1])
if not owner then
  redis.call('SET', KEYS[1], ARGV[1])
  return ARGV[1]
end
return owner
`,
);

/** Drops a memory id's claim only if `user` holds it. KEYS: owner key. ARGV: user id. */
export const RELEASE_MEMORY_ID = luaScript(
  'release_memory_id',
  1,
  `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`,
);

/**
 * Writes a memory row, keeping the stored `createdAt` of an existing row. The row is assembled as
 * `{"createdAt":<n>` + the rest of the JSON, so Lua never re-encodes the caller's JSON.
 * KEYS: the user's memory hash. ARGV: id, JSON after createdAt (starting with ','), createdAt text.
 * Returns {'ok', createdAt text} or {'corrupt', stored row}.
 */
export const PUT_MEMORY = luaScript(
  'put_memory',
  1,
  `
local created = ARGV[3]
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if stored then
  local ok, row = pcall(cjson.decode, stored)
  if not ok or type(row) ~= 'table' or type(row.createdAt) ~= 'number' then
    return {'corrupt', stored}
  end
  created = string.format('%.17g', row.createdAt)
end
redis.call('HSET', KEYS[1], ARGV[1], '{"createdAt":' .. created .. ARGV[2])
return {'ok', created}
`,
);
