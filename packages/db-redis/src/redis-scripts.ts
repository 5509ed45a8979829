/**
 * The Lua scripts behind every write. Each one touches the keys of a single hash tag (one session,
 * one index, one user or one memory id), so each is valid on Redis Cluster, and each is atomic:
 * all reads and every write that can fail come before the first write, so a script that errors
 * has written nothing. (`ACQUIRE_LEASE_READ` reads after its write on purpose and undoes the
 * write itself when the read fails.)
 *
 * Scripts answer with a status word first (`ok`, `dup`, `late`, `gone`, `lease`, `owner`,
 * `missing`, `corrupt`) instead of raising errors, so the caller maps each outcome to its
 * `BuddyError` and can repair indexes. Numbers travel as strings: Lua would print large ones in
 * exponent form. Session writes also answer with the server's clock (`TIME`, in ms), and refuse
 * to write after a deadline taken from that clock (see `redis-write-deadline.ts`).
 *
 * The one exception to "one hash tag": `withIndexRaise` variants, sent only to a standalone
 * server, also raise the session's listing-index entries before the write.
 */
import { type LuaScript, luaScript } from './redis-connection.ts';

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
  'incarnation',
  'metadata',
  'pending_run',
] as const;

/** `SESSION_FIELDS` as Lua arguments of `HMGET`, so scripts read the same fields in the same order. */
const SESSION_FIELDS_LUA = SESSION_FIELDS.map((field) => `'${field}'`).join(', ');

/** Lua helpers: the server clock in ms, integers as text, "the later of two times". */
const HELPERS = `
local function server_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function int(value) return string.format('%d', value) end
local function later(previous, now)
  if previous and tonumber(previous) and tonumber(previous) > tonumber(now) then return previous end
  return now
end`;

/**
 * Appends one run: idempotency by run id, deadline, fencing, ownership, create-if-missing, RPUSH,
 * version, state, name, TTL, and (0.2) metadata at creation and clearing the paused run. Cost does not depend on the history length (HGET, LLEN and RPUSH are
 * O(1)); history is never read.
 *
 * A run id already stored answers `dup` with that append's result (a resent command, or a retry
 * of a write whose reply was lost, stores nothing twice). Past the deadline (server clock) it
 * writes nothing and answers `late`. With a lease token and the release flag, a successful append
 * also deletes the lease (the fencing check already proved the key holds that token).
 *
 * A run's index is its list position plus `runs_pruned` (the runs `prune` dropped from the front of
 * the list; absent = 0), so indexes keep counting after pruning.
 *
 * KEYS: session hash, runs list, lease, run ids.
 * ARGV: 1 lease token ('' = no fencing), 2 has user ('1'/'0'), 3 user id, 4 agent id ('' = none),
 *       5 has name, 6 name, 7 state JSON (also the run's `stateAfter`: sent once), 8 the run's
 *       JSON after `{"index":N,"stateAfter":<state>` (it starts with a comma), 9 now (ms, writer's
 *       clock), 10 ttl seconds ('0'), 11 release the lease ('1'/'0'), 12 run id,
 *       13 incarnation for a new session, 14 deadline (server ms, '0' = none), 15 metadata JSON
 *       for a new session ('' = none), 16 clear the paused run ('1'/'0').
 * Returns {'ok', index, version, updated_at, owner, agent, released, server ms, created},
 * {'dup', 'index:version:updated_at', server ms}, or
 * {'late'|'lease'|'owner', owner, agent, updated_at, server ms}.
 */
