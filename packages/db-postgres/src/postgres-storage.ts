/**
 * `PostgresStorage`: `SessionStorage` on PostgreSQL through node-postgres (`pg`).
 *
 * Backend and connection: a `pg.Pool`. With `pool` the storage uses yours and never ends it
 * (`close()` only stops this object); with `connectionString`, or with neither (node-postgres
 * then reads `PGHOST`, `PGDATABASE`, ...), it creates its own pool and ends it in `close()`.
 * Tables live in `schema` (default `public`) under `tablePrefix` (default `buddy_`) and are created
 * on first use by versioned migrations (advisory lock: many processes may start at once).
 *
 * An agent turn is two statements, two round trips: `acquireLease({ readSession })` claims the
 * lease and reads the session row, `appendRun({ releaseLease })` appends the run, replaces the
 * state and releases the lease (and clears a paused run it completes). Both are PL/pgSQL functions that check owner and lease inside the
 * transaction of their writes; neither reads history, so a turn costs the same at 10 or 10,000
 * runs. Leases and timestamps use the database clock, except the times an import restores
 * (`upsertSession({ restoreTimes })`, capability `restoresTimes`: the one write that is a short
 * transaction of two statements).
 *
 * Sharp edges:
 * - Every statement has a timeout: on a pool this package creates, the server's
 *   `statement_timeout` (`statementTimeoutMs`, 5 s) cancels it (the write is rolled back), with a
 *   client-side backstop; on your pool only the client-side timeout applies (set
 *   `statement_timeout` in your pool's config to have the server cancel too).
 * - Named prepared statements are used: behind PgBouncer use session pooling, or a version with
 *   prepared-statement support in transaction pooling.
 * - On your own pool, listen for its `'error'` event (node-postgres emits idle-connection errors
 *   there); the pools this package creates have a listener that logs through `logger`.
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
  type StoredRun,
  silentLogger,
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
  isPlainObject,
  leaseLostError,
  metadataMatches,
  newIncarnation,
  normalizeGetRunsInput,
  normalizeListSessionsInput,
  normalizePruneInput,
  normalizeSessionOptions,
  parseSessionRecord,
  parseStoredRun,
  readOptions,
  sessionOwnershipError,
  shouldReplaceSummary,
  waitForLease,
} from '@buddy/core/adapter-utils';
import type pg from 'pg';
import { assertIdentifier, MAX_IDENTIFIER_LENGTH } from './internal/identifiers.ts';
import { fromJsonb, plainJsonbText, toJsonbText } from './internal/json-codec.ts';
import { applyMigrations } from './internal/migrations.ts';
import {
  BUDDY_SQLSTATE,
  PostgresConnection,
  resolveConnection,
} from './internal/postgres-connection.ts';
import {
  DEFAULT_TABLE_PREFIX,
  MAX_INT4,
  MAX_TABLE_PREFIX_LENGTH,
  type SessionNames,
  type SessionStatements,
  sessionMigrations,
  sessionNames,
  sessionStatements,
} from './internal/session-schema.ts';
import { assertStorableText } from './internal/text.ts';

/** Options of `PostgresStorage`; all optional. */
export interface PostgresStorageOptions {
  /**
   * `postgres://user:password@host:5432/database`. The storage creates a pool from it and ends
   * the pool in `close()`. Without it (and without `pool`), node-postgres' `PG*` environment
   * variables apply.
   */
  connectionString?: string;
  /** A `pg.Pool` you created and end yourself; `close()` never ends it. */
  pool?: pg.Pool;
  /** Schema of the tables, created if missing (default `'public'`). */
  schema?: string;
  /** Prefix of the table and function names (default `'buddy_'`). */
  tablePrefix?: string;
  /** Where recovered problems are reported (an idle connection dropped). Silent by default. */
  logger?: Logger;
  /** Longest a statement may run, in ms (default 5000). */
  statementTimeoutMs?: number;
  /**
   * Longest a call waits for a free connection of the pool (or a new one to open), in ms
   * (default 5000); then it fails with a retryable error naming the pool size.
   */
  connectionTimeoutMs?: number;
}

