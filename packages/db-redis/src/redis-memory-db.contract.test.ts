import { BuddyError, type BuddyErrorCode, type MemoryDb } from '@buddy/core';
import { describeMemoryDbContract, makeMemory, uniqueId } from '@buddy/testkit/storage';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  deletePrefix,
  REDIS_URL,
  rawClient,
  requireRedis,
  testPrefix,
} from '../test/redis-test-env.ts';
import { RedisKeys } from './redis-keys.ts';
import {
  createRedisMemoryDb,
  RedisMemoryDb,
  type RedisMemoryDbOptions,
} from './redis-memory-db.ts';

const hasRedis = await requireRedis();

async function expectCode(
  promise: Promise<unknown> | (() => unknown),
  code: BuddyErrorCode,
  includes?: string,
): Promise<BuddyError> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    expect(BuddyError.is(error), `expected a BuddyError, got ${String(error)}`).toBe(true);
    expect((error as BuddyError).code).toBe(code);
    if (includes !== undefined) expect((error as BuddyError).message).toContain(includes);
    return error as BuddyError;
  }
  throw new Error('expected a rejection');
}

describe.skipIf(!hasRedis)('RedisMemoryDb', () => {
  const raw = hasRedis ? rawClient() : (undefined as unknown as Redis);
  const prefixes = new WeakMap<MemoryDb, string>();
  const opened: RedisMemoryDb[] = [];
  const clients: Redis[] = [];

  function open(options: RedisMemoryDbOptions = {}): RedisMemoryDb {
    const db = new RedisMemoryDb({
      ...(options.client === undefined ? { url: REDIS_URL } : {}),
      prefix: testPrefix(),
      ...options,
    });
    opened.push(db);
    return db;
  }

  function keysOf(db: MemoryDb): RedisKeys {
    return new RedisKeys((db as RedisMemoryDb).prefix);
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

  describeMemoryDbContract('RedisMemoryDb', {
    create: async () => {
      const db = new RedisMemoryDb({ url: REDIS_URL, prefix: testPrefix() });
      prefixes.set(db, db.prefix);
      return db;
    },
    corruptMemory: async (db, userId, id) => {
      await raw.hset(keysOf(db).memories(userId), id, '{ nope');
    },
    dispose: async (db) => {
      await deletePrefix(raw, prefixes.get(db) as string);
    },
  });

  describe('options', () => {
    it.each([
      [{ url: REDIS_URL, client: {} as Redis }, "'url' or option 'client'"],
      [{ url: '   ' }, "'url'"],
      [{ prefix: '{memories}' }, "'prefix'"],
      [{ ttlSeconds: 60 } as RedisMemoryDbOptions, '"ttlSeconds"'],
    ])('rejects %o naming the option', async (options, includes) => {
      await expectCode(() => new RedisMemoryDb(options), 'INVALID_ARGUMENT', includes);
    });

    it('never closes a client it was given; createRedisMemoryDb is an alias', async () => {
      const client = new Redis(REDIS_URL);
      clients.push(client);
      const db = createRedisMemoryDb({ client, prefix: testPrefix() });
      opened.push(db);
      expect(db).toBeInstanceOf(RedisMemoryDb);
      await db.upsertMemory(makeMemory('u', 'fact'));
      await db.close();
      expect(await client.ping()).toBe('PONG');
      await expectCode(db.readMemories({ userId: 'u' }), 'STORAGE_CLOSED', 'closed');
    });

    it('fails fast with STORAGE_UNAVAILABLE when the server is unreachable', async () => {
      const db = new RedisMemoryDb({ url: 'redis://127.0.0.1:1' });
      try {
        const error = await expectCode(db.readMemories({ userId: 'u' }), 'STORAGE_UNAVAILABLE');
        expect(error.retryable).toBe(true);
        expect(error.cause).toBeDefined();
        await expectCode(db.upsertMemory(makeMemory('u', 'x')), 'STORAGE_UNAVAILABLE');
      } finally {
        await db.close();
      }
    });
  });

  describe('layout and ownership', () => {
    it("keeps a user's rows in one hash and each id's owner in its own key", async () => {
      const db = open();
      const keys = keysOf(db);
      const userId = uniqueId('layout');
      const row = makeMemory(userId, 'likes tea');
      await db.upsertMemory(row);
      expect(await raw.type(keys.memories(userId))).toBe('hash');
      expect(JSON.parse((await raw.hget(keys.memories(userId), row.id)) as string)).toEqual(row);
      expect(await raw.get(keys.memoryOwner(row.id))).toBe(userId);
    });

    it('frees an id for another user only once its owner deleted it', async () => {
      const db = open();
      const keys = keysOf(db);
      const alice = uniqueId('alice');
      const bob = uniqueId('bob');
      const row = makeMemory(alice, 'a fact');
      await db.upsertMemory(row);
      await expectCode(db.upsertMemory({ ...row, userId: bob }), 'MEMORY_OWNERSHIP', row.id);
      expect(await raw.hlen(keys.memories(bob))).toBe(0);
      expect(await db.deleteMemory({ id: row.id, userId: bob })).toBe(false);
      expect(await raw.get(keys.memoryOwner(row.id))).toBe(alice);
      expect(await db.deleteMemory({ id: row.id, userId: alice })).toBe(true);
      expect(await raw.exists(keys.memoryOwner(row.id))).toBe(0);
      expect(await db.upsertMemory({ ...row, userId: bob })).toMatchObject({ userId: bob });
    });

    it('releases the claims of cleared rows, and only those', async () => {
      const db = open();
      const keys = keysOf(db);
      const alice = uniqueId('alice');
      const bob = uniqueId('bob');
      const rows = [makeMemory(alice, 'one'), makeMemory(alice, 'two')];
      for (const row of rows) await db.upsertMemory(row);
      const bobRow = makeMemory(bob, 'three');
      await db.upsertMemory(bobRow);
      expect(await db.deleteUserData(alice)).toBe(2);
      for (const row of rows) expect(await raw.exists(keys.memoryOwner(row.id))).toBe(0);
      expect(await raw.exists(keys.memories(alice))).toBe(0);
      expect(await raw.get(keys.memoryOwner(bobRow.id))).toBe(bob);
    });

    it('keeps a fractional createdAt exactly across updates', async () => {
      const db = open();
      const userId = uniqueId('exact');
      const row = makeMemory(userId, 'v1', { createdAt: 1_700_000_000_123.456, updatedAt: 1 });
      await db.upsertMemory(row);
      const updated = await db.upsertMemory({ ...row, memory: 'v2', createdAt: 5, updatedAt: 2 });
      expect(updated.createdAt).toBe(1_700_000_000_123.456);
      expect(await db.readMemories({ userId })).toEqual([{ ...row, memory: 'v2', updatedAt: 2 }]);
    });

    it('refuses to update a corrupt row, naming it', async () => {
      const db = open();
      const userId = uniqueId('corrupt');
      const row = makeMemory(userId, 'fine');
      await db.upsertMemory(row);
      await raw.hset(keysOf(db).memories(userId), row.id, '{"createdAt": "yesterday"');
      await expectCode(db.upsertMemory({ ...row, memory: 'new' }), 'STORAGE_CORRUPT', row.id);
      const other = makeMemory(userId, 'other');
      await db.upsertMemory(other);
      expect(await db.deleteMemory({ id: other.id, userId })).toBe(true);
    });
  });
});
