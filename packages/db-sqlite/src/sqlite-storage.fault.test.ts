/**
 * Real faults under `SqliteStorage`: a disk that fills up mid-conversation (a small tmpfs in a
 * private mount namespace), and a database that cannot be written (a file of mode 0444, a
 * read-only directory, a connection opened `readonly: true`).
 *
 * The disk-full case needs `unshare --mount` and `mount -t tmpfs` (root, or a user allowed to
 * create mount namespaces); where the system does not permit them it is skipped with a notice
 * saying why. The check that decides is a real tmpfs mount, made before the case runs, so a
 * failure of the storage itself is never mistaken for a missing permission.
 */
import { type SpawnSyncReturns, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent } from '@buddy/core';
import { MockModel } from '@buddy/testkit';
import { makeRun } from '@buddy/testkit/storage';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { expectBuddyError, makeTempDir, tempDbFile } from '../test/helpers.ts';
import { applyMigrations } from './internal/migrations.ts';
import { sessionMigrations, sessionTableNames } from './internal/session-schema.ts';
import { SqliteStorage } from './sqlite-storage.ts';

const packageDir = dirname(dirname(fileURLToPath(import.meta.url)));
const CHILD_ARGS = ['--conditions=@buddy/source', '--import', 'tsx'];

interface ErrorReport {
  isBuddyError: boolean;
  code?: string;
  retryable?: boolean;
  message?: string;
  details?: Record<string, unknown>;
  text?: string;
}

/** Runs a child script of `test/` with `prefix` (e.g. `unshare --mount`) and parses its report. */
function runChild<T>(prefix: string[], script: string, job: unknown): Promise<T> {
  const [command, ...args] = [
    ...prefix,
    process.execPath,
    ...CHILD_ARGS,
    `test/${script}`,
    JSON.stringify(job),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(command as string, args, { cwd: packageDir });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const line = stdout.trim().split('\n').at(-1) ?? '';
      if (code !== 0 || line === '') {
        reject(new Error(`${script} exited with ${code}:\n${stderr}\n${stdout}`));
        return;
      }
      resolve(JSON.parse(line) as T);
    });
  });
}

function failure(result: SpawnSyncReturns<Buffer>): string {
  if (result.error !== undefined) return result.error.message;
  return `exit ${result.status}: ${result.stderr.toString().trim()}`;
}

/**
 * How to start a process in a private mount namespace in which it may mount a tmpfs: plain
 * `unshare --mount` (root), else inside a new user namespace (unprivileged users, where the
 * kernel allows it). Decided by a real trial mount; `reason` says why neither works.
 */
function mountNamespacePrefix(): { ok: true; prefix: string[] } | { ok: false; reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: 'mount namespaces need Linux' };
  const candidates = [
    ['unshare', '--mount', '--propagation', 'private'],
    ['unshare', '--user', '--map-root-user', '--mount', '--propagation', 'private'],
  ];
  const failures: string[] = [];
  for (const prefix of candidates) {
    const dir = makeTempDir();
    const [command, ...args] = [...prefix, 'mount', '-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir];
    const probe = spawnSync(command as string, args);
    if (probe.status === 0) return { ok: true, prefix };
    failures.push(`${prefix.join(' ')}: ${failure(probe)}`);
  }
  return {
    ok: false,
    reason: `mounting a tmpfs in a private mount namespace is not available or not permitted here (${failures.join('; ')})`,
  };
}

/**
 * How to start a process for which file permissions hold: as root (which writes 0444 files
 * anyway) without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH; as anyone else, as is.
 */
function permissionRespectingPrefix():
  | { ok: true; prefix: string[] }
  | { ok: false; reason: string } {
  if (process.getuid?.() !== 0) return { ok: true, prefix: [] };
  const prefix = [
    'setpriv',
    '--inh-caps=-dac_override,-dac_read_search',
    '--bounding-set=-dac_override,-dac_read_search',
  ];
  const probe = spawnSync(prefix[0] as string, [...prefix.slice(1), 'true']);
  return probe.status === 0
    ? { ok: true, prefix }
    : {
        ok: false,
        reason: `running as root and setpriv cannot drop CAP_DAC_OVERRIDE (${failure(probe)})`,
      };
}

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** A closed database file with one session of `turns` runs, owned by `userId`. */
async function makeDatabase(
  turns: number,
  userId = 'dana',
): Promise<{ file: string; sessionId: string; userId: string }> {
  const file = tempDbFile();
  const sessionId = 'kept';
  const storage = new SqliteStorage({ dbFile: file });
  for (let turn = 0; turn < turns; turn++) {
    await storage.appendRun({
      sessionId,
      userId,
      run: makeRun(sessionId, `turn ${turn}`, { userId }),
      sessionState: { turn },
    });
  }
  await storage.close();
  return { file, sessionId, userId };
}

