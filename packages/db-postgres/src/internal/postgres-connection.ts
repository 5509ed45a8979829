/**
 * The connection layer shared by `PostgresStorage` and `PostgresMemoryDb`: who owns the pool,
 * timeouts, checking a connection out and back in, named prepared statements, and the mapping of
 * node-postgres errors to `BuddyError`.
 *
 * Every public method of both classes goes through `query()` (one statement, one round trip),
 * except `upsertSession({ restoreTimes })` (`transaction()`: a few statements committed together)
 * and migrations (`withClient()`). SQL errors raised by Buddy's own functions carry SQLSTATEs of
 * class `BD` (see `BUDDY_SQLSTATE`); callers map them to contract errors.
 */
import { createHash } from 'node:crypto';
import { BuddyError, describeValue, type Logger } from '@buddy/core';
import { storageClosedError } from '@buddy/core/adapter-utils';
import pg from 'pg';

/** The node-postgres pool type (`pg.Pool`). */
export type PostgresPool = pg.Pool;

/** SQLSTATEs raised by the package's server-side functions. */
export const BUDDY_SQLSTATE = {
  /** The lease token no longer holds the session (fencing). */
  leaseLost: 'BD001',
  /** The session belongs to another user. */
  ownership: 'BD002',
  /** The lease row of a session is unusable (no token or no expiry). */
  leaseCorrupt: 'BD003',
} as const;

/** Default of `statementTimeoutMs`. */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 5_000;
/** Default of `connectionTimeoutMs`. */
export const DEFAULT_CONNECTION_TIMEOUT_MS = 5_000;
/** node-postgres' default pool size. */
const PG_DEFAULT_POOL_SIZE = 10;
/** For owned pools the server's `statement_timeout` fires first; this is the client's backstop. */
const CLIENT_TIMEOUT_MARGIN_MS = 2_000;

/** A statement with the name it is prepared under (once per connection). */
export interface Statement {
  readonly name: string;
  readonly text: string;
}

/**
 * A named statement. The name is a hash of the text, so two storages on different schemas or
 * prefixes never collide on one connection of a shared pool.
 */
export function statement(text: string): Statement {
  const digest = createHash('sha256').update(text).digest('hex').slice(0, 24);
  return { name: `buddy_${digest}`, text };
}

/** Whether a statement changes data: a lost reply then means an unknown outcome. */
export type QueryKind = 'read' | 'write';

/** The options every class accepts about connections, checked by `resolveConnection`. */
export interface ConnectionOptions {
  connectionString?: string | undefined;
  pool?: PostgresPool | undefined;
  statementTimeoutMs?: number | undefined;
  connectionTimeoutMs?: number | undefined;
}

/** The pool a storage uses and whether it owns it. */
export interface ResolvedConnection {
  pool: PostgresPool;
  isOwned: boolean;
  statementTimeoutMs: number;
  connectionTimeoutMs: number;
}

function invalid(who: string, message: string): BuddyError {
  return new BuddyError({ code: 'INVALID_ARGUMENT', message: `${who}: ${message}` });
}

function isPool(value: unknown): value is PostgresPool {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Record<string, unknown>;
  // A pg.Client also has connect/query/end, but connect() gives no client: check pool-only parts.
  return (
    typeof candidate.connect === 'function' &&
    typeof candidate.end === 'function' &&
    typeof candidate.totalCount === 'number' &&
    typeof candidate.idleCount === 'number'
  );
}

function positiveInteger(value: unknown, option: string, who: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw invalid(
      who,
      `option '${option}' must be an integer >= 1 (ms), got ${describeValue(value)}`,
    );
  }
  return value;
}

/**
 * Picks the pool: the caller's `pool` (used as is, never ended), else one this package creates
 * from `connectionString` or, without it, from node-postgres' `PG*` environment variables.
 */
