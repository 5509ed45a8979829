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
 *
 * Version 3 adds what lets `PostgresMemoryDb` keep a user's embedded memories in process memory
 * and still see every other process's writes at once: a revision table `<tableName>_revisions`
 * (one row per user: `rev`, bumped by every write statement of that user, and `epoch`, replaced by
 * every delete) and a `rev` column on each memory (the revision that last wrote it), indexed with
 * `(user_id, rev)`. A write takes the user's revision row lock first (so revisions are handed out
 * in commit order) and stamps its row with the new `rev`; a search asks, in one statement, for the
 * user's current `(rev, epoch)` and the rows written after the revision it already holds. Epochs
 * come from the sequence `<tableName>_epochs`, so a value is never reused: deleting the whole user
 * removes the revision row, and the row a later write creates has an epoch no cache has seen.
 * See docs/decisions/2026-12-02-postgres-memory-search-cache.md.
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
  /** `"schema"."<tableName>_revisions"`: one row per user with memories. */
  revisions: string;
  /** `"schema"."<tableName>_epochs"`: the sequence epochs are drawn from. */
  epochs: string;
  tableName: string;
  schema: string;
}

/** The names derived from `schema` and `tableName`. */
export function memoryNames(schema: string, tableName: string): MemoryNames {
  return {
    table: qualifiedName(schema, tableName),
    versions: `${tableName}_schema_versions`,
    revisions: qualifiedName(schema, `${tableName}_revisions`),
    epochs: qualifiedName(schema, `${tableName}_epochs`),
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
    {
      version: 3,
      description: 'per-user revisions (rev, epoch) and a rev column with a (user_id, rev) index',
      statements: [
        `CREATE SEQUENCE ${names.epochs} AS bigint`,
        `CREATE TABLE ${names.revisions} (
          user_id text COLLATE "C" PRIMARY KEY,
          rev bigint NOT NULL,
          epoch bigint NOT NULL
        )`,
        // A constant default: existing rows read as revision 0 without a table rewrite.
        `ALTER TABLE ${names.table} ADD COLUMN rev bigint NOT NULL DEFAULT 0`,
        `CREATE INDEX ${quoteIdentifier(`${names.tableName}_rev_idx`)} ON ${names.table} (user_id, rev)`,
        // Every user who already has memories gets a revision row (rev 0), so the first search of
        // a migrated user is the only full read until something of theirs is deleted.
        `INSERT INTO ${names.revisions} (user_id, rev, epoch)
          SELECT user_id, 0, nextval('${names.epochs}') FROM (SELECT DISTINCT user_id FROM ${names.table}) AS users`,
      ],
    },
  ];
}

/** The SQL `PostgresMemoryDb` runs, by purpose. */
export type MemoryStatements = ReturnType<typeof memoryStatements>;

