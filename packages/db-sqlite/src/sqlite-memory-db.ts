/**
 * `SqliteMemoryDb`: `MemoryDb` (user memories) on SQLite through better-sqlite3, with embeddings
 * and `searchMemories` through sqlite-vec.
 *
 * Backend and connection: as `SqliteStorage`. With `dbFile` the db opens the file (WAL,
 * `busy_timeout` 5 s, a memory map of up to 1 GiB for reading vectors) and closes it in
 * `close()`; with `database` it borrows the caller's connection and never closes it; with neither
 * it uses a private `:memory:` database. A storage and a memory db may share one file or one
 * connection as long as their `tableName`s differ.
 *
 * Each memory is one row of JSON text (validated with zod when read, never evaluated), keyed by
 * its uuid, with the owner, creation time and embedding length in their own columns: every
 * statement is scoped by `user_id` through the `(user_id, created_at, id)` index, and there is no
 * statement that touches more than one user.
 *
 * Embeddings live in sqlite-vec `vec0` tables, one per embedding length, partitioned by user and
 * keyed by memory id: written, replaced and deleted in the transaction of their memory row, and
 * searched with an exact cosine KNN over that user's partition only. sqlite-vec is an optional
 * peer, imported the first time an operation needs a vector; without it every operation that
 * needs one rejects with `STORAGE_UNAVAILABLE` naming the package, and everything else works.
 *
 * Every method checks its input with core's shared validators (`normalizeUpsertMemoryInput`,
 * `normalizeMemoryEmbedding`, `normalizeSearchMemoriesInput`, ...) before it touches the
 * database; unknown keys, bad ids, malformed memories and embeddings are `INVALID_ARGUMENT` and
 * nothing is written.
 *
 * Sharp edges: better-sqlite3 is synchronous; the async methods only wrap synchronous calls and
 * block the event loop while a statement runs, a search included (it reads every vector of the
 * user: about 4 ms for 10,000 of 256 dimensions, 20–30 ms at 1536; see `pnpm bench`). Vectors are
 * stored as unit-length 32-bit floats, so scores match a float64 cosine to about 1e-6.
 */
import {
  BuddyError,
  describeValue,
  type Logger,
  type MemoryDb,
  type ReadMemoriesInput,
  type ScoredMemory,
  type SearchMemoriesInput,
  type UpsertMemoryInput,
  type UserMemory,
} from '@buddy/core';
import {
  assertId,
  memoryOwnershipError,
  normalizeMemoryEmbedding,
  normalizeMemoryIdInput,
  normalizeReadMemoriesInput,
  normalizeSearchMemoriesInput,
  normalizeUpsertMemoryInput,
  normalizeUserIdInput,
  parseUserMemory,
} from '@buddy/core/adapter-utils';
import type Database from 'better-sqlite3';
import {
  createVectorTableSql,
  DEFAULT_MEMORIES_TABLE,
  type MemoryTableNames,
  memoryMigrations,
  memorySql,
  memoryTableNames,
  VECTOR_TABLE_EXISTS_SQL,
  vectorSql,
  vectorTableName,
} from './internal/memory-schema.ts';
import { applyMigrations } from './internal/migrations.ts';
import {
  resolveConnectionOptions,
  SqliteConnection,
  type SqliteDatabase,
  toStorageError,
} from './internal/sqlite-connection.ts';
import { loadSqliteVec } from './internal/vector-extension.ts';

/** Options of `SqliteMemoryDb`. Without `dbFile` and `database`, the data lives in `:memory:`. */
export interface SqliteMemoryDbOptions {
  /** Path of the database file, created if missing; closed by `close()`. */
  dbFile?: string;
  /** A better-sqlite3 connection you opened and close yourself. */
  database?: SqliteDatabase;
  /** Name of the memory table (default `'buddy_memories'`). */
  tableName?: string;
  /**
   * Where the db reports what it recovers from (schema migrations applied on open, at `debug`).
   * Default `consoleLogger` of `@buddy/core`.
   */
  logger?: Logger;
}

interface MemoryRow {
  id: string;
  user_id: string;
  memory: string;
}

interface ScoredRow extends MemoryRow {
  distance: number | null;
}

interface OwnerRow {
  user_id: string;
  created_at: number;
  embedding_dimensions: number | null;
  embedding_zero: number;
}

