/**
 * `RedisStorage`: the `SessionStorage` contract on plain Redis 6+ (no modules), through ioredis.
 *
 * Connection ownership: pass `client` and you keep it (`close()` never quits it); pass `url` (or
 * nothing) and the storage creates a lazily connecting client that it closes in `close()`.
 *
 * Layout (see the README for the full table): per session a hash `s:{id}`, a run list `r:{id}`
 * and a lease string `l:{id}`, all with the session id as hash tag, so each per-session Lua script
 * stays inside one Cluster slot. Listing uses sorted sets (`u:{user}`, `a:{agent}`, `all`) with
 * score = updatedAt. Those live in other slots, so they cannot be updated inside the session's
 * script: they are updated in the same pipeline (same round trip), with "raise only" semantics,
 * and listing tolerates and repairs entries that went stale (session gone, owner changed, score
 * behind or ahead). No `SCAN` or `KEYS` anywhere.
 *
 * Sharp edges:
 * - An Agent turn costs two round trips: the lease taken with the session read
 *   (`readSession`), and the append (script + index updates) that also releases the lease
 *   (`releaseLease`). A caller that asks for neither pays four: lease, `getSession`, append,
 *   release.
 * - Index scores are raised with `ZADD GT`; a server before 6.2 refuses it once, and from then
 *   on this instance uses a script instead (that first write costs one extra round trip).
 * - `updatedAt` comes from the writer's clock, never moving backwards for one session.
 * - A Cluster client is rejected: index updates are pipelined across slots (see the README).
 */
import { randomUUID } from 'node:crypto';
import {
  type AcquireLeaseInput,
  type AppendRunInput,
  type AppendRunResult,
  BuddyError,
  describeValue,
  type GetRunsInput,
  type ListSessionsInput,
  type ListSessionsResult,
  type SessionInfo,
  type SessionLease,
  type SessionRecord,
  type SessionStorage,
  type StoredRun,
  type UpsertSessionInput,
} from '@buddy/core';
import {
  assertInteger,
  assertLeaseInput,
  assertNonEmptyString,
  assertOptionalUserId,
  assertSessionState,
  encodeSessionCursor,
  isAllowedOwner,
  leaseLostError,
  normalizeGetRunsInput,
  normalizeListSessionsInput,
  parseSessionRecord,
  parseSessionState,
  parseSessionSummary,
  parseStoredRun,
  type SessionCursor,
  SessionSummaryRecordSchema,
  StoredRunSchema,
  sessionOwnershipError,
  toSessionInfo,
  waitForLease,
} from '@buddy/core/adapter-utils';
import { type Redis, ReplyError } from 'ioredis';
import {
  callScript,
  RedisConnection,
  type RedisConnectionOptions,
  validateConnectionOptions,
} from './redis-connection.ts';
import { DEFAULT_PREFIX, RedisKeys } from './redis-keys.ts';
import {
  ACQUIRE_LEASE_READ,
  APPEND_RUN,
  DELETE_SESSION,
  INDEX_RAISE,
  INDEX_REPAIR,
  RELEASE_LEASE,
  RENEW_LEASE,
  SESSION_FIELDS,
  UPSERT_SESSION,
} from './redis-scripts.ts';

export interface RedisStorageOptions extends RedisConnectionOptions {
  /**
   * Expire a session (hash and runs) this many seconds after its last write; every write
   * refreshes it. No expiry when absent.
   */
  ttlSeconds?: number;
}

const OPTION_KEYS = ['url', 'client', 'prefix', 'ttlSeconds'] as const;
const WHO = 'RedisStorage';
/** The hash fields listing needs: everything but the (possibly large) state and summary. */
const LISTING_FIELDS = [
  'name',
  'version',
  'run_count',
  'created_at',
  'updated_at',
  'user_id',
  'agent_id',
] as const;
/** Sessions whose owner and agent this instance has seen, to aim index updates (bounded). */
const MAX_KNOWN_SESSIONS = 10_000;
/** How often one `listSessions` call may repair misplaced index entries and start over. */
const MAX_LIST_ATTEMPTS = 3;
/** Index entries read per request while stepping over entries with equal scores. */
const TIE_CHUNK = 100;
/** Sessions deleted per round by `deleteUserData`. */
const DELETE_BATCH = 200;

type Reply = (string | null)[];

