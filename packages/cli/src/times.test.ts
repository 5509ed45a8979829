/**
 * Session times survive `buddy import`, `migrate` and `rekey` on targets that declare
 * `restoresTimes`: the listing shows the source's times in the source's order, and retention
 * (`buddy prune --older-than`) counts from them instead of starting over at the import. On a
 * target that does not declare it, the CLI writes as before (the target's write times, the
 * source's order) instead of failing; a target that claims it and does not keep the times is
 * caught by `migrate`'s verification. An export whose session times cannot be restored is refused
 * before anything is written.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SessionInfo, UpsertSessionInput } from '@buddy/core';
import * as sqlite from '@buddy/db-sqlite';
import { SqliteMemoryDb, SqliteStorage } from '@buddy/db-sqlite';
import { makeRun } from '@buddy/testkit/storage';
import { afterAll, describe, expect, it } from 'vitest';
import { buddy } from '../test/run-buddy.ts';
import { postgresPlace, redisPlace, requirePostgres, requireRedis } from '../test/services.ts';

const DAY = 86_400_000;
const dir = mkdtempSync(join(tmpdir(), 'buddy-times-'));
const hasRedis = await requireRedis();
const hasPostgres = await requirePostgres();
const redis = redisPlace();
const postgres = postgresPlace();

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (hasRedis) await redis.cleanup();
  if (hasPostgres) await postgres.cleanup();
});

let fileCounter = 0;
function dbFile(label: string): string {
  fileCounter += 1;
  return join(dir, `${label}-${fileCounter}.db`);
}

/** The times each seeded session has in the source. */
interface Seeded {
  url: string;
  times: Record<string, { createdAt: number; updatedAt: number }>;
}

/**
 * A SQLite source whose sessions are 90, 40 and 2 days old (their runs as old as them), written
 * newest first so that write order and time order disagree.
 */
async function seedOldSessions(): Promise<Seeded> {
  const file = dbFile('source');
  const storage = new SqliteStorage({ dbFile: file });
  const memoryDb = new SqliteMemoryDb({ dbFile: file });
  const now = Date.now();
  const times: Seeded['times'] = {};
  for (const [sessionId, age] of [
    ['recent', 2],
    ['month-old', 40],
    ['ancient', 90],
  ] as const) {
    const at = now - age * DAY;
    for (let turn = 0; turn < 2; turn++) {
      await storage.appendRun({
        sessionId,
        userId: 'dana',
        run: makeRun(sessionId, `turn ${turn}`, { userId: 'dana', createdAt: at + turn }),
        sessionState: { turn },
      });
    }
    const record = await storage.upsertSession({
      sessionId,
      userId: 'dana',
      restoreTimes: { createdAt: at, updatedAt: at + 10 },
    });
    times[sessionId] = { createdAt: record.createdAt, updatedAt: record.updatedAt };
  }
  await memoryDb.upsertMemory({ userId: 'dana', memory: 'Likes tea' });
  await storage.close();
  await memoryDb.close();
  return { url: `sqlite:${file}`, times };
}

async function listed(url: string, env: Record<string, string> = {}): Promise<SessionInfo[]> {
  const result = await buddy(['sessions', url, '--json'], { env });
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as SessionInfo[];
}

async function expectSourceTimes(url: string, source: Seeded, env: Record<string, string> = {}) {
  const sessions = await listed(url, env);
  expect(sessions.map((info) => info.sessionId)).toEqual(['recent', 'month-old', 'ancient']);
  for (const info of sessions) {
    expect({ createdAt: info.createdAt, updatedAt: info.updatedAt }, info.sessionId).toEqual(
      source.times[info.sessionId],
    );
  }
}

async function expectPruneCountsFromSource(url: string, env: Record<string, string> = {}) {
  const pruned = await buddy(['prune', url, '--older-than', '30d'], { env });
  expect(pruned.code, pruned.stderr).toBe(0);
  expect(pruned.stdout).toContain('Deleted 2 sessions and 4 runs');
  expect((await listed(url, env)).map((info) => info.sessionId)).toEqual(['recent']);
}

const targets = [
  { name: 'SQLite', url: () => `sqlite:${dbFile('target')}`, available: true },
  { name: 'Redis', url: () => redis.url, available: hasRedis },
  { name: 'PostgreSQL', url: () => postgres.url, available: hasPostgres },
];