export function resolveConnection(options: ConnectionOptions, who: string): ResolvedConnection {
  const statementTimeoutMs = positiveInteger(
    options.statementTimeoutMs,
    'statementTimeoutMs',
    who,
    DEFAULT_STATEMENT_TIMEOUT_MS,
  );
  const connectionTimeoutMs = positiveInteger(
    options.connectionTimeoutMs,
    'connectionTimeoutMs',
    who,
    DEFAULT_CONNECTION_TIMEOUT_MS,
  );
  const { connectionString, pool } = options;
  if (
    connectionString !== undefined &&
    (typeof connectionString !== 'string' || connectionString.trim() === '')
  ) {
    throw invalid(
      who,
      `option 'connectionString' must be a non-empty string, got ${describeValue(connectionString)}`,
    );
  }
  if (pool !== undefined && !isPool(pool)) {
    throw invalid(who, `option 'pool' must be a pg.Pool, got ${describeValue(pool)}`);
  }
  if (pool !== undefined && connectionString !== undefined) {
    throw invalid(who, `pass either option 'connectionString' or option 'pool', not both`);
  }
  if (pool !== undefined) {
    if ((pool as { ending?: boolean }).ending === true) {
      throw invalid(who, `option 'pool' is a pool that was ended`);
    }
    return { pool, isOwned: false, statementTimeoutMs, connectionTimeoutMs };
  }
  const owned = new pg.Pool({
    ...(connectionString === undefined ? {} : { connectionString }),
    // Server-side: the server cancels a statement that runs too long (the write is rolled back,
    // so the caller knows nothing was stored). Sent in the startup packet: no extra round trip.
    statement_timeout: statementTimeoutMs,
    // A migration's transaction never sits open holding the advisory lock.
    idle_in_transaction_session_timeout: Math.max(statementTimeoutMs, 10_000),
    connectionTimeoutMillis: connectionTimeoutMs,
    application_name: 'buddy',
    // Idle connections do not keep a script alive that forgot close().
    allowExitOnIdle: true,
  });
  return { pool: owned, isOwned: true, statementTimeoutMs, connectionTimeoutMs };
}

function parseInt8(text: string): number {
  return Number(text);
}

/**
 * Result parsing independent of the application's global `pg.types` settings: `int8` as a number
 * (epoch milliseconds and counts are far below 2^53), `json`/`jsonb` parsed.
 */
const RESULT_TYPES = {
  getTypeParser(oid: number, format?: string): (text: string) => unknown {
    if (oid === 20) return parseInt8;
    if (oid === 114 || oid === 3802) return JSON.parse;
    return (pg.types.getTypeParser as (oid: number, format?: string) => (text: string) => unknown)(
      oid,
      format,
    );
  },
};

interface PgErrorLike {
  code?: unknown;
  severity?: unknown;
  message?: unknown;
}

/** The SQLSTATE of an error the server sent; `undefined` for client-side and socket errors. */
export function sqlStateOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, severity } = error as PgErrorLike;
  return typeof code === 'string' && typeof severity === 'string' && /^[0-9A-Z]{5}$/.test(code)
    ? code
    : undefined;
}

/** The server ended the session (`pg_terminate_backend`, shutdown, crash recovery). */
const TERMINATION_STATES = new Set(['57P01', '57P02', '57P03']);
/** Socket-level failures: the connection is gone and the reply of an in-flight statement lost. */
const LOST_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'EHOSTUNREACH']);
const LOST_MESSAGE =
  /Connection terminated|not queryable|Query read timeout|socket hang up|write after end|Connection ended/i;

/**
 * How a failed statement left the connection:
 * - `terminated`: the server ended the session and said so; a statement cut off this way was
 *   rolled back, unless it had already committed (a read on another connection tells which);
 * - `lost`: the socket died or no reply came in time; an in-flight write may still commit;
 * - `alive`: an ordinary SQL error, the statement was rolled back and the connection is fine.
 */
