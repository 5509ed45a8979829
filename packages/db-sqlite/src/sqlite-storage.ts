/**
 * `SqliteStorage`: `SessionStorage` on SQLite through better-sqlite3.
 *
 * Backend and connection: one better-sqlite3 connection per instance. With `dbFile` the storage
 * opens the file (WAL, `busy_timeout` 5 s, `synchronous = NORMAL`, `wal_autocheckpoint` 4000) and closes it in `close()`;
 * with `database` it uses the caller's connection as is and never closes it; with neither it opens
 * a private `:memory:` database (gone when closed, invisible to other connections).
 *
 * Layout: a session row (state, name, summary, counters) plus one row per run, so appending a run
 * writes one run row and a few columns, and `getRuns({ last })` reads only those rows. Every write
 * is a single `BEGIN IMMEDIATE` transaction; a per-session lease row serializes turns across
 * processes sharing the file. An agent turn is two transactions: `acquireLease({ readSession })`
 * claims the lease and reads the session row, `appendRun({ releaseLease })` appends the run and
 * deletes the lease row.
 *
 * Import tools restore a session's times (`upsertSession({ restoreTimes })`, capability
 * `restoresTimes`): one more statement in the upsert's transaction sets `created_at` /
 * `updated_at`, and the `updated_at` indexes (listing, `prune`) follow.
 *
 * Retention (`prune`) is one `BEGIN IMMEDIATE` transaction: old sessions are found through the
 * `updated_at` indexes, older runs are removed by `(session_id, idx)` ranges, and run indexes
 * never change. Session metadata and a run paused for approvals are JSON columns of the session
 * row; the listing filter on metadata runs on the rows of the indexed (per-user) read.
 *
 * Every method checks its input with core's shared validators (`@buddy/core/adapter-utils`)
 * before it touches the database, so a malformed run, state, summary, id or options object is
 * `INVALID_ARGUMENT` and nothing is written; those checks cost O(size of the input), never
 * O(history).
 *
 * Sharp edges:
 * - better-sqlite3 is synchronous. The async methods only wrap synchronous calls: a query blocks
 *   the event loop while it runs (microseconds for the small statements used here), and a write
 *   that waits for another process's lock blocks it for up to `busy_timeout`.
 * - Lease expiry compares wall clocks (`Date.now()`) of the processes sharing the file, which is
 *   fine on one machine. SQLite over a network file system is not supported (WAL needs shared
 *   memory).
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
  type Logger,
  type PruneInput,
  type PruneResult,
  type SessionInfo,
  type SessionLease,
  type SessionRecord,
  type SessionStorage,
  type SessionStorageCapabilities,
  type SessionSummaryRecord,
  type StoredRun,
  type UpsertSessionInput,
} from '@buddy/core';
import {
  assertAppendRunInput,
  assertId,
  assertLeaseInput,
  assertUpsertSessionInput,
  corruptLeaseError,
  encodeSessionCursor,
  incarnationGoneError,
  isAllowedOwner,
  leaseLostError,
  legacyIncarnation,
  metadataMatches,
  newIncarnation,
  normalizeGetRunsInput,
  normalizeListSessionsInput,
  normalizePruneInput,
  normalizeSessionOptions,
  parseSessionRecord,
  parseSessionState,
  parseSessionSummary,
  parseStoredRun,
  type SessionCursor,
  sessionOwnershipError,
  shouldReplaceSummary,
  waitForLease,
} from '@buddy/core/adapter-utils';
import type Database from 'better-sqlite3';
import { applyMigrations } from './internal/migrations.ts';
import {
  DEFAULT_SESSIONS_TABLE,
  SESSION_PAGE_CACHE_KIB,
  SESSION_PAGE_SIZE,
  type SessionTableNames,
  sessionMigrations,
  sessionSql,
  sessionTableNames,
} from './internal/session-schema.ts';
import {
  resolveConnectionOptions,
  SqliteConnection,
  type SqliteDatabase,
  toStorageError,
} from './internal/sqlite-connection.ts';

/** Options of `SqliteStorage`. Without `dbFile` and `database`, the data lives in `:memory:`. */
export interface SqliteStorageOptions {
  /**
   * Path of the database file, created if missing (its directory must exist). The storage owns
   * the connection and closes it in `close()`.
   */
  dbFile?: string;
  /** A better-sqlite3 connection you opened and close yourself. Its PRAGMAs are left as they are. */
  database?: SqliteDatabase;
  /**
   * Name of the sessions table (default `'buddy_sessions'`); the runs, leases and schema tables
   * are named `<tableName>$runs`, `<tableName>$leases` and `<tableName>$schema`.
   */
  tableName?: string;
  /**
   * Where the storage reports what it recovers from: a session skipped by `listSessions` because
   * its row cannot be read (`warn`), schema migrations applied on open (`debug`). Default
   * `consoleLogger` of `@buddy/core`.
   */
  logger?: Logger;
}

