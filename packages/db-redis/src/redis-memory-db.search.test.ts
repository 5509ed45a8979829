/**
 * Embeddings and exact search on Redis: the stored vector is the given one, bit for bit, on the
 * user's slot, written and deleted with its row; `searchMemories` ranks exactly like the
 * in-memory reference (same scores, same order, ties by id), and never answers with a memory
 * deleted or re-embedded between its two reads.
 */
import { InMemoryMemoryDb, type MemoryDb, type UpsertMemoryInput } from '@buddy/core';
import { expectBuddyError } from '@buddy/testkit/fetch';
import { uniqueId } from '@buddy/testkit/storage';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import {
  deletePrefix,
  hashTagOf,
  REDIS_URL,
  rawClient,
  requireRedis,
  testPrefix,
} from '../test/redis-test-env.ts';
import { RedisKeys } from './redis-keys.ts';
import { RedisMemoryDb } from './redis-memory-db.ts';

const hasRedis = await requireRedis();

/** A small deterministic PRNG (mulberry32), so failures reproduce. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function vector(next: () => number, dimensions: number): number[] {
  return Array.from({ length: dimensions }, () => next() * 2 - 1);
}

describe.skipIf(!hasRedis)('RedisMemoryDb: embeddings and searchMemories', () => {
  const raw = hasRedis ? rawClient() : (undefined as unknown as Redis);
  const opened: RedisMemoryDb[] = [];
  const clients: Redis[] = [];

  function open(options: { client?: Redis; prefix?: string } = {}): RedisMemoryDb {
    const db = new RedisMemoryDb({
      ...(options.client === undefined ? { url: REDIS_URL } : { client: options.client }),
      prefix: options.prefix ?? testPrefix(),
    });
    opened.push(db);
    return db;
  }

  function ownClient(): Redis {
    const client = new Redis(REDIS_URL);
    clients.push(client);
    return client;
  }

  afterEach(async () => {
    for (const db of opened.splice(0)) {
      await db.close();
      await deletePrefix(raw, db.prefix);
    }
    for (const client of clients.splice(0)) client.disconnect();
  });

  afterAll(async () => {
    await raw.quit();
  });

  it('ranks exactly like InMemoryMemoryDb: same scores to the last bit, same order, ties by id', async () => {
    const db = open();
    const reference = new InMemoryMemoryDb();
    const next = random(42);
    const userId = uniqueId('same');
    const rows: UpsertMemoryInput[] = [];
    for (let index = 0; index < 60; index++) {
      const dimensions = index % 10 === 9 ? 5 : 16;
      rows.push({
        id: `m-${String(index).padStart(2, '0')}`,
        userId,
        memory: `fact ${index}`,
        createdAt: 1_000 + index,
        updatedAt: 2_000 + index,
        embedding: vector(next, dimensions),
      });
    }
    // Ties: equal vectors, a scaled copy (same cosine), and an all-zero vector (score 0).
    const tie = vector(next, 16);
    rows.push(
      { id: 'tie-b', userId, memory: 'tie b', createdAt: 1, updatedAt: 1, embedding: tie },
      { id: 'tie-a', userId, memory: 'tie a', createdAt: 1, updatedAt: 1, embedding: tie },
      {
        id: 'tie-c',
        userId,
        memory: 'tie c',
        createdAt: 1,
        updatedAt: 1,
        embedding: tie.map((value) => value * 4),
      },
      {
        id: 'zero',
        userId,
        memory: 'zero',
        createdAt: 1,
        updatedAt: 1,
        embedding: Array(16).fill(0),
      },
      { id: 'plain', userId, memory: 'no vector', createdAt: 1, updatedAt: 1 },
    );
    for (const row of rows) {
      await db.upsertMemory(row);
      await reference.upsertMemory(row);
    }
    const queries = [tie, vector(next, 16), vector(next, 16), vector(next, 5), Array(16).fill(0)];
    for (const embedding of queries) {
      for (const limit of [1, 3, 10, 1000]) {
        const found = await db.searchMemories({ userId, embedding, limit });
        expect(found).toEqual(await reference.searchMemories({ userId, embedding, limit }));
      }
    }
    const top = await db.searchMemories({ userId, embedding: tie, limit: 3 });
    expect(top.map((memory) => memory.id).sort()).toEqual(['tie-a', 'tie-b', 'tie-c']);
    expect(await db.searchMemories({ userId, embedding: vector(next, 7), limit: 5 })).toEqual([]);
  });

  it("stores the vector bit for bit on the user's slot, and drops it with the row", async () => {
    const db = open();
    const keys = new RedisKeys(db.prefix);
    const userId = uniqueId('{braced}');
    const embedding = [0.1, 1 / 3, -0, 1e-300, -1e300, Number.MIN_VALUE, 2 ** 53 + 2];
    const row = await db.upsertMemory({ userId, memory: 'exact', embedding });
    expect(hashTagOf(keys.memoryEmbeddings(userId))).toBe(hashTagOf(keys.memories(userId)));
    const bytes = (await raw.hgetBuffer(keys.memoryEmbeddings(userId), row.id)) as Buffer;
    expect(bytes.length).toBe(embedding.length * 8);
    const decoded = Array.from({ length: embedding.length }, (_, index) =>
      bytes.readDoubleLE(index * 8),
    );
    expect(decoded).toEqual(embedding);
    expect(Object.is(decoded[2], -0)).toBe(true);
    // The row itself carries no vector: reading memories never moves them.
    expect(
      JSON.parse((await raw.hget(keys.memories(userId), row.id)) as string),
    ).not.toHaveProperty('embedding');
    await db.upsertMemory({ id: row.id, userId, memory: 'changed' });
    expect(await raw.hexists(keys.memoryEmbeddings(userId), row.id)).toBe(0);
    await db.upsertMemory({ id: row.id, userId, memory: 'again', embedding });
    expect(await db.deleteMemory({ id: row.id, userId })).toBe(true);
    expect(await raw.exists(keys.memoryEmbeddings(userId))).toBe(0);
    for (let index = 0; index < 3; index++) {
      await db.upsertMemory({ userId, memory: `m${index}`, embedding: [index, 1] });
    }
    expect(await db.clearMemories({ userId })).toBe(3);
    expect(await raw.exists(keys.memoryEmbeddings(userId), keys.memories(userId))).toBe(0);
    await db.upsertMemory({ userId, memory: 'last', embedding: [1, 1] });
    expect(await db.deleteUserData(userId)).toBe(1);
    expect(await raw.exists(keys.memoryEmbeddings(userId))).toBe(0);
  });

  it('writes nothing, not even the id claim, for a malformed embedding', async () => {
    const db = open();
    const keys = new RedisKeys(db.prefix);
    const userId = uniqueId('bad');
    await expectBuddyError(
      db.upsertMemory({ id: 'kept-free', userId, memory: 'x', embedding: [1, Number.NaN] }),
      'INVALID_ARGUMENT',
      'embedding',
    );
    expect(await raw.exists(keys.memoryOwner('kept-free'), keys.memories(userId))).toBe(0);
  });

  it('writes nothing when the embeddings key has the wrong type, naming the user', async () => {
    const db = open();
    const keys = new RedisKeys(db.prefix);
    const userId = uniqueId('wrong-type');
    const row = await db.upsertMemory({ userId, memory: 'before' });
    await raw.set(keys.memoryEmbeddings(userId), 'not a hash');
    await expectBuddyError(
      db.upsertMemory({ id: row.id, userId, memory: 'after', embedding: [1, 2] }),
      'STORAGE_CORRUPT',
      userId,
    );
    expect((await db.readMemories({ userId })).map((memory) => memory.memory)).toEqual(['before']);
  });

  it('finds rows written before 0.2 as missing their embedding, in the requested order and limit', async () => {
    const db = open();
    const keys = new RedisKeys(db.prefix);
    const userId = uniqueId('legacy');
    for (const [id, createdAt] of [
      ['old-1', 10],
      ['old-2', 20],
    ] as const) {
      await raw.hset(
        keys.memories(userId),
        id,
        JSON.stringify({ createdAt, id, userId, memory: id, updatedAt: createdAt }),
      );
    }
    await db.upsertMemory({ id: 'new', userId, memory: 'new', createdAt: 30, embedding: [1, 2] });
    await db.upsertMemory({ id: 'other', userId, memory: 'other', createdAt: 40, embedding: [1] });
    const missing = await db.readMemories({ userId, missingEmbedding: 2 });
    expect(missing.map((memory) => memory.id)).toEqual(['other', 'old-2', 'old-1']);
    expect(
      (await db.readMemories({ userId, missingEmbedding: 2, sort: 'oldest', limit: 2 })).map(
        (memory) => memory.id,
      ),
    ).toEqual(['old-1', 'old-2']);
    expect((await db.readMemories({ userId })).map((memory) => memory.id)).toEqual([
      'other',
      'new',
      'old-2',
      'old-1',
    ]);
  });

  /** Makes `work` run once, right before the search's second read (the winners' rows). */
  function beforeSecondRead(client: Redis, work: () => Promise<unknown>, times = 1): void {
    const multi = client.multi.bind(client);
    let left = times;
    client.multi = ((...args: Parameters<typeof client.multi>) => {
      const transaction = multi(...(args as []));
      const exec = transaction.exec.bind(transaction);
      transaction.exec = (async () => {
        if (left > 0) {
          left--;
          await work();
        }
        return exec();
      }) as typeof transaction.exec;
      return transaction;
    }) as typeof client.multi;
  }

  it('ranks again when a winner is re-embedded or deleted between its two reads', async () => {
    const client = ownClient();
    const db = open({ client });
    const other: MemoryDb = open({ prefix: db.prefix });
    const userId = uniqueId('race');
    const axis = (index: number) => Array.from({ length: 4 }, (_, at) => (at === index ? 1 : 0));
    const best = await db.upsertMemory({ userId, memory: 'best', embedding: [1, 0.1, 0, 0] });
    const second = await db.upsertMemory({ userId, memory: 'second', embedding: [1, 0.5, 0, 0] });
    const third = await db.upsertMemory({ userId, memory: 'third', embedding: [1, 1, 0, 0] });
    await db.upsertMemory({ userId, memory: 'far', embedding: [-1, 0, 0, 1] });
    // Re-embedded away from the query after it was ranked first.
    beforeSecondRead(client, () =>
      other.upsertMemory({ id: best.id, userId, memory: 'moved', embedding: axis(2) }),
    );
    const found = await db.searchMemories({ userId, embedding: axis(0), limit: 2 });
    expect(found.map((memory) => memory.id)).toEqual([second.id, third.id]);
    const reference = await db.searchMemories({ userId, embedding: axis(0), limit: 2 });
    expect(found).toEqual(reference);
    // Deleted after it was ranked: the page is still full.
    beforeSecondRead(client, () => other.deleteMemory({ id: second.id, userId }));
    const afterDelete = await db.searchMemories({ userId, embedding: axis(0), limit: 2 });
    expect(afterDelete.map((memory) => memory.id)).toEqual([third.id, best.id]);
    expect(afterDelete[1]?.memory).toBe('moved');
    expect(afterDelete[1]?.score).toBe(0);
  });

  it('returns only unchanged winners when they keep changing, and never a stale score', async () => {
    const client = ownClient();
    const db = open({ client });
    const other: MemoryDb = open({ prefix: db.prefix });
    const userId = uniqueId('churn');
    const hot = await db.upsertMemory({ userId, memory: 'hot', embedding: [1, 0] });
    const calm = await db.upsertMemory({ userId, memory: 'calm', embedding: [1, 1] });
    let flip = 0;
    beforeSecondRead(
      client,
      () =>
        other.upsertMemory({
          id: hot.id,
          userId,
          memory: 'hot',
          embedding: [1, (flip += 0.001)],
        }),
      10,
    );
    const spy = vi.spyOn(client, 'callBuffer');
    const found = await db.searchMemories({ userId, embedding: [1, 0], limit: 2 });
    expect(spy.mock.calls.filter(([command]) => command === 'HGETALL')).toHaveLength(3);
    expect(found.map((memory) => memory.id)).toEqual([calm.id]);
    expect(found[0]?.score).toBeCloseTo(Math.SQRT1_2, 12);
  });

  it('skips a vector without its row, without searching again', async () => {
    const client = ownClient();
    const db = open({ client });
    const keys = new RedisKeys(db.prefix);
    const userId = uniqueId('orphan');
    const row = await db.upsertMemory({ userId, memory: 'real', embedding: [1, 0] });
    const ghost = Buffer.alloc(16);
    ghost.writeDoubleLE(1, 0);
    await raw.hset(keys.memoryEmbeddings(userId), 'ghost', ghost);
    const spy = vi.spyOn(client, 'callBuffer');
    const found = await db.searchMemories({ userId, embedding: [1, 0], limit: 5 });
    expect(found.map((memory) => memory.id)).toEqual([row.id]);
    expect(spy.mock.calls.filter(([command]) => command === 'HGETALL')).toHaveLength(1);
  });
});
