/**
 * Connections that die in the middle of a turn, against a real server: `pg_terminate_backend` of
 * the backend serving a statement, and a statement's reply lost on the way back (a proxy that
 * cuts the client's socket). Nothing is ever half written, the error says what is known, and the
 * next turn works.
 */
import { Agent, type BuddyError } from '@buddy/core';
import { MockModel } from '@buddy/testkit';
import { expectBuddyRejection } from '@buddy/testkit/fetch';
import { makeRun, uniqueId } from '@buddy/testkit/storage';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { POSTGRES_URL, postgresTestFile } from '../test/postgres-test-env.ts';
import { type LossyProxy, startLossyProxy } from '../test/tcp-proxy.ts';
import { PostgresStorage } from './postgres-storage.ts';

const { hasPostgres, schema, admin } = await postgresTestFile('loss');
let counter = 0;

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

describe.skipIf(!hasPostgres)('PostgresStorage when a connection dies mid-turn', () => {
  const opened: PostgresStorage[] = [];
  const proxies: LossyProxy[] = [];
  function open(connectionString = POSTGRES_URL): PostgresStorage {
    counter += 1;
    const storage = new PostgresStorage({ connectionString, schema, tablePrefix: `l${counter}_` });
    opened.push(storage);
    return storage;
  }
  afterEach(async () => {
    for (const storage of opened.splice(0)) await storage.close();
    for (const proxy of proxies.splice(0)) await proxy.close();
  });

  function table(storage: PostgresStorage, name: string): string {
    return `"${schema}"."${storage.tablePrefix}${name}"`;
  }

  it('pg_terminate_backend during the append: STORAGE_UNAVAILABLE (retryable), nothing written, the next turn works', async () => {
    const storage = open();
    const sessionId = uniqueId('terminated');
    const agent = new Agent({
      model: new MockModel({ respond: (request) => `answer ${request.messages.length}` }),
      storage,
      sessionId,
      sessionState: { turns: 0 },
    });
    await agent.run('first');
    const before = await storage.getSession(sessionId);

    // Another transaction holds the session row, so the turn's append waits where we can see it.
    const blocker = await admin.connect();
    let turn: Promise<BuddyError> | undefined;
    try {
      await blocker.query('BEGIN');
      await blocker.query(
        `SELECT 1 FROM ${table(storage, 'sessions')} WHERE session_id = $1 FOR UPDATE`,
        [sessionId],
      );
      // the rejection is expected from the start: it may land before the test awaits it
      turn = expectBuddyRejection(agent.run('second', { sessionState: { turns: 99 } }));
      const pid = await waitingBackend(`${storage.tablePrefix}append_run`);
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      const error = await turn;
      expect(error.code).toBe('STORAGE_UNAVAILABLE');
      expect(error.retryable).toBe(true);
      expect(error.message).toContain('nothing was written');
    } finally {
      await blocker.query('ROLLBACK');
      blocker.release();
    }
    // Nothing half written: the same record, one run, and the lease was given back.
    expect(await storage.getSession(sessionId)).toEqual(before);
    expect(await storage.getRuns({ sessionId })).toHaveLength(1);
    const leases = await admin.query(
      `SELECT 1 FROM ${table(storage, 'leases')} WHERE session_id = $1`,
      [sessionId],
    );
    expect(leases.rowCount).toBe(0);
    // The pool replaced the dead connection: the next turn just works.
    await agent.run('third');
    const runs = await storage.getRuns({ sessionId });
    expect(runs.map((run) => run.messages[0]?.content)).toEqual(['first', 'third']);
    expect(runs.map((run) => run.index)).toEqual([0, 1]);
  });

  it('pg_terminate_backend while claiming the lease: STORAGE_UNAVAILABLE (retryable), no lease left behind', async () => {
    const storage = open();
    await storage.ready();
    const sessionId = uniqueId('claim');
    // An uncommitted lease row of another transaction makes the claim wait on it.
    const blocker = await admin.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query(
        `INSERT INTO ${table(storage, 'leases')} (session_id, token, expires_at) VALUES ($1, 'other', clock_timestamp())`,
        [sessionId],
      );
      const claim = expectBuddyRejection(
        storage.acquireLease({ sessionId, ttlMs: 60_000, waitMs: 0 }),
      );
      const pid = await waitingBackend(`${storage.tablePrefix}acquire_lease`);
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      const error = await claim;
      expect(error.code).toBe('STORAGE_UNAVAILABLE');
      expect(error.retryable).toBe(true);
    } finally {
      await blocker.query('ROLLBACK');
      blocker.release();
    }
    const lease = await storage.acquireLease({ sessionId, ttlMs: 1000, waitMs: 0 });
    await lease.release();
  });

  it('a lost reply of an append that never reached the server: STORAGE_OUTCOME_UNKNOWN naming the run; getRuns tells the truth when it lands late; a retry stores it once', async () => {
    const proxy = await startLossyProxy({
      host: '127.0.0.1',
      port: Number(new URL(POSTGRES_URL).port || 5432),
    });
    proxies.push(proxy);
    const url = new URL(POSTGRES_URL);
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    const storage = open(url.toString());
    const sessionId = uniqueId('unknown');
    await storage.appendRun({
      sessionId,
      run: makeRun(sessionId, 'first'),
      sessionState: { n: 1 },
    });

    const run = makeRun(sessionId, 'in doubt');
    proxy.arm(run.runId, 'hold');
    const error = await expectBuddyRejection(
      storage.appendRun({ sessionId, run, sessionState: { n: 2 } }),
    );
    expect(error.code).toBe('STORAGE_OUTCOME_UNKNOWN');
    expect(error.details.runId).toBe(run.runId);
    expect(error.message).toContain(run.runId);
    expect(await storage.getRuns({ sessionId })).toHaveLength(1);

    // The write was only delayed: it commits now, and getRuns says so.
    proxy.releaseHeld();
    let runs = await storage.getRuns({ sessionId });
    for (let attempt = 0; attempt < 200 && runs.length < 2; attempt++) {
      await sleep(10);
      runs = await storage.getRuns({ sessionId });
    }
    expect(runs.map((stored) => stored.runId)).toEqual([runs[0]?.runId, run.runId]);
    // Sending the same run again stores nothing new and answers with the stored index.
    const again = await storage.appendRun({ sessionId, run, sessionState: { n: 2 } });
    expect(again.index).toBe(1);
    expect(await storage.getRuns({ sessionId })).toHaveLength(2);
    expect(await storage.getSession(sessionId)).toMatchObject({
      runCount: 2,
      sessionState: { n: 2 },
    });
  });

  it('on a pool of yours (no server timeout), an append stuck past statementTimeoutMs: STORAGE_OUTCOME_UNKNOWN, and getRuns tells the truth when it lands', async () => {
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 2 });
    pool.on('error', () => {});
    counter += 1;
    const storage = new PostgresStorage({
      pool,
      schema,
      tablePrefix: `l${counter}_`,
      statementTimeoutMs: 300,
    });
    opened.push(storage);
    const sessionId = uniqueId('stuck');
    await storage.appendRun({
      sessionId,
      run: makeRun(sessionId, 'first'),
      sessionState: { n: 1 },
    });
    const run = makeRun(sessionId, 'stuck');
    const blocker = await admin.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query(
        `SELECT 1 FROM ${table(storage, 'sessions')} WHERE session_id = $1 FOR UPDATE`,
        [sessionId],
      );
      const error = await expectBuddyRejection(
        storage.appendRun({ sessionId, run, sessionState: { n: 2 } }),
      );
      expect(error.code).toBe('STORAGE_OUTCOME_UNKNOWN');
      expect(error.details.runId).toBe(run.runId);
      expect(await storage.getRuns({ sessionId })).toHaveLength(1);
    } finally {
      await blocker.query('ROLLBACK');
      blocker.release();
    }
    // The statement was still waiting in the server: it commits now, and getRuns says so.
    let runs = await storage.getRuns({ sessionId });
    for (let attempt = 0; attempt < 200 && runs.length < 2; attempt++) {
      await sleep(10);
      runs = await storage.getRuns({ sessionId });
    }
    expect(runs.map((stored) => stored.runId)).toEqual([runs[0]?.runId, run.runId]);
    await storage.close();
    await pool.end();
  });

  it('a lost reply of an append that committed: the append resolves with what was stored', async () => {
    const proxy = await startLossyProxy({
      host: '127.0.0.1',
      port: Number(new URL(POSTGRES_URL).port || 5432),
    });
    proxies.push(proxy);
    const url = new URL(POSTGRES_URL);
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    const storage = open(url.toString());
    const sessionId = uniqueId('committed');
    await storage.appendRun({
      sessionId,
      run: makeRun(sessionId, 'first'),
      sessionState: { n: 1 },
    });
    const run = makeRun(sessionId, 'reply lost');
    proxy.arm(run.runId, 'drop-reply');
    // The client sees its socket die; reading on a new connection finds the run stored.
    const result = await storage.appendRun({ sessionId, run, sessionState: { n: 2 } });
    expect(result).toMatchObject({ index: 1, version: 2 });
    const runs = await storage.getRuns({ sessionId });
    expect(runs.map((stored) => stored.runId)[1]).toBe(run.runId);
    expect(runs).toHaveLength(2);
  });
});
