/**
 * `RedisStorage`: the `SessionStorage` contract on Redis 6.2+ (no modules), standalone, Sentinel
 * or Cluster, through ioredis.
 *
 * Connection ownership: pass `client` (a `Redis` or a `Cluster`) and you keep it (`close()` never
 * quits it); pass `url` (or nothing) and the storage creates a lazily connecting client that it
 * closes in `close()`.
 *
 * Layout (see the README for the full table): per session a hash `s:{id}`, a run list `r:{id}`,
 * a run-id hash `i:{id}` and a lease string `l:{id}`, all with the session id as hash tag, so each
 * per-session Lua script stays inside one Cluster slot. Listing uses sorted sets (`u:{user}`,
 * `a:{agent}`, `all`), written as a separate step and repaired on read (`redis-session-index.ts`).
 * No `SCAN` or `KEYS` anywhere: `prune` walks the same sorted sets and decides each session in a
 * script on its own slot, on the stored fields; the metadata filter of listing is applied after
 * the indexed read.
 *
 * Sharp edges:
 * - An Agent turn costs two round trips on a standalone server: the lease taken with the session
 *   read (`readSession`), and the append (index raise, write and lease release in one script).
 *   On a Cluster the index raise is its own step: three.
 * - Every session write carries a deadline on the server's clock and is refused after it; an
 *   append whose reply never came is resolved by asking the server whether its run id is stored
 *   (`STORAGE_OUTCOME_UNKNOWN` when the server does not answer). See "Timing rules" in the README.
 * - `updatedAt` comes from the writer's clock, never moving backwards for one session, except
 *   where an import restores it (`upsertSession({ restoreTimes })`: the session's index entries
 *   are then moved down to it, one more round trip). Not with `ttlSeconds`, whose expiry counts
 *   from the write time.
 */
import { randomUUID } from 'node:crypto';
import {
  type AcquireLeaseInput,
  type AppendRunInput,
  type AppendRunResult,
  BuddyError,
  consoleLogger,
  describeValue,
  type GetRunsInput,
  type ListSessionsInput,
  type ListSessionsResult,
  type Logger,
  type PruneInput,
  type PruneResult,
  type SessionLease,
  type SessionRecord,
  type SessionStorage,
  type SessionStorageCapabilities,
  type StoredRun,
  type UpsertSessionInput,
} from '@buddy/core';
import {
  assertAppendRunInput,
  assertId,
  assertInteger,
  assertLeaseInput,
  assertUpsertSessionInput,
  incarnationGoneError,
  isAllowedOwner,
  leaseLostError,
  newIncarnation,
  normalizeGetRunsInput,
  normalizeListSessionsInput,
  normalizePruneInput,
  normalizeSessionOptions,
  parseSessionRecord,
  parseSessionState,
  parseSessionSummary,
  parseStoredRun,
  sessionOwnershipError,
  waitForLease,
} from '@buddy/core/adapter-utils';
import { ReplyError } from 'ioredis';
import {
  callScript,
  type LuaScript,
  RedisConnection,
  type RedisConnectionOptions,
  type ScriptTarget,
  validateConnectionOptions,
} from './redis-connection.ts';
import { DEFAULT_PREFIX, RedisKeys } from './redis-keys.ts';
import {
  ACQUIRE_LEASE,
  ACQUIRE_LEASE_READ,
  APPEND_OUTCOME,
  APPEND_RUN,
  DELETE_SESSION,
  GET_RUNS,
  INDEX_REPAIR,
  PRUNE_SESSION,
  RELEASE_LEASE,
  RENEW_LEASE,
  SESSION_FIELDS,
  UPSERT_SESSION,
  withIndexRaise,
} from './redis-scripts.ts';
import {
  type IndexEntry,
  type IndexOwners,
  type IndexTruth,
  RedisSessionIndex,
  toEntries,
} from './redis-session-index.ts';
import { afterIndexStep, type IndexStepHook } from './redis-test-hooks.ts';
import {
  type ClockSample,
  INDEX_GRACE_MS,
  ServerClock,
  sampleClock,
  writeDeadline,
} from './redis-write-deadline.ts';

/** Options of `new RedisStorage(...)`. */
export interface RedisStorageOptions extends RedisConnectionOptions {
  /**
   * Expire a session (hash and runs) this many seconds after its last write; every write
   * refreshes it. No expiry when absent.
   */
  ttlSeconds?: number;
  /** Where listing reports a corrupt session it skipped. Default: `consoleLogger`. */
  logger?: Logger;
}

const OPTION_KEYS = ['url', 'client', 'prefix', 'ttlSeconds', 'logger'] as const;
const WHO = 'RedisStorage';
/** Sessions deleted per round by `deleteUserData`. */
const DELETE_BATCH = 200;
/** Sessions handled per round by `prune`. */
const PRUNE_BATCH = 200;
/** Lease tokens whose clock sample is kept for their append (bounded). */
const MAX_LEASE_CLOCKS = 10_000;
/** The longest `appendRun` keeps asking the server what became of a write whose reply was lost. */
const MAX_OUTCOME_PROBE_MS = 5_000;

type Reply = (string | null)[];