/** An embedding as stored: its length, and its unit vector as 32-bit floats (none if all zeros). */
interface StoredEmbedding {
  dimensions: number;
  vector: Buffer | undefined;
}

/** The statements on one vector table, prepared once sqlite-vec is loaded and the table exists. */
type VectorStatements = ReturnType<typeof prepareVectorStatements>;

/** Returned by a write that found a vector to touch before sqlite-vec was loaded. */
const NEEDS_VECTORS = Symbol('needs sqlite-vec');

const WHO = 'SqliteMemoryDb';
/**
 * `mmap_size` of a file this db opens. A search reads all of one user's vectors (10,000 × 256
 * dimensions are 10 MB); through the memory map instead of SQLite's 2 MB page cache it took
 * half the time in `pnpm bench` (6.3 → 3.6 ms; 1536 dimensions: 34 → 20 ms). Address space, not
 * memory: the pages are the OS's file cache, shared and reclaimable.
 */
const MEMORY_MMAP_BYTES = 1024 ** 3;

/**
 * The unit vector of `values` as 32-bit floats, or `undefined` when it is all zeros. Cosine
 * similarity does not depend on length, and a unit vector cannot overflow or underflow a 32-bit
 * float whatever the scale of the input (it is divided by its largest component first).
 */
function unitVector(values: readonly number[]): Buffer | undefined {
  let largest = 0;
  for (const value of values) largest = Math.max(largest, Math.abs(value));
  if (largest === 0) return undefined;
  let norm = 0;
  for (const value of values) norm += (value / largest) ** 2;
  norm = Math.sqrt(norm);
  const vector = new Float32Array(values.length);
  for (let index = 0; index < values.length; index++) {
    vector[index] = (values[index] as number) / largest / norm;
  }
  return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength);
}

function storedEmbedding(values: readonly number[]): StoredEmbedding {
  return { dimensions: values.length, vector: unitVector(values) };
}

/** Cosine similarity from sqlite-vec's cosine distance, kept within [-1, 1] despite rounding. */
function scoreOf(distance: number | null): number {
  if (distance === null || !Number.isFinite(distance)) return 0;
  return Math.min(1, Math.max(-1, 1 - distance));
}

