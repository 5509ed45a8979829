import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, type Logger, type SessionStorage } from '@buddy/core';
import { MockModel } from '@buddy/testkit';
import {
  describeSessionStorageContract,
  makeRun,
  recordingLogger,
  uniqueId,
} from '@buddy/testkit/storage';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { expectBuddyError, makeTempDir, tempDbFile } from '../test/helpers.ts';
import { applyMigrations } from './internal/migrations.ts';
import { sessionMigrations, sessionSql, sessionTableNames } from './internal/session-schema.ts';
import { createSqliteStorage, SqliteStorage } from './sqlite-storage.ts';

const names = sessionTableNames('buddy_sessions');

/** Writes garbage into a session's state column through `db`. */
function corruptState(db: Database.Database, sessionId: string, tableName = 'buddy_sessions') {
  db.prepare(`UPDATE "${tableName}" SET state = '{"cart": [oops' WHERE session_id = ?`).run(
    sessionId,
  );
}

/**
 * The contract's corrupt session: garbage state (so reads fail) and a created_at that is not a
 * number (so listing, which reads only the small columns, cannot list it either and must skip it
 * and report it).
 */
function corruptSessionRow(db: Database.Database, sessionId: string) {
  corruptState(db, sessionId);
  db.prepare(`UPDATE "${names.sessions}" SET created_at = 'yesterday' WHERE session_id = ?`).run(
    sessionId,
  );
}

/** A lease row of the wrong shape: an expires_at that is text sorts after every number. */
function corruptLeaseRow(db: Database.Database, sessionId: string) {
  db.prepare(
    `INSERT INTO "${names.leases}" (session_id, token, expires_at) VALUES (?, 'tok', 'soon')
     ON CONFLICT (session_id) DO UPDATE SET expires_at = 'soon'`,
  ).run(sessionId);
}

function corruptFirstRun(db: Database.Database, sessionId: string) {
  db.prepare(`UPDATE "${names.runs}" SET run = ? WHERE session_id = ? AND idx = 0`).run(
    JSON.stringify({ runId: 'r', messages: 'not an array' }),
    sessionId,
  );
}

// ---------------------------------------------------------------- contract: :memory:
// An in-memory database exists only inside its connection, so the harness opens it and lends it
// to the storage (which must then not close it); corruption goes through the same connection.
const memoryConnections = new Map<SessionStorage, Database.Database>();

describeSessionStorageContract('SqliteStorage (:memory:)', {
  create: async ({ logger }) => {
    const db = new Database(':memory:');
    const storage = new SqliteStorage({
      database: db,
      ...(logger === undefined ? {} : { logger }),
    });
    memoryConnections.set(storage, db);
    return storage;
  },
  corruptSession: async (storage, sessionId) => {
    corruptSessionRow(memoryConnections.get(storage) as Database.Database, sessionId);
  },
  corruptRun: async (storage, sessionId) => {
    corruptFirstRun(memoryConnections.get(storage) as Database.Database, sessionId);
  },
  corruptLease: async (storage, sessionId) => {
    corruptLeaseRow(memoryConnections.get(storage) as Database.Database, sessionId);
  },
  dispose: async (storage) => {
    memoryConnections.get(storage)?.close();
    memoryConnections.delete(storage);
  },
});

// ---------------------------------------------------------------- contract: file
// Each storage gets its own file; the peer is a second SqliteStorage on the same file, i.e. a
// second connection, as another process would have. Corruption is written by a third, raw one.
const files = new Map<SessionStorage, string>();

function withRawConnection(file: string, work: (db: Database.Database) => void): void {
  const db = new Database(file);
  try {
    work(db);
  } finally {
    db.close();
  }
}

describeSessionStorageContract('SqliteStorage (file, two connections)', {
  create: async ({ logger }) => {
    const file = tempDbFile();
    const storage = new SqliteStorage({
      dbFile: file,
      ...(logger === undefined ? {} : { logger }),
    });
    files.set(storage, file);
    return storage;
  },
  createPeer: async (storage) => {
    const file = files.get(storage) as string;
    const peer = new SqliteStorage({ dbFile: file });
    files.set(peer, file);
    return peer;
  },
  corruptSession: async (storage, sessionId) => {
    withRawConnection(files.get(storage) as string, (db) => corruptSessionRow(db, sessionId));
  },
  corruptRun: async (storage, sessionId) => {
    withRawConnection(files.get(storage) as string, (db) => corruptFirstRun(db, sessionId));
  },
  corruptLease: async (storage, sessionId) => {
    withRawConnection(files.get(storage) as string, (db) => corruptLeaseRow(db, sessionId));
  },
  dispose: async (storage) => {
    files.delete(storage);
  },
});

// ---------------------------------------------------------------- backend-specific regressions

