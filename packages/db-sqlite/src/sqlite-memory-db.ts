/**
 * `SqliteMemoryDb`: `MemoryDb` (user memories) on SQLite through better-sqlite3.
 *
 * Backend and connection: as `SqliteStorage`. With `dbFile` the db opens the file (WAL,
 * `busy_timeout` 5 s) and closes it in `close()`; with `database` it borrows the caller's
 * connection and never closes it; with neither it uses a private `:memory:` database. A storage
 * and a memory db may share one file or one connection as long as their `tableName`s differ.
 *
 * Each memory is one row of JSON text (validated with zod when read, never evaluated), keyed by
 * its uuid, with the owner and creation time in their own columns: every statement is scoped by
 * `user_id` through the `(user_id, created_at, id)` index, and there is no statement that touches
 * more than one user.
 *
 * Every method checks its input with core's shared validators (`normalizeUpsertMemoryInput`,
 * `normalizeReadMemoriesInput`, ...) before it touches the database; unknown keys, bad ids and
 * malformed memories are `INVALID_ARGUMENT` and nothing is written.
 *
 * Sharp edge: better-sqlite3 is synchronous; the async methods only wrap synchronous calls and
 * block the event loop while a statement runs.
 */
import {
  BuddyError,
  describeValue,
  type Logger,
  type MemoryDb,
  type ReadMemoriesInput,
  type UpsertMemoryInput,
  type UserMemory,
} from '@buddy/core';
import {
  assertId,
  memoryOwnershipError,
  normalizeMemoryIdInput,
  normalizeReadMemoriesInput,
  normalizeUpsertMemoryInput,
  normalizeUserIdInput,
  parseUserMemory,
} from '@buddy/core/adapter-utils';
import type Database from 'better-sqlite3';
import {
  DEFAULT_MEMORIES_TABLE,
  type MemoryTableNames,
  memoryMigrations,
  memorySql,
  memoryTableNames,
} from './internal/memory-schema.ts';
import { applyMigrations } from './internal/migrations.ts';
import {
  resolveConnectionOptions,
  SqliteConnection,
  type SqliteDatabase,
  toStorageError,
} from './internal/sqlite-connection.ts';

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

const WHO = 'SqliteMemoryDb';

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
  readonly #statements: Statements;
  readonly #upsertMemory: Database.Transaction<(memory: UserMemory) => UserMemory>;

  constructor(options?: SqliteMemoryDbOptions) {
    const resolved = resolveConnectionOptions(options, WHO, DEFAULT_MEMORIES_TABLE);
    this.tableName = resolved.tableName;
    const names = memoryTableNames(resolved.tableName);
    const connection = new SqliteConnection(resolved, WHO);
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
    this.#upsertMemory = connection.db.transaction((memory: UserMemory) =>
      this.#upsertInTransaction(memory),
    );
  }

  async readMemories(input: ReadMemoriesInput): Promise<UserMemory[]> {
    return this.#connection.run('readMemories', () => {
      const { userId, limit, sort } = normalizeReadMemoriesInput(input);
      const statement =
        sort === 'newest' ? this.#statements.selectNewest : this.#statements.selectOldest;
      // LIMIT -1 is SQLite for "no limit".
      const rows = statement.all(userId, limit ?? -1);
      return rows.map((row) => rowToMemory(row));
    });
  }

  async upsertMemory(input: UpsertMemoryInput): Promise<UserMemory> {
    return this.#connection.run('upsertMemory', () => {
      const memory = normalizeUpsertMemoryInput(input);
      return this.#upsertMemory.immediate(memory);
    });
  }

  #upsertInTransaction(memory: UserMemory): UserMemory {
    const statements = this.#statements;
    // Ownership and createdAt come from columns, so an owner can overwrite (repair) a row whose
    // JSON is corrupt.
    const existing = statements.selectOwner.get(memory.id);
    if (existing !== undefined && existing.user_id !== memory.userId) {
      throw memoryOwnershipError(memory.id, memory.userId);
    }
    const stored: UserMemory =
      existing === undefined ? { ...memory } : { ...memory, createdAt: existing.created_at };
    // Built by the validator from strings and numbers only: serializing cannot fail.
    const json = JSON.stringify(stored);
    if (existing === undefined) {
      statements.insertMemory.run(stored.id, stored.userId, stored.createdAt, json);
    } else {
      statements.updateMemory.run(json, stored.id, stored.userId);
    }
    return stored;
  }

  async deleteMemory(input: { id: string; userId: string }): Promise<boolean> {
    return this.#connection.run('deleteMemory', () => {
      const { id, userId } = normalizeMemoryIdInput(input);
      return this.#statements.deleteMemory.run(id, userId).changes > 0;
    });
  }

  async clearMemories(input: { userId: string }): Promise<number> {
    return this.#connection.run('clearMemories', () => {
      const { userId } = normalizeUserIdInput(input, 'clearMemories');
      return this.#statements.deleteUserMemories.run(userId).changes;
    });
  }

  async deleteUserData(userId: string): Promise<number> {
    return this.#connection.run('deleteUserData', () => {
      assertId(userId, 'userId');
      return this.#statements.deleteUserMemories.run(userId).changes;
    });
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
    selectOwner: connection.prepare<{ user_id: string; created_at: number }>(sql.selectOwner),
    insertMemory: connection.prepare(sql.insertMemory),
    updateMemory: connection.prepare(sql.updateMemory),
    deleteMemory: connection.prepare(sql.deleteMemory),
    deleteUserMemories: connection.prepare(sql.deleteUserMemories),
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