interface SessionRow {
  session_id: string;
  incarnation: string | null;
  user_id: string | null;
  agent_id: string | null;
  session_name: string | null;
  state: string;
  summary: string | null;
  version: number;
  run_count: number;
  created_at: number;
  updated_at: number;
  metadata: string | null;
  pending_run: string | null;
}

interface SessionHeadRow {
  user_id: string | null;
  version: number;
  run_count: number;
  updated_at: number;
}

interface UpsertCheckRow {
  user_id: string | null;
  incarnation: string | null;
  created_at: number;
  summary: string | null;
}

/** A listing row as SQLite returns it: checked before it becomes a `SessionInfo`. */
interface SessionInfoRow {
  session_id: unknown;
  user_id: unknown;
  agent_id: unknown;
  session_name: unknown;
  created_at: unknown;
  updated_at: unknown;
  metadata: unknown;
}

/** A listing row ready to be listed: its metadata already parsed. */
interface ListedRow {
  info: SessionInfo;
  metadata: Record<string, unknown> | undefined;
}

/** A session `prune({ keepLastRuns })` may shorten; `runs_covered` is `'corrupt'` when unknown. */
interface PruneCandidateRow {
  session_id: string;
  run_count: number;
  runs_covered: number | 'corrupt' | null;
}

/** What `upsertSession` writes, serialized before the transaction. */
interface UpsertColumns {
  state: string | null;
  summary: string | null;
  metadata: string | null;
  /** `'set'` writes `pendingRun`, `'clear'` removes it, `'keep'` leaves the column alone. */
  pendingRunChange: 'set' | 'clear' | 'keep';
  pendingRun: string | null;
}

/** A lease row as SQLite returns it: a row edited into another shape must not look held. */
interface LeaseRow {
  token: unknown;
  expires_at: unknown;
}

/** A taken lease; `session` is `undefined` unless `readSession` asked for it. */
interface Claim {
  session: SessionRecord | null | undefined;
}

interface RunRow {
  idx: number;
  run: string;
}

const WHO = 'SqliteStorage';

/** Rows read per step when listing with a metadata filter. */
const FILTER_BATCH = 200;
/** Listing without a cursor starts "after" this position, i.e. at the newest session. */
const CURSOR_START: SessionCursor = { updatedAt: Number.MAX_SAFE_INTEGER, sessionId: '' };

function optional<TKey extends string, TValue>(
  key: TKey,
  value: TValue | null | undefined,
): { [K in TKey]?: TValue } {
  return (value === null || value === undefined ? {} : { [key]: value }) as {
    [K in TKey]?: TValue;
  };
}

/** An id for a message, in full: `describeValue` would shorten a long one. */
function quoteId(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : describeValue(value);
}

/** The incarnation a row reads as: rows from before the column existed derive it. */
function incarnationOf(row: { incarnation: string | null; created_at: number }): string {
  return row.incarnation ?? legacyIncarnation(row.created_at);
}

function isLeaseRow(row: LeaseRow): row is { token: string; expires_at: number } {
  return (
    typeof row.token === 'string' &&
    typeof row.expires_at === 'number' &&
    Number.isFinite(row.expires_at)
  );
}

/** A parsed metadata column: a JSON object, or `undefined` for NULL; `problem` when unreadable. */
function metadataColumn(value: unknown): { metadata?: Record<string, unknown>; problem?: string } {
  if (value === null) return {};
  if (typeof value !== 'string') return { problem: 'its metadata is not text' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return { problem: 'its metadata is not valid JSON' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { problem: 'its metadata is not a JSON object' };
  }
  return { metadata: parsed as Record<string, unknown> };
}

/** A listing row as a `SessionInfo`, or why it cannot be listed. */
function toListedRow(row: SessionInfoRow): ListedRow | string {
  if (typeof row.session_id !== 'string') return 'its session_id is not text';
  for (const column of ['user_id', 'agent_id', 'session_name'] as const) {
    const value = row[column];
    if (value !== null && typeof value !== 'string') return `its ${column} is not text`;
  }
  for (const column of ['created_at', 'updated_at'] as const) {
    const value = row[column];
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      return `its ${column} is not a number (${describeValue(value)})`;
    }
  }
  const { metadata, problem } = metadataColumn(row.metadata);
  if (problem !== undefined) return problem;
  return {
    info: {
      sessionId: row.session_id,
      ...optional('sessionName', row.session_name as string | null),
      ...optional('userId', row.user_id as string | null),
      ...optional('agentId', row.agent_id as string | null),
      createdAt: row.created_at as number,
      updatedAt: row.updated_at as number,
      ...optional('metadata', metadata),
    },
    metadata,
  };
}

