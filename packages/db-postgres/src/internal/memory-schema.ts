/**
 * The memory table of one `tableName` (default `buddy_memories`) and the statements
 * `PostgresMemoryDb` runs on it. Id, owner and timestamps are columns; the rest of the memory
 * (`memory`, `topics`, `input`) is `jsonb`. Every statement is scoped by `user_id`, through the
 * `(user_id, created_at, id)` index that also gives `readMemories` its order.
 */
import { qualifiedName, quoteIdentifier } from './identifiers.ts';
import type { Migration } from './migrations.ts';
import { type Statement, statement } from './postgres-connection.ts';

/** Default `tableName`. */
export const DEFAULT_MEMORY_TABLE = 'buddy_memories';
/** Longest `tableName`: leaves room for `<tableName>_schema_versions` within 63 characters. */
export const MAX_MEMORY_TABLE_LENGTH = 47;

export interface MemoryNames {
  table: string;
  versions: string;
  tableName: string;
  schema: string;
}

export function memoryNames(schema: string, tableName: string): MemoryNames {
  return {
    table: qualifiedName(schema, tableName),
    versions: `${tableName}_schema_versions`,
    tableName,
    schema,
  };
}

export function memoryMigrations(names: MemoryNames): Migration[] {
  return [
    {
      version: 1,
      description: 'memories table with a (user_id, created_at, id) index',
      statements: [
        `CREATE TABLE ${names.table} (
          id text COLLATE "C" PRIMARY KEY,
          user_id text COLLATE "C" NOT NULL,
          created_at double precision NOT NULL,
          updated_at double precision NOT NULL,
          body jsonb NOT NULL
        )`,
        `CREATE INDEX ${quoteIdentifier(`${names.tableName}_user_idx`)} ON ${names.table} (user_id, created_at, id)`,
      ],
    },
  ];
}

export type MemoryStatements = ReturnType<typeof memoryStatements>;

export function memoryStatements({ table }: MemoryNames) {
  const columns = 'id, user_id, created_at, updated_at, body';
  return {
    selectNewest: statement(
      `SELECT ${columns} FROM ${table} WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`,
    ),
    selectOldest: statement(
      `SELECT ${columns} FROM ${table} WHERE user_id = $1 ORDER BY created_at, id LIMIT $2`,
    ),
    // The owner check is the conflict clause's WHERE: another user's id updates nothing and
    // returns no row. An existing row keeps its created_at.
    upsert: statement(
      `INSERT INTO ${table} AS m (${columns}) VALUES ($1, $2, $3, $4, $5::jsonb)
      ON CONFLICT (id) DO UPDATE SET updated_at = EXCLUDED.updated_at, body = EXCLUDED.body
        WHERE m.user_id = EXCLUDED.user_id
      RETURNING created_at`,
    ),
    deleteMemory: statement(`DELETE FROM ${table} WHERE id = $1 AND user_id = $2`),
    deleteUserMemories: statement(`DELETE FROM ${table} WHERE user_id = $1`),
  } satisfies Record<string, Statement>;
}
