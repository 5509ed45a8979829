/**
 * SQLite specifics of the 0.2 storage additions, beyond the shared round-2 cases: `prune` is one
 * write transaction (and rolls back whole), deletes leases, keeps the runs of a session whose
 * summary cannot be read; the metadata filter fills pages across many rows that do not match;
 * corrupt metadata and paused-run columns are reported, never served; fenced `upsertSession`.
 */
import { makeRun, recordingLogger, uniqueId } from '@buddy/testkit/storage';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { expectBuddyError, tempDbFile } from '../test/helpers.ts';
import { sessionTableNames } from './internal/session-schema.ts';
import { SqliteStorage } from './sqlite-storage.ts';

const names = sessionTableNames('buddy_sessions');

const toClose: { close(): unknown }[] = [];
afterEach(async () => {
  for (const item of toClose.splice(0).reverse()) await item.close();
});
function track<T extends { close(): unknown }>(item: T): T {
  toClose.push(item);
  return item;
}

async function appendRuns(
  storage: SqliteStorage,
  sessionId: string,
  count: number,
  userId: string,
) {
  for (let turn = 0; turn < count; turn++) {
    await storage.appendRun({
      sessionId,
      userId,
      run: makeRun(sessionId, `turn ${turn}`, { userId }),
      sessionState: { turn },
    });
  }
}

/** Sets a session's updated_at directly (the clock of a test cannot go back days). */
function age(db: Database.Database, sessionId: string, updatedAt: number): void {
  db.prepare(`UPDATE "${names.sessions}" SET updated_at = ? WHERE session_id = ?`).run(
    updatedAt,
    sessionId,
  );
}