/** The replies of `APPEND_RUN`, by status word. */
type AppendReply =
  | {
      status: 'ok';
      index: number;
      version: number;
      updatedAt: string;
      owners: IndexOwners;
      released: boolean;
      serverMs: number;
      created: boolean;
    }
  | { status: 'dup'; result: AppendRunResult; serverMs: number }
  | { status: 'late' | 'lease' | 'owner'; truth: IndexTruth; serverMs: number };

/** The replies of `UPSERT_SESSION`, by status word. */
type UpsertReply =
  | { status: 'ok'; created: boolean; values: Reply }
  | { status: 'owner' | 'gone' | 'lease' | 'late'; truth: IndexTruth; serverMs: number };

/** The replies of `PRUNE_SESSION`, by status word. */
type PruneReply =
  | { status: 'deleted' | 'kept'; truth: IndexTruth; runsDeleted: number }
  | { status: 'owner' | 'late'; truth: IndexTruth }
  | { status: 'missing' }
  | { status: 'corrupt'; reason: string };

/** The replies of `DELETE_SESSION`, by status word. */
type DeleteReply =
  | { status: 'deleted' | 'owner'; truth: IndexTruth }
  | { status: 'missing' | 'corrupt' };

function orUndefined(value: string | null | undefined | false): string | undefined {
  return value === null || value === undefined || value === false ? undefined : value;
}

function toNumber(value: string | null | undefined): number | undefined {
  return value === null || value === undefined ? undefined : Number(value);
}

function truthOf(owner: unknown, agent: unknown, updatedAt: unknown): IndexTruth {
  return {
    userId: orUndefined(owner as string | null),
    agentId: orUndefined(agent as string | null),
    updatedAt: orUndefined(updatedAt as string | null),
  };
}

/** `index:version:updatedAt`, as `APPEND_RUN` records each stored run id. */
function parseStoredResult(text: string): AppendRunResult {
  const [index, version, updatedAt] = text.split(':').map(Number);
  return { index: index ?? 0, version: version ?? 0, updatedAt: updatedAt ?? 0 };
}

function parseAppendReply(reply: Reply): AppendReply {
  switch (reply[0]) {
    case 'ok':
      return {
        status: 'ok',
        index: Number(reply[1]),
        version: Number(reply[2]),
        updatedAt: String(reply[3]),
        owners: { userId: orUndefined(reply[4]), agentId: orUndefined(reply[5]) },
        released: reply[6] === '1',
        serverMs: Number(reply[7]),
        created: reply[8] === '1',
      };
    case 'dup':
      return {
        status: 'dup',
        result: parseStoredResult(String(reply[1])),
        serverMs: Number(reply[2]),
      };
    case 'late':
    case 'lease':
    case 'owner':
      return {
        status: reply[0],
        truth: truthOf(reply[1], reply[2], reply[3]),
        serverMs: Number(reply[4]),
      };
    default:
      throw new BuddyError({
        code: 'INTERNAL',
        message: `appendRun: unexpected script reply ${describeValue(reply)}`,
      });
  }
}

function parseUpsertReply(reply: Reply): UpsertReply {
  switch (reply[0]) {
    case 'ok':
      return { status: 'ok', created: reply[1] === '1', values: reply.slice(2) };
    case 'owner':
    case 'gone':
    case 'lease':
    case 'late':
      return {
        status: reply[0],
        truth: truthOf(reply[1], reply[2], reply[3]),
        serverMs: Number(reply[4]),
      };
    default:
      throw new BuddyError({
        code: 'INTERNAL',
        message: `upsertSession: unexpected script reply ${describeValue(reply)}`,
      });
  }
}

function parsePruneReply(reply: Reply): PruneReply {
  switch (reply[0]) {
    case 'deleted':
    case 'kept':
      return {
        status: reply[0],
        truth: truthOf(reply[1], reply[2], reply[3]),
        runsDeleted: Number(reply[4]),
      };
    case 'owner':
    case 'late':
      return { status: reply[0], truth: truthOf(reply[1], reply[2], reply[3]) };
    case 'missing':
      return { status: 'missing' };
    case 'corrupt':
      return { status: 'corrupt', reason: String(reply[1]) };
    default:
      throw new BuddyError({
        code: 'INTERNAL',
        message: `prune: unexpected script reply ${describeValue(reply)}`,
      });
  }
}

function parseDeleteReply(reply: Reply): DeleteReply {
  switch (reply[0]) {
    case 'deleted':
    case 'owner':
      return { status: reply[0], truth: truthOf(reply[1], reply[2], reply[3]) };
    case 'missing':
    case 'corrupt':
      return { status: reply[0] };
    default:
      throw new BuddyError({
        code: 'INTERNAL',
        message: `deleteSession: unexpected script reply ${describeValue(reply)}`,
      });
  }
}

/** Whether an ioredis error is a reply of the server (the command ran, or was refused whole). */
function isServerReply(error: unknown): boolean {
  return error instanceof Error && error.name === 'ReplyError';
}