/** Every statement of `PostgresMemoryDb`, for the given names. */
export function memoryStatements({ table, revisions, epochs }: MemoryNames) {
  const columns = 'id, user_id, created_at, updated_at, body';
  // `$3` (missingEmbedding): only rows without an embedding of that many dimensions.
  const missing = '($3::integer IS NULL OR embedding_dims IS DISTINCT FROM $3)';
  const nextEpoch = `nextval('${epochs}')`;
  // Takes the user's revision row lock (held until commit, so writers of one user queue here and
  // revisions are handed out in commit order) and returns the new revision. A new row (the user's
  // first write, or the first after deleteUserData) gets a fresh epoch; `bumpEpoch` gives one to an
  // existing row too (deletes).
  // `only` (a condition on the statement's snapshot) skips the bump, and with it the write, when
  // the write cannot change anything of this user: no revision row is made for nothing.
  const bump = (userParam: string, bumpEpoch: boolean, only: string) =>
    `INSERT INTO ${revisions} AS r (user_id, rev, epoch) SELECT ${userParam}, 1, ${nextEpoch} WHERE ${only}
      ON CONFLICT (user_id) DO UPDATE SET rev = r.rev + 1${bumpEpoch ? ', epoch = EXCLUDED.epoch' : ''}
      RETURNING r.rev`;
  // The columns `searchMemories` reads from its cache statement.
  const cacheColumns = (kind: number, vector: string) =>
    `${kind} AS kind, m.id, m.created_at, m.updated_at, m.body, m.rev, NULL::bigint AS epoch, NULL::bigint AS total, ${vector} AS vector`;
  return {
    selectNewest: statement(
      `SELECT ${columns} FROM ${table} WHERE user_id = $1 AND ${missing} ORDER BY created_at DESC, id DESC LIMIT $2`,
    ),
    selectOldest: statement(
      `SELECT ${columns} FROM ${table} WHERE user_id = $1 AND ${missing} ORDER BY created_at, id LIMIT $2`,
    ),
    // The owner check is the conflict clause's WHERE: another user's id updates nothing and
    // returns no row (and when the snapshot already shows the id as another user's, the bump and
    // so the insert are skipped). An existing row keeps its created_at; its embedding is replaced, or
    // dropped when the upsert has none (it would describe the old text). The row is stamped with
    // the revision `bump` handed out (taken first: the INSERT reads it).
    upsert: statement(
      `WITH bump AS (${bump('$2::text', false, `NOT EXISTS (SELECT 1 FROM ${table} WHERE id = $1 AND user_id <> $2)`)})
      INSERT INTO ${table} AS m (${columns}, embedding, embedding_dims, rev)
        SELECT $1, $2, $3, $4, $5::jsonb, $6::double precision[], cardinality($6::double precision[]), bump.rev
        FROM bump
      ON CONFLICT (id) DO UPDATE SET updated_at = EXCLUDED.updated_at, body = EXCLUDED.body,
          embedding = EXCLUDED.embedding, embedding_dims = EXCLUDED.embedding_dims, rev = EXCLUDED.rev
        WHERE m.user_id = EXCLUDED.user_id
      RETURNING created_at`,
    ),
    // Exact cosine ranking: both vectors have unit length, so the score is the sum of products,
    // computed over that user's rows with an embedding of the query's length ($3) only. Used when
    // the search cache is off or the user does not fit in it.
    search: statement(
      `SELECT ${columns}, (SELECT sum(pair.a * pair.b)
          FROM (SELECT unnest(m.embedding) AS a, unnest($2::double precision[]) AS b) AS pair) AS score
        FROM ${table} m WHERE m.user_id = $1 AND m.embedding_dims = $3
        ORDER BY score DESC, id LIMIT $4`,
    ),
    // The search cache's one statement. Kind 0, always exactly one row: the user's (rev, epoch)
    // (NULL once the user was deleted) and, unless the epoch is still the cached one ($3), how many
    // rows of $2 dimensions the user has. Then either (same epoch) every row written after the
    // cached revision $4, whatever its length (kind 1; `vector` NULL when it no longer has an
    // embedding of $2 dimensions), or else all of the user's rows of $2 dimensions (kind 2), but
    // only when there are at most $5 of them (more would not fit the cache; the caller then searches
    // in SQL). The uncorrelated conditions are one-time filters: one branch runs, the other is
    // never scanned. One statement, one snapshot: the rows match the revision returned.
    // `array_send` is the binary float8[] (decoded with a DataView, far faster than the text form).
    searchCache: statement(
      `WITH r AS MATERIALIZED (SELECT rev, epoch FROM ${revisions} WHERE user_id = $1),
        state AS MATERIALIZED (SELECT (SELECT rev FROM r) AS rev, (SELECT epoch FROM r) AS epoch,
            EXISTS (SELECT 1 FROM r WHERE r.epoch = $3::bigint) AS same),
        counted AS MATERIALIZED (SELECT CASE WHEN (SELECT same FROM state) THEN NULL
            ELSE (SELECT count(*) FROM ${table} WHERE user_id = $1 AND embedding_dims = $2::integer) END AS total)
      SELECT 0 AS kind, NULL::text AS id, NULL::double precision AS created_at,
          NULL::double precision AS updated_at, NULL::jsonb AS body, state.rev, state.epoch,
          counted.total, NULL::bytea AS vector
        FROM state, counted
      UNION ALL
      SELECT ${cacheColumns(1, 'CASE WHEN m.embedding_dims = $2::integer THEN array_send(m.embedding) END')}
        FROM ${table} m WHERE m.user_id = $1 AND m.rev > $4::bigint AND (SELECT same FROM state)
      UNION ALL
      SELECT ${cacheColumns(2, 'array_send(m.embedding)')}
        FROM ${table} m WHERE m.user_id = $1 AND m.embedding_dims = $2::integer
          AND NOT (SELECT same FROM state) AND (SELECT total FROM counted) <= $5::bigint`,
    ),
    // Revision lock first (the one-time filter makes `bump` run before the scan), then the row:
    // every writer of a user locks in that order, so they cannot deadlock. A new epoch tells
    // caches that a row is gone. Nothing is bumped when the snapshot shows no such row of this
    // user: the DELETE (same snapshot) could delete nothing either.
    deleteMemory: statement(
      `WITH bump AS (${bump('$2::text', true, `EXISTS (SELECT 1 FROM ${table} WHERE id = $1 AND user_id = $2)`)}),
        gone AS (DELETE FROM ${table} WHERE id = $1 AND user_id = $2 AND EXISTS (SELECT 1 FROM bump) RETURNING 1)
      SELECT count(*)::integer AS deleted FROM gone`,
    ),
    // The user's revision row goes too (nothing of the user is left behind); a later write
    // creates a new one with a new epoch. Deleted first, for the same lock order.
    deleteUserMemories: statement(
      `WITH revision AS (DELETE FROM ${revisions} WHERE user_id = $1 RETURNING 1),
        gone AS (DELETE FROM ${table} WHERE user_id = $1 AND (SELECT count(*) FROM revision) >= 0 RETURNING 1)
      SELECT count(*)::integer AS deleted FROM gone`,
    ),
  } satisfies Record<string, Statement>;
}