export const APPEND_RUN = luaScript(
  'append_run',
  4,
  `${HELPERS}
local server = server_ms()
local done = redis.call('HGET', KEYS[4], ARGV[12])
if done then return {'dup', done, int(server)} end
local exists = redis.call('EXISTS', KEYS[1]) == 1
local owner, agent, previous, pruned = false, false, false, false
if exists then
  local current = redis.call('HMGET', KEYS[1], 'user_id', 'agent_id', 'updated_at', 'runs_pruned')
  owner, agent, previous, pruned = current[1], current[2], current[3], current[4]
end
local deadline = tonumber(ARGV[14])
if deadline > 0 and server > deadline then
  return {'late', owner, agent, previous, int(server)}
end
if ARGV[1] ~= '' and redis.call('GET', KEYS[3]) ~= ARGV[1] then
  return {'lease', owner, agent, previous, int(server)}
end
if exists and ARGV[2] == '1' and owner ~= ARGV[3] then
  return {'owner', owner, agent, previous, int(server)}
end
local now = ARGV[9]
local index, version, updated
if exists then
  index = redis.call('LLEN', KEYS[2]) + (tonumber(pruned) or 0)
  version = redis.call('HINCRBY', KEYS[1], 'version', 1)
  updated = later(previous, now)
  redis.call('HSET', KEYS[1], 'state', ARGV[7], 'updated_at', updated, 'run_count', index + 1)
  if ARGV[5] == '1' then redis.call('HSET', KEYS[1], 'name', ARGV[6]) end
  if ARGV[16] == '1' then redis.call('HDEL', KEYS[1], 'pending_run') end
else
  -- Runs left behind by a session hash that is gone (it expired first) are not this session's.
  redis.call('DEL', KEYS[2], KEYS[4])
  index, version, updated = 0, 1, now
  redis.call('HSET', KEYS[1], 'state', ARGV[7], 'version', 1, 'run_count', 1,
    'created_at', now, 'updated_at', now, 'incarnation', ARGV[13])
  if ARGV[2] == '1' then
    redis.call('HSET', KEYS[1], 'user_id', ARGV[3])
    owner = ARGV[3]
  end
  if ARGV[4] ~= '' then
    redis.call('HSET', KEYS[1], 'agent_id', ARGV[4])
    agent = ARGV[4]
  end
  if ARGV[5] == '1' then redis.call('HSET', KEYS[1], 'name', ARGV[6]) end
  if ARGV[15] ~= '' then redis.call('HSET', KEYS[1], 'metadata', ARGV[15]) end
end
redis.call('RPUSH', KEYS[2], '{"index":' .. int(index) .. ',"stateAfter":' .. ARGV[7] .. ARGV[8])
redis.call('HSET', KEYS[4], ARGV[12], int(index) .. ':' .. int(version) .. ':' .. updated)
local ttl = tonumber(ARGV[10])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
  redis.call('EXPIRE', KEYS[4], ttl)
end
local released = '0'
if ARGV[1] ~= '' and ARGV[11] == '1' then
  redis.call('DEL', KEYS[3])
  released = '1'
end
local created = '1'
if exists then created = '0' end
return {'ok', int(index), int(version), updated, owner, agent, released, int(server), created}
`,
);

/**
 * What became of an append whose reply never came: whether its run id is stored, and the server's
 * clock (past the append's deadline, a run id that is not stored never will be).
 * KEYS: run ids. ARGV: run id. Returns {server ms, 'index:version:updated_at' or false}.
 */
export const APPEND_OUTCOME = luaScript(
  'append_outcome',
  1,
  `${HELPERS}
return {int(server_ms()), redis.call('HGET', KEYS[1], ARGV[1])}
`,
);

/**
 * Creates a session or patches the given fields. The summary is replaced only when its
 * `runsCovered` is at least the stored one's (kept in `summary_runs`, compared here, atomically).
 * With an expected incarnation it writes only into that incarnation and never creates. With a
 * lease token it writes only while the lease key holds that token (fencing, as in `APPEND_RUN`).
 * Metadata is replaced whole; the paused run is set, cleared, or left alone.
 *
 * KEYS: session hash, runs list, run ids, lease.
 * ARGV: 1 has user, 2 user id, 3 agent id ('' = none), 4 has name, 5 name, 6 has state,
 *       7 state JSON, 8 has summary, 9 summary JSON, 10 summary runsCovered, 11 now, 12 ttl
 *       seconds, 13 expected incarnation ('' = any), 14 incarnation for a new session,
 *       15 deadline (server ms, '0' = none), 16 has metadata, 17 metadata JSON, 18 paused run
 *       ('set' | 'clear' | '' = leave), 19 paused run JSON, 20 lease token ('' = no fencing),
 *       21 restored created_at ('' = none: the write time), 22 restored updated_at.
 * With restored times (an import) `created_at` / `updated_at` are set to them; a hash from
 * before incarnations first gets the incarnation it reads as (`legacy:<old created_at>`).
 * Returns {'ok', created, ...SESSION_FIELDS values} or
 * {'owner'|'gone'|'lease'|'late', owner, agent, updated_at, server ms}.
 */