/** A JSON column of a session row (`metadata`, `pending_run`), parsed; `STORAGE_CORRUPT` if not JSON. */
function parseJsonColumn(raw: string | null, sessionId: string, column: string): unknown {
  if (raw === null) return undefined;
  try {
    return JSON.parse(raw);
  } catch (error) {
    throw new BuddyError({
      code: 'STORAGE_CORRUPT',
      message: `Session ${describeValue(sessionId)} is corrupt: its ${column} column is not valid JSON`,
      cause: error,
      details: { backend: 'sqlite', sessionId },
    });
  }
}

/**
 * Session storage on SQLite.
 *
 * @example
 * import { Agent } from '@buddy/core';
 * import { SqliteStorage } from '@buddy/db-sqlite';
 *
 * await using storage = new SqliteStorage({ dbFile: 'agent.db' });
 * const agent = new Agent({ model, storage, userId: 'dana@example.com' });
 * await agent.run('Add milk to my cart');
 */
export class SqliteStorage implements SessionStorage {
  readonly specificationVersion = 'v1' as const;
  readonly backend = 'sqlite';
  /**
   * Both optional lease capabilities (an agent turn is two transactions), and `restoreTimes` for
   * import tools.
   */
  readonly capabilities: SessionStorageCapabilities = Object.freeze({
    leaseReadsSession: true,
    appendReleasesLease: true,
    restoresTimes: true,
  });
  /** The sessions table; the others derive from it. */
  readonly tableName: string;
  readonly #connection: SqliteConnection;
  readonly #statements: Statements;
  readonly #appendRun: Database.Transaction<
    (input: AppendRunInput, state: string, runTail: string) => AppendRunResult
  >;
  readonly #upsertSession: Database.Transaction<
    (input: UpsertSessionInput, columns: UpsertColumns) => SessionRecord
  >;
  readonly #claimLease: Database.Transaction<
    (sessionId: string, token: string, ttlMs: number, readSession: boolean) => Claim | undefined
  >;
  readonly #deleteSession: Database.Transaction<
    (sessionId: string, userId: string | undefined) => boolean
  >;
  readonly #deleteUserData: Database.Transaction<(userId: string) => number>;
  readonly #prune: Database.Transaction<(input: PruneInput) => PruneResult>;

