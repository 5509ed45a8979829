/**
 * Table, index, migrations and SQL of `SqliteMemoryDb`. Names derive from `tableName` with a `$`
 * suffix, as for the session tables (see `session-schema.ts`).
 */
import type { Migration } from './migrations.ts';
import { quoteIdentifier } from './sqlite-connection.ts';

/** Default `tableName` of `SqliteMemoryDb`. */
export const DEFAULT_MEMORIES_TABLE = 'buddy_memories';

export interface MemoryTableNames {
  memories: string;
  schema: string;
  byUser: string;
}

export function memoryTableNames(tableName: string): MemoryTableNames {
  return {
    memories: tableName,
    schema: `${tableName}$schema`,
    byUser: `${tableName}$by_user`,
  };
}

/** The forward migrations of the memory table, in order. */
export function memoryMigrations(names: MemoryTableNames): Migration[] {
  const memories = quoteIdentifier(names.memories);
  return [
    {
      version: 1,
      description: 'memories as JSON rows; per-user index',
      up: (db) => {
        // `user_id` and `created_at` duplicate fields of the JSON so that ownership checks and
        // ordering never depend on parsing a row.
        db.exec(`
          CREATE TABLE ${memories} (
            id TEXT PRIMARY KEY NOT NULL,
            user_id TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            memory TEXT NOT NULL
          );
          CREATE INDEX ${quoteIdentifier(names.byUser)} ON ${memories} (user_id, created_at, id);
        `);
      },
    },
  ];
}

/** Every statement `SqliteMemoryDb` runs (exported for query-plan tests). */
export function memorySql(names: MemoryTableNames) {
  const memories = quoteIdentifier(names.memories);
  return {
    selectNewest: `SELECT id, user_id, memory FROM ${memories} WHERE user_id = ? ORDER BY created_at DESC, id DESC LIMIT ?`,
    selectOldest: `SELECT id, user_id, memory FROM ${memories} WHERE user_id = ? ORDER BY created_at ASC, id ASC LIMIT ?`,
    selectOwner: `SELECT user_id, created_at FROM ${memories} WHERE id = ?`,
    insertMemory: `INSERT INTO ${memories} (id, user_id, created_at, memory) VALUES (?, ?, ?, ?)`,
    /** Never changes `user_id` or `created_at` of an existing row. */
    updateMemory: `UPDATE ${memories} SET memory = ? WHERE id = ? AND user_id = ?`,
    deleteMemory: `DELETE FROM ${memories} WHERE id = ? AND user_id = ?`,
    deleteUserMemories: `DELETE FROM ${memories} WHERE user_id = ?`,
  };
}

export type MemorySql = ReturnType<typeof memorySql>;