export const UPSERT_SESSION = luaScript(
  'upsert_session',
  4,
  `${HELPERS}
local server = server_ms()
local exists = redis.call('EXISTS', KEYS[1]) == 1
local now = ARGV[11]
local current = {false, false, false, false, false, false, false}
if exists then
  current = redis.call('HMGET', KEYS[1], 'user_id', 'agent_id', 'updated_at', 'summary_runs',
    'summary', 'incarnation', 'created_at')
end
local deadline = tonumber(ARGV[15])
if deadline > 0 and server > deadline then
  return {'late', current[1], current[2], current[3], int(server)}
end
if ARGV[13] ~= '' then
  local incarnation = current[6] or ('legacy:' .. tostring(current[7]))
  if not exists or incarnation ~= ARGV[13] then
    return {'gone', current[1], current[2], current[3], int(server)}
  end
end
if exists and ARGV[1] == '1' and current[1] ~= ARGV[2] then
  return {'owner', current[1], current[2], current[3], int(server)}
end
if ARGV[20] ~= '' and redis.call('GET', KEYS[4]) ~= ARGV[20] then
  return {'lease', current[1], current[2], current[3], int(server)}
end
if exists then
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
  redis.call('DEL', KEYS[2], KEYS[3])
  local state = '{}'
  if ARGV[6] == '1' then state = ARGV[7] end
  redis.call('HSET', KEYS[1], 'state', state, 'version', 1, 'run_count', 0,
    'created_at', now, 'updated_at', now, 'incarnation', ARGV[14])
  if ARGV[1] == '1' then redis.call('HSET', KEYS[1], 'user_id', ARGV[2]) end
  if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'agent_id', ARGV[3]) end
  if ARGV[4] == '1' then redis.call('HSET', KEYS[1], 'name', ARGV[5]) end
  if ARGV[8] == '1' then redis.call('HSET', KEYS[1], 'summary', ARGV[9], 'summary_runs', ARGV[10]) end
end
if ARGV[16] == '1' then redis.call('HSET', KEYS[1], 'metadata', ARGV[17]) end
if ARGV[18] == 'set' then redis.call('HSET', KEYS[1], 'pending_run', ARGV[19]) end
if ARGV[18] == 'clear' then redis.call('HDEL', KEYS[1], 'pending_run') end
if ARGV[21] ~= '' then
  if exists and not current[6] then
    redis.call('HSET', KEYS[1], 'incarnation', 'legacy:' .. tostring(current[7]))
  end
  redis.call('HSET', KEYS[1], 'created_at', ARGV[21], 'updated_at', ARGV[22])
end
local ttl = tonumber(ARGV[12])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
  redis.call('EXPIRE', KEYS[3], ttl)
end
local record = redis.call('HMGET', KEYS[1], ${SESSION_FIELDS_LUA})
local created = '0'
if not exists then created = '1' end
table.insert(record, 1, created)
table.insert(record, 1, 'ok')
return record
`,
);

/**
 * Deletes a session's hash, runs, run ids and lease. With a user id, only when that user owns it.
 * A session key of the wrong type (not a hash) has no readable owner: it is deleted without a
 * user id, or when the caller found it in that user's index (`trusted index` = '1'); otherwise
 * the answer is `corrupt`.
 *
 * KEYS: session hash, runs list, lease, run ids. ARGV: has user, user id, trusted index.
 * Returns {'deleted', owner, agent, updated_at}, {'missing'}, {'corrupt'} or
 * {'owner', owner, agent, updated_at}.
 */
export const DELETE_SESSION = luaScript(
  'delete_session',
  4,
  `
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind == 'none' then
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
  return {'missing'}
end
if kind ~= 'hash' then
  if ARGV[1] == '1' and ARGV[3] ~= '1' then return {'corrupt'} end
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
  return {'deleted', false, false, false}
end
local current = redis.call('HMGET', KEYS[1], 'user_id', 'agent_id', 'updated_at')
if ARGV[1] == '1' and current[1] ~= ARGV[2] then
  return {'owner', current[1], current[2], current[3]}
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
return {'deleted', current[1], current[2], current[3]}
`,
);

/**
 * Reads runs by index (`getRuns({ fromIndex, limit })`): list positions are indexes minus
 * `runs_pruned` (runs `prune` dropped from the front of the list). `getRuns({ last })` needs no
 * offset and stays a plain `LRANGE`. A session key that is not a hash counts as never pruned.
 *
 * KEYS: session hash, runs list. ARGV: from index, limit ('-1' = to the end).
 * Returns the stored run JSON texts, in index order.
 */
export const GET_RUNS = luaScript(
  'get_runs',
  2,
  `
local pruned = redis.pcall('HGET', KEYS[1], 'runs_pruned')
local base = 0
if type(pruned) == 'string' then base = tonumber(pruned) or 0 end
local from, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local start = from - base
if start < 0 then start = 0 end
local stop = -1
if limit >= 0 then
  stop = from + limit - 1 - base
  if stop < start then return {} end
end
return redis.call('LRANGE', KEYS[2], string.format('%d', start), string.format('%d', stop))
`,
);

