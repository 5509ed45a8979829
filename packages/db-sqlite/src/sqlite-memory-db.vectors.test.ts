/**
 * Embeddings in `SqliteMemoryDb` (sqlite-vec): a vector leaves no trace once its memory or user
 * is deleted, search reads one user's partition only, scores agree with the reference
 * implementation, edge vectors (all zeros, huge or tiny components) behave, and a missing
 * sqlite-vec is a clear error while memories without embeddings keep working (child processes
 * in which the package, or only its platform binary, cannot be resolved).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InMemoryMemoryDb, type MemoryDb } from '@buddy/core';
import { uniqueId } from '@buddy/testkit/storage';
import Database from 'better-sqlite3';
import * as sqliteVec from 'sqlite-vec';
import { afterEach, describe, expect, it } from 'vitest';
import { expectBuddyError, tempDbFile } from '../test/helpers.ts';
import {
  createVectorTableSql,
  memoryTableNames,
  vectorSql,
  vectorTableName,
} from './internal/memory-schema.ts';
import { SqliteMemoryDb } from './sqlite-memory-db.ts';

const packageDir = dirname(dirname(fileURLToPath(import.meta.url)));
const names = memoryTableNames('buddy_memories');

const toClose: { close(): unknown }[] = [];
afterEach(async () => {
  for (const item of toClose.splice(0).reverse()) await item.close();
});
function track<T extends { close(): unknown }>(item: T): T {
  toClose.push(item);
  return item;
}

/** A deterministic pseudo-random generator, so failures reproduce. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function randomVector(next: () => number, dimensions: number): number[] {
  return Array.from({ length: dimensions }, () => next() * 2 - 1);
}

/** The bytes of a vector as sqlite-vec stores it (unit length, 32-bit floats), in hex. */
function storedHex(values: number[]): string {
  const norm = Math.hypot(...values);
  return Buffer.from(new Float32Array(values.map((value) => value / norm)).buffer)
    .toString('hex')
    .toUpperCase();
}

/** Every byte sqlite-vec holds for vector table `dimensions`, as hex (chunks, ids, partitions). */
function vectorTableDump(db: Database.Database, dimensions: number): string {
  const table = vectorTableName(names, dimensions);
  const shadows = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE ? ESCAPE '\\'")
    .pluck()
    .all(`${table}\\_%`) as string[];
  return shadows
    .map((shadow) =>
      (db.prepare(`SELECT * FROM "${shadow}"`).raw().all() as unknown[][])
        .flat()
        .map((value) =>
          Buffer.isBuffer(value)
            ? value.toString('hex').toUpperCase()
            : Buffer.from(String(value)).toString('hex').toUpperCase(),
        )
        .join('|'),
    )
    .join('||');
}

