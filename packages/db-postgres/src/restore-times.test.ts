/**
 * `upsertSession({ restoreTimes })` on a real server: the one write of `PostgresStorage` that is a
 * transaction of two statements (the upsert function, then the times). It is all or nothing (a
 * failing second statement takes the first back), a connection that dies before `COMMIT` reports
 * that nothing was written, a lost `COMMIT` reply is `STORAGE_OUTCOME_UNKNOWN`, and a write refused
 * inside the transaction leaves the connection clean for the next caller.
 */
import { BuddyError } from '@buddy/core';
import { expectBuddyRejection } from '@buddy/testkit/fetch';
import { makeRun, uniqueId } from '@buddy/testkit/storage';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { POSTGRES_URL, postgresTestFile } from '../test/postgres-test-env.ts';
import { type LossyProxy, startLossyProxy } from '../test/tcp-proxy.ts';
import { PostgresStorage } from './postgres-storage.ts';

const { hasPostgres, schema, admin } = await postgresTestFile('restore');
let counter = 0;

const PAST = 1_000_000_000_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The pid of the backend waiting on a lock while running a statement that mentions `text`. */
async function waitingBackend(text: string): Promise<number> {
  for (let attempt = 0; attempt < 500; attempt++) {
    const result = await admin.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity
        WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid() AND query LIKE '%' || $1 || '%'`,
      [text],
    );
    const pid = result.rows[0]?.pid;
    if (pid !== undefined) return pid;
    await sleep(10);
  }
  throw new Error(`no backend waits while running ${text}`);
}

describe.skipIf(!hasPostgres)('PostgresStorage: restoreTimes is one transaction', () => {
  const opened: PostgresStorage[] = [];
  const pools: pg.Pool[] = [];
  const proxies: LossyProxy[] = [];

  function open(options: { connectionString?: string; pool?: pg.Pool } = {}): PostgresStorage {
    counter += 1;
    const storage = new PostgresStorage({
      ...(options.pool === undefined
        ? { connectionString: options.connectionString ?? POSTGRES_URL }
        : { pool: options.pool }),
      schema,
      tablePrefix: `r${counter}_`,
    });
    opened.push(storage);
    return storage;
  }

  afterEach(async () => {
    for (const storage of opened.splice(0)) await storage.close();
    for (const pool of pools.splice(0)) await pool.end();
    for (const proxy of proxies.splice(0)) await proxy.close();
  });

  function table(storage: PostgresStorage, name: string): string {
    return `"${schema}"."${storage.tablePrefix}${name}"`;
  }

  async function seeded(storage: PostgresStorage, label: string) {
    const sessionId = uniqueId(label);
    await storage.appendRun({
      sessionId,
      userId: 'dana',
      run: makeRun(sessionId, 'hello'),
      sessionState: { n: 1 },
    });
    return { sessionId, before: await storage.getSession(sessionId) };
  }

  it('takes the whole write back when its second statement fails: neither the fields nor the times', async () => {
    const storage = open();
    const { sessionId, before } = await seeded(storage, 'atomic');
    // A trigger that refuses one sentinel time: the upsert function's own update passes, the
    // statement that sets the times fails.
    const sessions = table(storage, 'sessions');
    await admin.query(`CREATE FUNCTION "${schema}".${storage.tablePrefix}refuse() RETURNS trigger
      LANGUAGE plpgsql AS $$ BEGIN
        IF NEW.updated_at = 4243 THEN RAISE EXCEPTION 'refused by the test'; END IF;
        RETURN NEW;
      END $$`);
    await admin.query(`CREATE TRIGGER refuse BEFORE UPDATE ON ${sessions}
      FOR EACH ROW EXECUTE FUNCTION "${schema}".${storage.tablePrefix}refuse()`);
    const error = await expectBuddyRejection(
      storage.upsertSession({
        sessionId,
        userId: 'dana',
        sessionState: { n: 2 },
        sessionName: 'Renamed',
        restoreTimes: { createdAt: 4242, updatedAt: 4243 },
      }),
    );
    expect(error.message).toContain('refused by the test');
    expect(await storage.getSession(sessionId)).toEqual(before);
    // Other times go through, with the fields, in one write.
    const written = await storage.upsertSession({
      sessionId,
      userId: 'dana',
      sessionState: { n: 2 },
      restoreTimes: { createdAt: PAST, updatedAt: PAST + 1 },
    });
    expect(written).toMatchObject({
      sessionState: { n: 2 },
      createdAt: PAST,
      updatedAt: PAST + 1,
      version: (before?.version ?? 0) + 1,
    });
  });

  it('a connection terminated before COMMIT: STORAGE_UNAVAILABLE (retryable) saying nothing was written, and nothing was', async () => {
    const storage = open();
    const { sessionId, before } = await seeded(storage, 'terminated');
    const blocker = await admin.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query(
        `SELECT 1 FROM ${table(storage, 'sessions')} WHERE session_id = $1 FOR UPDATE`,
        [sessionId],
      );
      const write = expectBuddyRejection(
        storage.upsertSession({
          sessionId,
          sessionState: { n: 99 },
          restoreTimes: { createdAt: PAST, updatedAt: PAST },
        }),
      );
      const pid = await waitingBackend(`${storage.tablePrefix}upsert_session`);
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      const error = await write;
      expect(error.code).toBe('STORAGE_UNAVAILABLE');
      expect(error.retryable).toBe(true);
      expect(error.message).toContain('nothing was written');
    } finally {
      await blocker.query('ROLLBACK');
      blocker.release();
    }
    expect(await storage.getSession(sessionId)).toEqual(before);
    // The pool replaced the dead connection: the retry works.
    const retried = await storage.upsertSession({
      sessionId,
      sessionState: { n: 99 },
      restoreTimes: { createdAt: PAST, updatedAt: PAST },
    });
    expect(retried).toMatchObject({ sessionState: { n: 99 }, createdAt: PAST, updatedAt: PAST });
  });

  it('a lost COMMIT reply: STORAGE_OUTCOME_UNKNOWN, and a read tells the truth', async () => {
    const proxy = await startLossyProxy({
      host: '127.0.0.1',
      port: Number(new URL(POSTGRES_URL).port || 5432),
    });
    proxies.push(proxy);
    const url = new URL(POSTGRES_URL);
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    const storage = open({ connectionString: url.toString() });
    // Migrations (which COMMIT too) are done before the proxy is armed.
    const { sessionId } = await seeded(storage, 'commit-lost');
    proxy.arm('COMMIT', 'drop-reply');
    const error = await expectBuddyRejection(
      storage.upsertSession({ sessionId, restoreTimes: { createdAt: PAST, updatedAt: PAST + 7 } }),
    );
    expect(error.code).toBe('STORAGE_OUTCOME_UNKNOWN');
    expect(await storage.getSession(sessionId)).toMatchObject({
      createdAt: PAST,
      updatedAt: PAST + 7,
    });
  });

  it('a write refused inside the transaction (a lost lease) leaves its connection usable', async () => {
    // One connection: whatever the refused write leaves on it, the next calls get.
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
    pool.on('error', () => {});
    pools.push(pool);
    const storage = open({ pool });
    const { sessionId, before } = await seeded(storage, 'refused');
    const lease = await storage.acquireLease({ sessionId, ttlMs: 10_000, waitMs: 0 });
    await lease.release();
    const error = await expectBuddyRejection(
      storage.upsertSession({
        sessionId,
        leaseToken: lease.token,
        sessionState: { n: 5 },
        restoreTimes: { createdAt: PAST, updatedAt: PAST },
      }),
    );
    expect(BuddyError.is(error, 'CONFLICT')).toBe(true);
    expect(await storage.getSession(sessionId)).toEqual(before);
    await storage.appendRun({ sessionId, run: makeRun(sessionId, 'next'), sessionState: { n: 6 } });
    expect(await storage.getSession(sessionId)).toMatchObject({
      runCount: 2,
      sessionState: { n: 6 },
    });
    const restored = await storage.upsertSession({
      sessionId,
      restoreTimes: { createdAt: PAST, updatedAt: PAST },
    });
    expect(restored).toMatchObject({ createdAt: PAST, updatedAt: PAST });
  });
});
