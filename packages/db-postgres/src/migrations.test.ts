/**
 * Real processes against a real server: ten OS processes opening a storage and a memory db on one
 * empty schema at the same moment all succeed and record each schema version once; a script that never
 * calls close() still exits.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import {
  adminPool,
  dropSchema,
  POSTGRES_URL,
  requirePostgres,
  testSchema,
} from '../test/postgres-test-env.ts';

const hasPostgres = await requirePostgres();
const schema = testSchema('tenproc');
const admin = hasPostgres ? adminPool() : (undefined as unknown as pg.Pool);
const packageDirectory = fileURLToPath(new URL('..', import.meta.url));

afterAll(async () => {
  if (!hasPostgres) return;
  await dropSchema(admin, schema);
  await admin.end();
});

function child(job: unknown, script = 'migrate.ts'): Promise<string> {
  return new Promise((resolve, reject) => {
    const process_ = spawn(
      process.execPath,
      [
        '--conditions=@buddy/source',
        '--import',
        'tsx',
        fileURLToPath(new URL(`../test/children/${script}`, import.meta.url)),
        JSON.stringify(job),
      ],
      { cwd: packageDirectory, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    process_.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    process_.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    process_.on('error', reject);
    process_.on('exit', (code) =>
      code === 0 ? resolve(stdout.trim()) : reject(new Error(`child exited ${code}: ${stderr}`)),
    );
  });
}

describe.skipIf(!hasPostgres)('migrations', () => {
  it('ten processes migrating one empty schema at once: no error, each schema version once', async () => {
    const exists = await admin.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    expect(exists.rowCount).toBe(0);
    // Every child waits for the same moment, after its slow start (tsx), before migrating.
    const startAt = Date.now() + 6_000;
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, () => child({ connectionString: POSTGRES_URL, schema, startAt })),
    );
    expect(outcomes).toEqual(Array.from({ length: 10 }, () => 'ok'));
    const sessions = await admin.query(
      `SELECT version, component FROM "${schema}"."buddy_schema_versions" ORDER BY version`,
    );
    expect(sessions.rows).toEqual([
      { version: 1, component: 'sessions' },
      { version: 2, component: 'sessions' },
    ]);
    const memories = await admin.query(
      `SELECT version, component FROM "${schema}"."buddy_memories_schema_versions" ORDER BY version`,
    );
    expect(memories.rows).toEqual([
      { version: 1, component: 'memories' },
      { version: 2, component: 'memories' },
    ]);
    const tables = await admin.query<{ tablename: string }>(
      'SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename',
      [schema],
    );
    expect(tables.rows.map((row) => row.tablename)).toEqual([
      'buddy_leases',
      'buddy_memories',
      'buddy_memories_schema_versions',
      'buddy_runs',
      'buddy_schema_versions',
      'buddy_sessions',
    ]);
  }, 120_000);

  it('a script that never calls close() exits on its own (owned pools do not hold the event loop)', async () => {
    // The child resolves only when its process exits; a pool that kept it alive would time out.
    expect(await child({ connectionString: POSTGRES_URL, schema }, 'no-close.ts')).toBe('written');
  }, 60_000);
});