describe('SqliteMemoryDb embeddings (sqlite-vec)', () => {
  it('leaves no trace of a vector once its memory is deleted, updated without one, or its user forgotten', async () => {
    const db = track(new Database(':memory:'));
    const memoryDb = track(new SqliteMemoryDb({ database: db }));
    const alice = uniqueId('alice');
    const secret = [0.1234, -0.5678, 0.9012, 0.3456];
    const other = [0.7, 0.1, -0.2, 0.05];
    const updated = [0.31, 0.41, 0.59, 0.26];
    const kept = await memoryDb.upsertMemory({ userId: alice, memory: 'kept', embedding: other });
    const gone = await memoryDb.upsertMemory({ userId: alice, memory: 'gone', embedding: secret });
    expect(vectorTableDump(db, 4)).toContain(storedHex(secret));
    expect(await memoryDb.deleteMemory({ id: gone.id, userId: alice })).toBe(true);
    const afterDelete = vectorTableDump(db, 4);
    expect(afterDelete).not.toContain(storedHex(secret));
    expect(afterDelete).not.toContain(Buffer.from(gone.id).toString('hex').toUpperCase());
    // Same length: rewritten in place, the old bytes are gone.
    await memoryDb.upsertMemory({ id: kept.id, userId: alice, memory: 'kept', embedding: updated });
    expect(vectorTableDump(db, 4)).not.toContain(storedHex(other));
    expect(vectorTableDump(db, 4)).toContain(storedHex(updated));
    // A new text without an embedding drops the stale vector.
    await memoryDb.upsertMemory({ id: kept.id, userId: alice, memory: 'changed' });
    expect(vectorTableDump(db, 4)).not.toContain(storedHex(updated));
    await memoryDb.upsertMemory({ id: kept.id, userId: alice, memory: 'kept', embedding: secret });
    expect(await memoryDb.deleteUserData(alice)).toBe(1);
    const afterForget = vectorTableDump(db, 4);
    expect(afterForget).not.toContain(storedHex(secret));
    // Not even the user id survives in sqlite-vec's partition bookkeeping.
    expect(afterForget).not.toContain(Buffer.from(alice).toString('hex').toUpperCase());
    expect(
      db
        .prepare(`SELECT count(*) FROM "${vectorTableName(names, 4)}"`)
        .pluck()
        .get(),
    ).toBe(0);
  });

  it('clearMemories removes the vectors of that user only', async () => {
    const memoryDb = track(new SqliteMemoryDb());
    const alice = uniqueId('alice');
    const bob = uniqueId('bob');
    await memoryDb.upsertMemory({ userId: alice, memory: 'a', embedding: [1, 0] });
    await memoryDb.upsertMemory({ userId: bob, memory: 'b', embedding: [1, 0] });
    expect(await memoryDb.clearMemories({ userId: alice })).toBe(1);
    expect(await memoryDb.searchMemories({ userId: alice, embedding: [1, 0], limit: 5 })).toEqual(
      [],
    );
    expect(
      (await memoryDb.searchMemories({ userId: bob, embedding: [1, 0], limit: 5 })).map(
        (found) => found.memory,
      ),
    ).toEqual(['b']);
  });

  it('ranks exactly like the reference implementation, with scores within float32 rounding', async () => {
    const sqlite = track(new SqliteMemoryDb());
    const reference = new InMemoryMemoryDb();
    const next = random(42);
    const users = ['u1', 'u2', 'u3'];
    for (let index = 0; index < 600; index++) {
      const row = {
        id: `m${index}`,
        userId: users[index % 3] as string,
        memory: `memory ${index}`,
        createdAt: 1000 + index,
        updatedAt: 1000 + index,
        // Mostly 24 dimensions, some of another length that must never be compared.
        embedding: randomVector(next, index % 10 === 0 ? 12 : 24),
      };
      await sqlite.upsertMemory(row);
      await reference.upsertMemory(row);
    }
    for (let trial = 0; trial < 20; trial++) {
      const query = {
        userId: users[trial % 3] as string,
        embedding: randomVector(next, 24),
        limit: 1 + (trial % 7) * 15,
      };
      const [got, want] = [
        await sqlite.searchMemories(query),
        await reference.searchMemories(query),
      ];
      expect(got.map((found) => found.id)).toEqual(want.map((found) => found.id));
      got.forEach((found, index) => {
        expect(found.score).toBeCloseTo(want[index]?.score as number, 5);
        expect(found).toEqual({ ...want[index], score: found.score });
      });
    }
  });

  it('scores an all-zero embedding 0 (ahead of memories pointing away), and an all-zero query 0 for every memory', async () => {
    const memoryDb = track(new SqliteMemoryDb());
    const userId = uniqueId('zero');
    const toward = await memoryDb.upsertMemory({ userId, memory: 'toward', embedding: [1, 0, 0] });
    const away = await memoryDb.upsertMemory({ userId, memory: 'away', embedding: [-1, 0, 0] });
    const blank = await memoryDb.upsertMemory({ userId, memory: 'blank', embedding: [0, 0, 0] });
    const found = await memoryDb.searchMemories({ userId, embedding: [1, 0, 0], limit: 10 });
    expect(found.map((memory) => [memory.id, memory.score])).toEqual([
      [toward.id, 1],
      [blank.id, 0],
      [away.id, -1],
    ]);
    expect(
      (await memoryDb.searchMemories({ userId, embedding: [2, 0, 0], limit: 2 })).map(
        (memory) => memory.id,
      ),
    ).toEqual([toward.id, blank.id]);
    // An all-zero embedding is an embedding: it is not "missing".
    expect(await memoryDb.readMemories({ userId, missingEmbedding: 3 })).toEqual([]);
    const zeroQuery = await memoryDb.searchMemories({ userId, embedding: [0, 0, 0], limit: 10 });
    expect(zeroQuery.map((memory) => memory.score)).toEqual([0, 0, 0]);
    expect(zeroQuery.map((memory) => memory.id)).toEqual([toward.id, away.id, blank.id].sort());
    expect(await memoryDb.deleteMemory({ id: blank.id, userId })).toBe(true);
    expect(
      (await memoryDb.searchMemories({ userId, embedding: [1, 0, 0], limit: 10 })).map(
        (memory) => memory.id,
      ),
    ).toEqual([toward.id, away.id]);
  });

  it('handles components far outside the 32-bit float range (cosine does not depend on scale)', async () => {
    const memoryDb = track(new SqliteMemoryDb());
    const userId = uniqueId('scale');
    await memoryDb.upsertMemory({ userId, memory: 'huge', embedding: [1e300, 1e300] });
    await memoryDb.upsertMemory({ userId, memory: 'tiny', embedding: [1e-300, -1e-300] });
    const found = await memoryDb.searchMemories({ userId, embedding: [3, 3], limit: 2 });
    expect(found.map((memory) => memory.memory)).toEqual(['huge', 'tiny']);
    expect(found[0]?.score).toBeCloseTo(1, 6);
    expect(found[1]?.score).toBeCloseTo(0, 6);
    const [best] = await memoryDb.searchMemories({ userId, embedding: [1e-40, -1e-40], limit: 1 });
    expect(best?.memory).toBe('tiny');
    expect(best?.score).toBeCloseTo(1, 6);
  });

  it('moves a vector between lengths when an embedding of another length replaces it', async () => {
    const memoryDb = track(new SqliteMemoryDb());
    const userId = uniqueId('length');
    const row = await memoryDb.upsertMemory({ userId, memory: 'x', embedding: [1, 0] });
    await memoryDb.upsertMemory({ id: row.id, userId, memory: 'x', embedding: [0, 1, 0] });
    expect(await memoryDb.searchMemories({ userId, embedding: [1, 0], limit: 5 })).toEqual([]);
    expect((await memoryDb.searchMemories({ userId, embedding: [0, 1, 0], limit: 5 }))[0]?.id).toBe(
      row.id,
    );
    expect(await memoryDb.readMemories({ userId, missingEmbedding: 2 })).toHaveLength(1);
    expect(await memoryDb.readMemories({ userId, missingEmbedding: 3 })).toEqual([]);
  });

  it('puts a vector back when its row went missing and the memory is written again', async () => {
    const db = track(new Database(':memory:'));
    const memoryDb = track(new SqliteMemoryDb({ database: db }));
    const row = await memoryDb.upsertMemory({ userId: 'dana', memory: 'x', embedding: [1, 0] });
    db.prepare(`DELETE FROM "${vectorTableName(names, 2)}" WHERE memory_id = ?`).run(row.id);
    expect(await memoryDb.searchMemories({ userId: 'dana', embedding: [1, 0], limit: 1 })).toEqual(
      [],
    );
    await memoryDb.upsertMemory({ id: row.id, userId: 'dana', memory: 'x', embedding: [1, 0] });
    expect(
      (await memoryDb.searchMemories({ userId: 'dana', embedding: [1, 0], limit: 1 }))[0]?.id,
    ).toBe(row.id);
  });

  it('writes nothing, vector included, when the memory belongs to another user', async () => {
    const db = track(new Database(':memory:'));
    const memoryDb = track(new SqliteMemoryDb({ database: db }));
    const row = await memoryDb.upsertMemory({ userId: 'alice', memory: 'a', embedding: [1, 0] });
    await expectBuddyError(
      memoryDb.upsertMemory({ id: row.id, userId: 'mallory', memory: 'b', embedding: [0, 1] }),
      'MEMORY_OWNERSHIP',
    );
    expect(
      await memoryDb.searchMemories({ userId: 'mallory', embedding: [0, 1], limit: 5 }),
    ).toEqual([]);
    expect(
      (await memoryDb.searchMemories({ userId: 'alice', embedding: [1, 0], limit: 5 }))[0]?.score,
    ).toBeCloseTo(1, 6);
    expect(
      db
        .prepare(`SELECT count(*) FROM "${vectorTableName(names, 2)}"`)
        .pluck()
        .get(),
    ).toBe(1);
  });

  it('shares vectors between connections to one file; each loads sqlite-vec when it needs it', async () => {
    const file = tempDbFile();
    const writer = track(new SqliteMemoryDb({ dbFile: file }));
    const reader = track(new SqliteMemoryDb({ dbFile: file }));
    const userId = uniqueId('shared');
    // The reader has not loaded sqlite-vec yet: its first delete of an embedded memory does.
    const row = await writer.upsertMemory({ userId, memory: 'x', embedding: [0.6, 0.8] });
    const other = await writer.upsertMemory({ userId, memory: 'y', embedding: [0.8, 0.6] });
    expect(await reader.deleteMemory({ id: other.id, userId })).toBe(true);
    expect(
      (await reader.searchMemories({ userId, embedding: [0.6, 0.8], limit: 5 })).map(
        (memory) => memory.id,
      ),
    ).toEqual([row.id]);
    expect(await reader.deleteUserData(userId)).toBe(1);
    expect(await writer.searchMemories({ userId, embedding: [0.6, 0.8], limit: 5 })).toEqual([]);
  });

  it('searches on a read-only connection, and refuses to write an embedding there', async () => {
    const file = tempDbFile();
    const writer = new SqliteMemoryDb({ dbFile: file });
    await writer.upsertMemory({ userId: 'dana', memory: 'x', embedding: [1, 0] });
    await writer.close();
    const readonly = track(
      new SqliteMemoryDb({ database: track(new Database(file, { readonly: true })) }),
    );
    expect(
      (await readonly.searchMemories({ userId: 'dana', embedding: [1, 0], limit: 1 }))[0]?.memory,
    ).toBe('x');
    // An embedding length never written: nothing to find, and nothing is created.
    expect(
      await readonly.searchMemories({ userId: 'dana', embedding: [1, 0, 0], limit: 1 }),
    ).toEqual([]);
    await expectBuddyError(
      readonly.upsertMemory({ userId: 'dana', memory: 'y', embedding: [0, 1, 0] }),
      'STORAGE_UNAVAILABLE',
      'read-only',
    );
  });

  it('uses a connection that already has sqlite-vec loaded as it is', async () => {
    const db = track(new Database(':memory:'));
    sqliteVec.load(db);
    const memoryDb = track(new SqliteMemoryDb({ database: db }));
    await memoryDb.upsertMemory({ userId: 'dana', memory: 'x', embedding: [1, 1] });
    expect(
      (await memoryDb.searchMemories({ userId: 'dana', embedding: [1, 1], limit: 1 }))[0]?.memory,
    ).toBe('x');
  });

  it.skipIf(!existsSync('/proc/self/maps'))(
    'reads a file it opened through a memory map (mmap_size), a borrowed connection through its own settings',
    async () => {
      const file = tempDbFile('mapped.db');
      const memoryDb = track(new SqliteMemoryDb({ dbFile: file }));
      await memoryDb.upsertMemory({ userId: 'dana', memory: 'x', embedding: [1, 0] });
      await memoryDb.close();
      const reopened = track(new SqliteMemoryDb({ dbFile: file }));
      await reopened.searchMemories({ userId: 'dana', embedding: [1, 0], limit: 1 });
      // The database file itself, not its -shm file (which every WAL connection maps).
      const mapped = (path: string) =>
        readFileSync('/proc/self/maps', 'utf8')
          .split('\n')
          .some((line) => line.endsWith(` ${path}`));
      expect(mapped(file)).toBe(true);
      await reopened.close();
      const borrowedFile = tempDbFile('borrowed.db');
      const borrowed = track(new Database(borrowedFile));
      const onBorrowed = track(new SqliteMemoryDb({ database: borrowed }));
      await onBorrowed.upsertMemory({ userId: 'dana', memory: 'x', embedding: [1, 0] });
      await onBorrowed.searchMemories({ userId: 'dana', embedding: [1, 0], limit: 1 });
      expect(borrowed.pragma('mmap_size', { simple: true })).toBe(0);
      expect(mapped(borrowedFile)).toBe(false);
    },
  );

  it('searches one partition (the user) with a KNN, and touches vectors by memory id only', () => {
    const db = track(new Database(':memory:'));
    track(new SqliteMemoryDb({ database: db }));
    sqliteVec.load(db);
    db.exec(createVectorTableSql(names, 8));
    const plan = (sql: string, parameters: unknown) =>
      (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(parameters) as { detail: string }[])
        .map((row) => row.detail)
        .join(' | ');
    const sql = vectorSql(names, 8);
    // sqlite-vec's plan string: "3" is a KNN query, "]" a constraint on the partition key;
    // "2!" a lookup of one row by its primary key.
    expect(plan(sql.nearest, { query: null, limit: 1, userId: 'u' })).toMatch(
      /VIRTUAL TABLE INDEX 0:3\{___\}___\]/,
    );
    expect(plan(sql.nearest, { query: null, limit: 1, userId: 'u' })).toContain(
      'SEARCH m USING INDEX sqlite_autoindex_buddy_memories_1 (id=?)',
    );
    expect(plan(sql.deleteVector, [null])).toMatch(/VIRTUAL TABLE INDEX \d+:2!/);
    expect(plan(sql.updateVector, [null, null])).toMatch(/VIRTUAL TABLE INDEX -?\d+:2!/);
  });
});

