/**
 * Encryption at rest through the CLI on the three backends (SPEC §15.3): data imported with a key
 * leaves no plaintext of states, messages, tool calls, names, summaries, paused runs or memories
 * in the raw SQLite file, the Redis values or the PostgreSQL rows; it reads back exactly with
 * the key; a wrong key or no key is `DECRYPTION_FAILED`; a record copied to another session does
 * not decrypt; `buddy rekey` re-encrypts in place (also from plaintext, also after being killed
 * half way), after which the old key no longer reads anything.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encryptedStorage, encryptionKeyId, type SessionStorage } from '@buddy/core';
import { SqliteMemoryDb, SqliteStorage } from '@buddy/db-sqlite';
import { makeRun } from '@buddy/testkit/storage';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { comparableLines, exportLines, firstDifference } from '../test/export-files.ts';
import { PLAINTEXT_MARKERS, seed } from '../test/fixtures.ts';
import { buddy, runBuddy, spawnBuddy } from '../test/run-buddy.ts';
import {
  POSTGRES_URL,
  postgresDump,
  postgresPlace,
  REDIS_URL,
  redisDump,
  redisPlace,
  requirePostgres,
  requireRedis,
} from '../test/services.ts';

const dir = mkdtempSync(join(tmpdir(), 'buddy-encryption-'));
const key = randomBytes(32).toString('base64');
const newKey = randomBytes(32).toString('base64');
const wrongKey = randomBytes(32).toString('base64');
const newKeyFile = join(dir, 'new.key');
writeFileSync(newKeyFile, `${newKey}\n`);
const plainExport = join(dir, 'plain.jsonl');

const hasRedis = await requireRedis();
const hasPostgres = await requirePostgres();
const redis = redisPlace();
const postgres = postgresPlace();

beforeAll(async () => {
  const dbFile = join(dir, 'plain.db');
  const storage = new SqliteStorage({ dbFile });
  const memoryDb = new SqliteMemoryDb({ dbFile });
  await seed(storage, memoryDb);
  await storage.close();
  await memoryDb.close();
  const exported = await buddy(['export', `sqlite:${dbFile}`, '-o', plainExport]);
  expect(exported.code, exported.stderr).toBe(0);
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (hasRedis) await redis.cleanup();
  if (hasPostgres) await postgres.cleanup();
});

function withKey(value: string) {
  return { env: { BUDDY_ENCRYPTION_KEY: value } };
}

function expectNoPlaintext(raw: string, where: string): void {
  for (const marker of PLAINTEXT_MARKERS)
    expect(raw.includes(marker), `${marker} in ${where}`).toBe(false);
  // The ids and owners the indexes need are there: this is the real data.
  expect(raw).toContain('dana');
}

function sqliteRaw(file: string): string {
  const parts = [file, `${file}-wal`]
    .filter(existsSync)
    .map((path) => readFileSync(path).toString('latin1'));
  return parts.join('\n');
}

async function expectReadsBackExactly(url: string, keyValue: string): Promise<void> {
  const out = join(dir, `check-${randomBytes(4).toString('hex')}.jsonl`);
  const exported = await buddy(['export', url, '-o', out], withKey(keyValue));
  expect(exported.code, exported.stderr).toBe(0);
  expect(
    firstDifference(comparableLines(exportLines(out)), comparableLines(exportLines(plainExport))),
  ).toBeUndefined();
}

async function expectDecryptionFailed(
  args: string[],
  options: { env: Record<string, string> },
  names?: string,
) {
  const result = await buddy(args, options);
  expect(result.code).toBe(1);
  expect(result.stderr.trim().split('\n')).toHaveLength(1);
  expect(result.stderr).toContain('DECRYPTION_FAILED');
  if (names !== undefined) expect(result.stderr).toContain(names);
}

interface Backend {
  name: string;
  available: boolean;
  url: () => string;
  raw: () => Promise<string>;
  /** Opens the place's storage (for writing test sessions through the wrapper). */
  storage: () => SessionStorage;
  /** Copies the stored state of session `from` over the state of session `to`, behind the storage's back. */
  copyState: (from: string, to: string) => Promise<void>;
}

