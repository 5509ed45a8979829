/**
 * Table, index, migrations and SQL of `SqliteMemoryDb`. Names derive from `tableName` with a `$`
 * suffix, as for the session tables (see `session-schema.ts`).
 */
import type { Migration } from './migrations.ts';
import { quoteIdentifier } from './sqlite-connection.ts';

/** Default `tableName` of `SqliteMemoryDb`. */
export const DEFAULT_MEMORIES_TABLE = 'buddy_memories';

/** The table and index names of one memory `tableName`. */
export interface MemoryTableNames {
  memories: string;
  schema: string;
  byUser: string;
  /** Partial index of the memories whose embedding is all zeros (kept out of the vector tables). */
  zeroEmbeddings: string;
  /** Prefix of the per-dimension vector tables: `<tableName>$vec<dimensions>`. */
  vectorPrefix: string;
}

/** The names derived from `tableName`. */
export function memoryTableNames(tableName: string): MemoryTableNames {
  return {
    memories: tableName,
    schema: `${tableName}$schema`,
    byUser: `${tableName}$by_user`,
    zeroEmbeddings: `${tableName}$zero_embeddings`,
    vectorPrefix: `${tableName}$vec`,
  };
}

/** The vector table of embeddings with `dimensions` numbers (unquoted). */
export function vectorTableName(names: MemoryTableNames, dimensions: number): string {
  return `${names.vectorPrefix}${dimensions}`;
}

/**
 * Vectors per chunk of a vector table. sqlite-vec allocates whole chunks per partition (per user),
 * so this is also the smallest space a user with embeddings takes: 64 × dimensions × 4 bytes
 * (64 kB at 256 dimensions, 384 kB at 1536). Measured on 10,000 vectors of one user, 64 searches
 * within 10 % of sqlite-vec's default of 1,024, while 8 or 16 are 40–90 % slower.
 */
export const VECTOR_CHUNK_SIZE = 64;

/**
 * The sqlite-vec table of one embedding length. `user_id` is its partition key: a search reads
 * only that user's chunks, and every query here names the user. The primary key is the memory id
 * (text), so a memory's vector is found, replaced and deleted by id, never by a rowid that VACUUM
 * could renumber. Needs sqlite-vec loaded on the connection.
 */
export function createVectorTableSql(names: MemoryTableNames, dimensions: number): string {
  return `CREATE VIRTUAL TABLE IF NOT EXISTS ${quoteIdentifier(vectorTableName(names, dimensions))} USING vec0(
    memory_id TEXT PRIMARY KEY,
    user_id TEXT PARTITION KEY,
    embedding FLOAT[${dimensions}] distance_metric=cosine,
    chunk_size=${VECTOR_CHUNK_SIZE}
  )`;
}

/** Whether a vector table exists (a lookup in the small schema table, not in the data). */
export const VECTOR_TABLE_EXISTS_SQL =
  "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?";

/** The statements on the vector table of one embedding length. */
export function vectorSql(names: MemoryTableNames, dimensions: number) {
  const memories = quoteIdentifier(names.memories);
  const vectors = quoteIdentifier(vectorTableName(names, dimensions));
  return {
    insertVector: `INSERT INTO ${vectors} (memory_id, user_id, embedding) VALUES (?, ?, ?)`,
    updateVector: `UPDATE ${vectors} SET embedding = ? WHERE memory_id = ?`,
    /** sqlite-vec zeroes the slot of a deleted vector and drops a chunk once it is empty. */
    deleteVector: `DELETE FROM ${vectors} WHERE memory_id = ?`,
    /**
     * The `k` nearest of one user's vectors (a KNN over that user's partition only), joined to
     * the memory rows; the owner column is checked again on the join.
     */
    nearest: `SELECT m.id, m.user_id, m.memory, v.distance
      FROM (SELECT memory_id, distance FROM ${vectors}
            WHERE embedding MATCH @query AND k = @limit AND user_id = @userId) AS v
      JOIN ${memories} AS m ON m.id = v.memory_id
      WHERE m.user_id = @userId`,
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
    {
      version: 2,
      description: 'embeddings: their length per memory (vectors live in sqlite-vec tables)',
      up: (db) => {
        // Schema changes only (no rewrite of existing rows, which read as "no embedding"). The
        // partial index is empty until an all-zero embedding is written.
        db.exec(`
          ALTER TABLE ${memories} ADD COLUMN embedding_dimensions INTEGER;
          ALTER TABLE ${memories} ADD COLUMN embedding_zero INTEGER NOT NULL DEFAULT 0;
          CREATE INDEX ${quoteIdentifier(names.zeroEmbeddings)}
            ON ${memories} (user_id, embedding_dimensions, id) WHERE embedding_zero = 1;
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
    /** `readMemories({ missingEmbedding })`: the user's rows without an embedding of that length. */
    selectNewestMissing: `SELECT id, user_id, memory FROM ${memories} WHERE user_id = ? AND embedding_dimensions IS NOT ? ORDER BY created_at DESC, id DESC LIMIT ?`,
    selectOldestMissing: `SELECT id, user_id, memory FROM ${memories} WHERE user_id = ? AND embedding_dimensions IS NOT ? ORDER BY created_at ASC, id ASC LIMIT ?`,
    selectOwner: `SELECT user_id, created_at, embedding_dimensions, embedding_zero FROM ${memories} WHERE id = ?`,
    insertMemory: `INSERT INTO ${memories} (id, user_id, created_at, memory, embedding_dimensions, embedding_zero) VALUES (?, ?, ?, ?, ?, ?)`,
    /** Never changes `user_id` or `created_at` of an existing row. */
    updateMemory: `UPDATE ${memories} SET memory = ?, embedding_dimensions = ?, embedding_zero = ? WHERE id = ? AND user_id = ?`,
    deleteMemory: `DELETE FROM ${memories} WHERE id = ? AND user_id = ?`,
    deleteUserMemories: `DELETE FROM ${memories} WHERE user_id = ?`,
    /** The user's memories whose vectors sit in a vector table (deleted with them). */
    selectUserVectors: `SELECT id, embedding_dimensions FROM ${memories} WHERE user_id = ? AND embedding_dimensions IS NOT NULL AND embedding_zero = 0`,
    /** Memories whose embedding of this length is all zeros: cosine similarity 0 to any query. */
    selectZeroEmbeddings: `SELECT id, user_id, memory FROM ${memories} WHERE user_id = ? AND embedding_dimensions = ? AND embedding_zero = 1 ORDER BY id LIMIT ?`,
    /** A search with an all-zero query: every embedding of that length scores 0. */
    selectEmbedded: `SELECT id, user_id, memory FROM ${memories} WHERE user_id = ? AND embedding_dimensions = ?`,
  };
}

/** The SQL `SqliteMemoryDb` prepares, by purpose. */
export type MemorySql = ReturnType<typeof memorySql>;