/**
 * Retention for one session (`prune`, SPEC §15.2), decided on the stored fields, never on the
 * index entry that led here (it may be stale): a session whose `updated_at` is before `olderThan`
 * is deleted with its runs, run ids and lease; otherwise, with `keepLastRuns`, the runs before
 * `min(run_count - keepLastRuns, summary runsCovered)` are dropped from the front of the list
 * (`LTRIM`) and counted in `runs_pruned`. Trimming changes neither `updated_at` nor `version`, so
 * no index moves. Run ids stay in `i:{id}`: a resent append of a pruned run is still answered,
 * never stored again. Past the deadline it writes nothing (`late`).
 *
 * KEYS: session hash, runs list, lease, run ids.
 * ARGV: 1 has user, 2 user id, 3 olderThan ms ('' = none), 4 keepLastRuns ('' = none),
 *       5 deadline (server ms, '0' = none).
 * Returns {'deleted'|'kept', owner, agent, updated_at, runs deleted}, {'owner'|'late', owner,
 * agent, updated_at}, {'missing'} or {'corrupt', reason}.
 */
export const PRUNE_SESSION = luaScript(
  'prune_session',
  4,
  `${HELPERS}
local server = server_ms()
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind == 'none' then return {'missing'} end
if kind ~= 'hash' then return {'corrupt', 'the session key holds a ' .. kind .. ', not a hash'} end
local c = redis.call('HMGET', KEYS[1], 'user_id', 'agent_id', 'updated_at', 'run_count',
  'summary_runs', 'summary', 'runs_pruned')
if ARGV[1] == '1' and c[1] ~= ARGV[2] then return {'owner', c[1], c[2], c[3]} end
local updated = tonumber(c[3])
if not updated then return {'corrupt', 'its updated_at is not a number'} end
local deadline = tonumber(ARGV[5])
if deadline > 0 and server > deadline then return {'late', c[1], c[2], c[3]} end
local runs = redis.pcall('LLEN', KEYS[2])
if type(runs) ~= 'number' then return {'corrupt', 'the runs key is not a list'} end
if ARGV[3] ~= '' and updated < tonumber(ARGV[3]) then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
  return {'deleted', c[1], c[2], c[3], int(runs)}
end
if ARGV[4] == '' then return {'kept', c[1], c[2], c[3], '0'} end
local count = tonumber(c[4])
if not count then return {'corrupt', 'its run_count is not a number'} end
local first = count - tonumber(ARGV[4])
local covered = c[6] and tonumber(c[5])
if covered and covered < first then first = covered end
local base = tonumber(c[7]) or 0
local drop = math.min(runs, math.max(0, first - base))
if drop > 0 then
  redis.call('LTRIM', KEYS[2], int(drop), -1)
  redis.call('HSET', KEYS[1], 'runs_pruned', int(base + drop))
end
return {'kept', c[1], c[2], c[3], int(drop)}
`,
);

/** Lua: take the lease, or say why not (`busy`, or `corrupt` for a key of another type). */
const TAKE_LEASE = `
local server = int(server_ms())
if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then
  local kind = redis.call('TYPE', KEYS[1])['ok']
  if kind ~= 'string' and kind ~= 'none' then
    return {'corrupt', 'the lease key holds a ' .. kind .. ', not a lease token'}
  end
  return {'busy', server}
end`;

/**
 * Takes a lease (`SET NX PX` with a token) and reports the server's clock.
 * KEYS: lease. ARGV: token, ttl ms. Returns {'ok', server ms}, {'busy', server ms} or
 * {'corrupt', reason}.
 */
export const ACQUIRE_LEASE = luaScript(
  'acquire_lease',
  1,
  `${HELPERS}
${TAKE_LEASE}
return {'ok', server}
`,
);

/**
 * Takes a lease and reads the session in the same step (`acquireLease({ readSession: true })`).
 * The hash is read only once the lease is taken, so waiting callers do not copy a large state
 * on every retry. The read can fail after the lease was written (a session key of the wrong
 * type): the script then deletes the lease again and reports it, so nothing stays held.
 *
 * KEYS: lease, session hash (same hash tag). ARGV: token, ttl ms.
 * Returns {'ok', server ms, ...SESSION_FIELDS values}, {'busy', server ms} or
 * {'corrupt', error text}.
 */
