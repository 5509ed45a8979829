/**
 * The PostgreSQL rows of `pnpm bench`: the storage on a pool whose clients count the statements
 * they send (node-postgres sends each statement as one message batch and waits for its reply, so
 * statements = round trips), per-turn round trips, listing a user's 20 newest sessions among
 * 100,000, and `searchMemories` over 1,000 / 10,000 / 100,000 memories of one user. Each
 * measurement works in a schema of its own and drops it afterwards.
 */
import { Agent, type SessionStorage, silentLogger } from '@buddy/core';
import { PostgresMemoryDb, PostgresStorage } from '@buddy/db-postgres';
import { MockModel } from '@buddy/testkit';
import pg from 'pg';
import { type Summary, summarize } from './stats.ts';
import type { BackendFactory } from './turn-overhead.ts';

export const postgresUrl =
  process.env.BUDDY_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';

/** A pool whose clients count every statement they send. */
function countingPool(): { pool: pg.Pool; count: () => number } {
  let statements = 0;
  class CountingClient extends pg.Client {
    // biome-ignore lint/suspicious/noExplicitAny: node-postgres' query() has many overloads
    override query(...args: any[]): any {
      statements += 1;
      // biome-ignore lint/suspicious/noExplicitAny: forwarding the same overload
      return (super.query as (...inner: any[]) => any)(...args);
    }
  }
  const pool = new pg.Pool({ connectionString: postgresUrl, Client: CountingClient });
  pool.on('error', () => {});
  return { pool, count: () => statements };
}