const WHO = 'PostgresStorage';
const OPTION_KEYS = [
  'connectionString',
  'pool',
  'schema',
  'tablePrefix',
  'logger',
  'statementTimeoutMs',
  'connectionTimeoutMs',
];
/** Listing without a cursor starts "after" this position, i.e. at the newest session. */
const CURSOR_START = { updatedAt: Number.MAX_SAFE_INTEGER, sessionId: '' };
/** `upsertSession` re-reads and retries this often when concurrent writes keep changing the row. */
const MAX_UPSERT_ATTEMPTS = 50;

interface SessionRow {
  session_id: string;
  incarnation: string;
  user_id: string | null;
  agent_id: string | null;
  session_name: string | null;
  state: unknown;
  summary: unknown;
  version: number;
  run_count: number;
  created_at: number;
  updated_at: number;
  metadata: unknown;
  pending_run: unknown;
}

interface InfoRow {
  session_id: string;
  user_id: string | null;
  agent_id: string | null;
  session_name: string | null;
  created_at: number;
  updated_at: number;
  metadata: unknown;
}

interface AppendRow {
  out_index: number;
  out_version: number;
  out_updated_at: number;
  out_released: boolean;
  out_incarnation: string;
}

interface FoundRunRow {
  idx: number;
  version: number;
  written_at: number;
  incarnation: string;
}

interface LeaseRow extends Omit<SessionRow, 'session_id' | 'incarnation'> {
  out_claimed: boolean;
  session_id: string | null;
  incarnation: string | null;
}

function optional<TKey extends string, TValue>(
  key: TKey,
  value: TValue | null | undefined,
): { [K in TKey]?: TValue } {
  return (value === null || value === undefined ? {} : { [key]: value }) as {
    [K in TKey]?: TValue;
  };
}

/** A session row as a validated record; `STORAGE_CORRUPT` naming the session otherwise. */
function rowToRecord(row: SessionRow): SessionRecord {
  return parseSessionRecord(
    {
      sessionId: row.session_id,
      incarnation: row.incarnation,
      ...optional('agentId', row.agent_id),
      ...optional('userId', row.user_id),
      ...optional('sessionName', row.session_name),
      sessionState: fromJsonb(row.state),
      ...(row.summary === null ? {} : { summary: fromJsonb(row.summary) }),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      version: row.version,
      runCount: row.run_count,
      ...(row.metadata === null ? {} : { metadata: fromJsonb(row.metadata) }),
      ...(row.pending_run === null ? {} : { pendingRun: fromJsonb(row.pending_run) }),
    },
    row.session_id,
  );
}

/** A listed row; `undefined` when its metadata is not a JSON object (corrupt). */
function rowToInfo(row: InfoRow): SessionInfo | undefined {
  const metadata = row.metadata === null ? undefined : fromJsonb(row.metadata);
  if (metadata !== undefined && !isPlainObject(metadata)) return undefined;
  return {
    sessionId: row.session_id,
    ...optional('sessionName', row.session_name),
    ...optional('userId', row.user_id),
    ...optional('agentId', row.agent_id),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    ...(metadata === undefined ? {} : { metadata }),
  };
}