  constructor(options?: SqliteStorageOptions) {
    const resolved = resolveConnectionOptions(options, WHO, DEFAULT_SESSIONS_TABLE);
    this.tableName = resolved.tableName;
    const names = sessionTableNames(resolved.tableName);
    const connection = new SqliteConnection(resolved, WHO, {
      cacheSizeKiB: SESSION_PAGE_CACHE_KIB,
      pageSize: SESSION_PAGE_SIZE,
    });
    this.#connection = connection;
    try {
      applyMigrations(connection.db, {
        schemaTable: names.schema,
        component: 'sessions',
        tableName: names.sessions,
        who: WHO,
        migrations: sessionMigrations(names),
        logger: resolved.logger,
      });
      this.#statements = prepareStatements(connection, names);
    } catch (error) {
      const mapped = toStorageError(error, {
        who: WHO,
        operation: 'open',
        database: connection.db,
      });
      connection.close();
      throw mapped;
    }
    const db = connection.db;
    this.#appendRun = db.transaction((input: AppendRunInput, state: string, runTail: string) =>
      this.#appendRunInTransaction(input, state, runTail),
    );
    this.#upsertSession = db.transaction((input: UpsertSessionInput, columns: UpsertColumns) =>
      this.#upsertSessionInTransaction(input, columns),
    );
    // Free or expired: take it. Held: `changes` is 0 and the caller waits and retries.
    this.#claimLease = db.transaction(
      (sessionId: string, token: string, ttlMs: number, readSession: boolean) => {
        const statements = this.#statements;
        const now = Date.now();
        const claimed = statements.claimLease.run({
          sessionId,
          token,
          expiresAt: now + ttlMs,
          now,
        });
        if (claimed.changes !== 1) {
          // Only on the busy path: a row of the wrong shape (a text expires_at sorts after every
          // number, so it would never expire) is reported instead of waited on.
          const held = statements.selectLease.get(sessionId);
          if (held !== undefined && !isLeaseRow(held)) throw corruptLeaseError(sessionId, held);
          return undefined;
        }
        if (!readSession) return { session: undefined };
        // Read under the same write lock, so the record is exactly what this holder starts from.
        // A corrupt row throws here, which rolls the claim back: the lease is not kept.
        const row = statements.selectSession.get(sessionId);
        return { session: row === undefined ? null : rowToRecord(row) };
      },
    );
    this.#deleteSession = db.transaction((sessionId: string, userId: string | undefined) =>
      this.#deleteSessionInTransaction(sessionId, userId),
    );
    this.#deleteUserData = db.transaction((userId: string) => {
      const statements = this.#statements;
      statements.deleteUserRuns.run(userId);
      statements.deleteUserLeases.run(userId);
      return statements.deleteUserSessions.run(userId).changes;
    });
    this.#prune = db.transaction((input: PruneInput) => this.#pruneInTransaction(input));
  }

  async getSession(
    sessionId: string,
    options?: { userId?: string },
  ): Promise<SessionRecord | undefined> {
    return this.#connection.run('getSession', () => {
      assertId(sessionId, 'sessionId');
      const { userId } = normalizeSessionOptions(options, 'getSession');
      const row = this.#statements.selectSession.get(sessionId);
      if (row === undefined) return undefined;
      // Ownership first: another user learns nothing, not even that the row is corrupt.
      if (!isAllowedOwner(row.user_id ?? undefined, userId)) {
        throw sessionOwnershipError(sessionId, userId);
      }
      return rowToRecord(row);
    });
  }

  async upsertSession(input: UpsertSessionInput): Promise<SessionRecord> {
    return this.#connection.run('upsertSession', () => {
      assertUpsertSessionInput(input, this);
      // The validator guarantees JSON values, so serializing cannot fail or drop anything.
      const json = (value: unknown) => (value === undefined ? null : JSON.stringify(value));
      const columns: UpsertColumns = {
        state: json(input.sessionState),
        summary: json(input.summary),
        metadata: json(input.metadata),
        pendingRunChange:
          input.pendingRun === undefined ? 'keep' : input.pendingRun === null ? 'clear' : 'set',
        pendingRun: input.pendingRun === null ? null : json(input.pendingRun),
      };
      return this.#upsertSession.immediate(input, columns);
    });
  }

  #upsertSessionInTransaction(input: UpsertSessionInput, columns: UpsertColumns): SessionRecord {
    const statements = this.#statements;
    const { sessionId } = input;
    const existing = statements.selectSessionForUpsert.get(sessionId);
    // Checked under the write lock: a summary finishing after deleteSession (or after the
    // session was deleted and created again) cannot bring the old incarnation back.
    if (
      input.expectedIncarnation !== undefined &&
      (existing === undefined || incarnationOf(existing) !== input.expectedIncarnation)
    ) {
      throw incarnationGoneError(sessionId);
    }
    if (existing !== undefined && !isAllowedOwner(existing.user_id ?? undefined, input.userId)) {
      throw sessionOwnershipError(sessionId, input.userId);
    }
    // Fenced like appendRun: a holder whose lease expired or was taken over writes nothing.
    if (input.leaseToken !== undefined) this.#assertLeaseHeld(sessionId, input.leaseToken);
    if (existing === undefined) {
      // Rows left behind by an interrupted manual delete must not shift the new session's runs.
      statements.deleteRuns.run(sessionId);
      statements.insertSession.run({
        sessionId,
        incarnation: newIncarnation(),
        userId: input.userId ?? null,
        agentId: input.agentId ?? null,
        sessionName: input.sessionName ?? null,
        state: columns.state ?? '{}',
        summary: columns.summary,
        runCount: 0,
        now: Date.now(),
        metadata: columns.metadata,
        pendingRun: columns.pendingRun,
      });
    } else {
      // The monotonic summary rule is checked here, inside the write lock, so a slow summarizer
      // in another process cannot replace a newer summary.
      let replaceSummary = false;
      if (input.summary !== undefined) {
        const stored: SessionSummaryRecord | undefined =
          existing.summary === null ? undefined : parseSessionSummary(existing.summary, sessionId);
        replaceSummary = shouldReplaceSummary(stored, input.summary);
      }
      statements.updateSession.run({
        sessionId,
        state: columns.state,
        sessionName: input.sessionName ?? null,
        replaceSummary: replaceSummary ? 1 : 0,
        summary: replaceSummary ? columns.summary : null,
        metadata: columns.metadata,
        pendingRunChange: columns.pendingRunChange,
        pendingRun: columns.pendingRun,
        now: Date.now(),
      });
    }
    if (input.restoreTimes !== undefined) {
      statements.restoreSessionTimes.run({
        sessionId,
        incarnation: existing === undefined ? null : incarnationOf(existing),
        createdAt: input.restoreTimes.createdAt,
        updatedAt: input.restoreTimes.updatedAt,
      });
    }
    const row = statements.selectSession.get(sessionId);
    if (row === undefined) throw new Error(`the row of session ${sessionId} vanished`);
    // A corrupt stored column makes this throw, which rolls the write back.
    return rowToRecord(row);
  }

  async appendRun(input: AppendRunInput): Promise<AppendRunResult> {
    return this.#connection.run('appendRun', () => {
      assertAppendRunInput(input);
      // Serialized before the transaction so the write lock is held as briefly as possible. The
      // validator guarantees JSON values, so serializing cannot fail or drop anything.
      const state = JSON.stringify(input.sessionState);
      const { index: _index, stateAfter: _stateAfter, ...run } = input.run as StoredRun;
      // The run's JSON without its index, which only the transaction knows (it prefixes
      // `{"index":N,`); the state is serialized once for the session row and for `stateAfter`.
      const runTail = `"stateAfter":${state},${JSON.stringify(run).slice(1)}`;
      return this.#appendRun.immediate(input, state, runTail);
    });
  }

  #appendRunInTransaction(input: AppendRunInput, state: string, runTail: string): AppendRunResult {
    const statements = this.#statements;
    const { sessionId, leaseToken } = input;
    const now = Date.now();
    const releaseLease = input.releaseLease === true && leaseToken !== undefined;
    if (releaseLease) {
      // Fencing and release in one statement: only a live lease of this token is deleted. A later
      // failure rolls the delete back, so the holder keeps its lease when nothing was written.
      const released = statements.releaseLiveLease.run({ sessionId, token: leaseToken, now });
      if (released.changes !== 1) throw this.#lostLease(sessionId);
    } else if (leaseToken !== undefined) {
      this.#assertLeaseHeld(sessionId, leaseToken, now);
    }
    // One statement on the session row for an existing session of this owner; the state, the
    // summary and older runs are never read.
    const updated = statements.updateSessionAfterRun.get({
      sessionId,
      userId: input.userId ?? null,
      state,
      sessionName: input.sessionName ?? null,
      clearPendingRun: input.clearPendingRun === true ? 1 : 0,
      now,
    });
    let result: AppendRunResult;
    if (updated !== undefined) {
      result = {
        index: updated.run_count - 1,
        incarnation: incarnationOf(updated),
        version: updated.version,
        updatedAt: updated.updated_at,
      };
    } else {
      // No row updated: another user's session, or a new one.
      if (statements.selectSessionHead.get(sessionId) !== undefined) {
        throw sessionOwnershipError(sessionId, input.userId);
      }
      // Rows left behind by an interrupted manual delete must not shift the new session's runs.
      const incarnation = newIncarnation();
      statements.deleteRuns.run(sessionId);
      statements.insertSession.run({
        sessionId,
        incarnation,
        userId: input.userId ?? null,
        agentId: input.agentId ?? null,
        sessionName: input.sessionName ?? null,
        state,
        summary: null,
        runCount: 1,
        now,
        // Metadata is recorded at creation only; a new session has nothing paused.
        metadata: input.metadata === undefined ? null : JSON.stringify(input.metadata),
        pendingRun: null,
      });
      result = { index: 0, incarnation, version: 1, updatedAt: now };
    }
    statements.insertRun.run(sessionId, result.index, `{"index":${result.index},${runTail}`);
    if (releaseLease) result.leaseReleased = true;
    return result;
  }

  /** Throws unless `token` holds a live lease on the session (checked inside the write). */
  #assertLeaseHeld(sessionId: string, token: string, now = Date.now()): void {
    const lease = this.#statements.selectLease.get(sessionId);
    if (lease !== undefined && !isLeaseRow(lease)) throw corruptLeaseError(sessionId, lease);
    if (lease === undefined || lease.token !== token || lease.expires_at <= now) {
      throw leaseLostError(sessionId);
    }
  }

  /** Why a fenced append found no live lease of its token: lost, or a row of the wrong shape. */
  #lostLease(sessionId: string): BuddyError {
    const lease = this.#statements.selectLease.get(sessionId);
    return lease !== undefined && !isLeaseRow(lease)
      ? corruptLeaseError(sessionId, lease)
      : leaseLostError(sessionId);
  }

  async getRuns(input: GetRunsInput): Promise<StoredRun[]> {
    return this.#connection.run('getRuns', () => {
      const query = normalizeGetRunsInput(input);
      const statements = this.#statements;
      let rows: RunRow[];
      if (query.last !== undefined) {
        rows =
          query.last === 0
            ? []
            : statements.selectLastRuns.all(query.sessionId, query.last).reverse();
      } else {
        rows = statements.selectRunsFrom.all({
          sessionId: query.sessionId,
          from: query.fromIndex,
          end: query.limit === undefined ? Number.MAX_SAFE_INTEGER : query.fromIndex + query.limit,
        });
      }
      return rows.map((row) => parseStoredRun(row.run, query.sessionId));
    });
  }

  async acquireLease(input: AcquireLeaseInput): Promise<SessionLease> {
    this.#connection.run('acquireLease', () => assertLeaseInput(input));
    const { sessionId, ttlMs } = input;
    const readSession = input.readSession === true;
    const token = randomUUID();
    const { session } = await waitForLease(
      () =>
        this.#connection.run('acquireLease', () =>
          this.#claimLease.immediate(sessionId, token, ttlMs, readSession),
        ),
      { sessionId, waitMs: input.waitMs, signal: input.signal },
    );
    const statements = this.#statements;
    return {
      sessionId,
      token,
      ...(session === undefined ? {} : { session }),
      renew: async () =>
        this.#connection.run('renewLease', () => {
          const now = Date.now();
          const { changes } = statements.renewLease.run({
            sessionId,
            token,
            expiresAt: now + ttlMs,
            now,
          });
          if (changes === 0) throw leaseLostError(sessionId);
        }),
      release: async () =>
        this.#connection.run('releaseLease', () => {
          statements.releaseLease.run(sessionId, token);
        }),
    };
  }

  async listSessions(input?: ListSessionsInput): Promise<ListSessionsResult> {
    return this.#connection.run('listSessions', () => {
      const query = normalizeListSessionsInput(input);
      const { list, unsortable } = this.#listingStatements(query.userId, query.agentId);
      const filter = {
        ...(query.userId === undefined ? {} : { userId: query.userId }),
        ...(query.agentId === undefined ? {} : { agentId: query.agentId }),
      };
      if (query.cursor === undefined) {
        // Once per listing (on its first page): rows the keyset order can never reach.
        for (const { session_id: sessionId } of unsortable.all(filter)) {
          this.#reportSkipped(sessionId, 'its updated_at is not a number');
        }
      }
      // One extra row tells whether another page exists. A row that cannot be read is skipped
      // (and reported), and so is a row the metadata filter rejects (applied here, after the
      // indexed read of that user's sessions): the page is filled up from the rows after them,
      // and the cursor is the last session returned, so the keyset order stays exact.
      const sessions: SessionInfo[] = [];
      let after = query.cursor ?? CURSOR_START;
      for (;;) {
        const wanted = query.limit + 1 - sessions.length;
        // With a filter most rows may not match: read bigger batches (rows past the page are
        // dropped, which is safe because the cursor comes from the page).
        const batch = query.metadata === undefined ? wanted : Math.max(wanted, FILTER_BATCH);
        const rows = list.all({
          ...filter,
          cursorUpdatedAt: after.updatedAt,
          cursorSessionId: after.sessionId,
          limit: batch,
        });
        for (const row of rows) {
          const listed = toListedRow(row);
          if (typeof listed === 'string') this.#reportSkipped(row.session_id, listed);
          else if (metadataMatches(listed.metadata, query.metadata)) sessions.push(listed.info);
        }
        const last = rows.at(-1);
        if (rows.length < batch || sessions.length > query.limit || last === undefined) break;
        after = { updatedAt: last.updated_at as number, sessionId: last.session_id as string };
      }
      const page = sessions.slice(0, query.limit);
      const last = page.at(-1);
      return sessions.length > query.limit && last !== undefined
        ? { sessions: page, nextCursor: encodeSessionCursor(last) }
        : { sessions: page };
    });
  }

  #listingStatements(userId: string | undefined, agentId: string | undefined) {
    const statements = this.#statements;
    if (userId !== undefined && agentId !== undefined) {
      return {
        list: statements.listByUserAndAgent,
        unsortable: statements.unsortableByUserAndAgent,
      };
    }
    if (userId !== undefined) {
      return { list: statements.listByUser, unsortable: statements.unsortableByUser };
    }
    if (agentId !== undefined) {
      return { list: statements.listByAgent, unsortable: statements.unsortableByAgent };
    }
    return { list: statements.listAll, unsortable: statements.unsortableAll };
  }

  #reportSkipped(sessionId: unknown, problem: string): void {
    this.#connection.logger.warn(
      `${WHO}.listSessions skipped session ${quoteId(sessionId)}: its row is corrupt (${problem}); deleteSession removes it`,
      { backend: 'sqlite', sessionId: typeof sessionId === 'string' ? sessionId : undefined },
    );
  }

  async deleteSession(sessionId: string, options?: { userId?: string }): Promise<boolean> {
    return this.#connection.run('deleteSession', () => {
      assertId(sessionId, 'sessionId');
      const { userId } = normalizeSessionOptions(options, 'deleteSession');
      return this.#deleteSession.immediate(sessionId, userId);
    });
  }

  #deleteSessionInTransaction(sessionId: string, userId: string | undefined): boolean {
    const statements = this.#statements;
    const head = statements.selectSessionHead.get(sessionId);
    if (head !== undefined && !isAllowedOwner(head.user_id ?? undefined, userId)) {
      throw sessionOwnershipError(sessionId, userId);
    }
    // The owner is a column, so a session whose JSON is corrupt can still be deleted. The lease
    // goes in the same transaction: a run in flight cannot write the session back (CONFLICT).
    statements.deleteRuns.run(sessionId);
    statements.deleteLease.run(sessionId);
    return head !== undefined && statements.deleteSession.run(sessionId).changes === 1;
  }

  async deleteUserData(userId: string): Promise<number> {
    return this.#connection.run('deleteUserData', () => {
      assertId(userId, 'userId');
      return this.#deleteUserData.immediate(userId);
    });
  }

  async prune(input: PruneInput): Promise<PruneResult> {
    return this.#connection.run('prune', () => {
      const query = normalizePruneInput(input);
      return this.#prune.immediate(query);
    });
  }

  /**
   * Retention in one write transaction (SPEC §15.2): sessions not updated since `olderThan` go
   * with their runs and leases (found through the `updated_at` indexes); then every remaining
   * session keeps its last `keepLastRuns` runs, never dropping one its summary does not cover yet
   * (one range delete on the `(session_id, idx)` key per session). Indexes and `run_count` stay.
   */
  #pruneInTransaction({ olderThan, keepLastRuns, userId }: PruneInput): PruneResult {
    const statements = this.#statements;
    let sessionsDeleted = 0;
    let runsDeleted = 0;
    if (olderThan !== undefined) {
      const old = userId === undefined ? { olderThan } : { olderThan, userId };
      if (userId === undefined) {
        runsDeleted += statements.pruneOldRuns.run(old).changes;
        statements.pruneOldLeases.run(old);
        sessionsDeleted = statements.pruneOldSessions.run(old).changes;
      } else {
        runsDeleted += statements.pruneUserOldRuns.run(old).changes;
        statements.pruneUserOldLeases.run(old);
        sessionsDeleted = statements.pruneUserOldSessions.run(old).changes;
      }
    }
    if (keepLastRuns !== undefined) {
      const candidates =
        userId === undefined
          ? statements.pruneCandidates.all({ keep: keepLastRuns })
          : statements.pruneUserCandidates.all({ keep: keepLastRuns, userId });
      for (const candidate of candidates) {
        const covered = candidate.runs_covered;
        if (covered === 'corrupt') {
          // What the summary covers cannot be known: keep every run rather than lose one.
          this.#connection.logger.warn(
            `${WHO}.prune kept every run of session ${quoteId(candidate.session_id)}: its summary is corrupt`,
            { backend: 'sqlite', sessionId: candidate.session_id },
          );
          continue;
        }
        const firstKept = Math.min(
          candidate.run_count - keepLastRuns,
          covered ?? Number.POSITIVE_INFINITY,
        );
        if (firstKept <= 0) continue;
        runsDeleted += statements.pruneRunsBefore.run({
          sessionId: candidate.session_id,
          firstKept,
        }).changes;
      }
    }
    return { sessionsDeleted, runsDeleted };
  }

  /**
   * Closes the connection if this storage opened it (a borrowed `database` stays open).
   * Idempotent; every later call rejects with `STORAGE_CLOSED`.
   */
  async close(): Promise<void> {
    this.#connection.close();
  }

  /** `close()`, for `await using storage = new SqliteStorage(...)`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Alias of `new SqliteStorage(options)`.
 *
 * @example
 * const storage = createSqliteStorage({ dbFile: 'agent.db' });
 */
