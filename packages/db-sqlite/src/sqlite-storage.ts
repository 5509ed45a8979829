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
  type SessionInfo,
  type SessionLease,
  type SessionRecord,
  type SessionStorage,
  type SessionSummaryRecord,
  type StoredRun,
  type UpsertSessionInput,
} from '@buddy/core';
import {
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
  sessionOwnershipError,
  shouldReplaceSummary,
  waitForLease,
} from '@buddy/core/adapter-utils';
import type Database from 'better-sqlite3';
import { applyMigrations } from './internal/migrations.ts';
import {
  DEFAULT_SESSIONS_TABLE,
  type SessionTableNames,
  sessionMigrations,
  sessionSql,
  sessionTableNames,
} from './internal/session-schema.ts';
import {
  resolveConnectionOptions,
  SqliteConnection,
  type SqliteDatabase,
  toJsonText,
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
}

interface SessionRow {
  session_id: string;
  user_id: string | null;
  agent_id: string | null;
  session_name: string | null;
  state: string;
  summary: string | null;
  version: number;
  run_count: number;
  created_at: number;
  updated_at: number;
}

interface SessionHeadRow {
  user_id: string | null;
  version: number;
  run_count: number;
  updated_at: number;
}

interface SessionInfoRow {
  session_id: string;
  user_id: string | null;
  agent_id: string | null;
  session_name: string | null;
  created_at: number;
  updated_at: number;
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
/** Listing without a cursor starts "after" this position, i.e. at the newest session. */
const CURSOR_START = { updatedAt: Number.MAX_SAFE_INTEGER, sessionId: '' };

function optional<TKey extends string, TValue>(
  key: TKey,
  value: TValue | null | undefined,
): { [K in TKey]?: TValue } {
  return (value === null || value === undefined ? {} : { [key]: value }) as {
    [K in TKey]?: TValue;
  };
}

function invalid(message: string): BuddyError {
  return new BuddyError({ code: 'INVALID_ARGUMENT', message: `${WHO}.${message}` });
}

function assertOptionalString(value: unknown, operation: string, what: string): void {
  if (value !== undefined) assertNonEmptyString(value, `${WHO}.${operation}: ${what}`);
}

/**
 * Session storage on SQLite.
 *
 * @example
 * import { Agent } from '@buddy/core';
 * import { SqliteStorage } from '@buddy/db-sqlite';
 *
 * const storage = new SqliteStorage({ dbFile: 'agent.db' });
 * const agent = new Agent({ model, storage, userId: 'dana@example.com' });
 * await agent.run('Add milk to my cart');
 * await storage.close();
 */
export class SqliteStorage implements SessionStorage {
  readonly specificationVersion = 'v1' as const;
  readonly backend = 'sqlite';
  /** The sessions table; the others derive from it. */
  readonly tableName: string;
  readonly #connection: SqliteConnection;
  readonly #statements: Statements;
  readonly #appendRun: Database.Transaction<
    (input: AppendRunInput, state: string) => AppendRunResult
  >;
  readonly #upsertSession: Database.Transaction<(input: UpsertSessionInput) => SessionRecord>;
  readonly #claimLease: Database.Transaction<
    (sessionId: string, token: string, ttlMs: number, readSession: boolean) => Claim | undefined
  >;
  readonly #deleteSession: Database.Transaction<
    (sessionId: string, userId: string | undefined) => boolean
  >;
  readonly #deleteUserData: Database.Transaction<(userId: string) => number>;