/** What a fresh writer sees of a file, to compare before and after a fault. */
async function contents(file: string, sessionId: string) {
  const storage = new SqliteStorage({ dbFile: file });
  try {
    return {
      session: await storage.getSession(sessionId),
      runs: await storage.getRuns({ sessionId }),
    };
  } finally {
    await storage.close();
  }
}

function expectReadOnlyError(error: ErrorReport | undefined, file: string, what: string): void {
  expect(error, what).toMatchObject({
    isBuddyError: true,
    code: 'STORAGE_UNAVAILABLE',
    retryable: false,
  });
  expect(error?.message, what).toContain(JSON.stringify(file));
  expect(String(error?.details?.sqliteCode), what).toMatch(/^SQLITE_(READONLY|CANTOPEN)/);
}

describe('SqliteStorage under real faults', () => {
  const toClose: { close(): unknown }[] = [];
  afterEach(async () => {
    for (const item of toClose.splice(0).reverse()) await item.close();
  });

  describe('disk full (a small tmpfs in a private mount namespace)', () => {
    interface DiskFullReport {
      stored: number;
      failure: ErrorReport;
      again: ErrorReport;
      afterFailure: Snapshot;
      integrityAfterFailure: unknown;
      afterFree: ({ ok: true } & Snapshot) | { ok: false; error: ErrorReport };
    }
    interface Snapshot {
      runCount: number;
      counter: number;
      indexes: number[];
      stateAfter: number[];
      holdsFailedTurn: boolean;
    }

    it('fails the turn that does not fit with STORAGE_UNAVAILABLE (not retryable, naming the file), keeps every earlier run whole, and takes turns again once space is freed', async (context) => {
      const namespace = mountNamespacePrefix();
      if (!namespace.ok) {
        console.warn(`[db-sqlite fault tests] skipping the disk-full case: ${namespace.reason}`);
        context.skip();
        return;
      }
      const dir = makeTempDir();
      const report = await runChild<DiskFullReport>(namespace.prefix, 'disk-full-child.ts', {
        dir,
        sizeKb: 2048,
        reserveKb: 256,
      });
      // The tmpfs lived in the child's namespace only: nothing is left on the real disk.
      expect(readdirSync(dir)).toEqual([]);
      rmdirSync(dir);

      expect(report.stored).toBeGreaterThan(5);
      const file = `${dir}/buddy.db`;
      for (const error of [report.failure, report.again]) {
        expect(error).toMatchObject({
          isBuddyError: true,
          code: 'STORAGE_UNAVAILABLE',
          retryable: false,
          details: { backend: 'sqlite', sqliteCode: 'SQLITE_FULL', file },
        });
        expect(error.message).toContain(JSON.stringify(file));
        expect(error.message).toContain('no space left');
      }
      // Nothing half written: every stored turn is whole, in order, with its state; the failed
      // turn left no trace; the file is intact.
      const stored = report.stored;
      const sequence = Array.from({ length: stored }, (_, index) => index);
      expect(report.afterFailure).toEqual({
        runCount: stored,
        counter: stored,
        indexes: sequence,
        stateAfter: sequence.map((index) => index + 1),
        holdsFailedTurn: false,
      });
      expect(report.integrityAfterFailure).toBe('ok');
      // Space freed: the same storage takes the next turn, right after the earlier ones.
      expect(report.afterFree).toEqual({
        ok: true,
        runCount: stored + 1,
        counter: stored + 1,
        indexes: [...sequence, stored],
        stateAfter: [...sequence, stored].map((index) => index + 1),
        holdsFailedTurn: false,
      });
    }, 120_000);
  });

  describe('read-only database', () => {
    interface ReadOnlyReport {
      opened: boolean;
      error?: ErrorReport;
      reads?: Record<string, { ok: boolean; value?: unknown; error?: ErrorReport }>;
      writes?: Record<string, { ok: boolean; error?: ErrorReport }>;
    }

    it('reads a file of mode 0444 and fails every write with STORAGE_UNAVAILABLE (not retryable, naming the file), changing nothing', async (context) => {
      const runner = permissionRespectingPrefix();
      if (!runner.ok) {
        console.warn(`[db-sqlite fault tests] skipping the mode-0444 case: ${runner.reason}`);
        context.skip();
        return;
      }
      const { file, sessionId, userId } = await makeDatabase(3);
      const before = await contents(file, sessionId);
      const hash = sha256(file);
      chmodSync(file, 0o444);
      const report = await runChild<ReadOnlyReport>(runner.prefix, 'read-only-child.ts', {
        dbFile: file,
        sessionId,
        userId,
      });
      chmodSync(file, 0o644);

      expect(report.opened).toBe(true);
      expect(report.reads?.getSession).toEqual({ ok: true, value: before.session });
      expect(report.reads?.getRuns).toEqual({ ok: true, value: before.runs });
      expect(report.reads?.listSessions).toMatchObject({
        ok: true,
        value: { sessions: [{ sessionId }] },
      });
      for (const [what, result] of Object.entries(report.writes ?? {})) {
        expect(result.ok, what).toBe(false);
        expectReadOnlyError(result.error, file, what);
      }
      expect(Object.keys(report.writes ?? {})).toHaveLength(6);
      expect(sha256(file)).toBe(hash);
      expect(await contents(file, sessionId)).toEqual(before);
    }, 60_000);

    it('refuses to open a WAL database in a read-only directory with STORAGE_UNAVAILABLE (not retryable, naming the file), creating nothing there', async (context) => {
      const runner = permissionRespectingPrefix();
      if (!runner.ok) {
        console.warn(
          `[db-sqlite fault tests] skipping the read-only-directory case: ${runner.reason}`,
        );
        context.skip();
        return;
      }
      const { file, sessionId, userId } = await makeDatabase(2);
      const before = await contents(file, sessionId);
      const hash = sha256(file);
      const dir = dirname(file);
      chmodSync(file, 0o444);
      chmodSync(dir, 0o555);
      let report: ReadOnlyReport;
      try {
        report = await runChild<ReadOnlyReport>(runner.prefix, 'read-only-child.ts', {
          dbFile: file,
          sessionId,
          userId,
        });
      } finally {
        chmodSync(dir, 0o755);
        chmodSync(file, 0o644);
      }
      // SQLite cannot read a WAL database without creating its -wal and -shm files beside it
      // (https://sqlite.org/wal.html#readonly): the storage says so when it is built, instead of
      // failing later on a read.
      expect(report.opened).toBe(false);
      expectReadOnlyError(report.error, file, 'open');
      expect(readdirSync(dir)).toEqual(['buddy.db']);
      expect(sha256(file)).toBe(hash);
      expect(await contents(file, sessionId)).toEqual(before);
    }, 60_000);

    it('reads through a connection opened readonly: true and fails every write with STORAGE_UNAVAILABLE (not retryable, naming the file), changing nothing', async () => {
      const { file, sessionId, userId } = await makeDatabase(3);
      const before = await contents(file, sessionId);
      const hash = sha256(file);
      const readonly = new Database(file, { readonly: true });
      toClose.push(readonly);
      const storage = new SqliteStorage({ database: readonly });
      toClose.push(storage);

      expect(await storage.getSession(sessionId, { userId })).toEqual(before.session);
      expect(await storage.getRuns({ sessionId, last: 2 })).toEqual(before.runs.slice(-2));
      expect((await storage.listSessions({ userId })).sessions).toMatchObject([{ sessionId }]);
      const writes: [string, () => Promise<unknown>][] = [
        [
          'appendRun',
          () =>
            storage.appendRun({
              sessionId,
              userId,
              run: makeRun(sessionId, 'not stored', { userId }),
              sessionState: { changed: true },
            }),
        ],
        ['upsertSession', () => storage.upsertSession({ sessionId, userId, sessionName: 'x' })],
        ['acquireLease', () => storage.acquireLease({ sessionId, ttlMs: 1000, waitMs: 0 })],
        ['deleteSession', () => storage.deleteSession(sessionId, { userId })],
        ['deleteUserData', () => storage.deleteUserData(userId)],
        [
          'Agent.run',
          () =>
            new Agent({
              model: new MockModel({ respond: () => 'never stored' }),
              storage,
              sessionId,
              userId,
            }).run('hello'),
        ],
      ];
      for (const [what, write] of writes) {
        const error = await expectBuddyError(write(), 'STORAGE_UNAVAILABLE', JSON.stringify(file));
        expect(error.retryable, what).toBe(false);
        expect(String(error.details.sqliteCode), what).toMatch(/^SQLITE_READONLY/);
      }
      await storage.close();
      readonly.close();
      expect(sha256(file)).toBe(hash);
      expect(await contents(file, sessionId)).toEqual(before);
    });

    it('refuses a read-only connection to a file that still needs a migration, naming the file', async () => {
      const file = tempDbFile();
      const names = sessionTableNames('buddy_sessions');
      const old = new Database(file);
      applyMigrations(old, {
        schemaTable: names.schema,
        component: 'sessions',
        tableName: names.sessions,
        who: 'test',
        migrations: sessionMigrations(names).slice(0, 2),
      });
      old.close();
      const readonly = new Database(file, { readonly: true });
      toClose.push(readonly);
      const error = await expectBuddyError(
        () => new SqliteStorage({ database: readonly }),
        'STORAGE_UNAVAILABLE',
        JSON.stringify(file),
      );
      expect(error.retryable).toBe(false);
      expect(error.message).toContain('read-only');
    });
  });
});