export function createSqliteStorage(options?: SqliteStorageOptions): SqliteStorage {
  return new SqliteStorage(options);
}

type Statements = ReturnType<typeof prepareStatements>;

function prepareStatements(connection: SqliteConnection, names: SessionTableNames) {
  const sql = sessionSql(names);
  return {
    selectSession: connection.prepare<SessionRow>(sql.selectSession),
    selectSessionHead: connection.prepare<SessionHeadRow>(sql.selectSessionHead),
    selectSessionForUpsert: connection.prepare<UpsertCheckRow>(sql.selectSessionForUpsert),
    insertSession: connection.prepare(sql.insertSession),
    updateSessionAfterRun: connection.prepare<{
      version: number;
      run_count: number;
      updated_at: number;
      incarnation: string | null;
      created_at: number;
    }>(sql.updateSessionAfterRun),
    updateSession: connection.prepare(sql.updateSession),
    restoreSessionTimes: connection.prepare(sql.restoreSessionTimes),
    deleteSession: connection.prepare(sql.deleteSession),
    insertRun: connection.prepare(sql.insertRun),
    deleteRuns: connection.prepare(sql.deleteRuns),
    selectLastRuns: connection.prepare<RunRow>(sql.selectLastRuns),
    selectRunsFrom: connection.prepare<RunRow>(sql.selectRunsFrom),
    selectLease: connection.prepare<LeaseRow>(sql.selectLease),
    claimLease: connection.prepare(sql.claimLease),
    renewLease: connection.prepare(sql.renewLease),
    releaseLease: connection.prepare(sql.releaseLease),
    releaseLiveLease: connection.prepare(sql.releaseLiveLease),
    deleteLease: connection.prepare(sql.deleteLease),
    deleteUserRuns: connection.prepare(sql.deleteUserRuns),
    deleteUserLeases: connection.prepare(sql.deleteUserLeases),
    deleteUserSessions: connection.prepare(sql.deleteUserSessions),
    pruneOldRuns: connection.prepare(sql.pruneOldRuns),
    pruneOldLeases: connection.prepare(sql.pruneOldLeases),
    pruneOldSessions: connection.prepare(sql.pruneOldSessions),
    pruneUserOldRuns: connection.prepare(sql.pruneUserOldRuns),
    pruneUserOldLeases: connection.prepare(sql.pruneUserOldLeases),
    pruneUserOldSessions: connection.prepare(sql.pruneUserOldSessions),
    pruneCandidates: connection.prepare<PruneCandidateRow>(sql.pruneCandidates),
    pruneUserCandidates: connection.prepare<PruneCandidateRow>(sql.pruneUserCandidates),
    pruneRunsBefore: connection.prepare(sql.pruneRunsBefore),
    listAll: connection.prepare<SessionInfoRow>(sql.listAll),
    listByUser: connection.prepare<SessionInfoRow>(sql.listByUser),
    listByAgent: connection.prepare<SessionInfoRow>(sql.listByAgent),
    listByUserAndAgent: connection.prepare<SessionInfoRow>(sql.listByUserAndAgent),
    unsortableAll: connection.prepare<{ session_id: unknown }>(sql.unsortableAll),
    unsortableByUser: connection.prepare<{ session_id: unknown }>(sql.unsortableByUser),
    unsortableByAgent: connection.prepare<{ session_id: unknown }>(sql.unsortableByAgent),
    unsortableByUserAndAgent: connection.prepare<{ session_id: unknown }>(
      sql.unsortableByUserAndAgent,
    ),
  };
}

