/**
 * `PostgresMemoryDb`: `MemoryDb` (user memories) on PostgreSQL through node-postgres (`pg`).
 *
 * Backend and connection: as `PostgresStorage`. With `pool` it uses yours and never ends it; with
 * `connectionString` (or with neither: node-postgres' `PG*` environment variables) it creates a
 * pool and ends it in `close()`. A storage and a memory db may share one pool.
 *
 * One row per memory in `schema`.`tableName` (default `public.buddy_memories`), created on first
 * use by versioned migrations. User-scoped by construction: every statement filters on
 * `user_id`, an upsert of another user's id is refused by the statement that would write it, and
 * there is no statement that touches more than one user.
 *
 * Embeddings are stored with their row (`double precision[]`, scaled to unit length) and
 * `searchMemories` ranks exactly, in SQL, over that user's rows of the query's length: cost grows
 * with the user's memories times the dimensions (see the package README for measured times).
 * `pgvector` is not used.
 */
import {
  type Logger,
  type MemoryDb,
  type ReadMemoriesInput,
  type ScoredMemory,
  type SearchMemoriesInput,
  silentLogger,
  type UpsertMemoryInput,
  type UserMemory,
} from '@buddy/core';
import {
  assertId,
  isPlainObject,
  memoryOwnershipError,
  normalizeMemoryEmbedding,
  normalizeMemoryIdInput,
  normalizeReadMemoriesInput,
  normalizeSearchMemoriesInput,
  normalizeUpsertMemoryInput,
  normalizeUserIdInput,
  parseUserMemory,
  readOptions,
} from '@buddy/core/adapter-utils';
import type pg from 'pg';
import { assertIdentifier } from './internal/identifiers.ts';
import { fromJsonb, toJsonbText } from './internal/json-codec.ts';
import {
  DEFAULT_MEMORY_TABLE,
  MAX_MEMORY_TABLE_LENGTH,
  type MemoryNames,
  type MemoryStatements,
  memoryMigrations,
  memoryNames,
  memoryStatements,
} from './internal/memory-schema.ts';
import { applyMigrations } from './internal/migrations.ts';
import { PostgresConnection, resolveConnection } from './internal/postgres-connection.ts';
import { unitVector } from './internal/unit-vector.ts';

/** Options of `PostgresMemoryDb`; all optional. */
export interface PostgresMemoryDbOptions {
  /** `postgres://...`; the db creates a pool from it and ends it in `close()`. */
  connectionString?: string;
  /** A `pg.Pool` you created and end yourself; `close()` never ends it. */
  pool?: pg.Pool;
  /** Schema of the table, created if missing (default `'public'`). */
  schema?: string;
  /** Name of the memory table (default `'buddy_memories'`). */
  tableName?: string;
  /** Where recovered problems are reported (an idle connection dropped). Silent by default. */
  logger?: Logger;
  /** Longest a statement may run, in ms (default 5000). */
  statementTimeoutMs?: number;
  /** Longest a call waits for a pool connection, in ms (default 5000). */
  connectionTimeoutMs?: number;
}

const WHO = 'PostgresMemoryDb';
const OPTION_KEYS = [
  'connectionString',
  'pool',
  'schema',
  'tableName',
  'logger',
  'statementTimeoutMs',
  'connectionTimeoutMs',
];

interface MemoryRow {
  id: string;
  user_id: string;
  created_at: number;
  updated_at: number;
  body: unknown;
}

/** A row as a validated memory; `STORAGE_CORRUPT` naming it otherwise. */
function rowToMemory(row: MemoryRow): UserMemory {
  const body = fromJsonb(row.body);
  return parseUserMemory(
    isPlainObject(body)
      ? {
          ...body,
          id: row.id,
          userId: row.user_id,
          createdAt: row.created_at,
          updatedAt: row.updated_at,
        }
      : body,
    row.id,
  );
}

/**
 * User memories on PostgreSQL.
 *
 * @example
 * import { AgentMemory } from '@buddy/memory';
 * import { PostgresMemoryDb } from '@buddy/db-postgres';
 *
 * const memory = new AgentMemory({
 *   db: new PostgresMemoryDb({ connectionString: process.env.DATABASE_URL }),
 * });
 */
export class PostgresMemoryDb implements MemoryDb {
  readonly specificationVersion = 'v1' as const;
  readonly backend = 'postgres';
  /** Schema of the table. */
  readonly schema: string;
  /** The memory table. */
  readonly tableName: string;
  readonly #connection: PostgresConnection;
  readonly #names: MemoryNames;
  readonly #sql: MemoryStatements;
  #isReady = false;
  #readying: Promise<void> | undefined;