interface Outcome {
  ok: boolean;
  value?: unknown;
  error?: {
    isBuddyError: boolean;
    code?: string;
    message?: string;
    retryable?: boolean;
    details?: Record<string, unknown>;
  };
}

/** Runs test/vector-missing-child.ts with `hide` made unresolvable and returns its report. */
function runWithout(hide: string, job: unknown): Promise<Record<string, Outcome>> {
  const args = [
    '--conditions=@buddy/source',
    '--import',
    'tsx',
    '--import',
    './test/hide-packages.mjs',
    'test/vector-missing-child.ts',
    JSON.stringify(job),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: packageDir,
      env: { ...process.env, BUDDY_HIDE_PACKAGES: hide },
    });
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
        reject(new Error(`vector-missing-child exited with ${code}:\n${stderr}\n${stdout}`));
        return;
      }
      resolve(JSON.parse(line) as Record<string, Outcome>);
    });
  });
}

async function fileWithEmbeddings(): Promise<{ dbFile: string; plainId: string; vecId: string }> {
  const dbFile = tempDbFile();
  const memoryDb: MemoryDb = new SqliteMemoryDb({ dbFile });
  const plain = await memoryDb.upsertMemory({ userId: 'plain', memory: 'no vector' });
  const vec = await memoryDb.upsertMemory({
    userId: 'vec',
    memory: 'a vector',
    embedding: [1, 0, 0, 0],
  });
  await memoryDb.close();
  return { dbFile, plainId: plain.id, vecId: vec.id };
}

