/**
 * `buddy migrate` is resumable (SPEC §15.1): a real child process migrating is killed with
 * SIGKILL half way through, then the migration runs again and ends with exactly the source's
 * data: every session, every run once, in order, every memory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteMemoryDb, SqliteStorage } from '@buddy/db-sqlite';
import { makeRun } from '@buddy/testkit/storage';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { comparableLines, exportLines, firstDifference } from '../test/export-files.ts';
import { buddy, runBuddy, spawnBuddy } from '../test/run-buddy.ts';
import { POSTGRES_URL, postgresPlace, requirePostgres } from '../test/services.ts';

const SESSIONS = 40;
const RUNS = 50;
const TOTAL = SESSIONS * RUNS;

const dir = mkdtempSync(join(tmpdir(), 'buddy-migrate-kill-'));
const source = join(dir, 'source.db');
const hasPostgres = await requirePostgres();
const postgres = postgresPlace();

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (hasPostgres) await postgres.cleanup();
});

async function seedSource(): Promise<void> {
  const storage = new SqliteStorage({ dbFile: source });
  const memoryDb = new SqliteMemoryDb({ dbFile: source });
  for (let session = 0; session < SESSIONS; session++) {
    const sessionId = `session-${String(session).padStart(3, '0')}`;
    const userId = `user-${session % 5}`;
    for (let turn = 0; turn < RUNS; turn++) {
      await storage.appendRun({
        sessionId,
        userId,
        run: makeRun(sessionId, `turn ${turn} ${'x'.repeat(200)}`, { userId }),
        sessionState: { turn },
      });
    }
  }
  for (let user = 0; user < 5; user++) {
    for (let index = 0; index < 4; index++) {
      await memoryDb.upsertMemory({
        userId: `user-${user}`,
        memory: `fact ${index}`,
        createdAt: index,
        updatedAt: index,
      });
    }
  }
  await storage.close();
  await memoryDb.close();
}

const seeded = seedSource();

/** Kills the migration once `copied()` reports at least half of the runs (and before all). */
async function killHalfWay(args: string[], copied: () => Promise<number>): Promise<number> {
  const child = spawnBuddy(args);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.on('exit', (_code, signal) => resolve(signal)),
  );
  let atKill = 0;
  for (;;) {
    atKill = await copied().catch(() => 0);
    if (atKill >= TOTAL / 2) break;
    if (child.exitCode !== null) throw new Error(`migrate ended before it was killed: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
  return atKill;
}

async function expectSameAsSource(target: string): Promise<void> {
  const before = join(dir, `source-${Date.now()}.jsonl`);
  const after = join(dir, `target-${Date.now()}.jsonl`);
  expect((await buddy(['export', `sqlite:${source}`, '-o', before])).code).toBe(0);
  const exported = await buddy(['export', target, '-o', after]);
  expect(exported.code, exported.stderr).toBe(0);
  const lines = exportLines(after);
  expect(lines.at(-1)).toBe(`{"type":"end","sessions":${SESSIONS},"runs":${TOTAL},"memories":20}`);
  // Every run once: run ids are unique.
  const runIds = lines
    .filter((line) => line.startsWith('{"type":"run"'))
    .map((line) => JSON.parse(line).runId);
  expect(new Set(runIds).size).toBe(TOTAL);
  expect(
    firstDifference(comparableLines(lines), comparableLines(exportLines(before))),
  ).toBeUndefined();
}

describe('migrate killed half way (SIGKILL) and run again', () => {
  it('SQLite → SQLite: ends with exactly the source data', async () => {
    await seeded;
    const target = join(dir, 'target.db');
    const atKill = await killHalfWay(
      ['migrate', `sqlite:${source}`, `sqlite:${target}`],
      async () => {
        const db = new Database(target, { readonly: true, fileMustExist: true });
        try {
          return (
            db.prepare('SELECT count(*) AS n FROM "buddy_sessions$runs"').get() as { n: number }
          ).n;
        } finally {
          db.close();
        }
      },
    );
    expect(atKill).toBeLessThan(TOTAL);
    const again = await runBuddy(['migrate', `sqlite:${source}`, `sqlite:${target}`]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/Copied \d+ sessions \((\d+) runs\)/);
    const copied = Number(/\((\d+) runs\)/.exec(again.stdout)?.[1]);
    // Only what was missing was copied the second time.
    expect(copied).toBeLessThanOrEqual(TOTAL - atKill);
    expect(again.stdout).toContain(
      `Verified: ${SESSIONS} sessions (${TOTAL} runs) and 20 memories of 5 users`,
    );
    await expectSameAsSource(`sqlite:${target}`);
    // A third run finds nothing to do.
    const third = await runBuddy(['migrate', `sqlite:${source}`, `sqlite:${target}`]);
    expect(third.stdout).toContain('Copied 0 sessions (0 runs) and 0 memories');
  }, 120_000);

  it.skipIf(!hasPostgres)(
    'SQLite → PostgreSQL: ends with exactly the source data',
    async () => {
      await seeded;
      const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
      try {
        const atKill = await killHalfWay(
          ['migrate', `sqlite:${source}`, postgres.url],
          async () => {
            const result = await pool.query(
              `SELECT count(*)::int AS n FROM "${postgres.schema}"."buddy_runs"`,
            );
            return (result.rows[0] as { n: number }).n;
          },
        );
        expect(atKill).toBeLessThan(TOTAL);
      } finally {
        await pool.end();
      }
      const again = await runBuddy(['migrate', `sqlite:${source}`, postgres.url]);
      expect(again.code, again.stderr).toBe(0);
      await expectSameAsSource(postgres.url);
    },
    120_000,
  );
});