/** A session row as a validated record; `STORAGE_CORRUPT` naming the session otherwise. */
function rowToRecord(row: SessionRow): SessionRecord {
  const sessionId = row.session_id;
  // Built field by field (no spreads): this runs on every turn, with the lease.
  const raw: Record<string, unknown> = { sessionId };
  // NULL on rows from before incarnations: parseSessionRecord fills `legacy:<createdAt>`.
  if (row.incarnation !== null) raw.incarnation = row.incarnation;
  if (row.agent_id !== null) raw.agentId = row.agent_id;
  if (row.user_id !== null) raw.userId = row.user_id;
  if (row.session_name !== null) raw.sessionName = row.session_name;
  raw.sessionState = parseSessionState(row.state, sessionId);
  if (row.summary !== null) raw.summary = parseSessionSummary(row.summary, sessionId);
  raw.createdAt = row.created_at;
  raw.updatedAt = row.updated_at;
  raw.version = row.version;
  raw.runCount = row.run_count;
  const metadata = parseJsonColumn(row.metadata, sessionId, 'metadata');
  if (metadata !== undefined && metadata !== null) raw.metadata = metadata;
  const pendingRun = parseJsonColumn(row.pending_run, sessionId, 'pending_run');
  if (pendingRun !== undefined && pendingRun !== null) raw.pendingRun = pendingRun;
  return parseSessionRecord(raw, sessionId);
}