describe('SqliteStorage.prune (SQLite specifics)', () => {
  it('is one write transaction, with no statement outside it', async () => {
    const trace: string[] = [];
    let tracing = false;
    const db = track(
      new Database(':memory:', {
        verbose: (sql) => {
          if (tracing) trace.push(String(sql));
        },
      }),
    );
    const storage = track(new SqliteStorage({ database: db }));
    await appendRuns(storage, 'old', 2, 'dana');
    await appendRuns(storage, 'long', 5, 'dana');
    age(db, 'old', 1000);
    tracing = true;
    expect(await storage.prune({ olderThan: 5000, keepLastRuns: 2 })).toEqual({
      sessionsDeleted: 1,
      runsDeleted: 5,
    });
    tracing = false;
    expect(trace[0]).toBe('BEGIN IMMEDIATE');
    expect(trace.at(-1)).toBe('COMMIT');
    expect(trace.filter((sql) => sql === 'BEGIN IMMEDIATE' || sql === 'COMMIT')).toHaveLength(2);
  });

  it('rolls back everything when any step fails: nothing is half pruned', async () => {
    const db = track(new Database(':memory:'));
    const storage = track(new SqliteStorage({ database: db }));
    await appendRuns(storage, 'old', 2, 'dana');
    await appendRuns(storage, 'poison', 4, 'dana');
    age(db, 'old', 1000);
    // A real failure in the last step (deleting the runs of 'poison'), after the old session
    // and its runs were already deleted inside the transaction.
    db.exec(`CREATE TRIGGER poison BEFORE DELETE ON "${names.runs}" WHEN old.session_id = 'poison'
      BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`);
    await expectBuddyError(
      storage.prune({ olderThan: 5000, keepLastRuns: 1 }),
      'STORAGE_UNAVAILABLE',
      'SqliteStorage.prune',
    );
    expect((await storage.getSession('old'))?.runCount).toBe(2);
    expect(await storage.getRuns({ sessionId: 'old' })).toHaveLength(2);
    expect(await storage.getRuns({ sessionId: 'poison' })).toHaveLength(4);
  });

  it("deletes an old session's lease, so its stalled holder cannot write it back", async () => {
    const db = track(new Database(':memory:'));
    const storage = track(new SqliteStorage({ database: db }));
    await appendRuns(storage, 'old', 1, 'dana');
    const lease = await storage.acquireLease({ sessionId: 'old', ttlMs: 60_000, waitMs: 0 });
    age(db, 'old', 1000);
    expect(await storage.prune({ olderThan: 5000, userId: 'dana' })).toEqual({
      sessionsDeleted: 1,
      runsDeleted: 1,
    });
    expect(db.prepare(`SELECT count(*) FROM "${names.leases}"`).pluck().get()).toBe(0);
    await expectBuddyError(
      storage.appendRun({
        sessionId: 'old',
        userId: 'dana',
        run: makeRun('old', 'late'),
        sessionState: {},
        leaseToken: lease.token,
      }),
      'CONFLICT',
    );
    expect(await storage.getSession('old')).toBeUndefined();
    // The next turn does not wait for the old lease.
    await (await storage.acquireLease({ sessionId: 'old', ttlMs: 1000, waitMs: 0 })).release();
  });

  it('keeps every run of a session whose summary it cannot read, reports it, and prunes the others', async () => {
    const db = track(new Database(':memory:'));
    const logger = recordingLogger();
    const storage = track(new SqliteStorage({ database: db, logger }));
    await appendRuns(storage, 'broken', 4, 'dana');
    await appendRuns(storage, 'fine', 4, 'dana');
    await appendRuns(storage, 'covered-text', 4, 'dana');
    db.prepare(
      `UPDATE "${names.sessions}" SET summary = '{"summary": "x", runs' WHERE session_id = 'broken'`,
    ).run();
    db.prepare(
      `UPDATE "${names.sessions}" SET summary = '{"summary":"x","runsCovered":"all","updatedAt":1}' WHERE session_id = 'covered-text'`,
    ).run();
    expect(await storage.prune({ keepLastRuns: 1 })).toEqual({
      sessionsDeleted: 0,
      runsDeleted: 3,
    });
    expect(await storage.getRuns({ sessionId: 'broken', last: 10 })).toHaveLength(4);
    expect(await storage.getRuns({ sessionId: 'covered-text', last: 10 })).toHaveLength(4);
    expect((await storage.getRuns({ sessionId: 'fine' })).map((run) => run.index)).toEqual([3]);
    const warnings = logger.lines
      .filter((line) => line.level === 'warn')
      .map((line) => line.message);
    expect(warnings).toEqual([
      expect.stringContaining('session "broken": its summary is corrupt'),
      expect.stringContaining('session "covered-text": its summary is corrupt'),
    ]);
  });

  it('deletes an old session by its columns even when its state JSON is corrupt', async () => {
    const db = track(new Database(':memory:'));
    const storage = track(new SqliteStorage({ database: db }));
    await appendRuns(storage, 'rotten', 2, 'dana');
    db.prepare(
      `UPDATE "${names.sessions}" SET state = '{oops', updated_at = 1000 WHERE session_id = 'rotten'`,
    ).run();
    expect(await storage.prune({ olderThan: 5000 })).toEqual({
      sessionsDeleted: 1,
      runsDeleted: 2,
    });
    expect(db.prepare(`SELECT count(*) FROM "${names.runs}"`).pluck().get()).toBe(0);
  });

  it('prunes through a second connection to the same file, and the first one sees it', async () => {
    const file = tempDbFile();
    const writer = track(new SqliteStorage({ dbFile: file }));
    const janitor = track(new SqliteStorage({ dbFile: file }));
    await appendRuns(writer, 's', 5, 'dana');
    expect(await janitor.prune({ keepLastRuns: 2 })).toEqual({
      sessionsDeleted: 0,
      runsDeleted: 3,
    });
    expect((await writer.getRuns({ sessionId: 's' })).map((run) => run.index)).toEqual([3, 4]);
    const appended = await writer.appendRun({
      sessionId: 's',
      userId: 'dana',
      run: makeRun('s', 'next'),
      sessionState: {},
    });
    expect(appended.index).toBe(5);
  });
});