/** Owner and agent of a session, as stored (or, before the first write, as intended). */
interface SessionOwners {
  userId: string | undefined;
  agentId: string | undefined;
}

/** What a script reported about the session after (or instead of) writing. */
interface IndexTruth extends SessionOwners {
  /** The stored updatedAt as text, `undefined` when the session does not exist. */
  updatedAt: string | undefined;
}

interface IndexEntry {
  member: string;
  score: number;
}

function invalid(message: string): BuddyError {
  return new BuddyError({ code: 'INVALID_ARGUMENT', message });
}

function orUndefined(value: string | null | undefined): string | undefined {
  return value === null || value === undefined ? undefined : value;
}

function toNumber(value: string | null | undefined): number | undefined {
  return value === null || value === undefined ? undefined : Number(value);
}

/** JSON text of a value, or `INVALID_ARGUMENT` naming it (cycles, BigInt). */
function toJson(value: unknown, what: string): string {
  try {
    return JSON.stringify(value);
  } catch (error) {
    throw new BuddyError({
      code: 'INVALID_ARGUMENT',
      message: `${what} cannot be stored as JSON: ${error instanceof Error ? error.message : String(error)}`,
      cause: error,
    });
  }
}

/** Redis orders equal scores by the members' bytes, so ties are compared the same way here. */
function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** `WITHSCORES` replies: flat `[member, score, ...]` (RESP2 shape) or `[[member, score], ...]`. */
function toEntries(reply: unknown): IndexEntry[] {
  const items = Array.isArray(reply) ? (reply as unknown[]) : [];
  const entries: IndexEntry[] = [];
  if (items.length > 0 && Array.isArray(items[0])) {
    for (const pair of items as [unknown, unknown][]) {
      entries.push({ member: String(pair[0]), score: Number(pair[1]) });
    }
    return entries;
  }
  for (let position = 0; position + 1 < items.length; position += 2) {
    entries.push({ member: String(items[position]), score: Number(items[position + 1]) });
  }
  return entries;
}

/**
 * Session storage on Redis.
 *
 * @example
 * const storage = new RedisStorage({ url: 'redis://127.0.0.1:6379', ttlSeconds: 30 * 86_400 });
 * const agent = new Agent({ model, storage, userId: 'dana@example.com' });
 * await agent.run('Add milk to my cart');
 * await storage.close();
 */
export class RedisStorage implements SessionStorage {
  readonly specificationVersion = 'v1' as const;
  readonly backend = 'redis';
  /** The key prefix in use (default `buddy:`). */
  readonly prefix: string;
  /** Expiry of a session after its last write, in seconds; `undefined` for none. */
  readonly ttlSeconds: number | undefined;
  readonly #connection: RedisConnection;
  readonly #keys: RedisKeys;
  readonly #known = new Map<string, SessionOwners>();
  /** Whether the server takes `ZADD GT` (Redis 6.2+); turned off by the first refusal. */
  #hasZaddGt = true;

