/**
 * `PostgresStorage` against a real PostgreSQL: the shared session-storage suite unchanged, then
 * what is specific to this backend (round trips per turn, options, pool ownership, migrations,
 * ownership in SQL, metacharacters, values jsonb cannot hold).
 */
import { Agent, BuddyError } from '@buddy/core';
import { MockModel } from '@buddy/testkit';
import { expectBuddyRejection } from '@buddy/testkit/fetch';
import { describeSessionStorageContract, makeRun, uniqueId } from '@buddy/testkit/storage';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import {
  countingPool,
  dropSchema,
  POSTGRES_URL,
  postgresTestFile,
  testSchema,
} from '../test/postgres-test-env.ts';
import { postgresStorageHarness, tableOf } from '../test/storage-harness.ts';
import { createPostgresStorage, PostgresStorage } from './postgres-storage.ts';

const { hasPostgres, schema, admin } = await postgresTestFile('storage');

describe.skipIf(!hasPostgres)('PostgresStorage', () => {
  describeSessionStorageContract('PostgresStorage', postgresStorageHarness(schema, admin));

  const opened: PostgresStorage[] = [];
  const pools: pg.Pool[] = [];
  let prefixCounter = 0;
  function open(options: ConstructorParameters<typeof PostgresStorage>[0] = {}): PostgresStorage {
    prefixCounter += 1;
    const storage = new PostgresStorage({
      ...(options.pool === undefined ? { connectionString: POSTGRES_URL } : {}),
      schema,
      tablePrefix: `own${prefixCounter}_`,
      ...options,
    });
    opened.push(storage);
    return storage;
  }
  afterEach(async () => {
    for (const storage of opened.splice(0)) await storage.close();
    for (const pool of pools.splice(0)) await pool.end();
  });

  describe('an agent turn', () => {
    it('is exactly two statements (lease + read, append + release), however long the session is', async () => {
      const counting = countingPool({ max: 2 });
      pools.push(counting.pool);
      const storage = open({ pool: counting.pool });
      await storage.ready();
      const sessionId = uniqueId('turns');
      const agent = new Agent({
        model: new MockModel({ respond: () => 'ok' }),
        storage,
        sessionId,
        userId: 'dana',
        addHistoryToMessages: true,
        numHistoryRuns: 3,
      });
      counting.reset();
      await agent.run('first');
      expect(counting.statements).toHaveLength(2);
      expect(counting.statements[0]).toContain('acquire_lease');
      expect(counting.statements[1]).toContain('append_run');
      // The turn after the one that created the session needs no history read either.
      counting.reset();
      await agent.run('second');
      expect(counting.statements).toHaveLength(2);
      for (let turn = 0; turn < 20; turn++) await agent.run(`turn ${turn}`);
      counting.reset();
      await agent.run('again');
      expect(counting.statements).toHaveLength(2);
      // A second agent (no cache) reads the history once, then runs at two statements again.
      const fresh = new Agent({
        model: new MockModel({ respond: () => 'ok' }),
        storage,
        sessionId,
        userId: 'dana',
        addHistoryToMessages: true,
        numHistoryRuns: 3,
      });
      counting.reset();
      await fresh.run('cold');
      expect(counting.statements).toHaveLength(3);
      counting.reset();
      await fresh.run('warm');
      expect(counting.statements).toHaveLength(2);
      expect((await storage.getSession(sessionId))?.runCount).toBe(25);
    });
  });

  describe('options', () => {
    it('rejects bad options with INVALID_ARGUMENT naming the option', () => {
      const bad: [Record<string, unknown>, string][] = [
        [{ schema: 'public; DROP TABLE x' }, 'schema'],
        [{ schema: '' }, 'schema'],
        [{ tablePrefix: 'a-b' }, 'tablePrefix'],
        [{ tablePrefix: `${'p'.repeat(41)}` }, 'tablePrefix'],
        [{ tablePrefix: '1abc' }, 'tablePrefix'],
        [{ connectionString: '' }, 'connectionString'],
        [{ pool: {} }, 'pool'],
        [{ pool: new pg.Client() }, 'pool'],
        [{ statementTimeoutMs: 0 }, 'statementTimeoutMs'],
        [{ connectionTimeoutMs: 1.5 }, 'connectionTimeoutMs'],
        [{ tableName: 'x' }, 'tableName'],
      ];
      for (const [options, name] of bad) {
        let caught: unknown;
        try {
          new PostgresStorage(options as never);
        } catch (error) {
          caught = error;
        }
        expect(
          BuddyError.is(caught, 'INVALID_ARGUMENT'),
          JSON.stringify(Object.keys(options)),
        ).toBe(true);
        expect((caught as BuddyError).message).toContain(name);
      }
      const pool = new pg.Pool({ connectionString: POSTGRES_URL });
      pools.push(pool);
      expect(() => new PostgresStorage({ pool, connectionString: POSTGRES_URL })).toThrow(/either/);
    });

    it('validates every input before any SQL (a storage whose server is unreachable still answers INVALID_ARGUMENT)', async () => {
      const storage = new PostgresStorage({
        connectionString: 'postgresql://postgres@127.0.0.1:1/test',
        schema,
        connectionTimeoutMs: 100,
      });
      opened.push(storage);
      const run = makeRun('s', 'hi');
      const calls: [string, () => Promise<unknown>][] = [
        ['getSession', () => storage.getSession('')],
        ['getSession options', () => storage.getSession('s', { usrId: 'x' } as never)],
        [
          'upsertSession',
          () => storage.upsertSession({ sessionId: 's', sessionState: [] as never }),
        ],
        [
          'appendRun',
          () =>
            storage.appendRun({ sessionId: 's', run: { ...run, messages: [] }, sessionState: {} }),
        ],
        ['getRuns', () => storage.getRuns({ sessionId: 's', last: -1 })],
        ['acquireLease', () => storage.acquireLease({ sessionId: 's', ttlMs: 0, waitMs: 0 })],
        ['listSessions', () => storage.listSessions({ limit: 0 })],
        ['deleteSession', () => storage.deleteSession('s', null as never)],
        ['deleteUserData', () => storage.deleteUserData('\u0000')],
      ];
      for (const [what, call] of calls) {
        const error = await expectBuddyRejection(call());
        expect(error.code, what).toBe('INVALID_ARGUMENT');
      }
      // The same storage does reach for the server with valid input.
      expect((await expectBuddyRejection(storage.getSession('s'))).code).toBe(
        'STORAGE_UNAVAILABLE',
      );
    });

    it('createPostgresStorage is an alias', async () => {
      const storage = createPostgresStorage({ connectionString: POSTGRES_URL, schema });
      opened.push(storage);
      expect(storage).toBeInstanceOf(PostgresStorage);
      expect(storage.tablePrefix).toBe('buddy_');
    });
  });

  describe('pool ownership', () => {
    it('never ends a pool it was given; close() still closes the storage', async () => {
      const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 2 });
      pools.push(pool);
      const storage = open({ pool });
      await storage.upsertSession({ sessionId: uniqueId('borrowed') });
      await storage.close();
      expect((await pool.query('SELECT 1 AS one')).rows[0]).toEqual({ one: 1 });
      expect((await expectBuddyRejection(storage.listSessions())).code).toBe('STORAGE_CLOSED');
      // Another storage on the same pool keeps working.
      const other = open({ pool, tablePrefix: storage.tablePrefix });
      expect((await other.listSessions()).sessions).toHaveLength(1);
    });

    it('ends the pool it created (its connections leave the server)', async () => {
      const storage = open();
      const sessionId = uniqueId('owned');
      await storage.upsertSession({ sessionId });
      const application = await admin.query<{ count: string }>(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'buddy' AND pid <> pg_backend_pid()",
      );
      expect(Number(application.rows[0]?.count)).toBeGreaterThan(0);
      const own = await admin.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'buddy' AND query LIKE '%' || $1 || '%'",
        [storage.tablePrefix],
      );
      await storage.close();
      await storage.close();
      expect(own.rows.length).toBeGreaterThan(0);
      // The client hung up; the server backend exits right after (poll until it has).
      const pids = own.rows.map((row) => row.pid);
      let remaining = pids.length;
      for (let attempt = 0; attempt < 500 && remaining > 0; attempt++) {
        const still = await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = ANY($1)', [
          pids,
        ]);
        remaining = still.rowCount ?? 0;
        if (remaining > 0) await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(remaining).toBe(0);
    });

    it('fails a call retryably, naming the pool size, when every connection stays busy', async () => {
      const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
      pools.push(pool);
      const storage = open({ pool, connectionTimeoutMs: 200 });
      await storage.ready();
      const held = await pool.connect();
      try {
        const error = await expectBuddyRejection(storage.getSession(uniqueId('starved')));
        expect(error.code).toBe('STORAGE_BUSY');
        expect(error.retryable).toBe(true);
        expect(error.message).toContain('pool size 1');
      } finally {
        held.release();
      }
      // The connection handed over after the timeout went back to the pool.
      expect(await storage.getSession(uniqueId('fed'))).toBeUndefined();
      expect(pool.idleCount).toBe(1);
    });

    it('reports an unreachable server as STORAGE_UNAVAILABLE (retryable)', async () => {
      const storage = new PostgresStorage({
        connectionString: 'postgresql://postgres@127.0.0.1:1/test',
        schema,
      });
      opened.push(storage);
      const error = await expectBuddyRejection(storage.getSession('x'));
      expect(error.code).toBe('STORAGE_UNAVAILABLE');
      expect(error.retryable).toBe(true);
    });

    it('cancels a statement that runs past statementTimeoutMs on the server (nothing written)', async () => {
      const storage = open({ statementTimeoutMs: 300 });
      const sessionId = uniqueId('slow');
      await storage.appendRun({ sessionId, run: makeRun(sessionId, 'a'), sessionState: { n: 1 } });
      // Another transaction holds the session row: the append waits, then the server cancels it.
      const blocker = await admin.connect();
      try {
        await blocker.query('BEGIN');
        await blocker.query(
          `SELECT 1 FROM ${tableOf(storage, 'sessions')} WHERE session_id = $1 FOR UPDATE`,
          [sessionId],
        );
        const error = await expectBuddyRejection(
          storage.appendRun({ sessionId, run: makeRun(sessionId, 'b'), sessionState: { n: 2 } }),
        );
        expect(error.code).toBe('STORAGE_BUSY');
        expect(error.retryable).toBe(true);
        expect(error.details.sqlState).toBe('57014');
      } finally {
        await blocker.query('ROLLBACK');
        blocker.release();
      }
      expect(await storage.getSession(sessionId)).toMatchObject({
        runCount: 1,
        sessionState: { n: 1 },
      });
    });
  });

  describe('migrations', () => {
    it('creates the schema and records each version once; a second storage only reads it', async () => {
      const ownSchema = testSchema('migr');
      try {
        const first = open({ schema: ownSchema, tablePrefix: 'buddy_' });
        await first.ready();
        const second = open({ schema: ownSchema, tablePrefix: 'buddy_' });
        await second.ready();
        const versions = await admin.query(
          `SELECT version, component FROM "${ownSchema}"."buddy_schema_versions" ORDER BY version`,
        );
        expect(versions.rows).toEqual([
          { version: 1, component: 'sessions' },
          { version: 2, component: 'sessions' },
        ]);
      } finally {
        for (const storage of opened.splice(0)) await storage.close();
        await dropSchema(admin, ownSchema);
      }
    });

    it('refuses tables written by a newer @buddy/db-postgres with STORAGE_UNAVAILABLE', async () => {
      const storage = open();
      await storage.ready();
      await admin.query(
        `INSERT INTO "${schema}"."${storage.tablePrefix}schema_versions" (version, component, description) VALUES (99, 'sessions', 'from the future')`,
      );
      const newer = open({ tablePrefix: storage.tablePrefix });
      const error = await expectBuddyRejection(newer.getSession('x'));
      expect(error.code).toBe('STORAGE_UNAVAILABLE');
      expect(error.retryable).toBe(false);
      expect(error.message).toContain('upgrade @buddy/db-postgres'.replace('upgrade', 'Upgrade'));
      expect(error.message).toContain('99');
    });

    it('refuses a prefix whose tables exist but were not created by this package', async () => {
      prefixCounter += 1;
      const prefix = `foreign${prefixCounter}_`;
      await admin.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      await admin.query(`CREATE TABLE "${schema}"."${prefix}sessions" (id int)`);
      const storage = open({ tablePrefix: prefix });
      const error = await expectBuddyRejection(storage.ready());
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toContain('not created by @buddy/db-postgres');
    });
  });

  describe('data', () => {
    it('stores SQL metacharacters in ids, names and state verbatim', async () => {
      const storage = open();
      const nasty = [
        `'; DROP TABLE buddy_sessions; --`,
        `Robert'); DELETE FROM "x" WHERE ('1'='1`,
        `$1 $$ \\ %_ */ /* " ' \``,
        `O'Brien ${'\\'}n 100%`,
      ];
      for (const [position, text] of nasty.entries()) {
        const sessionId = `${text}-${position}`;
        const userId = `user ${text}`;
        await storage.appendRun({
          sessionId,
          userId,
          agentId: `agent ${text}`,
          sessionName: text,
          run: makeRun(sessionId, text, { userId }),
          sessionState: { [text]: text },
        });
        const record = await storage.getSession(sessionId, { userId });
        expect(record).toMatchObject({
          sessionId,
          userId,
          agentId: `agent ${text}`,
          sessionName: text,
          sessionState: { [text]: text },
        });
        expect((await storage.getRuns({ sessionId }))[0]?.messages[0]?.content).toBe(text);
        expect((await storage.listSessions({ userId })).sessions.map((s) => s.sessionId)).toEqual([
          sessionId,
        ]);
        expect(await storage.deleteSession(sessionId, { userId })).toBe(true);
      }
      const tables = await admin.query(
        `SELECT count(*)::int AS count FROM pg_tables WHERE schemaname = $1 AND tablename LIKE $2`,
        [schema, `${storage.tablePrefix}%`],
      );
      expect(tables.rows[0]).toEqual({ count: 4 });
    });

    it('round-trips strings jsonb cannot hold (NUL, lone surrogates) and keeps the rest queryable', async () => {
      const storage = open();
      const sessionId = uniqueId('nul');
      const state = {
        nul: 'a\u0000b',
        lone: 'cut \ud83d',
        low: '\ude00 end',
        escaped: '\\u0000 is text',
        '$buddy:json': 'looks like a wrapper',
      };
      const run = makeRun(sessionId, 'binary \u0000 tool output');
      await storage.appendRun({ sessionId, run, sessionState: state });
      expect((await storage.getSession(sessionId))?.sessionState).toEqual(state);
      expect((await storage.getRuns({ sessionId }))[0]).toEqual({
        ...run,
        index: 0,
        stateAfter: state,
      });
      const wrapper = { '$buddy:json': 'a user value that looks like a wrapper' };
      await storage.upsertSession({ sessionId, sessionState: wrapper });
      expect((await storage.getSession(sessionId))?.sessionState).toEqual(wrapper);
      // Ordinary values are plain jsonb, queryable with SQL.
      await storage.upsertSession({ sessionId, sessionState: { cart: ['milk'] } });
      const sql = await admin.query(
        `SELECT state->'cart'->>0 AS first FROM ${tableOf(storage, 'sessions')} WHERE session_id = $1`,
        [sessionId],
      );
      expect(sql.rows[0]).toEqual({ first: 'milk' });
    });

    it('refuses a session name PostgreSQL text cannot store, naming it', async () => {
      const storage = open();
      const sessionId = uniqueId('name');
      for (const sessionName of ['a\u0000b', 'half \ud83d']) {
        const error = await expectBuddyRejection(
          storage.appendRun({
            sessionId,
            sessionName,
            run: makeRun(sessionId, 'x'),
            sessionState: {},
          }),
        );
        expect(error.code).toBe('INVALID_ARGUMENT');
        expect(error.message).toContain('sessionName');
      }
      expect(await storage.getSession(sessionId)).toBeUndefined();
    });

    it('uses the database clock for timestamps and leases', async () => {
      const storage = open();
      const sessionId = uniqueId('clock');
      const before = await admin.query<{ now: string }>(
        'SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now',
      );
      const record = await storage.upsertSession({ sessionId });
      const after = await admin.query<{ now: string }>(
        'SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now',
      );
      expect(record.createdAt).toBeGreaterThanOrEqual(Number(before.rows[0]?.now));
      expect(record.createdAt).toBeLessThanOrEqual(Number(after.rows[0]?.now));
      await storage.acquireLease({ sessionId, ttlMs: 60_000, waitMs: 0 });
      const lease = await admin.query<{ ms: number }>(
        `SELECT extract(epoch FROM expires_at - clock_timestamp()) * 1000 AS ms FROM ${tableOf(storage, 'leases')} WHERE session_id = $1`,
        [sessionId],
      );
      expect(Number(lease.rows[0]?.ms)).toBeGreaterThan(55_000);
      expect(Number(lease.rows[0]?.ms)).toBeLessThanOrEqual(60_000);
    });

    it('refuses an append fenced by an expired lease, even when nobody took the lease over', async () => {
      const storage = open();
      const sessionId = uniqueId('expired');
      const lease = await storage.acquireLease({ sessionId, ttlMs: 100, waitMs: 0 });
      await new Promise((resolve) => setTimeout(resolve, 250));
      for (const releaseLease of [false, true]) {
        const error = await expectBuddyRejection(
          storage.appendRun({
            sessionId,
            run: makeRun(sessionId, 'late'),
            sessionState: { late: true },
            leaseToken: lease.token,
            releaseLease,
          }),
        );
        expect(error.code).toBe('CONFLICT');
      }
      expect(await storage.getSession(sessionId)).toBeUndefined();
      expect((await expectBuddyRejection(lease.renew())).code).toBe('CONFLICT');
    });

    it('stores a retried append (same run id) once and answers with its first result', async () => {
      const storage = open();
      const sessionId = uniqueId('retry');
      const run = makeRun(sessionId, 'once');
      const first = await storage.appendRun({ sessionId, run, sessionState: { n: 1 } });
      const again = await storage.appendRun({ sessionId, run, sessionState: { n: 1 } });
      expect(again).toEqual(first);
      expect(first.incarnation).toBe((await storage.getSession(sessionId))?.incarnation);
      expect(await storage.getRuns({ sessionId })).toHaveLength(1);
      expect(await storage.getSession(sessionId)).toMatchObject({ runCount: 1, version: 1 });
    });
  });

  describe('0.2 additions, as PostgreSQL stores them', () => {
    async function appendTurns(storage: PostgresStorage, sessionId: string, count: number) {
      for (let turn = 0; turn < count; turn++) {
        await storage.appendRun({
          sessionId,
          run: makeRun(sessionId, `turn ${turn}`),
          sessionState: { turn },
        });
      }
    }

    it('filters listing on metadata jsonb cannot hold (NUL, lone surrogates), page by page, and keeps plain metadata queryable', async () => {
      const storage = open();
      const userId = uniqueId('meta-nul');
      const expected: Record<string, string[]> = { web: [], nul: [], lone: [] };
      const kinds = ['nul', 'web', 'lone', 'nul', 'web', 'nul', 'lone', 'web'];
      for (const [position, kind] of kinds.entries()) {
        const sessionId = uniqueId(`m${position}`);
        const metadata =
          kind === 'nul'
            ? { channel: 'web', note: 'a\u0000b' }
            : kind === 'lone'
              ? { channel: 'app', note: 'cut \ud83d' }
              : { channel: 'web' };
        await storage.upsertSession({ sessionId, userId, metadata });
        // Newest first, like the listing.
        if (kind !== 'lone') expected.web?.unshift(sessionId);
        if (kind !== 'web') expected[kind]?.unshift(sessionId);
        expect((await storage.getSession(sessionId))?.metadata).toEqual(metadata);
        await new Promise((resolve) => setTimeout(resolve, 3));
      }
      const everyPage = async (metadata: Record<string, unknown>, limit: number) => {
        const seen: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await storage.listSessions({
            userId,
            metadata,
            limit,
            ...(cursor === undefined ? {} : { cursor }),
          });
          expect(page.sessions.length).toBeLessThanOrEqual(limit);
          seen.push(...page.sessions.map((session) => session.sessionId));
          cursor = page.nextCursor;
        } while (cursor !== undefined);
        return seen;
      };
      for (const limit of [1, 2, 5]) {
        expect(await everyPage({ channel: 'web' }, limit)).toEqual(expected.web);
        expect(await everyPage({ note: 'a\u0000b' }, limit)).toEqual(expected.nul);
        expect(await everyPage({ note: 'cut \ud83d', channel: 'app' }, limit)).toEqual(
          expected.lone,
        );
      }
      expect(await everyPage({ note: 'a\u0000c' }, 2)).toEqual([]);
      expect(await everyPage({ channel: undefined }, 2)).toEqual([]);
      // Plain metadata is plain jsonb: SQL can query it.
      const sql = await admin.query<{ count: number }>(
        `SELECT count(*)::int AS count FROM ${tableOf(storage, 'sessions')} WHERE user_id = $1 AND metadata->>'channel' = 'web' AND NOT metadata ? 'note'`,
        [userId],
      );
      expect(sql.rows[0]?.count).toBe(3);
    });

    it('skips a session whose metadata is corrupt in listing (and says so), and reading it is STORAGE_CORRUPT', async () => {
      const warnings: string[] = [];
      const storage = open({
        logger: { debug: () => {}, error: () => {}, warn: (message) => warnings.push(message) },
      });
      const userId = uniqueId('corrupt-meta');
      const bad = uniqueId('bad');
      const good = uniqueId('good');
      await storage.upsertSession({ sessionId: bad, userId, metadata: { channel: 'web' } });
      await storage.upsertSession({ sessionId: good, userId, metadata: { channel: 'web' } });
      await admin.query(
        `UPDATE ${tableOf(storage, 'sessions')} SET metadata = '["not", "an", "object"]' WHERE session_id = $1`,
        [bad],
      );
      for (const metadata of [undefined, { channel: 'web' }]) {
        const listed = await storage.listSessions({
          userId,
          limit: 1,
          ...(metadata === undefined ? {} : { metadata }),
        });
        expect(listed.sessions.map((session) => session.sessionId)).toEqual([good]);
      }
      expect(warnings.some((warning) => warning.includes(bad))).toBe(true);
      expect((await expectBuddyRejection(storage.getSession(bad))).code).toBe('STORAGE_CORRUPT');
      expect(await storage.deleteSession(bad, { userId })).toBe(true);
    });

    it('fences upsertSession({ leaseToken }) in the writing call: creates under a held lease, writes nothing once it is lost', async () => {
      const storage = open();
      const sessionId = uniqueId('fenced');
      const lease = await storage.acquireLease({ sessionId, ttlMs: 200, waitMs: 0 });
      const created = await storage.upsertSession({
        sessionId,
        userId: 'dana',
        sessionState: { step: 1 },
        leaseToken: lease.token,
      });
      expect(created).toMatchObject({ version: 1, sessionState: { step: 1 } });
      await new Promise((resolve) => setTimeout(resolve, 350));
      const error = await expectBuddyRejection(
        storage.upsertSession({
          sessionId,
          userId: 'dana',
          sessionState: { step: 2 },
          metadata: { late: true },
          leaseToken: lease.token,
        }),
      );
      expect(error.code).toBe('CONFLICT');
      expect(await storage.getSession(sessionId)).toMatchObject({
        version: 1,
        sessionState: { step: 1 },
      });
      expect((await storage.getSession(sessionId))?.metadata).toBeUndefined();
      // A session that does not exist yet is not created by a holder that lost its lease.
      const other = uniqueId('never');
      const gone = await storage.acquireLease({ sessionId: other, ttlMs: 10_000, waitMs: 0 });
      await gone.release();
      expect(
        (
          await expectBuddyRejection(
            storage.upsertSession({ sessionId: other, leaseToken: gone.token }),
          )
        ).code,
      ).toBe('CONFLICT');
      expect(await storage.getSession(other)).toBeUndefined();
    });

    it('prunes in one statement: leases of deleted sessions go too, a wrapped summary still protects its runs, ranges of indexes stay ranges', async () => {
      const counting = countingPool({ max: 2 });
      pools.push(counting.pool);
      const storage = open({ pool: counting.pool });
      const userId = uniqueId('prune-pg');
      const old = uniqueId('old');
      await storage.appendRun({
        sessionId: old,
        userId,
        run: makeRun(old, 'old', { userId }),
        sessionState: {},
      });
      const lease = await storage.acquireLease({ sessionId: old, ttlMs: 60_000, waitMs: 0 });
      await new Promise((resolve) => setTimeout(resolve, 5));
      const cut = Date.now() + 0.5;
      await new Promise((resolve) => setTimeout(resolve, 5));
      const kept = uniqueId('kept');
      await appendTurns(storage, kept, 6);
      await storage.upsertSession({
        sessionId: kept,
        summary: { summary: 'NUL \u0000 inside', runsCovered: 3, updatedAt: Date.now() },
      });
      counting.reset();
      expect(await storage.prune({ olderThan: cut, userId })).toEqual({
        sessionsDeleted: 1,
        runsDeleted: 1,
      });
      expect(counting.statements).toHaveLength(1);
      // The lease went with its session: the stale holder is fenced, a new one gets it at once.
      const fresh = await storage.acquireLease({ sessionId: old, ttlMs: 1_000, waitMs: 0 });
      await fresh.release();
      expect(
        (
          await expectBuddyRejection(
            storage.appendRun({
              sessionId: old,
              run: makeRun(old, 'late'),
              sessionState: {},
              leaseToken: lease.token,
            }),
          )
        ).code,
      ).toBe('CONFLICT');
      // The summary (stored wrapped: it holds NUL) covers runs 0..2 only.
      expect(await storage.prune({ keepLastRuns: 1 })).toMatchObject({ runsDeleted: 3 });
      expect((await storage.getRuns({ sessionId: kept })).map((run) => run.index)).toEqual([
        3, 4, 5,
      ]);
      expect(
        (await storage.getRuns({ sessionId: kept, fromIndex: 1, limit: 3 })).map(
          (run) => run.index,
        ),
      ).toEqual([3]);
      expect(
        (await storage.getRuns({ sessionId: kept, fromIndex: 4 })).map((run) => run.index),
      ).toEqual([4, 5]);
      expect(await storage.getSession(kept)).toMatchObject({ runCount: 6 });
    });
  });

  describe("another user's session", () => {
    it('cannot be read, listed, continued (with or without a lease), renamed or deleted', async () => {
      const storage = open();
      const sessionId = uniqueId('alice');
      await storage.appendRun({
        sessionId,
        userId: 'alice',
        run: makeRun(sessionId, 'secret', { userId: 'alice' }),
        sessionState: { secret: true },
      });
      const lease = await storage.acquireLease({ sessionId, ttlMs: 10_000, waitMs: 0 });
      const attempts: (() => Promise<unknown>)[] = [
        () => storage.getSession(sessionId, { userId: 'mallory' }),
        () =>
          storage.appendRun({
            sessionId,
            userId: 'mallory',
            run: makeRun(sessionId, 'x'),
            sessionState: { stolen: true },
            leaseToken: lease.token,
            releaseLease: true,
          }),
        () => storage.upsertSession({ sessionId, userId: 'mallory', sessionName: 'mine now' }),
        () =>
          storage.upsertSession({
            sessionId,
            userId: 'mallory',
            summary: { summary: 'x', runsCovered: 9, updatedAt: 1 },
          }),
        () => storage.deleteSession(sessionId, { userId: 'mallory' }),
      ];
      for (const attempt of attempts) {
        expect((await expectBuddyRejection(attempt())).code).toBe('SESSION_OWNERSHIP');
      }
      expect((await storage.listSessions({ userId: 'mallory' })).sessions).toEqual([]);
      expect(await storage.deleteUserData('mallory')).toBe(0);
      // The lease was not released by the refused append.
      expect(
        (await expectBuddyRejection(storage.acquireLease({ sessionId, ttlMs: 1000, waitMs: 0 })))
          .code,
      ).toBe('SESSION_BUSY');
      await lease.release();
      expect(await storage.getSession(sessionId, { userId: 'alice' })).toMatchObject({
        sessionState: { secret: true },
        runCount: 1,
        version: 1,
      });
      const runs = await admin.query(
        `SELECT count(*)::int AS count FROM ${tableOf(storage, 'runs')} WHERE session_id = $1`,
        [sessionId],
      );
      expect(runs.rows[0]).toEqual({ count: 1 });
    });
  });
});