  constructor(options?: SqliteStorageOptions) {
    const resolved = resolveConnectionOptions(options, WHO, DEFAULT_SESSIONS_TABLE);
    this.tableName = resolved.tableName;
    const names = sessionTableNames(resolved.tableName);
    const connection = new SqliteConnection(resolved, WHO);
    this.#connection = connection;
    try {
      applyMigrations(connection.db, {
        schemaTable: names.schema,
        component: 'sessions',
        tableName: names.sessions,
        who: WHO,
        migrations: sessionMigrations(names),
      });
      this.#statements = prepareStatements(connection, names);
    } catch (error) {
      connection.close();
      throw toStorageError(error, { who: WHO, operation: 'open', database: connection.db });
    }
    const db = connection.db;
    this.#appendRun = db.transaction((input: AppendRunInput, state: string) =>
      this.#appendRunInTransaction(input, state),
    );
    this.#upsertSession = db.transaction((input: UpsertSessionInput) =>
      this.#upsertSessionInTransaction(input),
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
        if (claimed.changes !== 1) return undefined;
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
  }

  async getSession(
    sessionId: string,
    options: { userId?: string } = {},
  ): Promise<SessionRecord | undefined> {
    return this.#connection.run('getSession', () => {
      assertNonEmptyString(sessionId, 'sessionId');
      assertOptionalUserId(options.userId);
      const row = this.#statements.selectSession.get(sessionId);
      if (row === undefined) return undefined;
      // Ownership first: another user learns nothing, not even that the row is corrupt.
      if (!isAllowedOwner(row.user_id ?? undefined, options.userId)) {
        throw sessionOwnershipError(sessionId, options.userId);
      }
      return rowToRecord(row);
    });
  }

  async upsertSession(input: UpsertSessionInput): Promise<SessionRecord> {
    return this.#connection.run('upsertSession', () => {
      assertNonEmptyString(input.sessionId, 'sessionId');
      assertOptionalUserId(input.userId);
      assertOptionalString(input.agentId, 'upsertSession', 'agentId');
      if (input.sessionState !== undefined) assertSessionState(input.sessionState);
      if (input.sessionName !== undefined) assertNonEmptyString(input.sessionName, 'sessionName');
      return this.#upsertSession.immediate(input);
    });
  }

  #upsertSessionInTransaction(input: UpsertSessionInput): SessionRecord {
    const statements = this.#statements;
    const { sessionId } = input;
    const state =
      input.sessionState === undefined
        ? null
        : toJsonText(input.sessionState, `${WHO}.upsertSession`, 'sessionState');
    const existing = statements.selectSessionSummary.get(sessionId);
    if (existing === undefined) {
      // Rows left behind by an interrupted manual delete must not shift the new session's runs.
      statements.deleteRuns.run(sessionId);
      statements.insertSession.run({
        sessionId,
        userId: input.userId ?? null,
        agentId: input.agentId ?? null,
        sessionName: input.sessionName ?? null,
        state: state ?? '{}',
        summary:
          input.summary === undefined
            ? null
            : toJsonText(input.summary, `${WHO}.upsertSession`, 'summary'),
        runCount: 0,
        now: Date.now(),
      });
    } else {
      if (!isAllowedOwner(existing.user_id ?? undefined, input.userId)) {
        throw sessionOwnershipError(sessionId, input.userId);
      }
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
        state,
        sessionName: input.sessionName ?? null,
        replaceSummary: replaceSummary ? 1 : 0,
        summary: replaceSummary
          ? toJsonText(input.summary, `${WHO}.upsertSession`, 'summary')
          : null,
        now: Date.now(),
      });
    }
    const row = statements.selectSession.get(sessionId);
    if (row === undefined) throw new Error(`the row of session ${sessionId} vanished`);
    // A corrupt stored column makes this throw, which rolls the write back.
    return rowToRecord(row);
  }

  async appendRun(input: AppendRunInput): Promise<AppendRunResult> {
    return this.#connection.run('appendRun', () => {
      assertNonEmptyString(input.sessionId, 'sessionId');
      assertOptionalUserId(input.userId);
      assertOptionalString(input.agentId, 'appendRun', 'agentId');
      if (input.sessionName !== undefined) assertNonEmptyString(input.sessionName, 'sessionName');
      assertSessionState(input.sessionState);
      if (typeof input.run !== 'object' || input.run === null) {
        throw invalid(`appendRun: run must be an object, got ${describeValue(input.run)}`);
      }
      if (input.run.sessionId !== input.sessionId) {
        throw invalid(
          `appendRun: run.sessionId ${describeValue(input.run.sessionId)} does not match sessionId ${describeValue(input.sessionId)}`,
        );
      }
      // Serialized before the transaction so the write lock is held as briefly as possible.
      const state = toJsonText(input.sessionState, `${WHO}.appendRun`, 'sessionState');
      return this.#appendRun.immediate(input, state);
    });
  }

  #appendRunInTransaction(input: AppendRunInput, state: string): AppendRunResult {
    const statements = this.#statements;
    const { sessionId, leaseToken } = input;
    const now = Date.now();
    const releaseLease = input.releaseLease === true && leaseToken !== undefined;
    if (releaseLease) {
      // Fencing and release in one statement: only a live lease of this token is deleted. A later
      // failure rolls the delete back, so the holder keeps its lease when nothing was written.
      const released = statements.releaseLiveLease.run({ sessionId, token: leaseToken, now });
      if (released.changes !== 1) throw leaseLostError(sessionId);
    } else if (leaseToken !== undefined) {
      const lease = statements.selectLease.get(sessionId);
      if (lease === undefined || lease.token !== leaseToken || lease.expires_at <= now) {
        throw leaseLostError(sessionId);
      }
    }
    // Only the counters: the turn path never reads the state, the summary or older runs.
    const head = statements.selectSessionHead.get(sessionId);
    if (head !== undefined && !isAllowedOwner(head.user_id ?? undefined, input.userId)) {
      throw sessionOwnershipError(sessionId, input.userId);
    }
    const index = head?.run_count ?? 0;
    const { index: _ignored, ...run } = input.run as StoredRun;
    const runJson = toJsonText(
      { ...run, index, stateAfter: input.sessionState },
      `${WHO}.appendRun`,
      'run',
    );
    if (head === undefined) {
      statements.deleteRuns.run(sessionId);
      statements.insertSession.run({
        sessionId,
        userId: input.userId ?? null,
        agentId: input.agentId ?? null,
        sessionName: input.sessionName ?? null,
        state,
        summary: null,
        runCount: 1,
        now,
      });
    } else {
      statements.updateSessionAfterRun.run({
        sessionId,
        state,
        sessionName: input.sessionName ?? null,
        now,
      });
    }
    statements.insertRun.run(sessionId, index, runJson);
    const result: AppendRunResult = {
      index,
      version: head === undefined ? 1 : head.version + 1,
      // The same max() the UPDATE applied: updatedAt never goes backwards for a session.
      updatedAt: head === undefined ? now : Math.max(head.updated_at, now),
    };
    if (releaseLease) result.leaseReleased = true;
    return result;
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
        // LIMIT -1 is SQLite for "no limit".
        rows = statements.selectRunsFrom.all(query.sessionId, query.fromIndex, query.limit ?? -1);
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

  async listSessions(input: ListSessionsInput = {}): Promise<ListSessionsResult> {
    return this.#connection.run('listSessions', () => {
      const query = normalizeListSessionsInput(input);
      const statements = this.#statements;
      const cursor = query.cursor ?? CURSOR_START;
      const parameters = {
        cursorUpdatedAt: cursor.updatedAt,
        cursorSessionId: cursor.sessionId,
        // One extra row tells whether another page exists.
        limit: query.limit + 1,
      };
      let rows: SessionInfoRow[];
      if (query.userId !== undefined && query.agentId !== undefined) {
        rows = statements.listByUserAndAgent.all({
          ...parameters,
          userId: query.userId,
          agentId: query.agentId,
        });
      } else if (query.userId !== undefined) {
        rows = statements.listByUser.all({ ...parameters, userId: query.userId });
      } else if (query.agentId !== undefined) {
        rows = statements.listByAgent.all({ ...parameters, agentId: query.agentId });
      } else {
        rows = statements.listAll.all(parameters);
      }
      const sessions = rows.slice(0, query.limit).map(rowToInfo);
      const last = sessions.at(-1);
      return rows.length > query.limit && last !== undefined
        ? { sessions, nextCursor: encodeSessionCursor(last) }
        : { sessions };
    });
  }

  async deleteSession(sessionId: string, options: { userId?: string } = {}): Promise<boolean> {
    return this.#connection.run('deleteSession', () => {
      assertNonEmptyString(sessionId, 'sessionId');
      assertOptionalUserId(options.userId);
      return this.#deleteSession.immediate(sessionId, options.userId);
    });
  }

  #deleteSessionInTransaction(sessionId: string, userId: string | undefined): boolean {
    const statements = this.#statements;
    const head = statements.selectSessionHead.get(sessionId);
    if (head !== undefined && !isAllowedOwner(head.user_id ?? undefined, userId)) {
      throw sessionOwnershipError(sessionId, userId);
    }
    // The owner is a column, so a session whose JSON is corrupt can still be deleted.
    statements.deleteRuns.run(sessionId);
    statements.deleteLease.run(sessionId);
    return head !== undefined && statements.deleteSession.run(sessionId).changes === 1;
  }

  async deleteUserData(userId: string): Promise<number> {
    return this.#connection.run('deleteUserData', () => {
      assertNonEmptyString(userId, 'userId');
      return this.#deleteUserData.immediate(userId);
    });
  }

  /** Closes the connection if this storage opened it. Idempotent; later calls reject. */
  async close(): Promise<void> {
    this.#connection.close();
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
    selectSessionSummary: connection.prepare<{ user_id: string | null; summary: string | null }>(
      sql.selectSessionSummary,
    ),
    insertSession: connection.prepare(sql.insertSession),
    updateSessionAfterRun: connection.prepare(sql.updateSessionAfterRun),
    updateSession: connection.prepare(sql.updateSession),
    deleteSession: connection.prepare(sql.deleteSession),
    insertRun: connection.prepare(sql.insertRun),
    deleteRuns: connection.prepare(sql.deleteRuns),
    selectLastRuns: connection.prepare<RunRow>(sql.selectLastRuns),
    selectRunsFrom: connection.prepare<RunRow>(sql.selectRunsFrom),
    selectLease: connection.prepare<{ token: string; expires_at: number }>(sql.selectLease),
    claimLease: connection.prepare(sql.claimLease),
    renewLease: connection.prepare(sql.renewLease),
    releaseLease: connection.prepare(sql.releaseLease),
    releaseLiveLease: connection.prepare(sql.releaseLiveLease),
    deleteLease: connection.prepare(sql.deleteLease),
    deleteUserRuns: connection.prepare(sql.deleteUserRuns),
    deleteUserLeases: connection.prepare(sql.deleteUserLeases),
    deleteUserSessions: connection.prepare(sql.deleteUserSessions),
    listAll: connection.prepare<SessionInfoRow>(sql.listAll),
    listByUser: connection.prepare<SessionInfoRow>(sql.listByUser),
    listByAgent: connection.prepare<SessionInfoRow>(sql.listByAgent),
    listByUserAndAgent: connection.prepare<SessionInfoRow>(sql.listByUserAndAgent),
  };
}

/** A session row as a validated record; `STORAGE_CORRUPT` naming the session otherwise. */
function rowToRecord(row: SessionRow): SessionRecord {
  const sessionId = row.session_id;
  const summary = row.summary === null ? undefined : parseSessionSummary(row.summary, sessionId);
  return parseSessionRecord(
    {
      sessionId,
      ...optional('agentId', row.agent_id),
      ...optional('userId', row.user_id),
      ...optional('sessionName', row.session_name),
      sessionState: parseSessionState(row.state, sessionId),
      ...optional('summary', summary),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      version: row.version,
      runCount: row.run_count,
    },
    sessionId,
  );
}

function rowToInfo(row: SessionInfoRow): SessionInfo {
  return {
    sessionId: row.session_id,
    ...optional('sessionName', row.session_name),
    ...optional('userId', row.user_id),
    ...optional('agentId', row.agent_id),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