export function connectionStateAfter(error: unknown): 'terminated' | 'lost' | 'alive' {
  const state = sqlStateOf(error);
  if (state !== undefined) {
    if (TERMINATION_STATES.has(state)) return 'terminated';
    // Class 08: connection exceptions.
    return state.startsWith('08') ? 'lost' : 'alive';
  }
  const { code, message } = (
    typeof error === 'object' && error !== null ? error : {}
  ) as PgErrorLike;
  if (typeof code === 'string' && LOST_CODES.has(code)) return 'lost';
  if (typeof message === 'string' && LOST_MESSAGE.test(message)) return 'lost';
  return 'alive';
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A pool (or a client borrowed from one) that can run Buddy's statements. */
export class PostgresConnection {
  readonly pool: PostgresPool;
  /** True when this package created the pool and so ends it in `close()`. */
  readonly isOwned: boolean;
  readonly who: string;
  readonly statementTimeoutMs: number;
  readonly connectionTimeoutMs: number;
  readonly #queryTimeoutMs: number;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(resolved: ResolvedConnection, who: string, logger: Logger) {
    this.pool = resolved.pool;
    this.isOwned = resolved.isOwned;
    this.who = who;
    this.statementTimeoutMs = resolved.statementTimeoutMs;
    this.connectionTimeoutMs = resolved.connectionTimeoutMs;
    this.#queryTimeoutMs = resolved.isOwned
      ? resolved.statementTimeoutMs + CLIENT_TIMEOUT_MARGIN_MS
      : resolved.statementTimeoutMs;
    if (resolved.isOwned) {
      // An idle connection the server closed (restart, pg_terminate_backend) is dropped by the
      // pool; without a listener node-postgres would crash the process with it.
      this.pool.on('error', (error) => {
        logger.warn(`${who}: an idle PostgreSQL connection failed and was dropped`, { error });
      });
    }
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  /** The pool's `max` (node-postgres defaults to 10). */
  get poolSize(): number {
    const max = (this.pool as { options?: { max?: unknown } }).options?.max;
    return typeof max === 'number' && max > 0 ? max : PG_DEFAULT_POOL_SIZE;
  }

  /** `STORAGE_CLOSED` after `close()`. */
  assertOpen(): void {
    if (this.#closed) throw storageClosedError(this.who);
  }

  /**
   * Runs one statement on a pooled connection (one round trip once the connection is open).
   * `errors` maps the SQLSTATEs of Buddy's own functions to the errors callers expect.
   */
  async query<TRow extends pg.QueryResultRow = pg.QueryResultRow>(
    operation: string,
    sql: Statement,
    values: readonly unknown[],
    kind: QueryKind,
    errors: Readonly<Record<string, () => BuddyError>> = {},
  ): Promise<pg.QueryResult<TRow>> {
    this.assertOpen();
    const client = await this.#checkout(operation);
    const onError = (): void => {
      // Socket errors of a checked-out client also reach the pending query, which reports them.
    };
    client.on('error', onError);
    try {
      const result = await client.query<TRow>({
        name: sql.name,
        text: sql.text,
        values: values as unknown[],
        types: RESULT_TYPES,
        query_timeout: this.#queryTimeoutMs,
      } as pg.QueryConfig);
      client.release();
      return result;
    } catch (error) {
      const state = connectionStateAfter(error);
      // A connection in doubt is destroyed, never handed to the next caller.
      client.release(state === 'alive' ? undefined : (error as Error));
      const mapped = sqlStateOf(error);
      const known = mapped === undefined ? undefined : errors[mapped];
      if (known !== undefined) throw known();
      throw this.toError(error, operation, kind);
    } finally {
      client.removeListener('error', onError);
    }
  }

  /**
   * Runs `work` in one transaction on one checked-out connection; `work` runs its statements
   * through the function it is given (named, with the result types and timeout of `query()`).
   * Commits when `work` resolves, rolls back when it rejects. Nothing is written unless `COMMIT`
   * was sent, so a connection lost before it is a retryable `STORAGE_UNAVAILABLE`, and only a lost
   * `COMMIT` reply is `STORAGE_OUTCOME_UNKNOWN`. `errors` maps SQLSTATEs as in `query()`.
   */
  async transaction<T>(
    operation: string,
    work: (
      query: <TRow extends pg.QueryResultRow>(
        sql: Statement,
        values: readonly unknown[],
      ) => Promise<pg.QueryResult<TRow>>,
    ) => Promise<T>,
    errors: Readonly<Record<string, () => BuddyError>> = {},
  ): Promise<T> {
    this.assertOpen();
    const client = await this.#checkout(operation);
    const onError = (): void => {};
    client.on('error', onError);
    const timeout = this.#queryTimeoutMs;
    let committing = false;
    try {
      await client.query({ text: 'BEGIN', query_timeout: timeout } as pg.QueryConfig);
      const result = await work((sql, values) =>
        client.query({
          name: sql.name,
          text: sql.text,
          values: values as unknown[],
          types: RESULT_TYPES,
          query_timeout: timeout,
        } as pg.QueryConfig),
      );
      committing = true;
      await client.query({ text: 'COMMIT', query_timeout: timeout } as pg.QueryConfig);
      client.release();
      return result;
    } catch (error) {
      // A failed COMMIT ends the transaction by itself; before it, the transaction is rolled back
      // here (a connection in doubt, or one that cannot roll back, is destroyed instead).
      let destroy = connectionStateAfter(error) !== 'alive';
      if (!destroy && !committing) {
        try {
          await client.query({ text: 'ROLLBACK', query_timeout: timeout } as pg.QueryConfig);
        } catch {
          destroy = true;
        }
      }
      client.release(destroy ? true : undefined);
      const mapped = sqlStateOf(error);
      const known = mapped === undefined ? undefined : errors[mapped];
      if (known !== undefined) throw known();
      const translated = this.toError(error, operation, committing ? 'write' : 'read');
      if (committing || BuddyError.is(error) || translated.code !== 'STORAGE_UNAVAILABLE') {
        throw translated;
      }
      throw new BuddyError({
        code: translated.code,
        message: `${translated.message}; nothing was written (the transaction was not committed)`,
        retryable: translated.retryable,
        cause: error,
        details: translated.details,
      });
    } finally {
      client.removeListener('error', onError);
    }
  }

  /** Runs `work` on one checked-out connection (migrations: a transaction and DDL). */
  async withClient<T>(operation: string, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    this.assertOpen();
    const client = await this.#checkout(operation);
    const onError = (): void => {};
    client.on('error', onError);
    try {
      const result = await work(client);
      client.release();
      return result;
    } catch (error) {
      client.release(connectionStateAfter(error) === 'alive' ? undefined : (error as Error));
      throw this.toError(error, operation, 'write');
    } finally {
      client.removeListener('error', onError);
    }
  }

  async #checkout(operation: string): Promise<pg.PoolClient> {
    const connecting = this.pool.connect();
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        reject(this.#checkoutTimeout(operation));
      }, this.connectionTimeoutMs);
    });
    try {
      return await Promise.race([connecting, timeout]);
    } catch (error) {
      if (timedOut) {
        // The pool still hands a connection over later: give it straight back.
        connecting.then(
          (client) => client.release(),
          () => {},
        );
        throw error;
      }
      if (/timeout exceeded when trying to connect/.test(errorText(error))) {
        throw this.#checkoutTimeout(operation, error);
      }
      throw this.toError(error, operation, 'read');
    } finally {
      clearTimeout(timer);
    }
  }

  #checkoutTimeout(operation: string, cause?: unknown): BuddyError {
    const size = this.poolSize;
    const where = `${this.who}.${operation}`;
    if (this.pool.totalCount >= size && this.pool.idleCount === 0) {
      return new BuddyError({
        code: 'STORAGE_BUSY',
        message: `${where} failed: all ${size} connections of the PostgreSQL pool (pool size ${size}) stayed in use for ${this.connectionTimeoutMs} ms; retry, or use a larger pool`,
        retryable: true,
        cause,
        details: {
          backend: 'postgres',
          operation,
          poolSize: size,
          waitedMs: this.connectionTimeoutMs,
        },
      });
    }
    return new BuddyError({
      code: 'STORAGE_UNAVAILABLE',
      message: `${where} failed: could not open a PostgreSQL connection within ${this.connectionTimeoutMs} ms (pool size ${size})`,
      retryable: true,
      cause,
      details: {
        backend: 'postgres',
        operation,
        poolSize: size,
        waitedMs: this.connectionTimeoutMs,
      },
    });
  }

  /**
   * Maps a node-postgres error to a `BuddyError` (Buddy errors pass through). `kind` decides what
   * a lost connection means: for a write whose reply never came, `STORAGE_OUTCOME_UNKNOWN`.
   */
  toError(error: unknown, operation: string, kind: QueryKind): BuddyError {
    if (BuddyError.is(error)) return error;
    const where = `${this.who}.${operation}`;
    const text = errorText(error);
    const sqlState = sqlStateOf(error);
    const connection = connectionStateAfter(error);
    const details = {
      backend: 'postgres',
      operation,
      ...(sqlState === undefined ? {} : { sqlState }),
      ...(connection === 'alive' ? {} : { connection }),
    };
    if (connection === 'lost' && kind === 'write') {
      return new BuddyError({
        code: 'STORAGE_OUTCOME_UNKNOWN',
        message: `${where}: the connection was lost before PostgreSQL answered (${text}); the write may or may not have been stored, read it back before retrying`,
        retryable: false,
        cause: error,
        details,
      });
    }
    if (connection !== 'alive') {
      return new BuddyError({
        code: 'STORAGE_UNAVAILABLE',
        message: `${where} failed: the PostgreSQL connection was ${connection === 'terminated' ? 'terminated by the server' : 'lost'} (${text})`,
        retryable: true,
        cause: error,
        details,
      });
    }
    if (sqlState === undefined) {
      const code = (error as PgErrorLike | null)?.code;
      if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
        // ECONNREFUSED, ENOTFOUND, EAI_AGAIN: the server cannot be reached (yet).
        return new BuddyError({
          code: 'STORAGE_UNAVAILABLE',
          message: `${where} failed: PostgreSQL cannot be reached (${text})`,
          retryable: true,
          cause: error,
          details: { ...details, errno: code },
        });
      }
      if (this.#closed) return storageClosedError(this.who);
      return new BuddyError({
        code: 'INTERNAL',
        message: `${where} failed unexpectedly: ${text}`,
        cause: error,
        details,
      });
    }
    if (sqlState === '57014' || sqlState === '55P03') {
      return new BuddyError({
        code: 'STORAGE_BUSY',
        message: `${where} failed: the statement was cancelled after waiting too long (${sqlState}: ${text}); nothing was written`,
        retryable: true,
        cause: error,
        details,
      });
    }
    if (sqlState === '40001' || sqlState === '40P01') {
      return new BuddyError({
        code: 'STORAGE_BUSY',
        message: `${where} failed: ${text} (${sqlState}); nothing was written`,
        retryable: true,
        cause: error,
        details,
      });
    }
    if (sqlState.startsWith('22')) {
      return new BuddyError({
        code: 'INVALID_ARGUMENT',
        message: `${where}: PostgreSQL refused a value (${sqlState}: ${text})`,
        cause: error,
        details,
      });
    }
    // Retrying cannot fix bad credentials, a missing database, missing privileges or tables
    // dropped behind the package's back; it can fix overload, a read-only standby and the like.
    const permanent = /^(28|3D|42)/.test(sqlState);
    return new BuddyError({
      code: 'STORAGE_UNAVAILABLE',
      message: `${where} failed: ${text} (${sqlState})`,
      retryable: !permanent,
      cause: error,
      details,
    });
  }

  /** Marks the connection closed and ends the pool if this package created it. Idempotent. */
  close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= this.isOwned ? this.pool.end() : Promise.resolve();
    return this.#closing;
  }
}