const sqliteFile = join(dir, 'encrypted.db');
const backends: Backend[] = [
  {
    name: 'SQLite',
    available: true,
    url: () => `sqlite:${sqliteFile}`,
    raw: async () => sqliteRaw(sqliteFile),
    storage: () => new SqliteStorage({ dbFile: sqliteFile }),
    copyState: async (from, to) => {
      const db = new Database(sqliteFile);
      try {
        db.prepare(
          'UPDATE buddy_sessions SET state = (SELECT state FROM buddy_sessions WHERE session_id = ?) WHERE session_id = ?',
        ).run(from, to);
      } finally {
        db.close();
      }
    },
  },
  {
    name: 'Redis',
    available: hasRedis,
    url: () => redis.url,
    raw: () => redisDump(redis.prefix),
    storage: () => {
      const { RedisStorage } = redisModule;
      return new RedisStorage({ url: REDIS_URL, prefix: redis.prefix });
    },
    copyState: async (from, to) => {
      const client = new Redis(REDIS_URL);
      try {
        const state = await client.hget(`${redis.prefix}s:{${from}}`, 'state');
        expect(state).not.toBeNull();
        await client.hset(`${redis.prefix}s:{${to}}`, 'state', state as string);
      } finally {
        client.disconnect();
      }
    },
  },
  {
    name: 'PostgreSQL',
    available: hasPostgres,
    url: () => postgres.url,
    raw: () => postgresDump(postgres.schema),
    storage: () => {
      const { PostgresStorage } = postgresModule;
      return new PostgresStorage({ connectionString: POSTGRES_URL, schema: postgres.schema });
    },
    copyState: async (from, to) => {
      const client = new pg.Client({ connectionString: POSTGRES_URL });
      await client.connect();
      try {
        const table = `"${postgres.schema}"."buddy_sessions"`;
        await client.query(
          `UPDATE ${table} SET state = (SELECT state FROM ${table} WHERE session_id = $1) WHERE session_id = $2`,
          [from, to],
        );
      } finally {
        await client.end();
      }
    },
  },
];

const redisModule = await import('@buddy/db-redis');
const postgresModule = await import('@buddy/db-postgres');

for (const backend of backends) {
  describe.skipIf(!backend.available)(`encryption at rest on ${backend.name}`, () => {
    it('imports with a key: no plaintext in the raw data, and everything reads back with the key', async () => {
      const imported = await buddy(['import', backend.url(), plainExport], withKey(key));
      expect(imported.code, imported.stderr).toBe(0);
      expectNoPlaintext(await backend.raw(), backend.name);
      await expectReadsBackExactly(backend.url(), key);
    });

    it('fails with DECRYPTION_FAILED under a wrong key, and asks for the key without one', async () => {
      await expectDecryptionFailed(['export', backend.url()], withKey(wrongKey), 'session');
      await expectDecryptionFailed(
        ['show', backend.url(), 'dana-x-0-ß🧠'],
        withKey(wrongKey),
        '"dana-x-0-ß🧠"',
      );
      const plain = await buddy(['export', backend.url()]);
      expect(plain.code).toBe(1);
      expect(plain.stderr).toContain('is encrypted: give its key');
      expect(plain.stdout).toBe('');
    });

    it('refuses a state copied from another session', async () => {
      const storage = encryptedStorage(backend.storage(), { key });
      try {
        for (const sessionId of ['copy-from', 'copy-to']) {
          await storage.appendRun({
            sessionId,
            userId: 'dana',
            run: makeRun(sessionId, 'hi'),
            sessionState: { secret: `PLAINTEXT-STATE of ${sessionId}` },
          });
        }
      } finally {
        await storage.close();
      }
      await backend.copyState('copy-from', 'copy-to');
      await expectDecryptionFailed(['show', backend.url(), 'copy-to'], withKey(key), '"copy-to"');
      // The original still reads.
      const original = await buddy(['show', backend.url(), 'copy-from', '--json'], withKey(key));
      expect(JSON.parse(original.stdout).session.sessionState).toEqual({
        secret: 'PLAINTEXT-STATE of copy-from',
      });
      // Drop the broken pair again for the next cases.
      expect((await buddy(['forget', backend.url(), '--user', 'dana'])).code).toBe(0);
      expect(
        (
          await buddy(
            ['import', backend.url(), plainExport, '--on-conflict', 'replace'],
            withKey(key),
          )
        ).code,
      ).toBe(0);
    });

    it('re-encrypts in place with buddy rekey: the new key reads everything, the old one nothing', async () => {
      const rekeyed = await buddy(
        ['rekey', backend.url(), '--new-key-file', newKeyFile],
        withKey(key),
      );
      expect(rekeyed.code, rekeyed.stderr).toBe(0);
      expect(rekeyed.stdout).toMatch(/Re-encrypted 5 sessions \(12 runs\) and 3 memories/);
      expectNoPlaintext(await backend.raw(), backend.name);
      await expectReadsBackExactly(backend.url(), newKey);
      await expectDecryptionFailed(['export', backend.url()], withKey(key));
      // Nothing is left to do a second time.
      const again = await buddy(['rekey', backend.url(), '--new-key-file', newKeyFile], {
        env: { BUDDY_ENCRYPTION_KEY: key, BUDDY_PREVIOUS_ENCRYPTION_KEYS: newKey },
      });
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toContain('Re-encrypted 0 sessions (0 runs)');
      expect(again.stdout).toContain('5 sessions already were');
    });
  });
}

