/**
 * The memory table of one `tableName` (default `buddy_memories`) and the statements
 * `PostgresMemoryDb` runs on it. Id, owner and timestamps are columns; the rest of the memory
 * (`memory`, `topics`, `input`) is `jsonb`. Every statement is scoped by `user_id`, through the
 * `(user_id, created_at, id)` index that also gives `readMemories` its order.
 *
 * Version 2 (0.2) adds the embedding: `embedding double precision[]` (scaled to unit length, see
 * `unit-vector.ts`) and `embedding_dims`, with a `(user_id, embedding_dims)` index. Search is
 * exact: the sum of products with the query over that user's rows of the query's length, in SQL
 * (this package does not use `pgvector`).
 */
import { qualifiedName, quoteIdentifier } from './identifiers.ts';
import type { Migration } from './migrations.ts';
import { type Statement, statement } from './postgres-connection.ts';

/** Default `tableName`. */
export const DEFAULT_MEMORY_TABLE = 'buddy_memories';
/** Longest `tableName`: leaves room for `<tableName>_schema_versions` within 63 characters. */
export const MAX_MEMORY_TABLE_LENGTH = 47;

/** The quoted names of one memory table family. */
export interface MemoryNames {
  table: string;
  versions: string;
  tableName: string;
  schema: string;
}

/** The names derived from `schema` and `tableName`. */
export function memoryNames(schema: string, tableName: string): MemoryNames {
  return {
    table: qualifiedName(schema, tableName),
    versions: `${tableName}_schema_versions`,
    tableName,
    schema,
  };
}

/** The forward migrations of the memory tables, in order. */
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
    {
      version: 2,
      description: 'embedding columns with a (user_id, embedding_dims) index',
      statements: [
        // Nullable columns without a default: existing rows stay as they are, without embedding.
        `ALTER TABLE ${names.table}
          ADD COLUMN embedding double precision[],
          ADD COLUMN embedding_dims integer,
          ADD CONSTRAINT ${quoteIdentifier(`${names.tableName}_embedding_check`)}
            CHECK (embedding_dims IS NOT DISTINCT FROM cardinality(embedding))`,
        `CREATE INDEX ${quoteIdentifier(`${names.tableName}_embedding_idx`)} ON ${names.table} (user_id, embedding_dims)`,
      ],
    },
  ];
}

/** The SQL `PostgresMemoryDb` runs, by purpose. */
export type MemoryStatements = ReturnType<typeof memoryStatements>;

/** Every statement of `PostgresMemoryDb`, for the given names. */
export function memoryStatements({ table }: MemoryNames) {
  const columns = 'id, user_id, created_at, updated_at, body';
  // `$3` (missingEmbedding): only rows without an embedding of that many dimensions.
  const missing = '($3::integer IS NULL OR embedding_dims IS DISTINCT FROM $3)';
  return {
    selectNewest: statement(
      `SELECT ${columns} FROM ${table} WHERE user_id = $1 AND ${missing} ORDER BY created_at DESC, id DESC LIMIT $2`,
    ),
    selectOldest: statement(
      `SELECT ${columns} FROM ${table} WHERE user_id = $1 AND ${missing} ORDER BY created_at, id LIMIT $2`,
    ),
    // The owner check is the conflict clause's WHERE: another user's id updates nothing and
    // returns no row. An existing row keeps its created_at; its embedding is replaced, or
    // dropped when the upsert has none (it would describe the old text).
    upsert: statement(
      `INSERT INTO ${table} AS m (${columns}, embedding, embedding_dims)
        VALUES ($1, $2, $3, $4, $5::jsonb, $6::double precision[], cardinality($6::double precision[]))
      ON CONFLICT (id) DO UPDATE SET updated_at = EXCLUDED.updated_at, body = EXCLUDED.body,
          embedding = EXCLUDED.embedding, embedding_dims = EXCLUDED.embedding_dims
        WHERE m.user_id = EXCLUDED.user_id
      RETURNING created_at`,
    ),
    // Exact cosine ranking: both vectors have unit length, so the score is the sum of products,
    // computed over that user's rows with an embedding of the query's length ($3) only.
    search: statement(
      `SELECT ${columns}, (SELECT sum(pair.a * pair.b)
          FROM (SELECT unnest(m.embedding) AS a, unnest($2::double precision[]) AS b) AS pair) AS score
        FROM ${table} m WHERE m.user_id = $1 AND m.embedding_dims = $3
        ORDER BY score DESC, id LIMIT $4`,
    ),
    deleteMemory: statement(`DELETE FROM ${table} WHERE id = $1 AND user_id = $2`),
    deleteUserMemories: statement(`DELETE FROM ${table} WHERE user_id = $1`),
  } satisfies Record<string, Statement>;
}