export async function postgresAnswers(): Promise<boolean> {
  const client = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: 1000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

interface Opened {
  pool: pg.Pool;
  schema: string;
  count: () => number;
}

const opened = new Map<SessionStorage, Opened>();
let schemas = 0;

async function openStorage(): Promise<PostgresStorage> {
  schemas += 1;
  const schema = `buddy_bench_${process.pid}_${Date.now()}_${schemas}`;
  const { pool, count } = countingPool();
  const storage = new PostgresStorage({ pool, schema });
  await storage.ready();
  opened.set(storage, { pool, schema, count });
  return storage;
}

async function disposeStorage(storage: SessionStorage): Promise<void> {
  await storage.close();
  const entry = opened.get(storage);
  if (entry === undefined) return;
  opened.delete(storage);
  await entry.pool.query(`DROP SCHEMA IF EXISTS "${entry.schema}" CASCADE`);
  await entry.pool.end();
}

export const postgresBackend: BackendFactory = {
  name: 'postgres (loopback)',
  open: openStorage,
  dispose: disposeStorage,
};

/** Statements per turn of an agent on a session that already exists, averaged over `turns`. */
export async function measurePostgresRoundTrips(turns: number): Promise<number> {
  const storage = await openStorage();
  try {
    const agent = new Agent({
      model: new MockModel({ respond: () => 'ok' }),
      storage,
      sessionId: 'round-trips',
      userId: 'bench-user',
      addHistoryToMessages: true,
      numHistoryRuns: 3,
      logger: silentLogger,
    });
    await agent.run('warm up');
    const entry = opened.get(storage) as Opened;
    const before = entry.count();
    for (let turn = 0; turn < turns; turn++) await agent.run(`turn ${turn}`);
    return (entry.count() - before) / turns;
  } finally {
    await disposeStorage(storage);
  }
}

/** `listSessions({ userId, limit: 20 })` for a user with `sessions` sessions. */
export async function measurePostgresListing(
  sessions: number,
  calls: number,
): Promise<Summary & { sessions: number }> {
  const storage = await openStorage();
  try {
    const entry = opened.get(storage) as Opened;
    const table = `"${entry.schema}"."buddy_sessions"`;
    // Seeded with one statement (through the API this would be 100,000 round trips).
    await entry.pool.query(
      `INSERT INTO ${table} (session_id, incarnation, user_id, agent_id, state, version, run_count, created_at, updated_at)
       SELECT 'list-' || i, 'bench', 'bench-lister', 'bench-agent', '{}', 1, 0, 1700000000000 + i, 1700000000000 + i
       FROM generate_series(1, $1) AS i`,
      [sessions],
    );
    await entry.pool.query(`ANALYZE ${table}`);
    for (let index = 0; index < 50; index++) {
      await storage.listSessions({ userId: 'bench-lister', limit: 20 });
    }
    const samples: number[] = [];
    for (let index = 0; index < calls; index++) {
      const started = process.hrtime.bigint();
      const page = await storage.listSessions({ userId: 'bench-lister', limit: 20 });
      samples.push(Number(process.hrtime.bigint() - started) / 1000);
      if (page.sessions.length !== 20) throw new Error('listing returned a short page');
    }
    return { ...summarize(samples), sessions };
  } finally {
    await disposeStorage(storage);
  }
}

/** One size of the `searchMemories` measurement. */
export interface PostgresSearchRow extends Summary {
  memories: number;
  dimensions: number;
}

/**
 * `searchMemories({ userId, embedding, limit: 10 })` for one user holding 1,000, 10,000 and
 * 100,000 memories with `dimensions`-long embeddings (exact search: PostgreSQL without pgvector).
 * The rows are seeded with SQL (random unit vectors, as the db stores them) and grown in place
 * from one size to the next; every call uses a new random query.
 */
export async function measurePostgresSearch(options: {
  sizes: readonly number[];
  dimensions: number;
  calls: (memories: number) => number;
}): Promise<PostgresSearchRow[]> {
  schemas += 1;
  const schema = `buddy_bench_${process.pid}_${Date.now()}_${schemas}`;
  const pool = new pg.Pool({ connectionString: postgresUrl, max: 2 });
  pool.on('error', () => {});
  // A search over 100,000 rows runs longer than the default statement timeout of 5 s.
  const db = new PostgresMemoryDb({ pool, schema, statementTimeoutMs: 300_000 });
  const { dimensions } = options;
  const userId = 'bench-searcher';
  const query = () => Array.from({ length: dimensions }, () => Math.random() - 0.5);
  try {
    await db.ready();
    const table = `"${schema}"."buddy_memories"`;
    const rows: PostgresSearchRow[] = [];
    let seeded = 0;
    for (const size of options.sizes) {
      await pool.query(
        `INSERT INTO ${table} (id, user_id, created_at, updated_at, body, embedding, embedding_dims)
         SELECT 'm' || i, $3, i, i, jsonb_build_object('memory', 'fact ' || i), unit.embedding, $4
         FROM generate_series($1::integer, $2::integer) AS i,
           LATERAL (SELECT array_agg(random() - 0.5 + 0 * d.n) AS raw
             FROM generate_series(1, $4) AS d (n) WHERE i > 0) AS v,
           LATERAL (SELECT array_agg(x / (SELECT sqrt(sum(y * y)) FROM unnest(v.raw) AS y)) AS embedding
             FROM unnest(v.raw) AS x) AS unit`,
        [seeded + 1, size, userId, dimensions],
      );
      seeded = size;
      await pool.query(`ANALYZE ${table}`);
      for (let index = 0; index < 3; index++) {
        await db.searchMemories({ userId, embedding: query(), limit: 10 });
      }
      const samples: number[] = [];
      for (let index = 0; index < options.calls(size); index++) {
        const started = process.hrtime.bigint();
        const found = await db.searchMemories({ userId, embedding: query(), limit: 10 });
        samples.push(Number(process.hrtime.bigint() - started) / 1000);
        if (found.length !== 10) throw new Error('searchMemories returned a short page');
      }
      rows.push({ ...summarize(samples), memories: size, dimensions });
    }
    return rows;
  } finally {
    await db.close();
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await pool.end();
  }
}
