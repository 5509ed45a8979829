/**
 * PostgreSQL for the app's tests: the server at BUDDY_POSTGRES_URL (default
 * postgresql://postgres@127.0.0.1:5432/test), whether it answers, and schema helpers. A test
 * that needs it skips with a visible notice locally and fails in CI (`CI=true`) when it does not
 * answer.
 */
import pg from 'pg';

/** The server the PostgreSQL tests use. */
export const POSTGRES_URL =
  process.env.BUDDY_POSTGRES_URL || 'postgresql://postgres@127.0.0.1:5432/test';

const inCi = !['', '0', 'false', undefined].includes(process.env.CI);

async function probe(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Why PostgreSQL does not answer, or `undefined` when it does. */
export const postgresProblem = await probe();

/** Whether the PostgreSQL tests are skipped (only outside CI, with a notice). */
export const skipPostgres = postgresProblem !== undefined && !inCi;
if (skipPostgres)
  console.warn(
    `[@buddy/sample-cli] SKIPPING the PostgreSQL tests: ${POSTGRES_URL} does not answer (${postgresProblem}).`,
  );

/** Fails a test in CI when PostgreSQL does not answer. */
export function requirePostgres(): void {
  if (postgresProblem !== undefined)
    throw new Error(
      `PostgreSQL is required in CI: ${POSTGRES_URL} does not answer (${postgresProblem})`,
    );
}

/** Runs one query on the test server. */
export async function query<TRow extends pg.QueryResultRow>(
  text: string,
  values: unknown[] = [],
): Promise<TRow[]> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    return (await client.query<TRow>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** Whether `schema` exists on the test server. */
export async function schemaExists(schema: string): Promise<boolean> {
  const rows = await query('SELECT 1 FROM information_schema.schemata WHERE schema_name = $1', [
    schema,
  ]);
  return rows.length > 0;
}

/** Drops `schema` (a name the test made: lowercase letters, digits, underscores). */
export async function dropSchema(schema: string): Promise<void> {
  if (!/^[a-z0-9_]+$/.test(schema)) throw new Error(`not a test schema: ${schema}`);
  await query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}