/** Best first, then by id: the order of the contract's reference implementation. */
function byScore(a: ScoredMemory, b: ScoredMemory): number {
  return b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * User memories on SQLite.
 *
 * @example
 * import { AgentMemory } from '@buddy/memory';
 * import { SqliteMemoryDb } from '@buddy/db-sqlite';
 *
 * const memory = new AgentMemory({ db: new SqliteMemoryDb({ dbFile: 'memory.db' }) });
 */
export class SqliteMemoryDb implements MemoryDb {
  readonly specificationVersion = 'v1' as const;
  readonly backend = 'sqlite';
  /** The memory table. */
  readonly tableName: string;
  readonly #connection: SqliteConnection;
  readonly #names: MemoryTableNames;
  readonly #statements: Statements;
  readonly #upsertMemory: Database.Transaction<
    (
      memory: UserMemory,
      embedding: StoredEmbedding | undefined,
    ) => UserMemory | typeof NEEDS_VECTORS
  >;
  readonly #deleteMemory: Database.Transaction<
    (id: string, userId: string) => boolean | typeof NEEDS_VECTORS
  >;
  readonly #deleteUserMemories: Database.Transaction<
    (userId: string) => number | typeof NEEDS_VECTORS
  >;
  /** Set once sqlite-vec is loaded on the connection. */
  #vectorsLoaded: Promise<void> | undefined;
  #hasVectors = false;
  /** Prepared statements per embedding length whose vector table exists. */
  readonly #vectorStatements = new Map<number, VectorStatements>();

  constructor(options?: SqliteMemoryDbOptions) {
    const resolved = resolveConnectionOptions(options, WHO, DEFAULT_MEMORIES_TABLE);
    this.tableName = resolved.tableName;
    const names = memoryTableNames(resolved.tableName);
    this.#names = names;
    const connection = new SqliteConnection(resolved, WHO, { mmapSize: MEMORY_MMAP_BYTES });
    this.#connection = connection;
    try {
      applyMigrations(connection.db, {
        schemaTable: names.schema,
        component: 'memories',
        tableName: names.memories,
        who: WHO,
        migrations: memoryMigrations(names),
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
    this.#upsertMemory = db.transaction(
      (memory: UserMemory, embedding: StoredEmbedding | undefined) =>
        this.#upsertInTransaction(memory, embedding),
    );
    this.#deleteMemory = db.transaction((id: string, userId: string) =>
      this.#deleteInTransaction(id, userId),
    );
    this.#deleteUserMemories = db.transaction((userId: string) =>
      this.#deleteUserMemoriesInTransaction(userId),
    );
  }

  async readMemories(input: ReadMemoriesInput): Promise<UserMemory[]> {
    return this.#connection.run('readMemories', () => {
      const { userId, limit, sort, missingEmbedding } = normalizeReadMemoriesInput(input);
      const statements = this.#statements;
      // LIMIT -1 is SQLite for "no limit".
      const rows =
        missingEmbedding === undefined
          ? (sort === 'newest' ? statements.selectNewest : statements.selectOldest).all(
              userId,
              limit ?? -1,
            )
          : (sort === 'newest'
              ? statements.selectNewestMissing
              : statements.selectOldestMissing
            ).all(userId, missingEmbedding, limit ?? -1);
      return rows.map((row) => rowToMemory(row));
    });
  }

  async upsertMemory(input: UpsertMemoryInput): Promise<UserMemory> {
    const { memory, embedding } = this.#connection.run('upsertMemory', () => ({
      memory: normalizeUpsertMemoryInput(input),
      embedding: normalizeMemoryEmbedding(input),
    }));
    const stored = embedding === undefined ? undefined : storedEmbedding(embedding);
    if (stored !== undefined) {
      await this.#loadVectors('upsertMemory');
      // Created on its own (idempotent) before the write, so a rolled-back write never leaves a
      // prepared statement on a table that does not exist.
      if (stored.vector !== undefined) {
        this.#connection.run('upsertMemory', () => this.#ensureVectorTable(stored.dimensions));
      }
    }
    return this.#write('upsertMemory', () => this.#upsertMemory.immediate(memory, stored));
  }

  #upsertInTransaction(
    memory: UserMemory,
    embedding: StoredEmbedding | undefined,
  ): UserMemory | typeof NEEDS_VECTORS {
    const statements = this.#statements;
    // Ownership and createdAt come from columns, so an owner can overwrite (repair) a row whose
    // JSON is corrupt.
    const existing = statements.selectOwner.get(memory.id);
    if (existing !== undefined && existing.user_id !== memory.userId) {
      throw memoryOwnershipError(memory.id, memory.userId);
    }
    const oldDimensions =
      existing !== undefined &&
      existing.embedding_dimensions !== null &&
      existing.embedding_zero === 0
        ? existing.embedding_dimensions
        : undefined;
    // The old vector is replaced or dropped (a changed text makes it stale): that needs sqlite-vec.
    if (oldDimensions !== undefined && !this.#hasVectors) return NEEDS_VECTORS;
    const stored: UserMemory =
      existing === undefined ? { ...memory } : { ...memory, createdAt: existing.created_at };
    // Built by the validator from strings and numbers only: serializing cannot fail.
    const json = JSON.stringify(stored);
    const dimensions = embedding?.dimensions ?? null;
    const isZero = embedding !== undefined && embedding.vector === undefined ? 1 : 0;
    if (existing === undefined) {
      statements.insertMemory.run(
        stored.id,
        stored.userId,
        stored.createdAt,
        json,
        dimensions,
        isZero,
      );
    } else {
      statements.updateMemory.run(json, dimensions, isZero, stored.id, stored.userId);
    }
    const vector = embedding?.vector;
    const newDimensions = vector === undefined ? undefined : embedding?.dimensions;
    if (oldDimensions !== undefined && oldDimensions === newDimensions && vector !== undefined) {
      // Same length: the vector is rewritten in its slot (inserted if its row went missing).
      const vectors = this.#vectorsOf(oldDimensions);
      if (vectors.updateVector.run(vector, stored.id).changes === 0) {
        vectors.insertVector.run(stored.id, stored.userId, vector);
      }
    } else {
      if (oldDimensions !== undefined) this.#vectorsOf(oldDimensions).deleteVector.run(stored.id);
      if (newDimensions !== undefined && vector !== undefined) {
        this.#vectorsOf(newDimensions).insertVector.run(stored.id, stored.userId, vector);
      }
    }
    return stored;
  }

  async searchMemories(input: SearchMemoriesInput): Promise<ScoredMemory[]> {
    const query = this.#connection.run('searchMemories', () => normalizeSearchMemoriesInput(input));
    await this.#loadVectors('searchMemories');
    return this.#connection.run('searchMemories', () => {
      const { userId, limit } = query;
      const dimensions = query.embedding.length;
      const vector = unitVector(query.embedding);
      const statements = this.#statements;
      let found: ScoredMemory[];
      if (vector === undefined) {
        // An all-zero query is at cosine similarity 0 to every embedding of its length.
        found = statements.selectEmbedded
          .all(userId, dimensions)
          .map((row) => ({ ...rowToMemory(row), score: 0 }));
      } else {
        const vectors = this.#existingVectorsOf(dimensions);
        const nearest =
          vectors === undefined ? [] : vectors.nearest.all({ query: vector, limit, userId });
        found = nearest.map((row) => ({ ...rowToMemory(row), score: scoreOf(row.distance) }));
        // All-zero embeddings are kept out of the vector table (they have no direction) and
        // score 0, ahead of the memories pointing away from the query.
        for (const row of statements.selectZeroEmbeddings.all(userId, dimensions, limit)) {
          found.push({ ...rowToMemory(row), score: 0 });
        }
      }
      return found.sort(byScore).slice(0, limit);
    });
  }

  async deleteMemory(input: { id: string; userId: string }): Promise<boolean> {
    const { id, userId } = this.#connection.run('deleteMemory', () =>
      normalizeMemoryIdInput(input),
    );
    return this.#write('deleteMemory', () => this.#deleteMemory.immediate(id, userId));
  }

  #deleteInTransaction(id: string, userId: string): boolean | typeof NEEDS_VECTORS {
    const statements = this.#statements;
    const existing = statements.selectOwner.get(id);
    if (existing === undefined || existing.user_id !== userId) return false;
    if (existing.embedding_dimensions !== null && existing.embedding_zero === 0) {
      if (!this.#hasVectors) return NEEDS_VECTORS;
      // The vector goes in the same transaction as its row.
      this.#vectorsOf(existing.embedding_dimensions).deleteVector.run(id);
    }
    return statements.deleteMemory.run(id, userId).changes > 0;
  }

  async clearMemories(input: { userId: string }): Promise<number> {
    const { userId } = this.#connection.run('clearMemories', () =>
      normalizeUserIdInput(input, 'clearMemories'),
    );
    return this.#write('clearMemories', () => this.#deleteUserMemories.immediate(userId));
  }

  async deleteUserData(userId: string): Promise<number> {
    this.#connection.run('deleteUserData', () => assertId(userId, 'userId'));
    return this.#write('deleteUserData', () => this.#deleteUserMemories.immediate(userId));
  }

  #deleteUserMemoriesInTransaction(userId: string): number | typeof NEEDS_VECTORS {
    const statements = this.#statements;
    const embedded = statements.selectUserVectors.all(userId);
    if (embedded.length > 0) {
      if (!this.#hasVectors) return NEEDS_VECTORS;
      for (const row of embedded) {
        this.#vectorsOf(row.embedding_dimensions).deleteVector.run(row.id);
      }
    }
    return statements.deleteUserMemories.run(userId).changes;
  }

  /**
   * Runs a write transaction; when it stopped (before writing anything) because it has a vector
   * to replace or delete and sqlite-vec is not loaded yet, loads it and runs it again.
   */
  async #write<T>(operation: string, work: () => T | typeof NEEDS_VECTORS): Promise<T> {
    for (;;) {
      const result = this.#connection.run(operation, work);
      if (result !== NEEDS_VECTORS) return result;
      await this.#loadVectors(operation);
    }
  }

  /** Loads sqlite-vec on the connection, once (a failure is retried by the next call). */
  async #loadVectors(operation: string): Promise<void> {
    this.#vectorsLoaded ??= loadSqliteVec(this.#connection.db, `${WHO}.${operation}`).then(
      () => {
        this.#hasVectors = true;
      },
      (error: unknown) => {
        this.#vectorsLoaded = undefined;
        throw error;
      },
    );
    await this.#vectorsLoaded;
    // Closed while the package was being imported: the operation must not go on.
    this.#connection.run(operation, () => undefined);
  }

  #ensureVectorTable(dimensions: number): void {
    if (this.#vectorStatements.has(dimensions)) return;
    this.#connection.db.exec(createVectorTableSql(this.#names, dimensions));
    this.#vectorsOf(dimensions);
  }

  /** The statements of an existing vector table (sqlite-vec loaded). */
  #vectorsOf(dimensions: number): VectorStatements {
    let statements = this.#vectorStatements.get(dimensions);
    if (statements === undefined) {
      statements = prepareVectorStatements(this.#connection, this.#names, dimensions);
      this.#vectorStatements.set(dimensions, statements);
    }
    return statements;
  }

  /** Like `#vectorsOf`, or `undefined` when no embedding of that length was ever written. */
  #existingVectorsOf(dimensions: number): VectorStatements | undefined {
    if (this.#vectorStatements.has(dimensions)) return this.#vectorsOf(dimensions);
    const exists = this.#statements.vectorTableExists.get(vectorTableName(this.#names, dimensions));
    return exists === undefined ? undefined : this.#vectorsOf(dimensions);
  }

  /**
   * Closes the connection if this db opened it (a borrowed `database` stays open). Idempotent;
   * every later call rejects with `STORAGE_CLOSED`.
   */
  async close(): Promise<void> {
    this.#connection.close();
  }

  /** `close()`, for `await using db = new SqliteMemoryDb(...)`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Alias of `new SqliteMemoryDb(options)`.
 *
 * @example
 * const db = createSqliteMemoryDb({ dbFile: 'memory.db' });
 */