/** A JSON field of the session hash; `STORAGE_CORRUPT` naming the session when it is not JSON. */
function parseJsonField(raw: string, what: string, sessionId: string): unknown {
  try {
    return JSON.parse(raw);
  } catch (error) {
    throw new BuddyError({
      code: 'STORAGE_CORRUPT',
      message: `The ${what} of session ${describeValue(sessionId)} is corrupt: not valid JSON`,
      cause: error,
      details: { backend: 'redis', sessionId },
    });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/**
 * A session write's script, and its `withIndexRaise` variant for a standalone server (which also
 * takes the index keys and `RedisSessionIndex.raiseValues` after its own).
 */
interface SessionScript {
  plain: LuaScript;
  raising: LuaScript;
}

const APPEND_RUN_WRITE: SessionScript = { plain: APPEND_RUN, raising: withIndexRaise(APPEND_RUN) };
const UPSERT_SESSION_WRITE: SessionScript = {
  plain: UPSERT_SESSION,
  raising: withIndexRaise(UPSERT_SESSION),
};

/** One session write: its script, the keys of its session and its values. */
interface SessionWrite {
  script: SessionScript;
  keys: string[];
  args: string[];
}

/** Rejects with `error()` after `ms`, unless `promise` settles first. */
function withTimeout<T>(promise: Promise<T>, ms: number, error: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(error()), Math.max(1, ms));
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function lateWriteError(operation: string, sessionId: string, cause?: unknown): BuddyError {
  return new BuddyError({
    code: 'STORAGE_UNAVAILABLE',
    message: `${WHO}.${operation}: the server reached session ${describeValue(sessionId)}'s write after its deadline (the caller would already have given up); nothing was written`,
    retryable: true,
    ...(cause === undefined ? {} : { cause }),
    details: { backend: 'redis', operation, sessionId },
  });
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
  /**
   * Both optional lease capabilities, and `restoresTimes` unless `ttlSeconds` is set (expiry and
   * the index sweep count from the write time; with a TTL, restored times would let a session's
   * index entries be swept while its keys live).
   */
  readonly capabilities: SessionStorageCapabilities;
  /** The key prefix in use (default `buddy:`). */
  readonly prefix: string;
  /** Expiry of a session after its last write, in seconds; `undefined` for none. */
  readonly ttlSeconds: number | undefined;
  readonly #connection: RedisConnection;
  readonly #keys: RedisKeys;
  readonly #index: RedisSessionIndex;
  readonly #logger: Logger;
  /** The server's clock, from the last replies that carried it. */
  readonly #clock = new ServerClock();
  /** The clock sample of each lease held through this storage, for its append's deadline. */
  readonly #leaseClocks = new Map<string, ClockSample>();
  /** Test hooks (`redis-test-hooks.ts`): a crash between the index step and the session write. */
  [key: symbol]: unknown;

  constructor(options: RedisStorageOptions = {}) {
    validateConnectionOptions(WHO, options, OPTION_KEYS);
    if (options.ttlSeconds !== undefined) {
      assertInteger(options.ttlSeconds, `${WHO}: option 'ttlSeconds'`, { min: 1 });
    }
    const logger = options.logger ?? consoleLogger;
    if (typeof logger?.warn !== 'function') {
      throw new BuddyError({
        code: 'INVALID_ARGUMENT',
        message: `${WHO}: option 'logger' must be a Logger ({ debug, warn, error }), got ${describeValue(options.logger)}`,
      });
    }
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    this.ttlSeconds = options.ttlSeconds;
    this.capabilities = Object.freeze({
      leaseReadsSession: true,
      appendReleasesLease: true,
      ...(options.ttlSeconds === undefined ? { restoresTimes: true } : {}),
    });
    this.#keys = new RedisKeys(this.prefix);
    this.#logger = logger;
    this.#connection = new RedisConnection(WHO, options, [
      ACQUIRE_LEASE,
      ACQUIRE_LEASE_READ,
      APPEND_RUN,
      APPEND_OUTCOME,
      UPSERT_SESSION,
      DELETE_SESSION,
      RENEW_LEASE,
      RELEASE_LEASE,
      INDEX_REPAIR,
      GET_RUNS,
      PRUNE_SESSION,
      APPEND_RUN_WRITE.raising,
      UPSERT_SESSION_WRITE.raising,
    ]);
    this.#index = new RedisSessionIndex(this.#connection, this.#keys, this.ttlSeconds, logger);
  }

  // ------------------------------------------------------------------ reads

  async getSession(
    sessionId: string,
    options?: { userId?: string },
  ): Promise<SessionRecord | undefined> {
    this.#connection.assertOpen();
    assertId(sessionId, 'sessionId');
    const { userId } = normalizeSessionOptions(options, 'getSession');
    const key = this.#keys.session(sessionId);
    const values = await this.#connection.run(
      'getSession',
      (client) => client.hmget(key, ...SESSION_FIELDS),
      sessionId,
    );
    // Ownership first, on the raw owner field: another user learns nothing, not even that the
    // record is corrupt.
    const owner = values[SESSION_FIELDS.indexOf('user_id')];
    const exists = values.some((value) => value !== null && value !== undefined);
    if (exists && !isAllowedOwner(orUndefined(owner), userId)) {
      throw sessionOwnershipError(sessionId, userId);
    }
    return this.#readRecord(sessionId, values);
  }

  async getRuns(input: GetRunsInput): Promise<StoredRun[]> {
    this.#connection.assertOpen();
    const query = normalizeGetRunsInput(input);
    const key = this.#keys.runs(query.sessionId);
    let raw: string[];
    if (query.last !== undefined) {
      if (query.last === 0) return [];
      // The newest runs: list positions from the end are the same whether or not `prune`
      // dropped older ones, so one LRANGE.
      const last = query.last;
      raw = await this.#connection.run(
        'getRuns',
        (client) => client.lrange(key, -last, -1),
        query.sessionId,
      );
    } else {
      if (query.limit === 0) return [];
      const { fromIndex, limit } = query;
      // By index: the script maps indexes to list positions past the runs `prune` dropped.
      raw = (await this.#connection.run(
        'getRuns',
        (client) =>
          callScript(
            client,
            GET_RUNS,
            [this.#keys.session(query.sessionId), key],
            [fromIndex, limit ?? -1],
          ),
        query.sessionId,
      )) as string[];
    }
    return raw.map((text) => parseStoredRun(text, query.sessionId));
  }

  async listSessions(input?: ListSessionsInput): Promise<ListSessionsResult> {
    this.#connection.assertOpen();
    return this.#index.list(normalizeListSessionsInput(input));
  }

  // ------------------------------------------------------------------ writes

  async upsertSession(input: UpsertSessionInput): Promise<SessionRecord> {
    this.#connection.assertOpen();
    assertUpsertSessionInput(input, this);
    const {
      sessionId,
      userId,
      agentId,
      sessionName,
      sessionState,
      summary,
      metadata,
      pendingRun,
      restoreTimes,
    } = input;
    const now = Date.now();
    const deadline = await this.#deadline(now, input.leaseToken, sessionId);
    const write: SessionWrite = {
      script: UPSERT_SESSION_WRITE,
      keys: [
        this.#keys.session(sessionId),
        this.#keys.runs(sessionId),
        this.#keys.runIds(sessionId),
        this.#keys.lease(sessionId),
      ],
      args: [
        userId === undefined ? '0' : '1',
        userId ?? '',
        agentId ?? '',
        sessionName === undefined ? '0' : '1',
        sessionName ?? '',
        sessionState === undefined ? '0' : '1',
        sessionState === undefined ? '' : JSON.stringify(sessionState),
        summary === undefined ? '0' : '1',
        summary === undefined ? '' : JSON.stringify(summary),
        summary === undefined ? '0' : String(summary.runsCovered),
        String(now),
        String(this.ttlSeconds ?? 0),
        input.expectedIncarnation ?? '',
        newIncarnation(),
        String(deadline),
        metadata === undefined ? '0' : '1',
        metadata === undefined ? '' : JSON.stringify(metadata),
        pendingRun === undefined ? '' : pendingRun === null ? 'clear' : 'set',
        pendingRun === undefined || pendingRun === null ? '' : JSON.stringify(pendingRun),
        input.leaseToken ?? '',
        restoreTimes === undefined ? '' : String(restoreTimes.createdAt),
        restoreTimes === undefined ? '' : String(restoreTimes.updatedAt),
      ],
    };
    const touched = this.#index.keysFor(this.#index.guess(input));
    const mark = this.#connection.sendMark();
    let raw: Reply;
    try {
      raw = await this.#write(sessionId, touched, String(now), write, 'upsertSession');
    } catch (error) {
      if (BuddyError.is(error) || isServerReply(error) || this.#connection.neverSent(mark)) {
        throw this.#connection.translate(error, 'upsertSession', sessionId);
      }
      throw new BuddyError({
        code: 'STORAGE_OUTCOME_UNKNOWN',
        message: `${WHO}.upsertSession: the reply for session ${describeValue(sessionId)} never came (${error instanceof Error ? error.message : String(error)}); the write may or may not be applied (never after its deadline); read the session before writing again`,
        cause: error,
        details: { backend: 'redis', operation: 'upsertSession', sessionId },
      });
    }
    const reply = parseUpsertReply(raw);
    if (reply.status !== 'ok') {
      // A refused write may have raised index entries of a session that stays as it was.
      await this.#index.reconcile(sessionId, touched, String(now), reply.truth);
      if (reply.status === 'owner') throw sessionOwnershipError(sessionId, userId);
      if (reply.status === 'gone') throw incarnationGoneError(sessionId);
      if (reply.status === 'lease') {
        if (input.leaseToken !== undefined) this.#leaseClocks.delete(input.leaseToken);
        throw leaseLostError(sessionId);
      }
      throw lateWriteError('upsertSession', sessionId);
    }
    const values = reply.values;
    const owners = {
      userId: orUndefined(values[SESSION_FIELDS.indexOf('user_id')]),
      agentId: orUndefined(values[SESSION_FIELDS.indexOf('agent_id')]),
    };
    this.#index.remember(sessionId, owners);
    const truth = {
      ...owners,
      updatedAt: orUndefined(values[SESSION_FIELDS.indexOf('updated_at')]),
    };
    if (restoreTimes === undefined) {
      await this.#index.reconcile(sessionId, touched, String(now), truth, reply.created);
    } else {
      // The entries were raised to now before the write; they go down to the restored time.
      await this.#index.place(sessionId, touched, String(now), truth);
    }
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
    assertAppendRunInput(input);
    const { sessionId, userId, agentId, sessionName, leaseToken } = input;
    // Releasing needs the token: without one there is no lease of this caller to free.
    const releaseLease = input.releaseLease === true && leaseToken !== undefined;
    const { index: _index, stateAfter: _stateAfter, ...run } = input.run as StoredRun;
    // The state is serialized once and sent once: the script writes it to the session hash and
    // as the run's `stateAfter` (`{"index":N,"stateAfter":<state>` + the rest of the run).
    const state = JSON.stringify(input.sessionState);
    const runTail = `,${JSON.stringify(run).slice(1)}`;
    const now = Date.now();
    const deadline = await this.#deadline(now, leaseToken, sessionId);
    const write: SessionWrite = {
      script: APPEND_RUN_WRITE,
      keys: [
        this.#keys.session(sessionId),
        this.#keys.runs(sessionId),
        this.#keys.lease(sessionId),
        this.#keys.runIds(sessionId),
      ],
      args: [
        leaseToken ?? '',
        userId === undefined ? '0' : '1',
        userId ?? '',
        agentId ?? '',
        sessionName === undefined ? '0' : '1',
        sessionName ?? '',
        state,
        runTail,
        String(now),
        String(this.ttlSeconds ?? 0),
        releaseLease ? '1' : '0',
        run.runId,
        newIncarnation(),
        String(deadline),
        input.metadata === undefined ? '' : JSON.stringify(input.metadata),
        input.clearPendingRun === true ? '1' : '0',
      ],
    };
    const touched = this.#index.keysFor(this.#index.guess(input));
    const mark = this.#connection.sendMark();
    const sentAt = Date.now();
    let reply: AppendReply;
    try {
      reply = parseAppendReply(
        await this.#write(sessionId, touched, String(now), write, 'appendRun'),
      );
    } catch (error) {
      if (BuddyError.is(error) || isServerReply(error) || this.#connection.neverSent(mark)) {
        throw this.#connection.translate(error, 'appendRun', sessionId);
      }
      return this.#resolveAppend(sessionId, run.runId, deadline, error, leaseToken);
    }
    this.#clock.observe(sampleClock(reply.serverMs, sentAt, Date.now()));
    if (reply.status !== 'ok') return this.#refusedAppend(reply, input, touched, String(now));
    this.#index.remember(sessionId, reply.owners);
    if (reply.released && leaseToken !== undefined) this.#leaseClocks.delete(leaseToken);
    await this.#index.reconcile(
      sessionId,
      touched,
      String(now),
      { ...reply.owners, updatedAt: reply.updatedAt },
      reply.created,
    );
    return {
      index: reply.index,
      version: reply.version,
      updatedAt: Number(reply.updatedAt),
      ...(reply.released ? { leaseReleased: true } : {}),
    };
  }

  /** A `dup` append is its first result; every other refusal is thrown, indexes put right. */
  async #refusedAppend(
    reply: Exclude<AppendReply, { status: 'ok' }>,
    input: AppendRunInput,
    touched: readonly string[],
    triedScore: string,
  ): Promise<AppendRunResult> {
    const { sessionId, leaseToken } = input;
    if (reply.status === 'dup') {
      if (leaseToken !== undefined && input.releaseLease === true)
        this.#leaseClocks.delete(leaseToken);
      return reply.result;
    }
    // The entries raised for a write that did not happen are put back where the session is.
    await this.#index.reconcile(sessionId, touched, triedScore, reply.truth);
    if (reply.status === 'late') throw lateWriteError('appendRun', sessionId);
    if (reply.status === 'lease') {
      if (leaseToken !== undefined) this.#leaseClocks.delete(leaseToken);
      throw leaseLostError(sessionId);
    }
    throw sessionOwnershipError(sessionId, input.userId);
  }

  async acquireLease(input: AcquireLeaseInput): Promise<SessionLease> {
    this.#connection.assertOpen();
    assertLeaseInput(input);
    const { sessionId, ttlMs } = input;
    const key = this.#keys.lease(sessionId);
    const token = randomUUID();
    const connection = this.#connection;
    const leaseClocks = this.#leaseClocks;
    const release = async (): Promise<void> => {
      leaseClocks.delete(token);
      await connection.run(
        'releaseLease',
        (client) => callScript(client, RELEASE_LEASE, [key], [token]),
        sessionId,
      );
    };
    const readSession = input.readSession === true;
    const sessionKey = this.#keys.session(sessionId);
    const values = await waitForLease(
      async () => {
        connection.assertOpen();
        const sentAt = Date.now();
        const reply = (await connection.run(
          'acquireLease',
          (client) =>
            readSession
              ? callScript(client, ACQUIRE_LEASE_READ, [key, sessionKey], [token, ttlMs])
              : callScript(client, ACQUIRE_LEASE, [key], [token, ttlMs]),
          sessionId,
        )) as Reply;
        if (reply[0] === 'corrupt') {
          // The script already freed a lease it took; the reason names the problem.
          throw connection.translate(
            new ReplyError(`WRONGTYPE ${String(reply[1])}`),
            'acquireLease',
            sessionId,
          );
        }
        const sample = sampleClock(Number(reply[1]), sentAt, Date.now());
        this.#clock.observe(sample);
        if (reply[0] === 'busy') return undefined;
        this.#rememberLeaseClock(token, sample);
        return reply.slice(2);
      },
      { sessionId, waitMs: input.waitMs, signal: input.signal },
    );
    let session: SessionRecord | null | undefined;
    if (readSession) {
      try {
        session = this.#readRecord(sessionId, values) ?? null;
      } catch (error) {
        // A corrupt record must not leave the session locked until the lease expires.
        await release().catch(() => undefined);
        throw error;
      }
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

  async deleteSession(sessionId: string, options?: { userId?: string }): Promise<boolean> {
    this.#connection.assertOpen();
    assertId(sessionId, 'sessionId');
    const { userId } = normalizeSessionOptions(options, 'deleteSession');
    let reply = await this.#delete(sessionId, userId, false);
    if (reply.status === 'corrupt' && userId !== undefined) {
      // A session key of the wrong type has no readable owner: the user's index vouches for it.
      const score = await this.#connection.run(
        'deleteSession',
        (client) => client.zscore(this.#keys.userIndex(userId), sessionId),
        sessionId,
      );
      if (score === null) throw sessionOwnershipError(sessionId, userId);
      reply = await this.#delete(sessionId, userId, true);
      await this.#index.removeEntries(this.#keys.userIndex(userId), [
        { member: sessionId, score: Number(score) },
      ]);
    }
    if (reply.status === 'owner' || reply.status === 'corrupt') {
      throw sessionOwnershipError(sessionId, userId);
    }
    this.#index.forget(sessionId);
    if (reply.status !== 'deleted') return false;
    await this.#index.dropDeleted([{ sessionId, truth: reply.truth }]);
    return true;
  }

  async deleteUserData(userId: string): Promise<number> {
    this.#connection.assertOpen();
    assertId(userId, 'userId');
    const userKey = this.#keys.userIndex(userId);
    const seen = new Set<string>();
    let deleted = 0;
    for (;;) {
      const entries = toEntries(
        await this.#connection.run('deleteUserData', (client) =>
          client.zrange(userKey, '0', String(DELETE_BATCH - 1), 'WITHSCORES'),
        ),
      );
      const fresh = entries.filter((entry) => !seen.has(`${entry.member}\u0000${entry.score}`));
      if (fresh.length === 0) return deleted;
      for (const entry of fresh) seen.add(`${entry.member}\u0000${entry.score}`);
      const replies = await this.#connection.batchValues(
        fresh.map(
          (entry) => (target: ScriptTarget) =>
            callScript(target, DELETE_SESSION, this.#sessionKeys(entry.member), ['1', userId, '1']),
        ),
        'deleteUserData',
      );
      const dropped: { sessionId: string; truth: IndexTruth }[] = [];
      replies.forEach((raw, position) => {
        const sessionId = (fresh[position] as { member: string }).member;
        const reply = parseDeleteReply(raw as Reply);
        this.#index.forget(sessionId);
        if (reply.status === 'deleted') {
          deleted++;
          dropped.push({ sessionId, truth: reply.truth });
        }
      });
      // Every entry read is gone now (deleted, or stale: session gone or someone else's), unless a
      // write raised it meanwhile (its session may be being created again): that one stays.
      await this.#index.removeEntries(userKey, fresh);
      await this.#index.dropDeleted(dropped, userKey);
    }
  }

  /**
   * Retention (SPEC §15.2). Walks that user's index (`u:{user}`), or `all` without a user, oldest
   * first in keyset pages (never `SCAN`); with only `olderThan`, just the entries before it. Each
   * session is judged by one script on its own slot, on its stored `updated_at` (an index entry
   * may be stale): deleted with its runs, run ids and lease when older, else its runs beyond
   * `keepLastRuns` (and covered by its summary) dropped from the front of its list. Deleted
   * sessions leave their indexes like `deleteSession`; kept ones keep their entries (misplaced
   * ones are put right on the way). A session it cannot read is skipped and reported through
   * `logger`. Every session step carries a write deadline; a late or failed step rejects with a
   * retryable error after the rest of its page is handled. Running it again is always safe.
   */
  async prune(input: PruneInput): Promise<PruneResult> {
    this.#connection.assertOpen();
    const { olderThan, keepLastRuns, userId } = normalizePruneInput(input);
    const indexKey = userId === undefined ? this.#keys.allIndex() : this.#keys.userIndex(userId);
    const below = keepLastRuns === undefined ? olderThan : undefined;
    const args = [
      userId === undefined ? '0' : '1',
      userId ?? '',
      olderThan === undefined ? '' : String(olderThan),
      keepLastRuns === undefined ? '' : String(keepLastRuns),
    ];
    let sessionsDeleted = 0;
    let runsDeleted = 0;
    let position: IndexEntry | undefined;
    for (;;) {
      const page = await this.#index.readAscending(indexKey, position, PRUNE_BATCH, below);
      const first = page[0];
      if (first === undefined) break;
      position = page.at(-1);
      const deadline = await this.#deadline(Date.now(), undefined, first.member);
      const results = await this.#connection.batch(
        page.map(
          (entry) => (target: ScriptTarget) =>
            callScript(target, PRUNE_SESSION, this.#sessionKeys(entry.member), [
              ...args,
              String(deadline),
            ]),
        ),
        'prune',
      );
      const staleBefore = Date.now() - INDEX_GRACE_MS;
      const deleted: IndexEntry[] = [];
      const dropped: { sessionId: string; truth: IndexTruth }[] = [];
      const repairs: { entry: IndexEntry; score: string }[] = [];
      let failure: BuddyError | undefined;
      results.forEach((result, offset) => {
        const entry = page[offset] as IndexEntry;
        const sessionId = entry.member;
        if (result.error !== undefined) {
          failure ??= this.#connection.translate(result.error, 'prune', sessionId);
          return;
        }
        const reply = parsePruneReply(result.value as Reply);
        switch (reply.status) {
          case 'deleted':
            sessionsDeleted++;
            runsDeleted += reply.runsDeleted;
            this.#index.forget(sessionId);
            deleted.push(entry);
            dropped.push({ sessionId, truth: reply.truth });
            break;
          case 'kept':
            runsDeleted += reply.runsDeleted;
            if (Number(reply.truth.updatedAt) !== entry.score) {
              repairs.push({ entry, score: String(reply.truth.updatedAt) });
            }
            break;
          case 'missing':
          case 'owner':
            // An entry of a session that is gone or someone else's: removed once surely stale.
            if (entry.score < staleBefore) repairs.push({ entry, score: '' });
            break;
          case 'corrupt':
            this.#logger.warn(
              `${WHO}: prune skipped session ${describeValue(sessionId)}: it is corrupt (${reply.reason})`,
              { sessionId, error: reply.reason },
            );
            break;
          case 'late':
            failure ??= lateWriteError('prune', sessionId);
            break;
        }
      });
      // Like deleteUserData: the entries read go at the score they were read with, the other
      // indexes of each deleted session at its stored score.
      await this.#index.removeEntries(indexKey, deleted);
      await this.#index.dropDeleted(dropped, indexKey);
      await this.#index.repairEntries(indexKey, repairs);
      if (failure !== undefined) throw failure;
      if (page.length < PRUNE_BATCH) break;
    }
    return { sessionsDeleted, runsDeleted };
  }

  /** Idempotent. Closes the client only if this storage created it. */
  async close(): Promise<void> {
    this.#leaseClocks.clear();
    await this.#connection.close();
  }

  /** The same as `close()`, for `await using storage = new RedisStorage(...)`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ------------------------------------------------------------------ internals

  #sessionKeys(sessionId: string): string[] {
    return [
      this.#keys.session(sessionId),
      this.#keys.runs(sessionId),
      this.#keys.lease(sessionId),
      this.#keys.runIds(sessionId),
    ];
  }

  async #delete(
    sessionId: string,
    userId: string | undefined,
    trusted: boolean,
  ): Promise<DeleteReply> {
    const raw = (await this.#connection.run(
      'deleteSession',
      (client) =>
        callScript(client, DELETE_SESSION, this.#sessionKeys(sessionId), [
          userId === undefined ? '0' : '1',
          userId ?? '',
          trusted ? '1' : '0',
        ]),
      sessionId,
    )) as Reply;
    return parseDeleteReply(raw);
  }

  #rememberLeaseClock(token: string, sample: ClockSample): void {
    this.#leaseClocks.set(token, sample);
    if (this.#leaseClocks.size > MAX_LEASE_CLOCKS) {
      const oldest = this.#leaseClocks.keys().next().value;
      if (oldest !== undefined) this.#leaseClocks.delete(oldest);
    }
  }

  /**
   * The server time after which a write started at `startedAt` must not happen. The clock comes
   * from the lease (measured on the session's own server), else from the last reply that carried
   * it, else from one `TIME` round trip (once per storage).
   */
  async #deadline(
    startedAt: number,
    leaseToken: string | undefined,
    sessionId: string,
  ): Promise<number> {
    let sample =
      (leaseToken === undefined ? undefined : this.#leaseClocks.get(leaseToken)) ??
      this.#clock.sample;
    if (sample === undefined) {
      const sentAt = Date.now();
      const reply = (await this.#connection.run(
        'serverTime',
        (client) => callScript(client, APPEND_OUTCOME, [this.#keys.runIds(sessionId)], ['']),
        sessionId,
      )) as Reply;
      sample = sampleClock(Number(reply[0]), sentAt, Date.now());
      this.#clock.observe(sample);
    }
    return writeDeadline(sample, startedAt, this.#connection.commandTimeoutMs);
  }

  /**
   * Sends a session write with its index step: one command on a standalone server (the script's
   * `withIndexRaise` variant: the index raise, then the write), two steps on a Cluster (index
   * raise, then the script: they live in different slots). Resolves with the script's reply;
   * rejects with the raw error (or a translated one from the index step, before the script was
   * sent). Times out after the command timeout.
   */
  async #write(
    sessionId: string,
    indexKeys: readonly string[],
    score: string,
    write: SessionWrite,
    operation: string,
  ): Promise<Reply> {
    this.#connection.assertOpen();
    const timeoutMs = this.#connection.commandTimeoutMs;
    const timedOut = () => new Error(`Command timed out after ${timeoutMs} ms`);
    const client = this.#connection.client;
    const hook = this[afterIndexStep] as IndexStepHook | undefined;
    if (this.#connection.isCluster || hook !== undefined) {
      // On a standalone server only with the test hook: the index step alone, then the crash.
      await withTimeout(this.#index.raise(indexKeys, score, sessionId), timeoutMs, timedOut).catch(
        (error: unknown) => {
          throw this.#connection.translate(error, operation, sessionId);
        },
      );
      await hook?.(sessionId);
      return (await withTimeout(
        callScript(client, write.script.plain, write.keys, write.args) as Promise<Reply>,
        timeoutMs,
        timedOut,
      )) as Reply;
    }
    const sent = callScript(
      client,
      write.script.raising,
      [...write.keys, ...indexKeys],
      [...write.args, ...this.#index.raiseValues(score, sessionId)],
    ) as Promise<Reply>;
    // A client with its own command timeout rejects the call itself (after the same time).
    return this.#connection.timesOutCommands ? sent : withTimeout(sent, timeoutMs, timedOut);
  }

  /**
   * The truth about an append whose reply never came: asks the server (up to
   * `MAX_OUTCOME_PROBE_MS`) whether the run id is stored, and whether its clock is past the
   * append's deadline. Stored: the append's result. Not stored and past the deadline: it never
   * will be, a retryable `STORAGE_UNAVAILABLE`. No answer: `STORAGE_OUTCOME_UNKNOWN`.
   */
  async #resolveAppend(
    sessionId: string,
    runId: string,
    deadline: number,
    cause: unknown,
    leaseToken: string | undefined,
  ): Promise<AppendRunResult> {
    const budget = Math.min(this.#connection.commandTimeoutMs, MAX_OUTCOME_PROBE_MS);
    const giveUpAt = Date.now() + budget;
    const key = this.#keys.runIds(sessionId);
    const original = this.#connection.translate(cause, 'appendRun', sessionId);
    while (!this.#connection.isClosed) {
      const remaining = giveUpAt - Date.now();
      if (remaining <= 0) break;
      let reply: Reply;
      try {
        reply = (await withTimeout(
          callScript(this.#connection.client, APPEND_OUTCOME, [key], [runId]) as Promise<Reply>,
          remaining,
          () => new Error('no answer'),
        )) as Reply;
      } catch {
        await sleep(Math.min(100, giveUpAt - Date.now()));
        continue;
      }
      const serverMs = Number(reply[0]);
      const stored = orUndefined(reply[1]);
      if (stored !== undefined) {
        if (leaseToken !== undefined) this.#leaseClocks.delete(leaseToken);
        return parseStoredResult(stored);
      }
      if (serverMs > deadline) {
        throw new BuddyError({
          code: 'STORAGE_UNAVAILABLE',
          message: `${original.message}; run ${describeValue(runId)} was not stored and never will be (the server is past the write's deadline)`,
          cause,
          retryable: true,
          details: { backend: 'redis', operation: 'appendRun', sessionId, runId },
        });
      }
      // The write may still be on its way: once the server's clock passes the deadline it cannot.
      await sleep(Math.min(deadline - serverMs + 5, giveUpAt - Date.now()));
    }
    throw new BuddyError({
      code: 'STORAGE_OUTCOME_UNKNOWN',
      message: `${WHO}.appendRun: the reply for run ${describeValue(runId)} of session ${describeValue(sessionId)} never came (${original.message}) and the server did not answer within ${budget} ms; the run may or may not be stored (never after its deadline): read it with getRuns before retrying`,
      cause,
      details: { backend: 'redis', operation: 'appendRun', sessionId, runId },
    });
  }

  /** Builds and validates a record from `SESSION_FIELDS` values; `undefined` when absent. */
  #toRecord(sessionId: string, values: Reply): SessionRecord | undefined {
    if (values.every((value) => value === null || value === undefined)) return undefined;
    const [
      state,
      name,
      summary,
      version,
      runCount,
      createdAt,
      updatedAt,
      userId,
      agentId,
      incarnation,
      metadata,
      pendingRun,
    ] = values;
    return parseSessionRecord(
      {
        sessionId,
        ...(incarnation == null ? {} : { incarnation }),
        ...(agentId == null ? {} : { agentId }),
        ...(userId == null ? {} : { userId }),
        ...(name == null ? {} : { sessionName: name }),
        sessionState: state == null ? undefined : parseSessionState(state, sessionId),
        ...(summary == null ? {} : { summary: parseSessionSummary(summary, sessionId) }),
        createdAt: toNumber(createdAt),
        updatedAt: toNumber(updatedAt),
        version: toNumber(version),
        runCount: toNumber(runCount),
        ...(metadata == null ? {} : { metadata: parseJsonField(metadata, 'metadata', sessionId) }),
        ...(pendingRun == null
          ? {}
          : { pendingRun: parseJsonField(pendingRun, 'paused run', sessionId) }),
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
      this.#index.forget(sessionId);
      return undefined;
    }
    this.#index.remember(sessionId, { userId: record.userId, agentId: record.agentId });
    return record;
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