describe('SqliteMemoryDb without sqlite-vec (child processes)', () => {
  const needsVec = [
    'writeEmbedding',
    'writeZeroEmbedding',
    'search',
    'updateEmbedded',
    'deleteEmbedded',
    'forgetEmbeddedUser',
  ] as const;
  const works = [
    'readPlain',
    'writePlain',
    'missingEmbedding',
    'readVecAfter',
    'deletePlain',
    'forgetPlainUser',
    'sessions',
  ] as const;

  it('names the package to install for every operation on vectors, and works without it for everything else', async () => {
    const job = await fileWithEmbeddings();
    const report = await runWithout('sqlite-vec', job);
    for (const key of needsVec) {
      const error = report[key]?.error;
      expect(report[key]?.ok, key).toBe(false);
      expect(error, key).toMatchObject({
        isBuddyError: true,
        code: 'STORAGE_UNAVAILABLE',
        retryable: false,
        details: { backend: 'sqlite', package: 'sqlite-vec' },
      });
      expect(error?.message, key).toContain('pnpm add sqlite-vec@^0.1.9');
      expect(error?.message, key).toContain('not installed');
      expect(error?.message, key).toMatch(/^SqliteMemoryDb\.\w+: /);
    }
    for (const key of works)
      expect(report[key]?.ok, `${key}: ${report[key]?.error?.message}`).toBe(true);
    expect(report.readPlain?.value).toHaveLength(1);
    expect(report.missingEmbedding?.value).toEqual([]);
    // The refused writes changed nothing: the embedded memory is still there, unchanged.
    expect(report.readVecAfter?.value).toMatchObject([{ id: job.vecId, memory: 'a vector' }]);
    expect(report.sessions?.value).toBe(1);
    // And a process with sqlite-vec finds everything as it was.
    const memoryDb = track(new SqliteMemoryDb({ dbFile: job.dbFile }));
    expect(
      (await memoryDb.searchMemories({ userId: 'vec', embedding: [1, 0, 0, 0], limit: 5 })).map(
        (memory) => memory.id,
      ),
    ).toEqual([job.vecId]);
  });

  it('says the platform binary is missing when sqlite-vec is installed without it', async () => {
    const job = await fileWithEmbeddings();
    const binary = `sqlite-vec-${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}`;
    const report = await runWithout(binary, job);
    const error = report.search?.error;
    expect(error).toMatchObject({
      isBuddyError: true,
      code: 'STORAGE_UNAVAILABLE',
      retryable: false,
    });
    expect(error?.message).toContain(
      `no loadable extension for ${process.platform}-${process.arch}`,
    );
    expect(error?.message).toContain(binary);
    expect(report.writePlain?.ok).toBe(true);
  });
});