  constructor(options: PostgresMemoryDbOptions = {}) {
    const checked = readOptions<PostgresMemoryDbOptions>(options, `${WHO}: options`, OPTION_KEYS);
    this.schema = assertIdentifier(checked.schema ?? 'public', 'schema', WHO);
    this.tableName = assertIdentifier(
      checked.tableName ?? DEFAULT_MEMORY_TABLE,
      'tableName',
      WHO,
      MAX_MEMORY_TABLE_LENGTH,
    );
    const logger = checked.logger ?? silentLogger;
    this.#connection = new PostgresConnection(resolveConnection(checked, WHO), WHO, logger);
    this.#names = memoryNames(this.schema, this.tableName);
    this.#sql = memoryStatements(this.#names);
  }

  /** Connects and applies pending migrations (every method does this on first use). */
  async ready(): Promise<void> {
    this.#connection.assertOpen();
    await this.#ensureReady();
  }

  async #ensureReady(): Promise<void> {
    if (this.#isReady) return;
    this.#readying ??= applyMigrations(this.#connection, {
      schema: this.schema,
      versionTable: this.#names.versions,
      component: 'memories',
      tableName: this.tableName,
      migrations: memoryMigrations(this.#names),
    }).then(
      () => {
        this.#isReady = true;
      },
      (error: unknown) => {
        this.#readying = undefined;
        throw error;
      },
    );
    await this.#readying;
  }

  async readMemories(input: ReadMemoriesInput): Promise<UserMemory[]> {
    this.#connection.assertOpen();
    const { userId, limit, sort, missingEmbedding } = normalizeReadMemoriesInput(input);
    await this.#ensureReady();
    const result = await this.#connection.query<MemoryRow>(
      'readMemories',
      sort === 'newest' ? this.#sql.selectNewest : this.#sql.selectOldest,
      [userId, limit ?? null, missingEmbedding ?? null],
      'read',
    );
    return result.rows.map(rowToMemory);
  }

  async upsertMemory(input: UpsertMemoryInput): Promise<UserMemory> {
    this.#connection.assertOpen();
    const memory = normalizeUpsertMemoryInput(input);
    const embedding = normalizeMemoryEmbedding(input);
    const { id, userId, createdAt, updatedAt, ...rest } = memory;
    const body = toJsonbText(rest, 'memory');
    await this.#ensureReady();
    const result = await this.#connection.query<{ created_at: number }>(
      'upsertMemory',
      this.#sql.upsert,
      [
        id,
        userId,
        createdAt,
        updatedAt,
        body,
        embedding === undefined ? null : unitVector(embedding),
      ],
      'write',
    );
    const row = result.rows[0];
    if (row === undefined) throw memoryOwnershipError(id, userId);
    return { ...memory, createdAt: row.created_at };
  }

  /**
   * Exact cosine ranking in one statement: the `(user_id, embedding_dims)` index yields that
   * user's rows with an embedding of the query's length, SQL scores each (sum of products of the
   * two unit vectors) and returns the best `limit`, ties by id.
   */
  async searchMemories(input: SearchMemoriesInput): Promise<ScoredMemory[]> {
    this.#connection.assertOpen();
    const { userId, embedding, limit } = normalizeSearchMemoriesInput(input);
    await this.#ensureReady();
    const result = await this.#connection.query<MemoryRow & { score: number }>(
      'searchMemories',
      this.#sql.search,
      [userId, unitVector(embedding), embedding.length, limit],
      'read',
    );
    return result.rows.map((row) => ({ ...rowToMemory(row), score: row.score }));
  }

  async deleteMemory(input: { id: string; userId: string }): Promise<boolean> {
    this.#connection.assertOpen();
    const { id, userId } = normalizeMemoryIdInput(input);
    await this.#ensureReady();
    const result = await this.#connection.query(
      'deleteMemory',
      this.#sql.deleteMemory,
      [id, userId],
      'write',
    );
    return (result.rowCount ?? 0) > 0;
  }

  async clearMemories(input: { userId: string }): Promise<number> {
    this.#connection.assertOpen();
    const { userId } = normalizeUserIdInput(input, 'clearMemories');
    return this.#deleteUser('clearMemories', userId);
  }

  async deleteUserData(userId: string): Promise<number> {
    this.#connection.assertOpen();
    assertId(userId, 'userId');
    return this.#deleteUser('deleteUserData', userId);
  }

  async #deleteUser(operation: string, userId: string): Promise<number> {
    await this.#ensureReady();
    const result = await this.#connection.query(
      operation,
      this.#sql.deleteUserMemories,
      [userId],
      'write',
    );
    return result.rowCount ?? 0;
  }

  /** Ends the pool if this db created it; never a pool you passed. Idempotent. */
  async close(): Promise<void> {
    await this.#connection.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Alias of `new PostgresMemoryDb(options)`.
 *
 * @example
 * const db = createPostgresMemoryDb({ connectionString: 'postgres://localhost/app' });
 */
export function createPostgresMemoryDb(options?: PostgresMemoryDbOptions): PostgresMemoryDb {
  return new PostgresMemoryDb(options);
}