function rowToRun(row: { idx: number; run: unknown }, sessionId: string): StoredRun {
  const value = fromJsonb(row.run);
  return parseStoredRun(isPlainObject(value) ? { ...value, index: row.idx } : value, sessionId);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Session storage on PostgreSQL.
 *
 * @example
 * import { Agent } from '@buddy/core';
 * import { PostgresStorage } from '@buddy/db-postgres';
 *
 * const storage = new PostgresStorage({ connectionString: process.env.DATABASE_URL });
 * const agent = new Agent({ model, storage, userId: 'dana@example.com' });
 * await agent.run('Add milk to my cart');
 * await agent.close(); // closes the storage, which ends the pool it created
 */
export class PostgresStorage implements SessionStorage {
  readonly specificationVersion = 'v1' as const;
  readonly backend = 'postgres';
  readonly capabilities: SessionStorageCapabilities = {
    leaseReadsSession: true,
    appendReleasesLease: true,
    restoresTimes: true,
  };
  /** Schema of the tables. */
  readonly schema: string;
  /** Prefix of the table and function names. */
  readonly tablePrefix: string;
  readonly #connection: PostgresConnection;
  readonly #names: SessionNames;
  readonly #sql: SessionStatements;
  readonly #logger: Logger;
  #isReady = false;
  #readying: Promise<void> | undefined;

  constructor(options: PostgresStorageOptions = {}) {
    const checked = readOptions<PostgresStorageOptions>(options, `${WHO}: options`, OPTION_KEYS);
    this.schema = assertIdentifier(
      checked.schema ?? 'public',
      'schema',
      WHO,
      MAX_IDENTIFIER_LENGTH,
    );
    this.tablePrefix = assertIdentifier(
      checked.tablePrefix ?? DEFAULT_TABLE_PREFIX,
      'tablePrefix',
      WHO,
      MAX_TABLE_PREFIX_LENGTH,
    );
    const logger = checked.logger ?? silentLogger;
    this.#logger = logger;
    this.#connection = new PostgresConnection(resolveConnection(checked, WHO), WHO, logger);
    this.#names = sessionNames(this.schema, this.tablePrefix);
    this.#sql = sessionStatements(this.#names);
  }

  /**
   * Connects and applies pending migrations (every method does this on first use). Call it at
   * startup to fail fast on bad credentials or a schema written by a newer version.
   */
  async ready(): Promise<void> {
    this.#connection.assertOpen();
    await this.#ensureReady();
  }

  async #ensureReady(): Promise<void> {
    if (this.#isReady) return;
    this.#readying ??= applyMigrations(this.#connection, {
      schema: this.schema,
      versionTable: this.#names.versions,
      component: 'sessions',
      tableName: `${this.tablePrefix}sessions`,
      migrations: sessionMigrations(this.#names),
    }).then(
      () => {
        this.#isReady = true;
      },
      (error: unknown) => {
        // A later call tries again (the server may come up); a newer schema fails again anyway.
        this.#readying = undefined;
        throw error;
      },
    );
    await this.#readying;
  }

  #query<TRow extends pg.QueryResultRow>(
    operation: string,
    sql: SessionStatements[keyof SessionStatements],
    values: readonly unknown[],
    kind: 'read' | 'write',
    errors?: Record<string, () => BuddyError>,
  ): Promise<pg.QueryResult<TRow>> {
    return this.#connection.query<TRow>(operation, sql, values, kind, errors);
  }

  async getSession(
    sessionId: string,
    options?: { userId?: string },
  ): Promise<SessionRecord | undefined> {
    this.#connection.assertOpen();
    assertId(sessionId, 'sessionId');
    const { userId } = normalizeSessionOptions(options, 'getSession');
    await this.#ensureReady();
    const result = await this.#query<SessionRow>(
      'getSession',
      this.#sql.selectSession,
      [sessionId],
      'read',
    );
    const row = result.rows[0];
    if (row === undefined) return undefined;
    // Ownership first, on the owner column: another user learns nothing, not even corruption.
    if (!isAllowedOwner(row.user_id ?? undefined, userId)) {
      throw sessionOwnershipError(sessionId, userId);
    }
    return rowToRecord(row);
  }

  /**
   * Reads the row, validates it (a corrupt session is `STORAGE_CORRUPT` and stays untouched),
   * then writes with one call of `<prefix>upsert_session`: a compare-and-set on
   * `(incarnation, version)` and the owner, and with `leaseToken` the lease check, in the same
   * transaction (`CONFLICT` when the token no longer holds the lease, nothing written). A
   * concurrent write in between makes it read again. With `restoreTimes` (import tools) the
   * function's write and an update of `created_at` / `updated_at` are one transaction.
   */
  async upsertSession(input: UpsertSessionInput): Promise<SessionRecord> {
    this.#connection.assertOpen();
    assertUpsertSessionInput(input, this);
    assertStorableText(input.sessionName, 'sessionName');
    const { sessionId, leaseToken } = input;
    const state =
      input.sessionState === undefined ? null : toJsonbText(input.sessionState, 'sessionState');
    const summary = input.summary === undefined ? null : toJsonbText(input.summary, 'summary');
    const metadata = input.metadata === undefined ? null : toJsonbText(input.metadata, 'metadata');
    const pendingRun =
      input.pendingRun === undefined || input.pendingRun === null
        ? null
        : toJsonbText(input.pendingRun, 'pendingRun');
    const runsCovered =
      input.summary === undefined ? null : Math.min(input.summary.runsCovered, MAX_INT4);
    const { restoreTimes } = input;
    const errors = { [BUDDY_SQLSTATE.leaseLost]: () => leaseLostError(sessionId) };
    await this.#ensureReady();
    const write = async (
      incarnation: string,
      version: number | null,
      replaceSummary: boolean,
    ): Promise<SessionRow | undefined> => {
      const values = [
        sessionId,
        incarnation,
        version,
        input.userId ?? null,
        input.agentId ?? null,
        input.sessionName ?? null,
        state,
        replaceSummary,
        replaceSummary ? summary : null,
        replaceSummary ? runsCovered : null,
        input.metadata !== undefined,
        metadata,
        input.pendingRun !== undefined,
        pendingRun,
        leaseToken ?? null,
      ];
      if (restoreTimes === undefined) {
        const result = await this.#query<SessionRow>(
          'upsertSession',
          this.#sql.upsertSession,
          values,
          'write',
          errors,
        );
        return result.rows[0];
      }
      // An import's times: the function's write and the times, committed together.
      return this.#connection.transaction(
        'upsertSession',
        async (query) => {
          const written = (await query<SessionRow>(this.#sql.upsertSession, values)).rows[0];
          if (written === undefined) return undefined;
          const restored = await query<SessionRow>(this.#sql.restoreSessionTimes, [
            sessionId,
            restoreTimes.createdAt,
            restoreTimes.updatedAt,
          ]);
          return restored.rows[0];
        },
        errors,
      );
    };
    for (let attempt = 0; attempt < MAX_UPSERT_ATTEMPTS; attempt++) {
      if (attempt > 0) await sleep(Math.min(attempt, 20) * Math.random());
      const read = await this.#query<SessionRow>(
        'upsertSession',
        this.#sql.selectSession,
        [sessionId],
        'read',
      );
      const row = read.rows[0];
      if (row === undefined) {
        if (input.expectedIncarnation !== undefined) throw incarnationGoneError(sessionId);
        const created = await write(newIncarnation(), null, input.summary !== undefined);
        if (created !== undefined) return rowToRecord(created);
        continue; // created concurrently: read it
      }
      if (!isAllowedOwner(row.user_id ?? undefined, input.userId)) {
        throw sessionOwnershipError(sessionId, input.userId);
      }
      const existing = rowToRecord(row);
      if (
        input.expectedIncarnation !== undefined &&
        existing.incarnation !== input.expectedIncarnation
      ) {
        throw incarnationGoneError(sessionId);
      }
      const replaceSummary =
        input.summary !== undefined && shouldReplaceSummary(existing.summary, input.summary);
      const written = await write(row.incarnation, row.version, replaceSummary);
      if (written !== undefined) return rowToRecord(written);
    }
    throw new BuddyError({
      code: 'STORAGE_BUSY',
      message: `${WHO}.upsertSession failed: session ${describeValue(sessionId)} changed ${MAX_UPSERT_ATTEMPTS} times while it was being written; nothing was written`,
      retryable: true,
      details: { backend: 'postgres', operation: 'upsertSession', sessionId },
    });
  }

  async appendRun(input: AppendRunInput): Promise<AppendRunResult> {
    this.#connection.assertOpen();
    assertAppendRunInput(input);
    assertStorableText(input.sessionName, 'sessionName');
    const { sessionId, leaseToken } = input;
    // `index` and `stateAfter` of the input are ignored: storage assigns them.
    const { index: _index, stateAfter: _stateAfter, ...run } = input.run as StoredRun;
    const runText = toJsonbText({ ...run, stateAfter: input.sessionState }, 'run');
    const stateText = toJsonbText(input.sessionState, 'sessionState');
    const metadataText =
      input.metadata === undefined ? null : toJsonbText(input.metadata, 'metadata');
    const release = input.releaseLease === true && leaseToken !== undefined;
    await this.#ensureReady();
    let row: AppendRow | undefined;
    try {
      const result = await this.#query<AppendRow>(
        'appendRun',
        this.#sql.appendRun,
        [
          sessionId,
          input.userId ?? null,
          input.agentId ?? null,
          input.sessionName ?? null,
          newIncarnation(),
          run.runId,
          runText,
          stateText,
          leaseToken ?? null,
          release,
          metadataText,
          input.clearPendingRun === true,
        ],
        'write',
        {
          [BUDDY_SQLSTATE.leaseLost]: () => leaseLostError(sessionId),
          [BUDDY_SQLSTATE.ownership]: () => sessionOwnershipError(sessionId, input.userId),
        },
      );
      row = result.rows[0];
    } catch (error) {
      const connection = BuddyError.is(error) ? error.details.connection : undefined;
      if (connection === 'lost' || connection === 'terminated') {
        return this.#appendOutcome(sessionId, run.runId, release, error as BuddyError);
      }
      throw error;
    }
    if (row === undefined) {
      throw new BuddyError({
        code: 'INTERNAL',
        message: `${WHO}.appendRun: the append function returned no row`,
        details: { backend: 'postgres', operation: 'appendRun' },
      });
    }
    return {
      index: row.out_index,
      incarnation: row.out_incarnation,
      version: row.out_version,
      updatedAt: row.out_updated_at,
      ...(release ? { leaseReleased: true } : {}),
    };
  }

  /**
   * The connection died while an append was in flight: read on another connection whether the
   * run is there. Stored: the append succeeded. Absent after the server ended the session: it was
   * rolled back (`STORAGE_UNAVAILABLE`, retryable). Absent after a lost socket, or no answer: it
   * may still commit (`STORAGE_OUTCOME_UNKNOWN`, `details.runId`).
   */
  async #appendOutcome(
    sessionId: string,
    runId: string,
    release: boolean,
    failure: BuddyError,
  ): Promise<AppendRunResult> {
    let found: FoundRunRow | undefined;
    try {
      const result = await this.#query<FoundRunRow>(
        'appendRun',
        this.#sql.findRun,
        [sessionId, runId],
        'read',
      );
      found = result.rows[0];
    } catch (error) {
      throw new BuddyError({
        code: 'STORAGE_OUTCOME_UNKNOWN',
        message: `${WHO}.appendRun: the connection was lost while run ${describeValue(runId)} of session ${describeValue(sessionId)} was being stored, and PostgreSQL cannot be asked whether it was; read getRuns before running it again`,
        retryable: false,
        cause: failure,
        details: {
          backend: 'postgres',
          operation: 'appendRun',
          sessionId,
          runId,
          checkError: String(error),
        },
      });
    }
    if (found !== undefined) {
      return {
        index: found.idx,
        incarnation: found.incarnation,
        version: found.version,
        updatedAt: found.written_at,
        ...(release ? { leaseReleased: true } : {}),
      };
    }
    if (failure.details.connection === 'terminated') {
      throw new BuddyError({
        code: 'STORAGE_UNAVAILABLE',
        message: `${WHO}.appendRun failed: the server terminated the connection while run ${describeValue(runId)} of session ${describeValue(sessionId)} was being stored; it was rolled back (nothing was written)`,
        retryable: true,
        cause: failure.cause,
        details: { ...failure.details, sessionId, runId },
      });
    }
    throw new BuddyError({
      code: 'STORAGE_OUTCOME_UNKNOWN',
      message: `${WHO}.appendRun: the connection was lost before PostgreSQL answered; run ${describeValue(runId)} of session ${describeValue(sessionId)} is not stored yet but may still be. Read getRuns before running it again (appending the same run again is safe: it is stored once)`,
      retryable: false,
      cause: failure.cause,
      details: { ...failure.details, sessionId, runId },
    });
  }

  async getRuns(input: GetRunsInput): Promise<StoredRun[]> {
    this.#connection.assertOpen();
    const query = normalizeGetRunsInput(input);
    await this.#ensureReady();
    const { sessionId } = query;
    type RunRow = { idx: number; run: unknown };
    let rows: RunRow[];
    if (query.last !== undefined) {
      if (query.last === 0) return [];
      const result = await this.#query<RunRow>(
        'getRuns',
        this.#sql.selectLastRuns,
        [sessionId, query.last],
        'read',
      );
      rows = result.rows.reverse();
    } else {
      const end =
        query.limit === undefined ? Number.MAX_SAFE_INTEGER : query.fromIndex + query.limit;
      const result = await this.#query<RunRow>(
        'getRuns',
        this.#sql.selectRunsFrom,
        [sessionId, query.fromIndex, end],
        'read',
      );
      rows = result.rows;
    }
    return rows.map((row) => rowToRun(row, sessionId));
  }

  async acquireLease(input: AcquireLeaseInput): Promise<SessionLease> {
    this.#connection.assertOpen();
    assertLeaseInput(input);
    const { sessionId, ttlMs } = input;
    const readSession = input.readSession === true;
    const token = randomUUID();
    await this.#ensureReady();
    const claimed = await waitForLease(
      async () => {
        this.#connection.assertOpen();
        let result: pg.QueryResult<LeaseRow>;
        try {
          result = await this.#query<LeaseRow>(
            'acquireLease',
            this.#sql.acquireLease,
            [sessionId, token, ttlMs, readSession],
            'read',
            {
              [BUDDY_SQLSTATE.leaseCorrupt]: () =>
                corruptLeaseError(sessionId, 'a lease row without token or expiry'),
            },
          );
        } catch (error) {
          if (BuddyError.is(error) && error.details.connection !== undefined) {
            // The claim may have committed before the connection died: give it back.
            this.#release(sessionId, token).catch(() => {});
          }
          throw error;
        }
        const row = result.rows[0];
        return row?.out_claimed === true ? row : undefined;
      },
      { sessionId, waitMs: input.waitMs, signal: input.signal },
    );
    let session: SessionRecord | null | undefined;
    if (readSession) {
      try {
        session = claimed.session_id === null ? null : rowToRecord(claimed as SessionRow);
      } catch (error) {
        // A corrupt record: the lease is not kept.
        await this.#release(sessionId, token).catch(() => {});
        throw error;
      }
    }
    return {
      sessionId,
      token,
      ...(session === undefined ? {} : { session }),
      renew: async () => {
        this.#connection.assertOpen();
        const result = await this.#query(
          'renewLease',
          this.#sql.renewLease,
          [sessionId, token, ttlMs],
          'write',
        );
        if (result.rowCount === 0) throw leaseLostError(sessionId);
      },
      release: async () => {
        // After close() the pool may be gone; the lease then simply expires.
        if (this.#connection.isClosed) return;
        await this.#release(sessionId, token);
      },
    };
  }

  async #release(sessionId: string, token: string): Promise<void> {
    await this.#query('releaseLease', this.#sql.releaseLease, [sessionId, token], 'write');
  }

  /**
   * One keyset page through the index that fits the filter. A metadata filter is applied in SQL
   * to the rows that index scan yields (a user's listing reads only that user's rows); the few
   * sessions whose metadata is stored wrapped are decided here after unwrapping, and when they
   * thin a page out the next rows are read from where the page ended.
   */
  async listSessions(input?: ListSessionsInput): Promise<ListSessionsResult> {
    this.#connection.assertOpen();
    const query = normalizeListSessionsInput(input);
    const filter = query.metadata;
    await this.#ensureReady();
    // A key asked for with the value `undefined` equals no stored JSON value (as in core).
    if (filter !== undefined && Object.values(filter).some((value) => value === undefined)) {
      return { sessions: [] };
    }
    const filterText = filter === undefined ? undefined : plainJsonbText(filter);
    const filtered = filter !== undefined;
    let sql: SessionStatements[keyof SessionStatements];
    const scope: unknown[] = [];
    if (query.userId !== undefined) scope.push(query.userId);
    if (query.agentId !== undefined) scope.push(query.agentId);
    if (query.userId !== undefined && query.agentId !== undefined) {
      sql = filtered ? this.#sql.listByUserAndAgentFiltered : this.#sql.listByUserAndAgent;
    } else if (query.userId !== undefined) {
      sql = filtered ? this.#sql.listByUserFiltered : this.#sql.listByUser;
    } else if (query.agentId !== undefined) {
      sql = filtered ? this.#sql.listByAgentFiltered : this.#sql.listByAgent;
    } else {
      sql = filtered ? this.#sql.listAllFiltered : this.#sql.listAll;
    }
    const filterValues = filtered ? [filterText ?? '{}', filterText !== undefined] : [];
    // One extra row tells whether another page exists.
    const wanted = query.limit + 1;
    const sessions: SessionInfo[] = [];
    let cursor = query.cursor ?? CURSOR_START;
    for (;;) {
      // Listing reads only typed columns and the metadata, never the state or summary that can
      // be corrupt: such a session is still listed, and reading it says STORAGE_CORRUPT.
      const result = await this.#query<InfoRow>(
        'listSessions',
        sql,
        [cursor.updatedAt, cursor.sessionId, wanted, ...filterValues, ...scope],
        'read',
      );
      for (const row of result.rows) {
        const info = rowToInfo(row);
        if (info === undefined) {
          this.#logger.warn(
            `Listing skipped session ${describeValue(row.session_id)}: its metadata is corrupt`,
            { sessionId: row.session_id },
          );
          continue;
        }
        if (filtered && !metadataMatches(info.metadata, filter)) continue;
        sessions.push(info);
        if (sessions.length === wanted) break;
      }
      const last = result.rows.at(-1);
      if (sessions.length === wanted || result.rows.length < wanted || last === undefined) break;
      cursor = { updatedAt: last.updated_at, sessionId: last.session_id };
    }
    const page = sessions.slice(0, query.limit);
    const last = page.at(-1);
    return sessions.length > query.limit && last !== undefined
      ? { sessions: page, nextCursor: encodeSessionCursor(last) }
      : { sessions: page };
  }

  async deleteSession(sessionId: string, options?: { userId?: string }): Promise<boolean> {
    this.#connection.assertOpen();
    assertId(sessionId, 'sessionId');
    const { userId } = normalizeSessionOptions(options, 'deleteSession');
    await this.#ensureReady();
    const result = await this.#query<{ deleted: boolean }>(
      'deleteSession',
      this.#sql.deleteSession,
      [sessionId, userId ?? null],
      'write',
      { [BUDDY_SQLSTATE.ownership]: () => sessionOwnershipError(sessionId, userId) },
    );
    return result.rows[0]?.deleted === true;
  }

  async deleteUserData(userId: string): Promise<number> {
    this.#connection.assertOpen();
    assertId(userId, 'userId');
    await this.#ensureReady();
    const result = await this.#query<{ deleted: number }>(
      'deleteUserData',
      this.#sql.deleteUserData,
      [userId],
      'write',
    );
    return Number(result.rows[0]?.deleted ?? 0);
  }

  /**
   * Retention (SPEC §15.2) in one call of `<prefix>prune`: deletes the sessions not updated
   * since `olderThan` (with their runs and leases), then the runs of every remaining session
   * older than its last `keepLastRuns`, never one its summary does not cover yet. Indexes and
   * `runCount` stay.
   */
  async prune(input: PruneInput): Promise<PruneResult> {
    this.#connection.assertOpen();
    const { olderThan, keepLastRuns, userId } = normalizePruneInput(input);
    await this.#ensureReady();
    // `updated_at` holds whole milliseconds: `< olderThan` is `< ceil(olderThan)`, which keeps
    // the comparison on the bigint index.
    const before =
      olderThan === undefined
        ? null
        : Math.min(
            Math.max(Math.ceil(olderThan), -Number.MAX_SAFE_INTEGER),
            Number.MAX_SAFE_INTEGER,
          );
    const keep = keepLastRuns === undefined ? null : Math.min(keepLastRuns, MAX_INT4);
    const result = await this.#query<{ out_sessions: number; out_runs: number }>(
      'prune',
      this.#sql.prune,
      [before, keep, userId ?? null],
      'write',
    );
    const row = result.rows[0];
    return {
      sessionsDeleted: Number(row?.out_sessions ?? 0),
      runsDeleted: Number(row?.out_runs ?? 0),
    };
  }

  /** Ends the pool if this storage created it; never a pool you passed. Idempotent. */
  async close(): Promise<void> {
    await this.#connection.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Alias of `new PostgresStorage(options)`.
 *
 * @example
 * const storage = createPostgresStorage({ connectionString: 'postgres://localhost/app' });
 */
export function createPostgresStorage(options?: PostgresStorageOptions): PostgresStorage {
  return new PostgresStorage(options);
}
