/**
 * The PostgreSQL rows of `pnpm bench`: the storage on a pool whose clients count the statements
 * they send (node-postgres sends each statement as one message batch and waits for its reply, so
 * statements = round trips), per-turn round trips, listing a user's 20 newest sessions among
 * 100,000, and `searchMemories` over 1,000 / 10,000 / 100,000 memories of one user (cold, warm
 * and after a write with the search cache, and in SQL). Each
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
export interface PostgresSearchRow {
  memories: number;
  dimensions: number;
  /** The search cache's `maxBytes` of the cached dbs. */
  cacheMaxBytes: number;
  /** The first search of a new db (its cache empty: one full read of the user). */
  cold: Summary;
  /** Searches of a db whose cache holds the user (one statement that returns nothing new). */
  warm: Summary;
  /** A search right after another db upserted one of the user's memories (a new embedding). */
  afterWrite: Summary;
  /** A search right after another db deleted one of the user's memories (a full read again). */
  afterDelete: Summary;
  /** `searchCache: false`: ranked in SQL (the path of a user larger than `maxBytes`). */
  sql: Summary;
}

async function timed<T>(work: () => Promise<T>, samples: number[]): Promise<T> {
  const started = process.hrtime.bigint();
  const result = await work();
  samples.push(Number(process.hrtime.bigint() - started) / 1000);
  return result;
}

/**
 * `searchMemories({ userId, embedding, limit: 10 })` for one user holding 1,000, 10,000 and
 * 100,000 memories with `dimensions`-long embeddings (exact: PostgreSQL without pgvector). The
 * rows are seeded with SQL (random unit vectors, as the db stores them, then a new epoch on the
 * user's revision row, as a migration leaves it) and grown in place from one size to the next;
 * every call uses a new random query. Per size: cold (a new db's first search), warm (cached),
 * after a write (another db re-embeds one memory, then the cached db searches), after a delete
 * (another db deletes one memory: the cached db reads the user whole again) and the SQL path
 * (`searchCache: false`). The cached dbs get a `maxBytes` large enough for 100,000 memories of
 * 256 dimensions (about 240 MB; the default 64 MiB holds about 28,000 of them, and a larger user
 * is ranked in SQL, the `sql` column).
 */
export async function measurePostgresSearch(options: {
  sizes: readonly number[];
  dimensions: number;
  calls: (memories: number) => number;
}): Promise<PostgresSearchRow[]> {
  schemas += 1;
  const schema = `buddy_bench_${process.pid}_${Date.now()}_${schemas}`;
  const pool = new pg.Pool({ connectionString: postgresUrl, max: 4 });
  pool.on('error', () => {});
  const cacheMaxBytes = 512 * 1024 * 1024;
  // A search over 100,000 rows in SQL runs longer than the default statement timeout of 5 s.
  const open = (searchCache: { maxBytes: number } | false) =>
    new PostgresMemoryDb({ pool, schema, statementTimeoutMs: 300_000, searchCache });
  const sqlDb = open(false);
  const writer = open(false);
  const { dimensions } = options;
  const userId = 'bench-searcher';
  const query = () => Array.from({ length: dimensions }, () => Math.random() - 0.5);
  const search = async (db: PostgresMemoryDb) => {
    const found = await db.searchMemories({ userId, embedding: query(), limit: 10 });
    if (found.length !== 10) throw new Error('searchMemories returned a short page');
  };
  try {
    await sqlDb.ready();
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
      // Rows written behind the package's back: a new epoch makes every cache read the user whole.
      await pool.query(
        `INSERT INTO "${schema}"."buddy_memories_revisions" (user_id, rev, epoch)
         VALUES ($1, 0, nextval('"${schema}"."buddy_memories_epochs"'))
         ON CONFLICT (user_id) DO UPDATE SET epoch = EXCLUDED.epoch`,
        [userId],
      );
      seeded = size;
      await pool.query(`ANALYZE ${table}`);
      const calls = options.calls(size);
      const sql: number[] = [];
      await search(sqlDb);
      for (let index = 0; index < Math.max(3, Math.round(calls / 10)); index++) {
        await timed(() => search(sqlDb), sql);
      }
      const cold: number[] = [];
      let cached: PostgresMemoryDb | undefined;
      for (let index = 0; index < Math.max(3, Math.round(calls / 20)); index++) {
        await cached?.close();
        cached = open({ maxBytes: cacheMaxBytes });
        await cached.ready();
        const db = cached;
        await timed(() => search(db), cold);
      }
      const db = cached as PostgresMemoryDb;
      const warm: number[] = [];
      for (let index = 0; index < 20; index++) await search(db);
      for (let index = 0; index < Math.max(calls, 30); index++) await timed(() => search(db), warm);
      const afterWrite: number[] = [];
      for (let index = 0; index < Math.max(3, Math.round(calls / 2)); index++) {
        const id = `m${1 + Math.floor(Math.random() * size)}`;
        await writer.upsertMemory({ id, userId, memory: `fact ${id}, again`, embedding: query() });
        await timed(() => search(db), afterWrite);
      }
      const afterDelete: number[] = [];
      for (let index = 0; index < 3; index++) {
        const id = `m${1 + Math.floor(Math.random() * size)}`;
        await writer.deleteMemory({ id, userId });
        await timed(() => search(db), afterDelete);
      }
      await db.close();
      rows.push({
        memories: size,
        dimensions,
        cacheMaxBytes,
        cold: summarize(cold),
        warm: summarize(warm),
        afterWrite: summarize(afterWrite),
        afterDelete: summarize(afterDelete),
        sql: summarize(sql),
      });
    }
    return rows;
  } finally {
    await sqlDb.close();
    await writer.close();
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await pool.end();
  }
}
