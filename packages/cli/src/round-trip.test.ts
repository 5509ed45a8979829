/**
 * The whole journey of SPEC §15.1 on real servers: SQLite → `buddy export` → `buddy import` into
 * Redis → `buddy migrate` to PostgreSQL → `buddy export`. The two exports are the same apart from
 * the header's time and source: every session (its `createdAt` / `updatedAt` too, restored on
 * both targets through `restoreTimes`), run, message, state, summary, paused run, metadata and
 * memory, in the same order. And the times are the ones that count: retention on the target
 * deletes what it would have deleted on the source.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteMemoryDb, SqliteStorage } from '@buddy/db-sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { comparableLines, exportLines, firstDifference } from '../test/export-files.ts';
import { seed } from '../test/fixtures.ts';
import { buddy } from '../test/run-buddy.ts';
import { postgresPlace, redisPlace, requirePostgres, requireRedis } from '../test/services.ts';

const servers = (await requireRedis()) && (await requirePostgres());
const dir = mkdtempSync(join(tmpdir(), 'buddy-round-trip-'));
const redis = redisPlace();
const postgres = postgresPlace();

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (servers) await Promise.all([redis.cleanup(), postgres.cleanup()]);
});

describe.skipIf(!servers)('SQLite → export → Redis → migrate → PostgreSQL → export', () => {
  it('ends with the same data, in the same order', async () => {
    const dbFile = join(dir, 'source.db');
    const storage = new SqliteStorage({ dbFile });
    const memoryDb = new SqliteMemoryDb({ dbFile });
    const seeded = await seed(storage, memoryDb, { sessionsPerUser: 3, runsPerSession: 4 });
    await storage.close();
    await memoryDb.close();

    const first = join(dir, 'first.jsonl');
    const exported = await buddy(['export', `sqlite:${dbFile}`, '-o', first]);
    expect(exported.code, exported.stderr).toBe(0);

    const imported = await buddy(['import', redis.url, first]);
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toContain(
      `Imported ${seeded.sessions} sessions (${seeded.runs} runs) and ${seeded.memories} memories`,
    );

    const migrated = await buddy(['migrate', redis.url, postgres.url]);
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(migrated.stdout).toContain(
      `Verified: ${seeded.sessions} sessions (${seeded.runs} runs)`,
    );

    const last = join(dir, 'last.jsonl');
    const again = await buddy(['export', postgres.url, '-o', last]);
    expect(again.code, again.stderr).toBe(0);

    const before = exportLines(first);
    const after = exportLines(last);
    // The journey carries every kind of field (the 0.2 ones included).
    for (const field of [
      '"pendingRun"',
      '"metadata"',
      '"status":"aborted"',
      '"toolCalls"',
      '"topics"',
      '"stateAfter"',
    ]) {
      expect(
        before.some((line) => line.includes(field)),
        field,
      ).toBe(true);
    }
    expect(firstDifference(comparableLines(after), comparableLines(before))).toBeUndefined();
    // Only the header differs: its time and source.
    const differing = before.filter((line, index) => line !== after[index]);
    expect(differing).toEqual([before[0]]);
    expect(JSON.parse(after[0] as string).source).toBe(postgres.url);
  });
});