export const ACQUIRE_LEASE_READ = luaScript(
  'acquire_lease_read',
  2,
  `${HELPERS}
${TAKE_LEASE}
local record = redis.pcall('HMGET', KEYS[2], ${SESSION_FIELDS_LUA})
if record.err then
  redis.call('DEL', KEYS[1])
  return {'corrupt', record.err}
end
table.insert(record, 1, server)
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

/**
 * Compare-and-delete: releases a lease only while it still holds `token` (a key of another type
 * is not this holder's lease: left alone). KEYS: lease. ARGV: token.
 */
export const RELEASE_LEASE = luaScript(
  'release_lease',
  1,
  `
local current = redis.pcall('GET', KEYS[1])
if current == ARGV[1] then
  return redis.call('DEL', KEYS[1])
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
 * Writes a memory row, keeping the stored `createdAt` of an existing row, and its embedding in the
 * same step (both hashes carry the user's tag): the given one, or none (an upsert without one
 * drops a stale vector). The row is assembled as `{"createdAt":<n>` + the rest of the JSON, so Lua
 * never re-encodes the caller's JSON.
 * KEYS: the user's memory hash, the user's embedding hash. ARGV: id, JSON after createdAt
 * (starting with ','), createdAt text, embedding bytes ('' = none).
 * Returns {'ok', createdAt text}, {'corrupt', stored row} or {'corrupt-vectors', reason} (checked
 * before anything is written).
 */
export const PUT_MEMORY = luaScript(
  'put_memory',
  2,
  `
local kind = redis.call('TYPE', KEYS[2])['ok']
if kind ~= 'none' and kind ~= 'hash' then
  return {'corrupt-vectors', 'the embeddings key holds a ' .. kind .. ', not a hash'}
end
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
if ARGV[4] == '' then
  redis.call('HDEL', KEYS[2], ARGV[1])
else
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
end
return {'ok', created}
`,
);

/**
 * Deletes memory rows with their embeddings, in one step. KEYS: the user's memory hash, the user's
 * embedding hash. ARGV: the ids. Returns how many rows were deleted.
 */
export const DELETE_MEMORIES = luaScript(
  'delete_memories',
  2,
  `
redis.call('HDEL', KEYS[2], unpack(ARGV))
return redis.call('HDEL', KEYS[1], unpack(ARGV))
`,
);

/**
 * The rows without an embedding of a given size (`readMemories({ missingEmbedding })`): compares
 * each row's embedding length (`HSTRLEN`) without moving the vectors. KEYS: the user's memory
 * hash, the user's embedding hash. ARGV: the wanted size in bytes. Returns {id, row, ...}.
 */
export const MEMORIES_MISSING_EMBEDDING = luaScript(
  'memories_missing_embedding',
  2,
  `
local rows = redis.call('HGETALL', KEYS[1])
local wanted = tonumber(ARGV[1])
local out = {}
for position = 1, #rows, 2 do
  if redis.call('HSTRLEN', KEYS[2], rows[position]) ~= wanted then
    out[#out + 1] = rows[position]
    out[#out + 1] = rows[position + 1]
  end
end
return out
`,
);

/**
 * `script` preceded by step 1 of the listing-index protocol (`redis-session-index.ts`): for a
 * standalone server, where the index keys and the session's keys share one server, so the raise
 * and the write are one command instead of a pipeline of several (less work on both sides, and
 * no listing can see the raise without the write).
 *
 * KEYS: the script's own keys, then the index keys to raise. ARGV: the script's own values, then
 * the score, the member, the lower bound of the entries to trim ('' = none) and the keys' TTL in
 * seconds ('0' = none): what `RedisSessionIndex.raiseValues` gives. Each raise is a `pcall`, as
 * each was its own command in a pipeline: an index key of the wrong type fails its step (listing
 * reports it), never the write. The raise happens first and stays when the write is then refused,
 * as in the pipeline (the caller's reconcile step puts those entries back).
 */
export function withIndexRaise(script: LuaScript): LuaScript {
  if (script.numberOfKeys === 'variable') {
    throw new Error(`withIndexRaise needs a script with a fixed key count, not ${script.command}`);
  }
  return luaScript(
    `${script.name}_raising`,
    'variable',
    `do
  local n = #ARGV
  local score, member, trim, ttl = ARGV[n - 3], ARGV[n - 2], ARGV[n - 1], tonumber(ARGV[n])
  for i = ${script.numberOfKeys + 1}, #KEYS do
    redis.pcall('ZADD', KEYS[i], 'GT', score, member)
    if trim ~= '' then redis.pcall('ZREMRANGEBYSCORE', KEYS[i], '-inf', trim) end
    if ttl > 0 then redis.pcall('EXPIRE', KEYS[i], ttl) end
  end
end
${script.lua}`,
  );
}
