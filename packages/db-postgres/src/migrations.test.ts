/**
 * Migrations against a real server: ten OS processes opening a storage and a memory db on one
 * empty schema at the same moment all succeed and record each schema version once; a script that
 * never calls close() still exits; tables of version 1 (0.1) with data are upgraded to version 2
 * and every row stays readable; memory tables of version 2 are upgraded to version 3 (revisions)
 * with every memory and embedding kept.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '@buddy/core';
import { makeRun } from '@buddy/testkit/storage';
import { afterAll, describe, expect, it } from 'vitest';
import {
  dropSchema,
  POSTGRES_URL,
  postgresTestFile,
  testSchema,
} from '../test/postgres-test-env.ts';
import { memoryMigrations, memoryNames } from './internal/memory-schema.ts';
import { applyMigrations } from './internal/migrations.ts';
import { PostgresConnection, resolveConnection } from './internal/postgres-connection.ts';
import { sessionMigrations, sessionNames } from './internal/session-schema.ts';
import { PostgresMemoryDb } from './postgres-memory-db.ts';
import { PostgresStorage } from './postgres-storage.ts';

const { hasPostgres, schema, admin } = await postgresTestFile('tenproc');
const packageDirectory = fileURLToPath(new URL('..', import.meta.url));

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

/** A connection of its own, to lay down the tables as an older version left them. */
function upgradeConnection(): PostgresConnection {
  return new PostgresConnection(
    resolveConnection({ connectionString: POSTGRES_URL }, 'upgrade test'),
    'upgrade test',
    silentLogger,
  );
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
      { version: 3, component: 'memories' },
    ]);
    const tables = await admin.query<{ tablename: string }>(
      'SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename',
      [schema],
    );
    expect(tables.rows.map((row) => row.tablename)).toEqual([
      'buddy_leases',
      'buddy_memories',
      'buddy_memories_revisions',
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

describe.skipIf(!hasPostgres)('upgrading tables of version 1 (0.1) to version 2', () => {
  const upgradeSchema = testSchema('upgrade');

  afterAll(async () => {
    if (hasPostgres) await dropSchema(admin, upgradeSchema);
  });

  it('keeps every session, run, summary and memory readable, and version 1 functions keep working for older processes', async () => {
    const names = sessionNames(upgradeSchema, 'buddy_');
    const memory = memoryNames(upgradeSchema, 'buddy_memories');
    const connection = upgradeConnection();
    try {
      // The tables as @buddy/db-postgres 0.1 left them: version 1 only.
      await applyMigrations(connection, {
        schema: upgradeSchema,
        versionTable: names.versions,
        component: 'sessions',
        tableName: 'buddy_sessions',
        migrations: sessionMigrations(names).slice(0, 1),
      });
      await applyMigrations(connection, {
        schema: upgradeSchema,
        versionTable: memory.versions,
        component: 'memories',
        tableName: 'buddy_memories',
        migrations: memoryMigrations(memory).slice(0, 1),
      });
    } finally {
      await connection.close();
    }
    // Written the way 0.1 wrote them: through its append function, a summary in jsonb (one plain,
    // one wrapped because it holds NUL), a memory row without embedding.
    const appendV1 = (sessionId: string, index: number) => {
      const run = makeRun(sessionId, `turn ${index}`, { userId: 'dana' });
      return admin.query(
        `SELECT * FROM ${names.appendRunV1}($1, 'dana', NULL, NULL, 'legacy-inc', $2, $3::jsonb, $4::jsonb, NULL, false)`,
        [sessionId, run.runId, JSON.stringify(run), JSON.stringify({ turn: index })],
      );
    };
    for (let index = 0; index < 5; index++) {
      await appendV1('plain', index);
      await appendV1('wrapped', index);
    }
    await admin.query(`UPDATE ${names.sessions} SET summary = $2::jsonb WHERE session_id = $1`, [
      'plain',
      JSON.stringify({ summary: 'first two', runsCovered: 2, updatedAt: 1 }),
    ]);
    await admin.query(`UPDATE ${names.sessions} SET summary = $2::jsonb WHERE session_id = $1`, [
      'wrapped',
      JSON.stringify({
        '$buddy:json': JSON.stringify({ summary: 'NUL \u0000', runsCovered: 4, updatedAt: 1 }),
      }),
    ]);
    await admin.query(
      `INSERT INTO ${memory.table} (id, user_id, created_at, updated_at, body) VALUES ('old-memory', 'dana', 1, 1, '{"memory": "likes tea"}')`,
    );

    const storage = new PostgresStorage({ connectionString: POSTGRES_URL, schema: upgradeSchema });
    const db = new PostgresMemoryDb({ connectionString: POSTGRES_URL, schema: upgradeSchema });
    try {
      await Promise.all([storage.ready(), db.ready()]);
      const versions = await admin.query<{ version: number }>(
        `SELECT version FROM "${upgradeSchema}"."buddy_schema_versions" ORDER BY version`,
      );
      expect(versions.rows.map((row) => row.version)).toEqual([1, 2]);
      const plain = await storage.getSession('plain', { userId: 'dana' });
      expect(plain).toMatchObject({ runCount: 5, version: 5, sessionState: { turn: 4 } });
      expect(plain?.metadata).toBeUndefined();
      expect(plain?.pendingRun).toBeUndefined();
      expect(plain?.summary?.runsCovered).toBe(2);
      expect(await storage.getRuns({ sessionId: 'plain' })).toHaveLength(5);
      expect((await storage.listSessions({ userId: 'dana' })).sessions).toHaveLength(2);
      // A 0.1 summary without summary_runs_covered: read from the jsonb when plain; a wrapped one
      // cannot be read in SQL, so all of its runs stay.
      expect(await storage.prune({ keepLastRuns: 0, userId: 'dana' })).toEqual({
        sessionsDeleted: 0,
        runsDeleted: 2,
      });
      expect((await storage.getRuns({ sessionId: 'plain' })).map((run) => run.index)).toEqual([
        2, 3, 4,
      ]);
      expect(await storage.getRuns({ sessionId: 'wrapped' })).toHaveLength(5);
      // A summary written by 0.2 records what it covers, wrapped or not.
      await storage.upsertSession({
        sessionId: 'wrapped',
        summary: { summary: 'NUL \u0000 again', runsCovered: 4, updatedAt: 2 },
      });
      expect(await storage.prune({ keepLastRuns: 0, userId: 'dana' })).toMatchObject({
        runsDeleted: 4,
      });
      // A process still running 0.1 appends with its function; 0.2 reads the result.
      await appendV1('plain', 5);
      expect(await storage.getSession('plain')).toMatchObject({ runCount: 6, version: 6 });
      expect((await storage.getRuns({ sessionId: 'plain', last: 1 }))[0]?.index).toBe(5);
      // The 0.1 memory has no embedding: listed as missing one, never found by search.
      expect(
        (await db.readMemories({ userId: 'dana', missingEmbedding: 3 })).map((row) => row.id),
      ).toEqual(['old-memory']);
      expect(await db.searchMemories({ userId: 'dana', embedding: [1, 0, 0], limit: 5 })).toEqual(
        [],
      );
      await db.upsertMemory({
        id: 'old-memory',
        userId: 'dana',
        memory: 'likes tea',
        embedding: [1, 0, 0],
      });
      expect(await db.readMemories({ userId: 'dana', missingEmbedding: 3 })).toEqual([]);
      expect(
        (await db.searchMemories({ userId: 'dana', embedding: [2, 0, 0], limit: 5 }))[0],
      ).toMatchObject({ id: 'old-memory', createdAt: 1, score: 1 });
    } finally {
      await storage.close();
      await db.close();
    }
  });
});

describe.skipIf(!hasPostgres)(
  'upgrading memory tables of version 2 to version 3 (revisions)',
  () => {
    const upgradeSchema = testSchema('upgrade3');

    afterAll(async () => {
      if (hasPostgres) await dropSchema(admin, upgradeSchema);
    });

    it('keeps every memory and embedding, gives each user a revision row at 0, and the cache then follows new writes', async () => {
      const memory = memoryNames(upgradeSchema, 'buddy_memories');
      const connection = upgradeConnection();
      try {
        await applyMigrations(connection, {
          schema: upgradeSchema,
          versionTable: memory.versions,
          component: 'memories',
          tableName: 'buddy_memories',
          migrations: memoryMigrations(memory).slice(0, 2),
        });
      } finally {
        await connection.close();
      }
      // Rows as version 2 wrote them: unit vectors of 3 dimensions, one row of 2, one without.
      await admin.query(
        `INSERT INTO ${memory.table} (id, user_id, created_at, updated_at, body, embedding, embedding_dims) VALUES
        ('d1', 'dana', 1, 1, '{"memory": "likes tea", "topics": ["drinks"]}', '{1,0,0}', 3),
        ('d2', 'dana', 2, 2, '{"memory": "likes coffee"}', '{0.6,0.8,0}', 3),
        ('d3', 'dana', 3, 3, '{"memory": "short"}', '{0,1}', 2),
        ('d4', 'dana', 4, 4, '{"memory": "no embedding yet"}', NULL, NULL),
        ('e1', 'eli', 5, 5, '{"memory": "likes jazz"}', '{0,0,1}', 3)`,
      );
      const before = await admin.query(`SELECT * FROM ${memory.table} ORDER BY id`);

      const db = new PostgresMemoryDb({ connectionString: POSTGRES_URL, schema: upgradeSchema });
      const sql = new PostgresMemoryDb({
        connectionString: POSTGRES_URL,
        schema: upgradeSchema,
        searchCache: false,
      });
      try {
        await db.ready();
        const versions = await admin.query<{ version: number }>(
          `SELECT version FROM "${upgradeSchema}"."buddy_memories_schema_versions" ORDER BY version`,
        );
        expect(versions.rows.map((row) => row.version)).toEqual([1, 2, 3]);
        // Every row and embedding as it was, at revision 0.
        const after = await admin.query(`SELECT * FROM ${memory.table} ORDER BY id`);
        expect(after.rows).toEqual(before.rows.map((row) => ({ ...row, rev: '0' })));
        const revisions = await admin.query<{ user_id: string; rev: string }>(
          `SELECT user_id, rev FROM ${memory.revisions} ORDER BY user_id`,
        );
        expect(revisions.rows).toEqual([
          { user_id: 'dana', rev: '0' },
          { user_id: 'eli', rev: '0' },
        ]);
        expect(
          (await db.readMemories({ userId: 'dana', sort: 'oldest' })).map((row) => row.id),
        ).toEqual(['d1', 'd2', 'd3', 'd4']);
        const query = { userId: 'dana', embedding: [1, 0, 0], limit: 10 };
        const found = await db.searchMemories(query);
        expect(found.map((row) => [row.id, row.score])).toEqual([
          ['d1', 1],
          ['d2', 0.6],
        ]);
        expect(found).toEqual(await sql.searchMemories(query));
        expect(found[0]).toMatchObject({ memory: 'likes tea', topics: ['drinks'], createdAt: 1 });
        // A later write by another db is seen by the cached one at once.
        await sql.upsertMemory({
          id: 'd4',
          userId: 'dana',
          memory: 'no embedding yet',
          embedding: [1, 0.01, 0],
        });
        expect((await db.searchMemories(query)).map((row) => row.id)).toEqual(['d1', 'd4', 'd2']);
        expect(await db.searchMemories({ ...query, userId: 'eli' })).toEqual(
          await sql.searchMemories({ ...query, userId: 'eli' }),
        );
      } finally {
        await db.close();
        await sql.close();
      }
    });
  },
);