describe('session times survive the CLI', () => {
  for (const target of targets) {
    it.skipIf(!target.available)(
      `migrate to ${target.name}: the source's times and order, and prune --older-than counts from them`,
      async () => {
        const source = await seedOldSessions();
        const url = target.url();
        const migrated = await buddy(['migrate', source.url, url]);
        expect(migrated.code, migrated.stderr).toBe(0);
        expect(migrated.stdout).toContain('Verified: 3 sessions (6 runs)');
        await expectSourceTimes(url, source);
        // A re-run finds everything in place, times included.
        const again = await buddy(['migrate', source.url, url]);
        expect(again.stdout).toContain('Copied 0 sessions (0 runs) and 0 memories');
        await expectPruneCountsFromSource(url);
      },
    );
  }

  it('import: the times of the file, and a migration interrupted after the runs gets them on the next run', async () => {
    const source = await seedOldSessions();
    const file = join(dir, 'times.jsonl');
    expect((await buddy(['export', source.url, '-o', file])).code).toBe(0);
    const url = `sqlite:${dbFile('imported')}`;
    const imported = await buddy(['import', url, file]);
    expect(imported.code, imported.stderr).toBe(0);
    await expectSourceTimes(url, source);

    // As if a migration had been killed after the runs and before the times: a normal write
    // moves updatedAt to now. Running it again restores the times and counts that session.
    const target = new SqliteStorage({ dbFile: url.slice('sqlite:'.length) });
    await target.upsertSession({ sessionId: 'ancient', userId: 'dana', sessionName: 'Touched' });
    await target.close();
    expect((await listed(url))[0]?.sessionId).toBe('ancient');
    const resumed = await buddy(['migrate', source.url, url]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain('Copied 1 sessions (0 runs)');
    await expectSourceTimes(url, source);
    await expectPruneCountsFromSource(url);
  });

  it('rekey: sessions keep their times, so retention does not start over', async () => {
    const source = await seedOldSessions();
    const keyFile = join(dir, 'new.key');
    writeFileSync(keyFile, Buffer.alloc(32, 9).toString('base64'));
    const env = { BUDDY_ENCRYPTION_KEY: readFileSync(keyFile, 'utf8') };
    const rekeyed = await buddy(['rekey', source.url, '--new-key-file', keyFile, '--from-plain']);
    expect(rekeyed.code, rekeyed.stderr).toBe(0);
    expect(rekeyed.stdout).toContain('Re-encrypted 3 sessions (6 runs)');
    await expectSourceTimes(source.url, source, env);
    await expectPruneCountsFromSource(source.url, env);
  });

  it('refuses an export whose session times cannot be restored, naming the line, before writing anything', async () => {
    const source = await seedOldSessions();
    const file = join(dir, 'bad-times.jsonl');
    expect((await buddy(['export', source.url, '-o', file])).code).toBe(0);
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    const at = lines.findIndex((line) => line.startsWith('{"type":"session"'));
    const broken = JSON.parse(lines[at] as string) as Record<string, unknown>;
    for (const [patch, message] of [
      [{ createdAt: (broken.updatedAt as number) + 1 }, 'session.createdAt'],
      [{ updatedAt: -5 }, 'session.updatedAt must be epoch milliseconds'],
      [{ createdAt: 1.5 }, 'got 1.5'],
    ] as const) {
      const edited = [...lines];
      edited[at] = JSON.stringify({ ...broken, ...patch });
      writeFileSync(file, `${edited.join('\n')}\n`);
      const target = dbFile('refused');
      const result = await buddy(['import', `sqlite:${target}`, file]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`line ${at + 1}:`);
      expect(result.stderr).toContain(message);
      // Checked before the place was even opened.
      expect(existsSync(target)).toBe(false);
    }
  });
});

/** `@buddy/db-sqlite` with each `SqliteStorage` changed by `change`, for `importModule`. */
function sqliteModuleWith(change: (storage: SqliteStorage) => void) {
  class Changed extends SqliteStorage {
    constructor(options?: sqlite.SqliteStorageOptions) {
      super(options);
      change(this);
    }
  }
  const module = { ...sqlite, SqliteStorage: Changed };
  return async (name: string) => (name === '@buddy/db-sqlite' ? module : import(name));
}

describe('targets without restoresTimes', () => {
  it('a target that does not declare it gets the write times, in the source order, and no error', async () => {
    const source = await seedOldSessions();
    const file = join(dir, 'plain.jsonl');
    expect((await buddy(['export', source.url, '-o', file])).code).toBe(0);
    const importModule = sqliteModuleWith((storage) => {
      // As a storage package from before restoresTimes declares itself.
      Object.defineProperty(storage, 'capabilities', {
        value: { leaseReadsSession: true, appendReleasesLease: true },
      });
    });
    const url = `sqlite:${dbFile('older-package')}`;
    const imported = await buddy(['import', url, file], { importModule });
    expect(imported.code, imported.stderr).toBe(0);
    const sessions = await listed(url);
    expect(sessions.map((info) => info.sessionId)).toEqual(['recent', 'month-old', 'ancient']);
    const oldest = Math.min(...Object.values(source.times).map((times) => times.updatedAt));
    for (const info of sessions) expect(info.updatedAt).toBeGreaterThan(oldest + 80 * DAY);
    const migrated = await buddy(['migrate', source.url, `sqlite:${dbFile('older-migrate')}`], {
      importModule,
    });
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(migrated.stdout).toContain('Verified: 3 sessions (6 runs)');
  });

  it('migrate does not verify a target that claims restoresTimes and drops the times', async () => {
    const source = await seedOldSessions();
    const importModule = sqliteModuleWith((storage) => {
      const upsert = storage.upsertSession.bind(storage);
      storage.upsertSession = ({ restoreTimes: _dropped, ...input }: UpsertSessionInput) =>
        upsert(input);
    });
    const target = `sqlite:${dbFile('lying')}`;
    // Only the target: the source is a file of the same package, opened the same way.
    const result = await buddy(['migrate', source.url, target], { importModule });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('not verified: session "recent" has the times');
    expect(result.stderr).toContain('verification failed: 3 difference(s)');
  });
});