describe('SqliteStorage (SQLite specifics)', () => {
  const toClose: { close(): unknown }[] = [];
  afterEach(async () => {
    for (const item of toClose.splice(0).reverse()) await item.close();
  });
  function track<T extends { close(): unknown }>(item: T): T {
    toClose.push(item);
    return item;
  }

  describe('options', () => {
    it('rejects bad options eagerly with INVALID_ARGUMENT naming the option', async () => {
      const db = track(new Database(':memory:'));
      await expectBuddyError(() => new SqliteStorage({ dbFile: '' }), 'INVALID_ARGUMENT', 'dbFile');
      await expectBuddyError(
        () => new SqliteStorage({ dbFile: 42 as unknown as string }),
        'INVALID_ARGUMENT',
        'dbFile',
      );
      await expectBuddyError(
        () => new SqliteStorage({ dbFile: 'x.db', database: db }),
        'INVALID_ARGUMENT',
        'not both',
      );
      for (const tableName of ['', '1sessions', 'my-sessions', 'a b', 'x'.repeat(64), 'a"b']) {
        await expectBuddyError(
          () => new SqliteStorage({ tableName }),
          'INVALID_ARGUMENT',
          'tableName',
        );
      }
      await expectBuddyError(
        () => new SqliteStorage({ dbfile: 'x.db' } as unknown as { dbFile: string }),
        'INVALID_ARGUMENT',
        "'dbfile'",
      );
      await expectBuddyError(
        () => new SqliteStorage({ database: {} as Database.Database }),
        'INVALID_ARGUMENT',
        'database',
      );
      await expectBuddyError(
        () => new SqliteStorage({ logger: { warn: () => {} } as unknown as Logger }),
        'INVALID_ARGUMENT',
        'logger',
      );
      await expectBuddyError(
        () => new SqliteStorage(null as unknown as { dbFile: string }),
        'INVALID_ARGUMENT',
        'options',
      );
      await expectBuddyError(
        () => new SqliteStorage('agent.db' as unknown as { dbFile: string }),
        'INVALID_ARGUMENT',
        'options',
      );
      const closed = new Database(':memory:');
      closed.close();
      await expectBuddyError(
        () => new SqliteStorage({ database: closed }),
        'INVALID_ARGUMENT',
        'closed',
      );
    });

    it('accepts the longest valid tableName and exposes it', () => {
      const tableName = `_${'a1'.repeat(31)}`;
      expect(tableName).toHaveLength(63);
      const storage = track(new SqliteStorage({ tableName }));
      expect(storage.tableName).toBe(tableName);
      expect(track(createSqliteStorage()).tableName).toBe('buddy_sessions');
    });

    it('without dbFile or database keeps a private in-memory database per instance', async () => {
      const first = track(new SqliteStorage());
      const second = track(new SqliteStorage({}));
      await first.appendRun({ sessionId: 's', run: makeRun('s', 'hi'), sessionState: { a: 1 } });
      expect((await first.getSession('s'))?.runCount).toBe(1);
      expect(await second.getSession('s')).toBeUndefined();
    });

    it('reports an unopenable file as STORAGE_UNAVAILABLE naming it, from the constructor', async () => {
      const missingDir = join(makeTempDir(), 'no', 'such', 'dir', 'agent.db');
      const error = await expectBuddyError(
        () => new SqliteStorage({ dbFile: missingDir }),
        'STORAGE_UNAVAILABLE',
        'agent.db',
      );
      expect(error.cause).toBeDefined();
      expect(error.retryable).toBe(false);
    });
  });

  describe('connection ownership', () => {
    it('never closes a database it was given', async () => {
      const db = track(new Database(':memory:'));
      const storage = new SqliteStorage({ database: db });
      await storage.upsertSession({ sessionId: 's1' });
      await storage.close();
      await storage.close();
      expect(db.open).toBe(true);
      // The data is still there for the owner (and for a new storage on the same connection).
      const again = track(new SqliteStorage({ database: db }));
      expect((await again.getSession('s1'))?.version).toBe(1);
    });

    it('closes the file it opened: WAL is checkpointed and its files are removed', async () => {
      const file = tempDbFile();
      const storage = new SqliteStorage({ dbFile: file });
      await storage.appendRun({ sessionId: 's', run: makeRun('s', 'x'), sessionState: {} });
      expect(existsSync(`${file}-wal`)).toBe(true);
      await storage.close();
      expect(existsSync(`${file}-wal`)).toBe(false);
      await storage.close();
    });

    it('rejects every call after close() with STORAGE_CLOSED, not retryable, lease handles included', async () => {
      const storage = new SqliteStorage();
      const lease = await storage.acquireLease({ sessionId: 's', ttlMs: 1000, waitMs: 0 });
      await storage.close();
      const calls: [string, () => Promise<unknown>][] = [
        ['getSession', () => storage.getSession('s')],
        ['upsertSession', () => storage.upsertSession({ sessionId: 's' })],
        [
          'appendRun',
          () => storage.appendRun({ sessionId: 's', run: makeRun('s', 'x'), sessionState: {} }),
        ],
        ['getRuns', () => storage.getRuns({ sessionId: 's' })],
        ['acquireLease', () => storage.acquireLease({ sessionId: 's', ttlMs: 10, waitMs: 0 })],
        ['renewLease', () => lease.renew()],
        ['releaseLease', () => lease.release()],
        ['listSessions', () => storage.listSessions()],
        ['deleteSession', () => storage.deleteSession('s')],
        ['deleteUserData', () => storage.deleteUserData('u')],
      ];
      for (const [operation, call] of calls) {
        const error = await expectBuddyError(call, 'STORAGE_CLOSED', 'SqliteStorage');
        expect(error.retryable, operation).toBe(false);
      }
    });
  });

  describe('tables', () => {
    it('keeps storages with different tableNames apart in one database, even a and a_runs', async () => {
      const db = track(new Database(':memory:'));
      const a = track(new SqliteStorage({ database: db, tableName: 'a' }));
      const aRuns = track(new SqliteStorage({ database: db, tableName: 'a_runs' }));
      const aLeases = track(new SqliteStorage({ database: db, tableName: 'a_leases' }));
      await a.appendRun({ sessionId: 's', run: makeRun('s', 'in a'), sessionState: { in: 'a' } });
      await aRuns.appendRun({
        sessionId: 's',
        run: makeRun('s', 'in a_runs'),
        sessionState: { in: 'a_runs' },
      });
      expect((await a.getSession('s'))?.sessionState).toEqual({ in: 'a' });
      expect((await aRuns.getSession('s'))?.sessionState).toEqual({ in: 'a_runs' });
      expect((await a.getRuns({ sessionId: 's' })).map((run) => run.messages[0]?.content)).toEqual([
        'in a',
      ]);
      expect(await aLeases.getSession('s')).toBeUndefined();
      const tables = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .pluck()
        .all();
      expect(tables).toEqual(
        expect.arrayContaining(['a', 'a$runs', 'a$leases', 'a$schema', 'a_runs', 'a_runs$runs']),
      );
    });

    it('switches files it opens to WAL', async () => {
      const file = tempDbFile();
      track(new SqliteStorage({ dbFile: file }));
      const raw = track(new Database(file));
      expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    });

    it('leaves the PRAGMAs of a borrowed connection alone', () => {
      const file = tempDbFile();
      const db = track(new Database(file));
      track(new SqliteStorage({ database: db }));
      expect(db.pragma('journal_mode', { simple: true })).toBe('delete');
    });
  });

  describe('migrations', () => {
    function schemaRows(file: string): unknown[] {
      const raw = new Database(file, { readonly: true });
      try {
        return raw.prepare(`SELECT * FROM "${names.schema}" ORDER BY version`).all();
      } finally {
        raw.close();
      }
    }

    it('creates the latest schema once and re-applies nothing when the file is reopened', async () => {
      const file = tempDbFile();
      const first = new SqliteStorage({ dbFile: file });
      await first.appendRun({ sessionId: 's', run: makeRun('s', 'x'), sessionState: { n: 1 } });
      await first.close();
      const before = schemaRows(file);
      expect(before).toHaveLength(4);
      expect(before).toMatchObject([
        { version: 1, component: 'sessions' },
        { version: 2, component: 'sessions' },
        { version: 3, component: 'sessions' },
        { version: 4, component: 'sessions' },
      ]);
      const second = track(new SqliteStorage({ dbFile: file }));
      expect(schemaRows(file)).toEqual(before);
      expect((await second.getSession('s'))?.sessionState).toEqual({ n: 1 });
    });

    it('migrates a version-1 file forward and keeps its data', async () => {
      const file = tempDbFile();
      const v1 = new Database(file);
      applyMigrations(v1, {
        schemaTable: names.schema,
        component: 'sessions',
        tableName: names.sessions,
        who: 'test',
        migrations: sessionMigrations(names).slice(0, 1),
      });
      v1.prepare(
        `INSERT INTO "${names.sessions}" (session_id, user_id, agent_id, session_name, state, summary, version, run_count, created_at, updated_at)
         VALUES ('old', 'dana', 'agent-1', 'Old one', '{"cart":["milk"]}', NULL, 1, 0, 1000, 1000)`,
      ).run();
      const indexesBefore = v1
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name = ?")
        .pluck()
        .all(names.byAgent);
      expect(indexesBefore).toEqual([]);
      v1.close();

      const logger = recordingLogger();
      const storage = track(new SqliteStorage({ dbFile: file, logger }));
      expect(schemaRows(file)).toMatchObject([
        { version: 1 },
        { version: 2 },
        { version: 3 },
        { version: 4 },
      ]);
      expect(logger.lines.map((line) => `${line.level} ${line.message}`)).toEqual([
        expect.stringMatching(/^debug .*schema version 2/),
        expect.stringMatching(/^debug .*schema version 3/),
        expect.stringMatching(/^debug .*schema version 4/),
      ]);
      // Rows from before incarnations are not rewritten: they read as legacy:<createdAt>.
      expect(await storage.getSession('old')).toMatchObject({
        incarnation: 'legacy:1000',
        userId: 'dana',
        sessionName: 'Old one',
        sessionState: { cart: ['milk'] },
      });
      const listed = await storage.listSessions({ agentId: 'agent-1' });
      expect(listed.sessions.map((session) => session.sessionId)).toEqual(['old']);
      const raw = track(new Database(file, { readonly: true }));
      expect(
        raw
          .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name = ?")
          .pluck()
          .get(names.byAgent),
      ).toBe(names.byAgent);
    });

    it('refuses a database written by a newer schema version', async () => {
      const file = tempDbFile();
      await new SqliteStorage({ dbFile: file }).close();
      const raw = new Database(file);
      raw
        .prepare(
          `INSERT INTO "${names.schema}" (version, component, description, applied_at) VALUES (5, 'sessions', 'from the future', 0)`,
        )
        .run();
      raw.close();
      const error = await expectBuddyError(
        () => new SqliteStorage({ dbFile: file }),
        'STORAGE_UNAVAILABLE',
        'newer',
      );
      expect(error.retryable).toBe(false);
      expect(error.message).toContain('schema version 5');
    });

    it('migrates a version-3 file (before metadata and paused runs) and keeps every run readable', async () => {
      const file = tempDbFile();
      const v3 = new Database(file);
      applyMigrations(v3, {
        schemaTable: names.schema,
        component: 'sessions',
        tableName: names.sessions,
        who: 'test',
        migrations: sessionMigrations(names).slice(0, 3),
      });
      v3.prepare(
        `INSERT INTO "${names.sessions}" (session_id, incarnation, user_id, agent_id, session_name, state, summary, version, run_count, created_at, updated_at)
         VALUES ('old', 'inc-1', 'dana', NULL, NULL, '{"n":2}', NULL, 3, 2, 1000, 2000)`,
      ).run();
      const insertRun = v3.prepare(
        `INSERT INTO "${names.runs}" (session_id, idx, run) VALUES (?, ?, ?)`,
      );
      for (const index of [0, 1]) {
        // Runs stored before 0.2 have neither stateAfter nor status.
        const { stateAfter: _stateAfter, ...run } = { ...makeRun('old', `turn ${index}`), index };
        insertRun.run('old', index, JSON.stringify(run));
      }
      v3.close();

      const storage = track(new SqliteStorage({ dbFile: file }));
      const record = await storage.getSession('old', { userId: 'dana' });
      expect(record).toMatchObject({ incarnation: 'inc-1', sessionState: { n: 2 }, runCount: 2 });
      expect(record?.metadata).toBeUndefined();
      expect(record?.pendingRun).toBeUndefined();
      const runs = await storage.getRuns({ sessionId: 'old' });
      expect(runs.map((run) => [run.index, run.status])).toEqual([
        [0, undefined],
        [1, undefined],
      ]);
      expect(
        (await storage.listSessions({ userId: 'dana', metadata: { plan: 'pro' } })).sessions,
      ).toEqual([]);
      await storage.upsertSession({ sessionId: 'old', userId: 'dana', metadata: { plan: 'pro' } });
      expect(
        (await storage.listSessions({ userId: 'dana', metadata: { plan: 'pro' } })).sessions,
      ).toMatchObject([{ sessionId: 'old', metadata: { plan: 'pro' } }]);
      expect(await storage.prune({ keepLastRuns: 1, userId: 'dana' })).toEqual({
        sessionsDeleted: 0,
        runsDeleted: 1,
      });
      expect((await storage.getRuns({ sessionId: 'old' })).map((run) => run.index)).toEqual([1]);
    });

    it('refuses a tableName already used by a SqliteMemoryDb', async () => {
      const db = track(new Database(':memory:'));
      db.exec(
        `CREATE TABLE "shared$schema" (version INTEGER PRIMARY KEY, component TEXT NOT NULL, description TEXT NOT NULL, applied_at INTEGER NOT NULL);
         INSERT INTO "shared$schema" VALUES (1, 'memories', 'x', 0);`,
      );
      await expectBuddyError(
        () => new SqliteStorage({ database: db, tableName: 'shared' }),
        'INVALID_ARGUMENT',
        'memories',
      );
    });
  });

  describe('query plans', () => {
    function plan(db: Database.Database, sql: string): string[] {
      const parameters: Record<string, null> = {};
      for (const name of sql.match(/@\w+/g) ?? []) parameters[name.slice(1)] = null;
      const positional = (sql.match(/\?/g) ?? []).map(() => null);
      const statement = db.prepare(`EXPLAIN QUERY PLAN ${sql}`);
      const rows = (
        Object.keys(parameters).length > 0 ? statement.all(parameters) : statement.all(positional)
      ) as { detail: string }[];
      return rows.map((row) => row.detail);
    }

    it('lists, deletes a user and reads runs through indexes, never a table scan', () => {
      const db = track(new Database(':memory:'));
      track(new SqliteStorage({ database: db }));
      const sql = sessionSql(names);
      const expectations: [keyof typeof sql, string][] = [
        ['listByUser', `USING INDEX ${names.byUser}`],
        ['listAll', `USING INDEX ${names.byUpdated}`],
        ['listByAgent', `USING INDEX ${names.byAgent}`],
        ['deleteUserSessions', `USING INDEX ${names.byUser}`],
        ['deleteUserRuns', `USING COVERING INDEX ${names.byUser}`],
        ['deleteUserLeases', `USING COVERING INDEX ${names.byUser}`],
        ['selectLastRuns', 'USING INDEX sqlite_autoindex'],
        ['selectRunsFrom', 'USING INDEX sqlite_autoindex'],
        ['selectSession', 'USING INDEX sqlite_autoindex'],
        ['selectSessionHead', 'USING INDEX sqlite_autoindex'],
        ['pruneOldSessions', `USING INDEX ${names.byUpdated} (updated_at<?)`],
        ['pruneOldRuns', `USING COVERING INDEX ${names.byUpdated} (updated_at<?)`],
        ['pruneOldLeases', `USING COVERING INDEX ${names.byUpdated} (updated_at<?)`],
        ['pruneUserOldSessions', `USING INDEX ${names.byUser} (user_id=? AND updated_at<?)`],
        ['pruneUserOldRuns', `USING COVERING INDEX ${names.byUser} (user_id=? AND updated_at<?)`],
        ['pruneUserOldLeases', `USING COVERING INDEX ${names.byUser} (user_id=? AND updated_at<?)`],
        ['pruneUserCandidates', `USING INDEX ${names.byUser} (user_id=?)`],
        [
          'pruneRunsBefore',
          'USING INDEX sqlite_autoindex_buddy_sessions$runs_1 (session_id=? AND idx<?)',
        ],
        ['selectRunsFrom', '(session_id=? AND idx>? AND idx<?)'],
      ];
      for (const [key, expected] of expectations) {
        const details = plan(db, sql[key]);
        expect(details.join(' | '), key).toContain(expected);
      }
      // prune({ keepLastRuns }) without a userId has to look at every session: it reads the
      // sessions table once (no sort), and deletes each session's runs by an index range.
      expect(plan(db, sql.pruneCandidates)).toEqual([`SCAN ${names.sessions}`]);
      for (const [key, statement] of Object.entries(sql)) {
        if (key === 'pruneCandidates') continue;
        const details = plan(db, statement).join(' | ');
        expect(details, key).not.toMatch(/\bSCAN\b/);
        expect(details, key).not.toContain('TEMP B-TREE');
      }
    });
  });

  describe('turn path', () => {
    /**
     * Splits a statement trace (better-sqlite3 `verbose`) into transactions, each statement
     * shortened to its verb and table. Fails on any statement run outside a transaction.
     */
    function transactionsOf(trace: readonly string[]): string[][] {
      const transactions: string[][] = [];
      let open: string[] | undefined;
      for (const sql of trace) {
        if (sql === 'BEGIN IMMEDIATE') {
          expect(open, 'nested BEGIN').toBeUndefined();
          open = [];
        } else if (sql === 'COMMIT') {
          expect(open, 'COMMIT without BEGIN').toBeDefined();
          transactions.push(open ?? []);
          open = undefined;
        } else {
          expect(open, `statement outside a transaction: ${sql}`).toBeDefined();
          const verb = sql.trimStart().split(/\s/, 1)[0];
          open?.push(`${verb} ${/"([^"]+)"/.exec(sql)?.[1]}`);
        }
      }
      expect(open, 'unfinished transaction').toBeUndefined();
      return transactions;
    }

    it('runs an agent turn as two write transactions: lease + read, then append + release', async () => {
      const trace: string[] = [];
      const db = track(new Database(':memory:', { verbose: (sql) => trace.push(String(sql)) }));
      const storage = track(new SqliteStorage({ database: db }));
      const agent = new Agent({
        model: new MockModel({ respond: () => 'ok' }),
        storage,
        sessionId: 's',
        userId: 'dana',
      });
      for (const turn of [0, 1]) {
        trace.length = 0;
        await agent.run(`turn ${turn}`);
        const transactions = transactionsOf(trace);
        expect(transactions).toHaveLength(2);
        expect(transactions[0]).toEqual([`INSERT ${names.leases}`, `SELECT ${names.sessions}`]);
        // The lease row goes first (fencing and release at once); no separate release follows.
        expect(transactions[1]?.[0]).toBe(`DELETE ${names.leases}`);
        expect(transactions[1]).toContain(`INSERT ${names.runs}`);
        expect(transactions[1]?.filter((step) => step.endsWith(names.leases))).toHaveLength(1);
      }
      expect(db.prepare(`SELECT count(*) FROM "${names.leases}"`).pluck().get()).toBe(0);
      expect(storage.capabilities).toEqual({
        leaseReadsSession: true,
        appendReleasesLease: true,
        restoresTimes: true,
      });
      expect(await storage.getSession('s')).toMatchObject({ userId: 'dana', runCount: 2 });
    });

    it('keeps the lease when an appendRun that would release it fails', async () => {
      const storage = track(new SqliteStorage());
      await storage.appendRun({
        sessionId: 's',
        userId: 'dana',
        run: makeRun('s', 'a'),
        sessionState: {},
      });
      const lease = await storage.acquireLease({ sessionId: 's', ttlMs: 10_000, waitMs: 0 });
      await expectBuddyError(
        storage.appendRun({
          sessionId: 's',
          userId: 'mallory',
          run: makeRun('s', 'b'),
          sessionState: {},
          leaseToken: lease.token,
          releaseLease: true,
        }),
        'SESSION_OWNERSHIP',
      );
      // Rolled back with the failed write: still held by this token, so it renews and fences.
      await lease.renew();
      await expectBuddyError(
        storage.acquireLease({ sessionId: 's', ttlMs: 10_000, waitMs: 0 }),
        'SESSION_BUSY',
      );
      const appended = await storage.appendRun({
        sessionId: 's',
        userId: 'dana',
        run: makeRun('s', 'b'),
        sessionState: {},
        leaseToken: lease.token,
        releaseLease: true,
      });
      expect(appended).toMatchObject({ index: 1, leaseReleased: true });
    });

    it('rejects an expired lease token on appendRun with releaseLease, writing nothing', async () => {
      const storage = track(new SqliteStorage());
      const lease = await storage.acquireLease({ sessionId: 's', ttlMs: 1000, waitMs: 0 });
      const now = vi.spyOn(Date, 'now').mockReturnValue(Date.now() + 5000);
      try {
        await expectBuddyError(
          storage.appendRun({
            sessionId: 's',
            run: makeRun('s', 'late'),
            sessionState: {},
            leaseToken: lease.token,
            releaseLease: true,
          }),
          'CONFLICT',
        );
      } finally {
        now.mockRestore();
      }
      expect(await storage.getSession('s')).toBeUndefined();
    });
    it('never reads older runs: appendRun and getRuns({ last }) work past a corrupt old run', async () => {
      const db = track(new Database(':memory:'));
      const storage = track(new SqliteStorage({ database: db }));
      for (let index = 0; index < 5; index++) {
        await storage.appendRun({
          sessionId: 's',
          run: makeRun('s', `turn ${index}`),
          sessionState: { turn: index },
        });
      }
      corruptFirstRun(db, 's');
      const appended = await storage.appendRun({
        sessionId: 's',
        run: makeRun('s', 'turn 5'),
        sessionState: { turn: 5 },
      });
      expect(appended).toMatchObject({ index: 5, version: 6 });
      const last = await storage.getRuns({ sessionId: 's', last: 2 });
      expect(last.map((run) => run.index)).toEqual([4, 5]);
      await expectBuddyError(storage.getRuns({ sessionId: 's' }), 'STORAGE_CORRUPT', '"s"');
    });

    it('never moves updatedAt backwards, even when the clock does', async () => {
      const storage = track(new SqliteStorage());
      const created = await storage.upsertSession({ sessionId: 's' });
      const now = vi.spyOn(Date, 'now').mockReturnValue(created.updatedAt - 60_000);
      const appended = await storage.appendRun({
        sessionId: 's',
        run: makeRun('s', 'x'),
        sessionState: {},
      });
      const upserted = await storage.upsertSession({ sessionId: 's', sessionName: 'n' });
      now.mockRestore();
      expect(appended.updatedAt).toBe(created.updatedAt);
      expect(upserted.updatedAt).toBe(created.updatedAt);
      expect((await storage.getSession('s'))?.updatedAt).toBe(created.updatedAt);
    });

    it('appendRun leaves a summary written by another connection in place', async () => {
      const file = tempDbFile();
      const writer = track(new SqliteStorage({ dbFile: file }));
      const summarizer = track(new SqliteStorage({ dbFile: file }));
      await writer.appendRun({ sessionId: 's', run: makeRun('s', 'a'), sessionState: { n: 1 } });
      await summarizer.upsertSession({
        sessionId: 's',
        summary: { summary: 'covers 1', runsCovered: 1, updatedAt: 1 },
      });
      await writer.appendRun({ sessionId: 's', run: makeRun('s', 'b'), sessionState: { n: 2 } });
      expect(await writer.getSession('s')).toMatchObject({
        sessionState: { n: 2 },
        runCount: 2,
        version: 3,
        summary: { summary: 'covers 1', runsCovered: 1 },
      });
    });

    it('ignores an index passed with the run and stores the assigned one', async () => {
      const storage = track(new SqliteStorage());
      const run = { ...makeRun('s', 'x'), index: 41 };
      expect((await storage.appendRun({ sessionId: 's', run, sessionState: {} })).index).toBe(0);
      expect((await storage.getRuns({ sessionId: 's' }))[0]?.index).toBe(0);
    });

    it('rejects a state that cannot be stored as JSON, writing nothing', async () => {
      const storage = track(new SqliteStorage());
      await expectBuddyError(
        storage.appendRun({
          sessionId: 's',
          run: makeRun('s', 'x'),
          sessionState: { big: 1n },
        }),
        'INVALID_ARGUMENT',
        'sessionState',
      );
      expect(await storage.getSession('s')).toBeUndefined();
    });
  });

  describe('corrupt data', () => {
    /** Three sessions of `userId` at updated_at 1000, 2000, 3000 (a, b, c). */
    async function threeSessions(storage: SqliteStorage, db: Database.Database, userId: string) {
      for (const [index, sessionId] of ['a', 'b', 'c'].entries()) {
        await storage.upsertSession({ sessionId, userId, agentId: 'agent-1' });
        db.prepare(
          `UPDATE "${names.sessions}" SET created_at = ?, updated_at = ? WHERE session_id = ?`,
        ).run((index + 1) * 1000, (index + 1) * 1000, sessionId);
      }
    }

    it('skips and reports a session whose updated_at is not a number (listing order cannot reach it), once per listing; deleteSession removes it', async () => {
      const db = track(new Database(':memory:'));
      const logger = recordingLogger();
      const storage = track(new SqliteStorage({ database: db, logger }));
      const userId = uniqueId('u');
      await threeSessions(storage, db, userId);
      db.prepare(
        `UPDATE "${names.sessions}" SET updated_at = 'later' WHERE session_id = 'b'`,
      ).run();
      const listings = [
        { userId },
        {},
        { agentId: 'agent-1' },
        { userId, agentId: 'agent-1' },
      ] as const;
      for (const query of listings) {
        logger.lines.length = 0;
        const first = await storage.listSessions({ ...query, limit: 1 });
        expect(first.sessions.map((session) => session.sessionId)).toEqual(['c']);
        const second = await storage.listSessions({
          ...query,
          limit: 1,
          cursor: first.nextCursor as string,
        });
        expect(second.sessions.map((session) => session.sessionId)).toEqual(['a']);
        expect(second.nextCursor).toBeUndefined();
        // Reported on the first page only, naming the session and what is wrong with it.
        expect(logger.lines).toEqual([
          { level: 'warn', message: expect.stringContaining('skipped session "b"') },
        ]);
        expect(logger.lines[0]?.message).toContain('updated_at is not a number');
      }
      expect(await storage.deleteSession('b', { userId })).toBe(true);
      logger.lines.length = 0;
      expect((await storage.listSessions({ userId })).sessions).toHaveLength(2);
      expect(logger.lines).toEqual([]);
    });

    it('fills a page from the rows after a session it cannot list, and reports it', async () => {
      const db = track(new Database(':memory:'));
      const logger = recordingLogger();
      const storage = track(new SqliteStorage({ database: db, logger }));
      const userId = uniqueId('u');
      await threeSessions(storage, db, userId);
      db.prepare(
        `UPDATE "${names.sessions}" SET session_name = x'00ff' WHERE session_id = 'b'`,
      ).run();
      const page = await storage.listSessions({ userId, limit: 2 });
      expect(page.sessions.map((session) => session.sessionId)).toEqual(['c', 'a']);
      expect(page.nextCursor).toBeUndefined();
      const warnings = logger.lines.filter((line) => line.level === 'warn');
      expect(warnings).toEqual([
        { level: 'warn', message: expect.stringContaining('skipped session "b"') },
      ]);
      expect(warnings[0]?.message).toContain('session_name is not text');
    });

    it('reports a lease row of the wrong shape as STORAGE_CORRUPT on fenced appends too, writing nothing', async () => {
      const db = track(new Database(':memory:'));
      const storage = track(new SqliteStorage({ database: db }));
      const lease = await storage.acquireLease({ sessionId: 's', ttlMs: 10_000, waitMs: 0 });
      // A text expires_at sorts after every number: read naively, the lease would never expire.
      db.prepare(`UPDATE "${names.leases}" SET expires_at = 'forever'`).run();
      for (const releaseLease of [false, true]) {
        await expectBuddyError(
          storage.appendRun({
            sessionId: 's',
            run: makeRun('s', 'x'),
            sessionState: {},
            leaseToken: lease.token,
            releaseLease,
          }),
          'STORAGE_CORRUPT',
          'lease of session "s"',
        );
      }
      expect(await storage.getSession('s')).toBeUndefined();
      expect(db.prepare(`SELECT expires_at FROM "${names.leases}"`).pluck().get()).toBe('forever');
    });

    it('reads a session from before incarnations as legacy:<createdAt>, fences writes on it, and tells a recreated one apart', async () => {
      const db = track(new Database(':memory:'));
      const storage = track(new SqliteStorage({ database: db }));
      const first = await storage.appendRun({
        sessionId: 'old',
        run: makeRun('old', 'a'),
        sessionState: {},
      });
      expect(first.incarnation).toBe((await storage.getSession('old'))?.incarnation);
      db.prepare(
        `UPDATE "${names.sessions}" SET incarnation = NULL, created_at = 1000 WHERE session_id = 'old'`,
      ).run();
      expect((await storage.getSession('old'))?.incarnation).toBe('legacy:1000');
      const appended = await storage.appendRun({
        sessionId: 'old',
        run: makeRun('old', 'b'),
        sessionState: {},
      });
      expect(appended.incarnation).toBe('legacy:1000');
      const summary = { summary: 'old times', runsCovered: 1, updatedAt: 2000 };
      const written = await storage.upsertSession({
        sessionId: 'old',
        summary,
        expectedIncarnation: 'legacy:1000',
      });
      expect(written).toMatchObject({ incarnation: 'legacy:1000', summary, runCount: 2 });
      await expectBuddyError(
        storage.upsertSession({ sessionId: 'old', summary, expectedIncarnation: 'legacy:999' }),
        'NOT_FOUND',
        '"old"',
      );
      await storage.deleteSession('old');
      const again = await storage.appendRun({
        sessionId: 'old',
        run: makeRun('old', 'c'),
        sessionState: {},
      });
      const recreated = await storage.getSession('old');
      expect(recreated?.incarnation).toMatch(/^[0-9a-f-]{36}$/);
      expect(again.incarnation).toBe(recreated?.incarnation);
      await expectBuddyError(
        storage.upsertSession({ sessionId: 'old', summary, expectedIncarnation: 'legacy:1000' }),
        'NOT_FOUND',
      );
      expect((await storage.getSession('old'))?.summary).toBeUndefined();
    });

    it('restores the times of a session from before incarnations without changing its incarnation', async () => {
      const db = track(new Database(':memory:'));
      const storage = track(new SqliteStorage({ database: db }));
      await storage.appendRun({ sessionId: 'old', run: makeRun('old', 'a'), sessionState: {} });
      db.prepare(
        `UPDATE "${names.sessions}" SET incarnation = NULL, created_at = 1000 WHERE session_id = 'old'`,
      ).run();
      const restored = await storage.upsertSession({
        sessionId: 'old',
        expectedIncarnation: 'legacy:1000',
        restoreTimes: { createdAt: 500, updatedAt: 700 },
      });
      // Its incarnation was derived from created_at: it is written down before created_at moves.
      expect(restored).toMatchObject({
        incarnation: 'legacy:1000',
        createdAt: 500,
        updatedAt: 700,
      });
      expect(await storage.getSession('old')).toEqual(restored);
      expect(
        db
          .prepare(`SELECT incarnation FROM "${names.sessions}" WHERE session_id = 'old'`)
          .pluck()
          .get(),
      ).toBe('legacy:1000');
      const appended = await storage.appendRun({
        sessionId: 'old',
        run: makeRun('old', 'b'),
        sessionState: {},
      });
      expect(appended.incarnation).toBe('legacy:1000');
    });

    it('lists and deletes around a corrupt session; its owner can still delete it', async () => {
      const db = track(new Database(':memory:'));
      const storage = track(new SqliteStorage({ database: db }));
      const userId = uniqueId('u');
      await storage.upsertSession({ sessionId: 'broken', userId, sessionState: { a: 1 } });
      await storage.upsertSession({ sessionId: 'fine', userId });
      corruptState(db, 'broken');
      await expectBuddyError(storage.getSession('broken'), 'STORAGE_CORRUPT', 'broken');
      // Another user is told it is not theirs, not that it is corrupt.
      await expectBuddyError(
        storage.getSession('broken', { userId: 'mallory' }),
        'SESSION_OWNERSHIP',
      );
      const listed = await storage.listSessions({ userId });
      expect(listed.sessions.map((session) => session.sessionId).sort()).toEqual([
        'broken',
        'fine',
      ]);
      expect(await storage.deleteSession('broken', { userId })).toBe(true);
      expect(await storage.getSession('broken')).toBeUndefined();
    });

    it('reports a corrupt summary as STORAGE_CORRUPT naming the session, and keeps it on upsert', async () => {
      const db = track(new Database(':memory:'));
      const storage = track(new SqliteStorage({ database: db }));
      await storage.upsertSession({
        sessionId: 's',
        summary: { summary: 'ok', runsCovered: 1, updatedAt: 1 },
      });
      db.prepare(`UPDATE "${names.sessions}" SET summary = '{"summary": 5}'`).run();
      await expectBuddyError(storage.getSession('s'), 'STORAGE_CORRUPT', '"s"');
      await expectBuddyError(
        storage.upsertSession({
          sessionId: 's',
          summary: { summary: 'new', runsCovered: 2, updatedAt: 2 },
        }),
        'STORAGE_CORRUPT',
        '"s"',
      );
    });
  });

  describe('driver errors', () => {
    it('maps a read-only database to STORAGE_UNAVAILABLE with the operation and cause', async () => {
      const file = tempDbFile();
      const writer = new SqliteStorage({ dbFile: file });
      await writer.upsertSession({ sessionId: 's', sessionState: { a: 1 } });
      await writer.close();
      const readonly = track(new Database(file, { readonly: true }));
      const storage = track(new SqliteStorage({ database: readonly }));
      expect((await storage.getSession('s'))?.sessionState).toEqual({ a: 1 });
      const error = await expectBuddyError(
        storage.appendRun({ sessionId: 's', run: makeRun('s', 'x'), sessionState: {} }),
        'STORAGE_UNAVAILABLE',
        'SqliteStorage.appendRun',
      );
      expect((error.cause as { code?: string }).code).toMatch(/^SQLITE_READONLY/);
      expect(error.details).toMatchObject({ backend: 'sqlite', operation: 'appendRun' });
      expect(error.retryable).toBe(false);
    });

    it('maps a database closed by its owner to STORAGE_UNAVAILABLE, not retryable', async () => {
      const db = new Database(':memory:');
      const storage = track(new SqliteStorage({ database: db }));
      db.close();
      const error = await expectBuddyError(
        storage.getSession('s'),
        'STORAGE_UNAVAILABLE',
        'SqliteStorage.getSession',
      );
      expect(error.retryable).toBe(false);
      expect(error.cause).toBeInstanceOf(TypeError);
    });

    it('maps a lock held by another connection to STORAGE_BUSY, retryable', async () => {
      const file = tempDbFile();
      track(new SqliteStorage({ dbFile: file }));
      const holder = track(new Database(file));
      // A borrowed connection with a short timeout, so the test does not wait 5 s.
      const impatient = track(new Database(file, { timeout: 20 }));
      const storage = track(new SqliteStorage({ database: impatient }));
      holder.exec('BEGIN IMMEDIATE');
      try {
        const error = await expectBuddyError(
          storage.appendRun({ sessionId: 's', run: makeRun('s', 'x'), sessionState: {} }),
          'STORAGE_BUSY',
          'SqliteStorage.appendRun',
        );
        expect(error.retryable).toBe(true);
        expect((error.cause as { code?: string }).code).toBe('SQLITE_BUSY');
        await expectBuddyError(
          storage.acquireLease({ sessionId: 's', ttlMs: 1000, waitMs: 0 }),
          'STORAGE_BUSY',
          'acquireLease',
        );
      } finally {
        holder.exec('ROLLBACK');
      }
      // Reads are not blocked by a writer in WAL mode, and writes resume once it is gone.
      await storage.appendRun({ sessionId: 's', run: makeRun('s', 'x'), sessionState: {} });
      expect((await storage.getSession('s'))?.runCount).toBe(1);
    });
  });
});
