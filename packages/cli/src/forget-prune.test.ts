/**
 * `buddy forget` (SPEC §15.1) prints what it deleted where, and afterwards nothing of that user
 * exists in any backend it was given (no row, key or value holds the user's id), while other
 * users keep everything; a place it cannot reach stops it before anything is deleted.
 * `buddy prune` applies the storage contract's retention and prints the counts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteMemoryDb, SqliteStorage } from '@buddy/db-sqlite';
import { makeRun } from '@buddy/testkit/storage';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { seed } from '../test/fixtures.ts';
import { buddy } from '../test/run-buddy.ts';
import {
  postgresDump,
  postgresPlace,
  redisDump,
  redisPlace,
  requirePostgres,
  requireRedis,
} from '../test/services.ts';

const dir = mkdtempSync(join(tmpdir(), 'buddy-forget-'));
const hasRedis = await requireRedis();
const hasPostgres = await requirePostgres();
const redis = redisPlace();
const postgres = postgresPlace();

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (hasRedis) await redis.cleanup();
  if (hasPostgres) await postgres.cleanup();
});

/** Every row of every table of a SQLite file, as text. */
function sqliteDump(file: string): string {
  const db = new Database(file, { readonly: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as {
      name: string;
    }[];
    return tables
      .flatMap(({ name }) =>
        (db.prepare(`SELECT * FROM "${name}"`).all() as object[]).map(
          (row) => `${name} ${JSON.stringify(row)}`,
        ),
      )
      .join('\n');
  } finally {
    db.close();
  }
}

async function seedSqlite(file: string): Promise<void> {
  const storage = new SqliteStorage({ dbFile: file });
  const memoryDb = new SqliteMemoryDb({ dbFile: file });
  await seed(storage, memoryDb);
  await storage.close();
  await memoryDb.close();
}

describe('buddy forget', () => {
  it('deletes every session and memory of the user in every place, prints the counts, and keeps the others', async () => {
    const main = join(dir, 'main.db');
    await seedSqlite(main);
    const mainUrl = `sqlite:${main}`;
    // Memories (and sessions) of the same users elsewhere.
    const exportFile = join(dir, 'all.jsonl');
    expect((await buddy(['export', mainUrl, '-o', exportFile])).code).toBe(0);
    const others = [
      ...(hasRedis ? [{ url: redis.url, dump: () => redisDump(redis.prefix) }] : []),
      ...(hasPostgres ? [{ url: postgres.url, dump: () => postgresDump(postgres.schema) }] : []),
    ];
    for (const other of others)
      expect((await buddy(['import', other.url, exportFile])).code).toBe(0);
    for (const other of others) expect(await other.dump()).toContain('dana');
    expect(sqliteDump(main)).toContain('dana');

    const result = await buddy([
      'forget',
      mainUrl,
      '--user',
      'dana',
      ...others.flatMap((other) => ['--memory', other.url]),
    ]);
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(1 + others.length);
    expect(lines[0]).toBe(`Deleted 2 sessions and 2 memories of user "dana" from ${mainUrl}`);
    for (const [index, other] of others.entries()) {
      expect(lines[index + 1]).toBe(
        `Deleted 2 sessions and 2 memories of user "dana" from ${other.url}`,
      );
    }

    // Nothing of dana anywhere: no row, key or value holds the id; bob is untouched.
    expect(sqliteDump(main)).not.toContain('dana');
    for (const other of others) {
      const raw = await other.dump();
      expect(raw, other.url).not.toContain('dana');
      expect(raw).toContain('bob');
    }
    for (const url of [mainUrl, ...others.map((other) => other.url)]) {
      expect(
        JSON.parse((await buddy(['sessions', url, '--user', 'dana', '--json'])).stdout),
      ).toEqual([]);
      expect(
        JSON.parse((await buddy(['sessions', url, '--user', 'bob', '--json'])).stdout),
      ).toHaveLength(2);
      const bob = (await buddy(['export', url, '--user', 'bob'])).stdout;
      expect(bob.trim().split('\n').at(-1)).toBe(
        '{"type":"end","sessions":2,"runs":6,"memories":1}',
      );
      const dana = (await buddy(['export', url, '--user', 'dana'])).stdout;
      expect(dana.trim().split('\n').at(-1)).toBe(
        '{"type":"end","sessions":0,"runs":0,"memories":0}',
      );
    }

    const again = await buddy(['forget', mainUrl, '--user', 'dana', '--json']);
    expect(JSON.parse(again.stdout)).toEqual({
      userId: 'dana',
      places: [{ url: mainUrl, sessions: 0, memories: 0 }],
    });
  });

  it('deletes nothing anywhere when one of the places cannot be reached', async () => {
    const main = join(dir, 'keep.db');
    await seedSqlite(main);
    const before = sqliteDump(main);
    const result = await buddy([
      'forget',
      `sqlite:${main}`,
      '--user',
      'dana',
      '--memory',
      'redis://127.0.0.1:1',
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('cannot reach redis://127.0.0.1:1');
    expect(sqliteDump(main)).toBe(before);
  });
});

describe('buddy prune', () => {
  it('deletes old sessions and old runs through storage.prune, and prints the counts', async () => {
    const file = join(dir, 'prune.db');
    const storage = new SqliteStorage({ dbFile: file });
    for (const sessionId of ['a', 'b']) {
      for (let turn = 0; turn < 5; turn++) {
        await storage.appendRun({
          sessionId,
          userId: sessionId === 'a' ? 'dana' : 'bob',
          run: makeRun(sessionId, `t${turn}`),
          sessionState: {},
        });
      }
    }
    await storage.close();
    const url = `sqlite:${file}`;
    const kept = await buddy(['prune', url, '--keep-last-runs', '2', '--json']);
    expect(kept.code, kept.stderr).toBe(0);
    expect(JSON.parse(kept.stdout)).toEqual({ sessionsDeleted: 0, runsDeleted: 6 });
    const shown = JSON.parse((await buddy(['show', url, 'a', '--json'])).stdout) as {
      runs: { index: number }[];
    };
    expect(shown.runs.map((run) => run.index)).toEqual([3, 4]);
    // Nothing is older than a day; everything is older than "0s" from now.
    expect((await buddy(['prune', url, '--older-than', '1d'])).stdout).toBe(
      `Deleted 0 sessions and 0 runs from ${url}\n`,
    );
    const user = await buddy(['prune', url, '--older-than', '0s', '--user', 'bob']);
    expect(user.stdout).toBe(`Deleted 1 sessions and 2 runs from ${url}\n`);
    expect(
      JSON.parse((await buddy(['sessions', url, '--json'])).stdout).map(
        (info: { sessionId: string }) => info.sessionId,
      ),
    ).toEqual(['a']);
  });
});