describe('SqliteStorage metadata and paused runs (SQLite specifics)', () => {
  it('fills filtered pages across hundreds of sessions that do not match, with an exact cursor', async () => {
    const db = track(new Database(':memory:'));
    const storage = track(new SqliteStorage({ database: db }));
    const userId = uniqueId('many');
    const matching: string[] = [];
    const insert = db.prepare(
      `INSERT INTO "${names.sessions}" (session_id, incarnation, user_id, state, version, run_count, created_at, updated_at, metadata)
       VALUES (?, 'i', ?, '{}', 1, 0, ?, ?, ?)`,
    );
    // 900 sessions, 7 of them matching, spread so that several filter batches hold none.
    db.transaction(() => {
      for (let index = 0; index < 900; index++) {
        const sessionId = `s${String(index).padStart(4, '0')}`;
        const isMatch = index % 131 === 7;
        if (isMatch) matching.unshift(sessionId);
        const metadata = JSON.stringify({ channel: isMatch ? 'web' : 'app', n: index });
        insert.run(sessionId, userId, 1000 + index, 1000 + index, metadata);
      }
    })();
    expect(matching).toHaveLength(7);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await storage.listSessions({
        userId,
        metadata: { channel: 'web' },
        limit: 2,
        ...(cursor === undefined ? {} : { cursor }),
      });
      expect(page.sessions.length).toBeLessThanOrEqual(2);
      seen.push(...page.sessions.map((session) => session.sessionId));
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== undefined);
    expect(seen).toEqual(matching);
    expect(pages).toBe(4);
  });

  it('skips and reports a session whose metadata column is corrupt; getSession is STORAGE_CORRUPT; its owner can delete it', async () => {
    const db = track(new Database(':memory:'));
    const logger = recordingLogger();
    const storage = track(new SqliteStorage({ database: db, logger }));
    for (const sessionId of ['a', 'b', 'c']) {
      await storage.upsertSession({ sessionId, userId: 'dana', metadata: { channel: 'web' } });
    }
    db.prepare(
      `UPDATE "${names.sessions}" SET metadata = '{"channel": web' WHERE session_id = 'b'`,
    ).run();
    db.prepare(`UPDATE "${names.sessions}" SET metadata = '[1, 2]' WHERE session_id = 'c'`).run();
    const page = await storage.listSessions({ userId: 'dana' });
    expect(page.sessions.map((session) => session.sessionId)).toEqual(['a']);
    const warnings = logger.lines.filter((line) => line.level === 'warn');
    expect(warnings.map((line) => line.message)).toEqual([
      expect.stringMatching(/skipped session "c".*metadata is not a JSON object/),
      expect.stringMatching(/skipped session "b".*metadata is not valid JSON/),
    ]);
    await expectBuddyError(storage.getSession('b'), 'STORAGE_CORRUPT', 'metadata');
    await expectBuddyError(storage.getSession('c'), 'STORAGE_CORRUPT', '"c"');
    expect(await storage.deleteSession('b', { userId: 'dana' })).toBe(true);
  });

  it('reports a corrupt paused run as STORAGE_CORRUPT naming the session, never as a paused run', async () => {
    const db = track(new Database(':memory:'));
    const storage = track(new SqliteStorage({ database: db }));
    await storage.upsertSession({ sessionId: 's', userId: 'dana' });
    db.prepare(`UPDATE "${names.sessions}" SET pending_run = '{"runId": "r"}'`).run();
    await expectBuddyError(storage.getSession('s'), 'STORAGE_CORRUPT', '"s"');
    await expectBuddyError(
      storage.acquireLease({ sessionId: 's', ttlMs: 1000, waitMs: 0, readSession: true }),
      'STORAGE_CORRUPT',
      '"s"',
    );
    // The failed read rolled the claim back: the lease is free.
    await (await storage.acquireLease({ sessionId: 's', ttlMs: 1000, waitMs: 0 })).release();
    db.prepare(`UPDATE "${names.sessions}" SET pending_run = 'not json'`).run();
    await expectBuddyError(storage.getSession('s'), 'STORAGE_CORRUPT', 'pending_run');
    // Clearing it repairs the session.
    await storage.upsertSession({ sessionId: 's', pendingRun: null });
    expect((await storage.getSession('s'))?.pendingRun).toBeUndefined();
  });

  it('fences upsertSession({ leaseToken }): an expired or foreign token writes nothing, a corrupt lease row is STORAGE_CORRUPT', async () => {
    const file = tempDbFile();
    const storage = track(new SqliteStorage({ dbFile: file }));
    const peer = track(new SqliteStorage({ dbFile: file }));
    await storage.upsertSession({ sessionId: 's', userId: 'dana', metadata: { v: 1 } });
    const lease = await storage.acquireLease({ sessionId: 's', ttlMs: 1000, waitMs: 0 });
    const before = await storage.getSession('s');
    const now = vi.spyOn(Date, 'now').mockReturnValue(Date.now() + 5000);
    try {
      await expectBuddyError(
        peer.upsertSession({ sessionId: 's', metadata: { v: 2 }, leaseToken: lease.token }),
        'CONFLICT',
      );
    } finally {
      now.mockRestore();
    }
    const other = await peer.acquireLease({ sessionId: 'other', ttlMs: 1000, waitMs: 0 });
    await expectBuddyError(
      peer.upsertSession({ sessionId: 's', metadata: { v: 3 }, leaseToken: other.token }),
      'CONFLICT',
    );
    expect(await storage.getSession('s')).toEqual(before);
    const raw = track(new Database(file));
    raw.prepare(`UPDATE "${names.leases}" SET expires_at = 'forever' WHERE session_id = 's'`).run();
    await expectBuddyError(
      storage.upsertSession({ sessionId: 's', metadata: { v: 4 }, leaseToken: lease.token }),
      'STORAGE_CORRUPT',
      'lease of session "s"',
    );
    expect(await storage.getSession('s')).toEqual(before);
  });

  it('clears a paused run in the append that completes it, in the same statement as the run counters', async () => {
    const trace: string[] = [];
    const db = track(new Database(':memory:', { verbose: (sql) => trace.push(String(sql)) }));
    const storage = track(new SqliteStorage({ database: db }));
    await appendRuns(storage, 's', 1, 'dana');
    const messages = (await storage.getRuns({ sessionId: 's' }))[0]?.messages ?? [];
    const paused = {
      runId: 'paused',
      messages,
      sessionState: {},
      approvals: [{ approvalId: 'a1', toolCallId: 'c1', toolName: 'pay', arguments: '{}' }],
      usage: { inputTokens: 1, outputTokens: 1 },
      model: { provider: 'mock', id: 'm' },
      rounds: 1,
      createdAt: 1,
      pausedAt: 2,
    };
    await storage.upsertSession({ sessionId: 's', pendingRun: paused });
    // An append without clearPendingRun leaves the paused run alone.
    await appendRuns(storage, 's', 1, 'dana');
    expect((await storage.getSession('s'))?.pendingRun).toEqual(paused);
    trace.length = 0;
    await storage.appendRun({
      sessionId: 's',
      userId: 'dana',
      run: { ...makeRun('s', 'resumed'), runId: 'paused' },
      sessionState: {},
      clearPendingRun: true,
    });
    expect(trace.filter((sql) => sql.trimStart().startsWith('UPDATE'))).toHaveLength(1);
    expect(await storage.getSession('s')).toMatchObject({ runCount: 3 });
    expect((await storage.getSession('s'))?.pendingRun).toBeUndefined();
  });
});