describe('from plaintext to encrypted', () => {
  it('encrypts a plain place with rekey --from-plain', async () => {
    const dbFile = join(dir, 'to-encrypt.db');
    expect((await buddy(['import', `sqlite:${dbFile}`, plainExport])).code).toBe(0);
    expect(sqliteRaw(dbFile)).toContain('PLAINTEXT-STATE');
    const result = await buddy([
      'rekey',
      `sqlite:${dbFile}`,
      '--from-plain',
      '--new-key-file',
      newKeyFile,
    ]);
    expect(result.code, result.stderr).toBe(0);
    // Deleted rows can linger in free pages until SQLite reuses them: compact before looking.
    const db = new Database(dbFile);
    db.exec('VACUUM');
    db.close();
    expectNoPlaintext(sqliteRaw(dbFile), 'the SQLite file');
    await expectReadsBackExactly(`sqlite:${dbFile}`, newKey);
  });

  it('migrates a plain place into an encrypted one', async () => {
    const source = join(dir, 'plain-source.db');
    const target = join(dir, 'encrypted-target.db');
    expect((await buddy(['import', `sqlite:${source}`, plainExport])).code).toBe(0);
    const result = await buddy(
      ['migrate', `sqlite:${source}`, `sqlite:${target}`, '--from-plain'],
      withKey(key),
    );
    expect(result.code, result.stderr).toBe(0);
    expectNoPlaintext(sqliteRaw(target), 'the SQLite file');
    await expectReadsBackExactly(`sqlite:${target}`, key);
  });

  it('finishes a rekey killed half way (SIGKILL): no session lost, none left under the old key', async () => {
    const dbFile = join(dir, 'rekey-killed.db');
    const url = `sqlite:${dbFile}`;
    // Enough runs that the kill lands inside the work.
    const storage = encryptedStorage(new SqliteStorage({ dbFile }), { key });
    const memoryDb = new SqliteMemoryDb({ dbFile });
    for (let session = 0; session < 30; session++) {
      for (let turn = 0; turn < 40; turn++) {
        const sessionId = `s-${session}`;
        await storage.appendRun({
          sessionId,
          userId: `u-${session % 3}`,
          run: makeRun(sessionId, `PLAINTEXT-QUESTION ${turn}`),
          sessionState: { turn },
        });
      }
    }
    await storage.close();
    await memoryDb.close();
    const before = join(dir, 'rekey-before.jsonl');
    expect((await buddy(['export', url, '-o', before], withKey(key))).code).toBe(0);

    // Killed three times, each time a few more sessions in, wherever it happens to be then:
    // copying, restoring, or between two sessions.
    const newKeyId = encryptionKeyId(newKey);
    const rewritten = () => {
      const db = new Database(dbFile, { readonly: true });
      try {
        return (
          db
            .prepare(
              "SELECT count(*) AS n FROM buddy_sessions WHERE session_id NOT LIKE 'buddy-rekey-%' AND state LIKE ?",
            )
            .get(`%be1.${newKeyId}.%`) as { n: number }
        ).n;
      } finally {
        db.close();
      }
    };
    for (const target of [4, 12, 20]) {
      const child = spawnBuddy(['rekey', url, '--new-key-file', newKeyFile], {
        env: { BUDDY_ENCRYPTION_KEY: key },
      });
      const exited = new Promise<NodeJS.Signals | null>((resolve) =>
        child.on('exit', (_code, signal) => resolve(signal)),
      );
      while (rewritten() < target) {
        if (child.exitCode !== null) throw new Error('rekey ended before it was killed');
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
    }
    expect(rewritten()).toBeLessThan(30);

    const resumed = await runBuddy(['rekey', url, '--new-key-file', newKeyFile], {
      env: { BUDDY_ENCRYPTION_KEY: key },
    });
    expect(resumed.code, resumed.stderr).toBe(0);
    const after = join(dir, 'rekey-after.jsonl');
    expect((await buddy(['export', url, '-o', after], withKey(newKey))).code).toBe(0);
    expect(
      firstDifference(comparableLines(exportLines(after)), comparableLines(exportLines(before))),
    ).toBeUndefined();
    const db = new Database(dbFile, { readonly: true });
    expect(
      (
        db
          .prepare("SELECT count(*) AS n FROM buddy_sessions WHERE session_id LIKE 'buddy-rekey-%'")
          .get() as { n: number }
      ).n,
    ).toBe(0);
    db.close();
    expect(readdirSync(dir).length).toBeGreaterThan(0);
  }, 120_000);
});
