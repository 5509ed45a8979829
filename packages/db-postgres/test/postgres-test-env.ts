/**
 * The PostgreSQL the tests talk to: `BUDDY_POSTGRES_URL`, else the local server on 127.0.0.1:5432
 * (trust auth, database `test`). Probed once per test file. In CI an unreachable server fails the
 * run (PostgreSQL tests are never skipped there); locally the tests are skipped with a visible
 * notice. Every test file works in schemas of its own and drops them when it is done.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll } from 'vitest';

export const POSTGRES_URL =
  process.env.BUDDY_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';

function isCi(): boolean {
  const value = process.env.CI;
  return value !== undefined && value !== '' && value !== 'false' && value !== '0';
}

async function probe(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3_000 });
  client.on('error', () => {});
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

let probed: Promise<boolean> | undefined;

/**
 * Whether PostgreSQL answers. Throws in CI when it does not; elsewhere warns and returns `false`,
 * so callers skip their suites.
 */
export function requirePostgres(): Promise<boolean> {
  probed ??= probe().then((problem) => {
    if (problem === undefined) return true;
    const where = `${POSTGRES_URL.replace(/:[^:@/]*@/, ':***@')} does not answer (${problem})`;
    if (isCi()) {
      throw new Error(
        `PostgreSQL is required in CI: ${where}. Start the server or set BUDDY_POSTGRES_URL.`,
      );
    }
    // biome-ignore lint/suspicious/noConsole: the skip notice must be visible
    console.warn(
      `[@buddy/db-postgres] SKIPPING PostgreSQL tests: ${where}. Start the server or set BUDDY_POSTGRES_URL.`,
    );
    return false;
  });
  return probed;
}

/** A schema name no other test (or test process) uses. */
export function testSchema(label: string): string {
  return `buddy_test_${label}_${process.pid}_${randomBytes(4).toString('hex')}`.slice(0, 63);
}

/** A small pool for inspecting, corrupting and cleaning up behind the package's back. */
export function adminPool(): pg.Pool {
  const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 4 });
  pool.on('error', () => {});
  return pool;
}

/** Drops a test schema with everything in it. */
export async function dropSchema(pool: pg.Pool, schema: string): Promise<void> {
  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}

/** A pool that counts the statements its connections send: one per round trip. */
export interface CountingPool {
  pool: pg.Pool;
  /** Statements sent since the last `reset()`, in order. */
  statements: string[];
  reset(): void;
}

/**
 * A `pg.Pool` whose clients record every `query()` (node-postgres sends each as one message batch
 * and waits for its reply, so statements = round trips).
 */
export function countingPool(config: pg.PoolConfig = {}): CountingPool {
  const statements: string[] = [];
  class CountingClient extends pg.Client {
    // biome-ignore lint/suspicious/noExplicitAny: node-postgres' query() has many overloads
    override query(...args: any[]): any {
      const first = args[0] as string | { text?: string; name?: string };
      statements.push(typeof first === 'string' ? first : (first.text ?? first.name ?? '?'));
      // biome-ignore lint/suspicious/noExplicitAny: forwarding the same overload
      return (super.query as (...inner: any[]) => any)(...args);
    }
  }
  const pool = new pg.Pool({ connectionString: POSTGRES_URL, ...config, Client: CountingClient });
  pool.on('error', () => {});
  return {
    pool,
    statements,
    reset: () => {
      statements.length = 0;
    },
  };
}

/** What a test file needs: whether PostgreSQL answers, its own schema, and an admin pool. */
export interface PostgresTestFile {
  hasPostgres: boolean;
  schema: string;
  /** Only usable when `hasPostgres`. */
  admin: pg.Pool;
}

/**
 * Probes the server, names a schema of the file's own (`label`) and opens an admin pool; after
 * the file's tests, drops the schema and closes the pool.
 */
export async function postgresTestFile(label: string): Promise<PostgresTestFile> {
  const hasPostgres = await requirePostgres();
  const schema = testSchema(label);
  const admin = hasPostgres ? adminPool() : (undefined as unknown as pg.Pool);
  afterAll(async () => {
    if (!hasPostgres) return;
    await dropSchema(admin, schema);
    await admin.end();
  });
  return { hasPostgres, schema, admin };
}
