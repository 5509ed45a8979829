/**
 * The Redis and PostgreSQL servers the tests talk to: `BUDDY_REDIS_URL` / `BUDDY_POSTGRES_URL`,
 * else the local ones. Probed once per test file. In CI an unreachable server fails the run;
 * locally its tests are skipped with a visible notice. Every test works under a key prefix or
 * schema of its own and removes it afterwards.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';

export const REDIS_URL = process.env.BUDDY_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const POSTGRES_URL =
  process.env.BUDDY_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';

function isCi(): boolean {
  const value = process.env.CI;
  return value !== undefined && value !== '' && value !== 'false' && value !== '0';
}

function settle(name: string, url: string, problem: string | undefined): boolean {
  if (problem === undefined) return true;
  const where = `${url.replace(/:[^:@/]*@/, ':***@')} does not answer (${problem})`;
  if (isCi()) throw new Error(`${name} is required in CI: ${where}`);
  // biome-ignore lint/suspicious/noConsole: the skip notice must be visible
  console.warn(`[@buddy/cli] skipping ${name} tests: ${where}`);
  return false;
}

let redisProbe: Promise<boolean> | undefined;
let postgresProbe: Promise<boolean> | undefined;

/** Whether Redis answers (throws in CI when it does not). */
export function requireRedis(): Promise<boolean> {
  redisProbe ??= (async () => {
    const client = new Redis(REDIS_URL, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      connectTimeout: 2000,
      retryStrategy: () => null,
    });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.ping();
      return settle('Redis', REDIS_URL, undefined);
    } catch (error) {
      return settle('Redis', REDIS_URL, (error as Error).message);
    } finally {
      client.disconnect();
    }
  })();
  return redisProbe;
}

/** Whether PostgreSQL answers (throws in CI when it does not). */
export function requirePostgres(): Promise<boolean> {
  postgresProbe ??= (async () => {
    const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('SELECT 1');
      return settle('PostgreSQL', POSTGRES_URL, undefined);
    } catch (error) {
      return settle('PostgreSQL', POSTGRES_URL, (error as Error).message);
    } finally {
      await client.end().catch(() => {});
    }
  })();
  return postgresProbe;
}

/** A Redis storage URL under a fresh key prefix, and a function that deletes that prefix. */
export function redisPlace(): { url: string; prefix: string; cleanup: () => Promise<void> } {
  const prefix = `buddy-cli-test-${randomBytes(6).toString('hex')}:`;
  const base = new URL(REDIS_URL);
  base.searchParams.set('prefix', prefix);
  return {
    url: base.href,
    prefix,
    cleanup: async () => {
      const client = new Redis(REDIS_URL);
      try {
        for (const key of await redisKeys(client, prefix)) await client.del(key);
      } finally {
        client.disconnect();
      }
    },
  };
}

/** Every key under `prefix` (tests only: SCAN is fine here). */
export async function redisKeys(client: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}

/** Every byte Redis holds under `prefix`, as text: each key and its value, whatever its type. */
export async function redisDump(prefix: string): Promise<string> {
  const client = new Redis(REDIS_URL);
  try {
    const parts: string[] = [];
    for (const key of await redisKeys(client, prefix)) {
      const type = await client.type(key);
      let value: unknown;
      if (type === 'string') value = await client.get(key);
      else if (type === 'hash') value = await client.hgetall(key);
      else if (type === 'list') value = await client.lrange(key, 0, -1);
      else if (type === 'set') value = await client.smembers(key);
      else if (type === 'zset') value = await client.zrange(key, '0', '-1', 'WITHSCORES');
      else value = `<${type}>`;
      parts.push(`${key} ${JSON.stringify(value)}`);
    }
    return parts.join('\n');
  } finally {
    client.disconnect();
  }
}

/** A PostgreSQL storage URL on a fresh schema, and a function that drops it. */
export function postgresPlace(): { url: string; schema: string; cleanup: () => Promise<void> } {
  const schema = `buddy_cli_${randomBytes(6).toString('hex')}`;
  const base = new URL(POSTGRES_URL);
  base.searchParams.set('schema', schema);
  return {
    url: base.href,
    schema,
    cleanup: async () => {
      const client = new pg.Client({ connectionString: POSTGRES_URL });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}

/** Every row of every table of `schema`, as text. */
export async function postgresDump(schema: string): Promise<string> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    const tables = await client.query(
      'SELECT table_name FROM information_schema.tables WHERE table_schema = $1',
      [schema],
    );
    const parts: string[] = [];
    for (const { table_name } of tables.rows as { table_name: string }[]) {
      const rows = await client.query(`SELECT t::text AS row FROM "${schema}"."${table_name}" t`);
      for (const { row } of rows.rows as { row: string }[]) parts.push(`${table_name} ${row}`);
    }
    return parts.join('\n');
  } finally {
    await client.end();
  }
}