  constructor(options: RedisStorageOptions = {}) {
    validateConnectionOptions(WHO, options, OPTION_KEYS);
    if (options.ttlSeconds !== undefined) {
      assertInteger(options.ttlSeconds, `${WHO}: option 'ttlSeconds'`, { min: 1 });
    }
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    this.ttlSeconds = options.ttlSeconds;
    this.#keys = new RedisKeys(this.prefix);
    this.#connection = new RedisConnection(WHO, options, [
      ACQUIRE_LEASE_READ,
      APPEND_RUN,
      UPSERT_SESSION,
      DELETE_SESSION,
      RENEW_LEASE,
      RELEASE_LEASE,
      INDEX_RAISE,
      INDEX_REPAIR,
    ]);
  }

  // ------------------------------------------------------------------ reads

  async getSession(
    sessionId: string,
    options: { userId?: string } = {},
  ): Promise<SessionRecord | undefined> {
    this.#connection.assertOpen();
    assertNonEmptyString(sessionId, 'sessionId');
    assertOptionalUserId(options.userId);
    const key = this.#keys.session(sessionId);
    const values = await this.#connection.run(
      'getSession',
      (client) => client.hmget(key, ...SESSION_FIELDS),
      sessionId,
    );
    const record = this.#readRecord(sessionId, values);
    if (record === undefined) return undefined;
    if (!isAllowedOwner(record.userId, options.userId)) {
      throw sessionOwnershipError(sessionId, options.userId);
    }
    return record;
  }

  async getRuns(input: GetRunsInput): Promise<StoredRun[]> {
    this.#connection.assertOpen();
    const query = normalizeGetRunsInput(input);
    let start: number;
    let stop: number;
    if (query.last !== undefined) {
      if (query.last === 0) return [];
      start = -query.last;
      stop = -1;
    } else {
      if (query.limit === 0) return [];
      start = query.fromIndex;
      stop = query.limit === undefined ? -1 : query.fromIndex + query.limit - 1;
    }
    const key = this.#keys.runs(query.sessionId);
    const raw = await this.#connection.run(
      'getRuns',
      (client) => client.lrange(key, start, stop),
      query.sessionId,
    );
    return raw.map((text) => parseStoredRun(text, query.sessionId));
  }

  async listSessions(input: ListSessionsInput = {}): Promise<ListSessionsResult> {
    this.#connection.assertOpen();
    const query = normalizeListSessionsInput(input);
    for (let attempt = 1; ; attempt++) {
      const page = await this.#listPage(query, attempt >= MAX_LIST_ATTEMPTS);
      if (page !== undefined) return page;
    }
  }

  // ------------------------------------------------------------------ writes

  async upsertSession(input: UpsertSessionInput): Promise<SessionRecord> {
    this.#connection.assertOpen();
    const { sessionId, userId, agentId, sessionName, sessionState, summary } = input;
    assertNonEmptyString(sessionId, 'sessionId');
    assertOptionalUserId(userId);
    if (agentId !== undefined) assertNonEmptyString(agentId, 'agentId');
    if (sessionName !== undefined) assertNonEmptyString(sessionName, 'sessionName');
    if (sessionState !== undefined) assertSessionState(sessionState);
    if (summary !== undefined && !SessionSummaryRecordSchema.safeParse(summary).success) {
      throw invalid(
        `summary must be { summary, topics?, runsCovered, updatedAt }, got ${describeValue(summary)}`,
      );
    }
    const stateJson = sessionState === undefined ? '' : toJson(sessionState, 'sessionState');
    const summaryJson = summary === undefined ? '' : toJson(summary, 'summary');
    const now = Date.now();
    const pipeline = this.#connection.client.pipeline();
    void callScript(
      pipeline,
      UPSERT_SESSION,
      [this.#keys.session(sessionId), this.#keys.runs(sessionId)],
      [
        userId === undefined ? '0' : '1',
        userId ?? '',
        agentId ?? '',
        sessionName === undefined ? '0' : '1',
        sessionName ?? '',
        sessionState === undefined ? '0' : '1',
        stateJson,
        summary === undefined ? '0' : '1',
        summaryJson,
        summary === undefined ? '0' : String(summary.runsCovered),
        String(now),
        String(this.ttlSeconds ?? 0),
      ],
    );
    const queued = this.#queueIndexRaise(pipeline, sessionId, this.#guessOwners(input), now);
    const results = await this.#connection.execSettled(pipeline, 'upsertSession', sessionId);
    const reply = this.#scriptReply(results[0], 'upsertSession', sessionId);
    const touched = this.#raisedKeys(queued, results);
    if (reply[0] === 'owner') {
      await this.#syncIndexes(sessionId, touched, now, this.#truthOf(reply));
      throw sessionOwnershipError(sessionId, userId);
    }
    const values = reply.slice(1);
    const owners = { userId: orUndefined(values[7]), agentId: orUndefined(values[8]) };
    this.#remember(sessionId, owners);
    await this.#syncIndexes(sessionId, touched, now, {
      ...owners,
      updatedAt: orUndefined(values[6]),
    });
    const record = this.#toRecord(sessionId, values);
    if (record === undefined) {
      throw new BuddyError({
        code: 'STORAGE_UNAVAILABLE',
        message: `${WHO}.upsertSession: session ${describeValue(sessionId)} vanished while it was written`,
        details: { backend: 'redis', operation: 'upsertSession', sessionId },
      });
    }
    return record;
  }

  async appendRun(input: AppendRunInput): Promise<AppendRunResult> {
    this.#connection.assertOpen();
    const { sessionId, userId, agentId, sessionName, leaseToken } = input;
    // Releasing needs the token: without one there is no lease of this caller to free.
    const releaseLease = input.releaseLease === true && leaseToken !== undefined;
    assertNonEmptyString(sessionId, 'sessionId');
    assertOptionalUserId(userId);
    if (agentId !== undefined) assertNonEmptyString(agentId, 'agentId');
    if (sessionName !== undefined) assertNonEmptyString(sessionName, 'sessionName');
    if (leaseToken !== undefined) assertNonEmptyString(leaseToken, 'leaseToken');
    assertSessionState(input.sessionState);
    if (input.run?.sessionId !== sessionId) {
      throw invalid(
        `run.sessionId ${describeValue(input.run?.sessionId)} does not match sessionId ${describeValue(sessionId)}`,
      );
    }
    const { index: _ignored, ...run } = input.run as StoredRun;
    const checked = StoredRunSchema.safeParse({ ...run, index: 0 });
    if (!checked.success) {
      const issue = checked.error.issues[0];
      throw invalid(
        `run.${issue?.path.join('.') ?? ''} is invalid (${issue?.message ?? 'invalid'}), got ${describeValue(run)}`,
      );
    }
    const runJson = toJson({ ...run, stateAfter: input.sessionState }, 'run');
    const stateJson = toJson(input.sessionState, 'sessionState');
    const now = Date.now();
    const pipeline = this.#connection.client.pipeline();
    void callScript(
      pipeline,
      APPEND_RUN,
      [this.#keys.session(sessionId), this.#keys.runs(sessionId), this.#keys.lease(sessionId)],
      [
        leaseToken ?? '',
        userId === undefined ? '0' : '1',
        userId ?? '',
        agentId ?? '',
        sessionName === undefined ? '0' : '1',
        sessionName ?? '',
        stateJson,
        // The script writes `{"index":N` and appends the rest of the run's JSON.
        runJson === '{}' ? '}' : `,${runJson.slice(1)}`,
        String(now),
        String(this.ttlSeconds ?? 0),
        releaseLease ? '1' : '0',
      ],
    );
    const queued = this.#queueIndexRaise(pipeline, sessionId, this.#guessOwners(input), now);
    const results = await this.#connection.execSettled(pipeline, 'appendRun', sessionId);
    const reply = this.#scriptReply(results[0], 'appendRun', sessionId);
    const touched = this.#raisedKeys(queued, results);
    if (reply[0] === 'lease' || reply[0] === 'owner') {
      await this.#syncIndexes(sessionId, touched, now, this.#truthOf(reply));
      throw reply[0] === 'lease'
        ? leaseLostError(sessionId)
        : sessionOwnershipError(sessionId, userId);
    }
    const owners = { userId: orUndefined(reply[4]), agentId: orUndefined(reply[5]) };
    this.#remember(sessionId, owners);
    await this.#syncIndexes(sessionId, touched, now, {
      ...owners,
      updatedAt: orUndefined(reply[3]),
    });
    return {
      index: Number(reply[1]),
      version: Number(reply[2]),
      updatedAt: Number(reply[3]),
      ...(reply[6] === '1' ? { leaseReleased: true } : {}),
    };
  }

  async acquireLease(input: AcquireLeaseInput): Promise<SessionLease> {
    this.#connection.assertOpen();
    assertLeaseInput(input);
    const { sessionId, ttlMs } = input;
    const key = this.#keys.lease(sessionId);
    const token = randomUUID();
    const connection = this.#connection;
    const release = async (): Promise<void> => {
      await connection.run(
        'releaseLease',
        (client) => callScript(client, RELEASE_LEASE, [key], [token]),
        sessionId,
      );
    };
    let session: SessionRecord | null | undefined;
    if (input.readSession === true) {
      const sessionKey = this.#keys.session(sessionId);
      const values = await waitForLease(
        async () => {
          const reply = (await connection.run(
            'acquireLease',
            (client) => callScript(client, ACQUIRE_LEASE_READ, [key, sessionKey], [token, ttlMs]),
            sessionId,
          )) as Reply;
          if (reply[0] === 'busy') return undefined;
          if (reply[0] === 'corrupt') {
            // The script already freed the lease; the server's error names the problem.
            throw connection.translate(new ReplyError(String(reply[1])), 'acquireLease', sessionId);
          }
          return reply.slice(1);
        },
        { sessionId, waitMs: input.waitMs, signal: input.signal },
      );
      try {
        session = this.#readRecord(sessionId, values) ?? null;
      } catch (error) {
        // A corrupt record must not leave the session locked until the lease expires.
        await release().catch(() => undefined);
        throw error;
      }
    } else {
      await waitForLease(
        async () => {
          const reply = await connection.run(
            'acquireLease',
            (client) => client.set(key, token, 'PX', ttlMs, 'NX'),
            sessionId,
          );
          return reply === 'OK' ? true : undefined;
        },
        { sessionId, waitMs: input.waitMs, signal: input.signal },
      );
    }
    return {
      sessionId,
      token,
      ...(session === undefined ? {} : { session }),
      renew: async () => {
        const renewed = await connection.run(
          'renewLease',
          (client) => callScript(client, RENEW_LEASE, [key], [token, ttlMs]),
          sessionId,
        );
        if (Number(renewed) !== 1) throw leaseLostError(sessionId);
      },
      release,
    };
  }

  async deleteSession(sessionId: string, options: { userId?: string } = {}): Promise<boolean> {
    this.#connection.assertOpen();
    assertNonEmptyString(sessionId, 'sessionId');
    assertOptionalUserId(options.userId);
    const reply = (await this.#connection.run(
      'deleteSession',
      (client) =>
        callScript(client, DELETE_SESSION, this.#sessionKeys(sessionId), [
          options.userId === undefined ? '0' : '1',
          options.userId ?? '',
        ]),
      sessionId,
    )) as Reply;
    if (reply[0] === 'owner') throw sessionOwnershipError(sessionId, options.userId);
    this.#known.delete(sessionId);
    if (reply[0] !== 'deleted') return false;
    await this.#dropFromIndexes([{ sessionId, truth: this.#truthOf(reply) }]);
    return true;
  }

  async deleteUserData(userId: string): Promise<number> {
    this.#connection.assertOpen();
    assertNonEmptyString(userId, 'userId');
    const userKey = this.#keys.userIndex(userId);
    let deleted = 0;
    for (;;) {
      const members = await this.#connection.run('deleteUserData', (client) =>
        client.zrange(userKey, 0, String(DELETE_BATCH - 1)),
      );
      if (members.length === 0) return deleted;
      const pipeline = this.#connection.client.pipeline();
      for (const sessionId of members) {
        void callScript(pipeline, DELETE_SESSION, this.#sessionKeys(sessionId), ['1', userId]);
      }
      const replies = (await this.#connection.exec(pipeline, 'deleteUserData')) as Reply[];
      const dropped: { sessionId: string; truth: IndexTruth }[] = [];
      replies.forEach((reply, position) => {
        const sessionId = members[position] as string;
        this.#known.delete(sessionId);
        if (reply[0] === 'deleted') {
          deleted++;
          dropped.push({ sessionId, truth: this.#truthOf(reply) });
        }
      });
      // Every member read is gone now: deleted, or a stale entry (session gone or someone else's).
      await this.#connection.run('deleteUserData', (client) => client.zrem(userKey, ...members));
      await this.#dropFromIndexes(dropped, userKey);
    }
  }

  /** Idempotent. Closes the client only if this storage created it. */
  async close(): Promise<void> {
    await this.#connection.close();
  }

  // ------------------------------------------------------------------ internals

  #sessionKeys(sessionId: string): string[] {
    return [this.#keys.session(sessionId), this.#keys.runs(sessionId), this.#keys.lease(sessionId)];
  }

  /** Builds and validates a record from `SESSION_FIELDS` values; `undefined` when absent. */
  #toRecord(sessionId: string, values: Reply): SessionRecord | undefined {
    if (values.every((value) => value === null || value === undefined)) return undefined;
    const [state, name, summary, version, runCount, createdAt, updatedAt, userId, agentId] = values;
    return parseSessionRecord(
      {
        sessionId,
        ...(agentId == null ? {} : { agentId }),
        ...(userId == null ? {} : { userId }),
        ...(name == null ? {} : { sessionName: name }),
        sessionState: state == null ? undefined : parseSessionState(state, sessionId),
        ...(summary == null ? {} : { summary: parseSessionSummary(summary, sessionId) }),
        createdAt: toNumber(createdAt),
        updatedAt: toNumber(updatedAt),
        version: toNumber(version),
        runCount: toNumber(runCount),
      },
      sessionId,
    );
  }

  /**
   * The record from `SESSION_FIELDS` values, remembering its owner and agent for index updates
   * (or forgetting the session when it is missing); `undefined` when absent.
   */
  #readRecord(sessionId: string, values: Reply): SessionRecord | undefined {
    const record = this.#toRecord(sessionId, values);
    if (record === undefined) {
      this.#known.delete(sessionId);
      return undefined;
    }
    this.#remember(sessionId, { userId: record.userId, agentId: record.agentId });
    return record;
  }

  /** A session's listing view from `LISTING_FIELDS` values (state and summary are not read). */
  #toSessionInfo(sessionId: string, values: Reply): SessionInfo | undefined {
    if (values.every((value) => value === null || value === undefined)) return undefined;
    const [name, version, runCount, createdAt, updatedAt, userId, agentId] = values;
    const record = parseSessionRecord(
      {
        sessionId,
        ...(agentId == null ? {} : { agentId }),
        ...(userId == null ? {} : { userId }),
        ...(name == null ? {} : { sessionName: name }),
        sessionState: {},
        createdAt: toNumber(createdAt),
        updatedAt: toNumber(updatedAt),
        version: toNumber(version),
        runCount: toNumber(runCount),
      },
      sessionId,
    );
    return toSessionInfo(record);
  }

  /** The script's reply, or its error translated (a pipeline reports errors per command). */
  #scriptReply(
    result: { value: unknown; error: unknown } | undefined,
    operation: string,
    sessionId: string,
  ): Reply {
    if (result === undefined || result.error !== undefined) {
      throw this.#connection.translate(
        result?.error ?? new Error('no reply'),
        operation,
        sessionId,
      );
    }
    return result.value as Reply;
  }

  #truthOf(reply: Reply): IndexTruth {
    return {
      userId: orUndefined(reply[1]),
      agentId: orUndefined(reply[2]),
      updatedAt: orUndefined(reply[3]),
    };
  }

  #remember(sessionId: string, owners: SessionOwners): void {
    this.#known.delete(sessionId);
    this.#known.set(sessionId, owners);
    if (this.#known.size > MAX_KNOWN_SESSIONS) {
      const oldest = this.#known.keys().next().value;
      if (oldest !== undefined) this.#known.delete(oldest);
    }
  }

  /**
   * Which indexes a write will belong to, before the script has said. For a session this
   * instance has seen, its stored owner and agent; otherwise the caller's (for an existing
   * session the owner check makes a given `userId` right; a wrong guess costs one more round
   * trip to correct, in `#syncIndexes`).
   */
  #guessOwners(input: { sessionId: string; userId?: string; agentId?: string }): SessionOwners {
    const known = this.#known.get(input.sessionId);
    return {
      userId: input.userId ?? known?.userId,
      agentId: known === undefined ? input.agentId : known.agentId,
    };
  }

  #indexKeys(owners: SessionOwners): string[] {
    return [
      this.#keys.allIndex(),
      ...(owners.userId === undefined ? [] : [this.#keys.userIndex(owners.userId)]),
      ...(owners.agentId === undefined ? [] : [this.#keys.agentIndex(owners.agentId)]),
    ];
  }

  /**
   * Queues "raise the session's score in `key` to `score`, never lower it": `ZADD GT` (a plain
   * command, no script and no `ZSCORE`) on Redis 6.2+, the `INDEX_RAISE` script on older servers.
   */
  #queueRaise(
    pipeline: ReturnType<Redis['pipeline']>,
    key: string,
    score: string,
    sessionId: string,
  ): void {
    if (this.#hasZaddGt) void pipeline.zadd(key, 'GT', score, sessionId);
    else void callScript(pipeline, INDEX_RAISE, [key], [score, sessionId]);
  }

  /**
   * Queues the index updates of a write on its pipeline, right after the write's script: raise
   * the session's score to `now` in every index it (probably) belongs to; with a TTL, also drop
   * entries long expired and let idle indexes expire. Returns the index keys, in the order their
   * raises were queued (pipeline replies 1..n).
   */
  #queueIndexRaise(
    pipeline: ReturnType<Redis['pipeline']>,
    sessionId: string,
    owners: SessionOwners,
    now: number,
  ): string[] {
    const keys = this.#indexKeys(owners);
    for (const key of keys) this.#queueRaise(pipeline, key, String(now), sessionId);
    if (this.ttlSeconds !== undefined) {
      // Twice the TTL: a session whose last write is that old has expired even with some clock
      // skew between writers.
      const horizonSeconds = this.ttlSeconds * 2;
      for (const key of keys) {
        void pipeline.zremrangebyscore(key, '-inf', `(${now - horizonSeconds * 1000}`);
        void pipeline.expire(key, horizonSeconds);
      }
    }
    return keys;
  }

  /**
   * The index keys whose raise succeeded, from the replies of a write's pipeline (`queued` are
   * replies 1..n). A server older than 6.2 refuses `ZADD GT` as a syntax error: from then on this
   * storage raises with the script, and the refused raises count as not done, so `#syncIndexes`
   * makes them (one extra round trip, once).
   */
  #raisedKeys(
    queued: readonly string[],
    results: readonly { value: unknown; error: unknown }[],
  ): string[] {
    const raised: string[] = [];
    queued.forEach((key, position) => {
      const error = results[position + 1]?.error;
      if (error === undefined) {
        raised.push(key);
      } else if (this.#hasZaddGt && /syntax error|not a valid float/i.test(String(error))) {
        this.#hasZaddGt = false;
      }
    });
    return raised;
  }

  /**
   * Makes the indexes agree with what the script reported, in one extra round trip, only when
   * they do not already: the guess of owner/agent was wrong, the write failed (undo the raise),
   * or the stored updatedAt is ahead of this writer's clock.
   */
  async #syncIndexes(
    sessionId: string,
    touched: readonly string[],
    triedScore: number,
    truth: IndexTruth,
  ): Promise<void> {
    const exists = truth.updatedAt !== undefined;
    const correct = exists ? this.#indexKeys(truth) : [];
    const tried = String(triedScore);
    // Each fix: move the entry from the tried score (INDEX_REPAIR; '' removes it), or raise it.
    const fixes: { key: string; repairTo?: string; raiseTo?: string }[] = [];
    for (const key of touched) {
      if (!correct.includes(key)) fixes.push({ key, repairTo: '' });
      else if (Number(truth.updatedAt) !== triedScore) {
        fixes.push({ key, repairTo: truth.updatedAt ?? '' });
      }
    }
    for (const key of correct) {
      if (!touched.includes(key)) fixes.push({ key, raiseTo: truth.updatedAt ?? tried });
    }
    // The normal turn has nothing to fix: no pipeline, no round trip.
    if (fixes.length === 0) return;
    const pipeline = this.#connection.client.pipeline();
    for (const { key, repairTo, raiseTo } of fixes) {
      if (raiseTo !== undefined) this.#queueRaise(pipeline, key, raiseTo, sessionId);
      else void callScript(pipeline, INDEX_REPAIR, [key], [tried, repairTo ?? '', sessionId]);
    }
    // The write itself is done (or refused); a failed repair is left to listing to fix lazily.
    await this.#connection.execSettled(pipeline, 'indexRepair', sessionId).catch(() => undefined);
  }

  /** Removes deleted sessions from their indexes (only entries still at the deleted score). */
  async #dropFromIndexes(
    dropped: readonly { sessionId: string; truth: IndexTruth }[],
    skipKey?: string,
  ): Promise<void> {
    if (dropped.length === 0) return;
    const pipeline = this.#connection.client.pipeline();
    for (const { sessionId, truth } of dropped) {
      if (truth.updatedAt === undefined) continue;
      for (const key of this.#indexKeys(truth)) {
        if (key === skipKey) continue;
        void callScript(pipeline, INDEX_REPAIR, [key], [truth.updatedAt, '', sessionId]);
      }
    }
    await this.#connection.execSettled(pipeline, 'indexRepair').catch(() => undefined);
  }

  /**
   * One attempt at a page. Walks the index from the cursor in (score DESC, member DESC) order,
   * reads the candidates' hashes (one pipeline per batch), skips and removes stale entries, and
   * moves misplaced ones to their true score. When it moved any, the page is discarded and the
   * caller starts over (on the last attempt misplaced entries are listed where they stand).
   */
  async #listPage(
    query: ReturnType<typeof normalizeListSessionsInput>,
    isLastAttempt: boolean,
  ): Promise<ListSessionsResult | undefined> {
    const { userId, agentId, limit } = query;
    const indexKey =
      userId !== undefined
        ? this.#keys.userIndex(userId)
        : agentId !== undefined
          ? this.#keys.agentIndex(agentId)
          : this.#keys.allIndex();
    const found: { info: SessionInfo; score: number }[] = [];
    const repairs: { entry: IndexEntry; score: string }[] = [];
    let moved = false;
    let position: IndexEntry | undefined =
      query.cursor === undefined
        ? undefined
        : { score: query.cursor.updatedAt, member: query.cursor.sessionId };
    while (found.length <= limit && !moved) {
      const wanted = limit + 1 - found.length;
      const batch = await this.#readIndex(indexKey, position, wanted);
      if (batch.length === 0) break;
      const pipeline = this.#connection.client.pipeline();
      for (const entry of batch)
        void pipeline.hmget(this.#keys.session(entry.member), ...LISTING_FIELDS);
      const replies = (await this.#connection.exec(pipeline, 'listSessions')) as Reply[];
      for (const [position_, entry] of batch.entries()) {
        position = entry;
        const info = this.#toSessionInfo(entry.member, replies[position_] ?? []);
        const isStale =
          info === undefined ||
          (userId !== undefined && info.userId !== userId) ||
          (userId === undefined && agentId !== undefined && info.agentId !== agentId);
        if (isStale || info === undefined) {
          repairs.push({ entry, score: '' });
          continue;
        }
        if (agentId !== undefined && info.agentId !== agentId) continue;
        if (info.updatedAt !== entry.score) {
          repairs.push({ entry, score: String(info.updatedAt) });
          if (!isLastAttempt) {
            moved = true;
            continue;
          }
        }
        found.push({ info, score: entry.score });
        if (found.length > limit) break;
      }
      if (batch.length < wanted) break;
    }
    if (repairs.length > 0) {
      const pipeline = this.#connection.client.pipeline();
      for (const { entry, score } of repairs) {
        void callScript(
          pipeline,
          INDEX_REPAIR,
          [indexKey],
          [String(entry.score), score, entry.member],
        );
      }
      await this.#connection.exec(pipeline, 'listSessions');
    }
    if (moved) return undefined;
    const sessions = found.slice(0, limit);
    const last = sessions.at(-1);
    if (found.length <= limit || last === undefined)
      return { sessions: sessions.map((item) => item.info) };
    const cursor: SessionCursor = { updatedAt: last.score, sessionId: last.info.sessionId };
    return { sessions: sessions.map((item) => item.info), nextCursor: encodeSessionCursor(cursor) };
  }

  /**
   * Up to `count` index entries strictly after `position` in (score DESC, member DESC) order.
   * Entries with the cursor's own score are read separately and filtered by member, because a
   * score range alone cannot start in the middle of a run of equal scores.
   */
  async #readIndex(
    key: string,
    position: IndexEntry | undefined,
    count: number,
  ): Promise<IndexEntry[]> {
    const connection = this.#connection;
    if (position === undefined) {
      const reply = await connection.run('listSessions', (client) =>
        client.zrevrangebyscore(key, '+inf', '-inf', 'WITHSCORES', 'LIMIT', 0, count),
      );
      return toEntries(reply);
    }
    const score = String(position.score);
    const pipeline = connection.client.pipeline();
    void pipeline.zrevrangebyscore(key, score, score, 'LIMIT', 0, TIE_CHUNK);
    void pipeline.zrevrangebyscore(key, `(${score}`, '-inf', 'WITHSCORES', 'LIMIT', 0, count);
    const [tiesReply, lowerReply] = await connection.exec(pipeline, 'listSessions');
    let chunk = (tiesReply as string[]) ?? [];
    const ties: IndexEntry[] = [];
    for (let offset = 0; ; ) {
      for (const member of chunk) {
        if (compareBytes(member, position.member) < 0) ties.push({ member, score: position.score });
      }
      if (chunk.length < TIE_CHUNK || ties.length >= count) break;
      offset += chunk.length;
      const from = offset;
      chunk = await connection.run('listSessions', (client) =>
        client.zrevrangebyscore(key, score, score, 'LIMIT', from, TIE_CHUNK),
      );
    }
    return [...ties, ...toEntries(lowerReply)].slice(0, count);
  }
}

/**
 * Same as `new RedisStorage(options)`.
 *
 * @example
 * const storage = createRedisStorage({ url: 'redis://127.0.0.1:6379', prefix: 'myapp:' });
 */
export function createRedisStorage(options: RedisStorageOptions = {}): RedisStorage {
  return new RedisStorage(options);
}