export function createSqliteMemoryDb(options?: SqliteMemoryDbOptions): SqliteMemoryDb {
  return new SqliteMemoryDb(options);
}

type Statements = ReturnType<typeof prepareStatements>;

function prepareStatements(connection: SqliteConnection, names: MemoryTableNames) {
  const sql = memorySql(names);
  return {
    selectNewest: connection.prepare<MemoryRow>(sql.selectNewest),
    selectOldest: connection.prepare<MemoryRow>(sql.selectOldest),
    selectNewestMissing: connection.prepare<MemoryRow>(sql.selectNewestMissing),
    selectOldestMissing: connection.prepare<MemoryRow>(sql.selectOldestMissing),
    selectOwner: connection.prepare<OwnerRow>(sql.selectOwner),
    insertMemory: connection.prepare(sql.insertMemory),
    updateMemory: connection.prepare(sql.updateMemory),
    deleteMemory: connection.prepare(sql.deleteMemory),
    deleteUserMemories: connection.prepare(sql.deleteUserMemories),
    selectUserVectors: connection.prepare<{ id: string; embedding_dimensions: number }>(
      sql.selectUserVectors,
    ),
    selectZeroEmbeddings: connection.prepare<MemoryRow>(sql.selectZeroEmbeddings),
    selectEmbedded: connection.prepare<MemoryRow>(sql.selectEmbedded),
    vectorTableExists: connection.prepare(VECTOR_TABLE_EXISTS_SQL),
  };
}

function prepareVectorStatements(
  connection: SqliteConnection,
  names: MemoryTableNames,
  dimensions: number,
) {
  const sql = vectorSql(names, dimensions);
  return {
    insertVector: connection.prepare(sql.insertVector),
    updateVector: connection.prepare(sql.updateVector),
    deleteVector: connection.prepare(sql.deleteVector),
    nearest: connection.prepare<ScoredRow>(sql.nearest),
  };
}

/** A row as a validated memory; `STORAGE_CORRUPT` naming it otherwise. */
function rowToMemory(row: MemoryRow): UserMemory {
  const memory = parseUserMemory(row.memory, row.id);
  // The JSON must agree with the columns the queries were scoped by; a row edited to claim
  // another owner or id is corrupt, not another user's data.
  if (memory.userId !== row.user_id || memory.id !== row.id) {
    throw new BuddyError({
      code: 'STORAGE_CORRUPT',
      message: `Memory ${describeValue(row.id)} is corrupt: its JSON does not match its id and owner columns`,
    });
  }
  return memory;
}
