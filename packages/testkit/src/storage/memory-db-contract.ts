/**
 * The `MemoryDb` contract suite, run unchanged by `InMemoryMemoryDb`, `SqliteMemoryDb` and
 * `RedisMemoryDb`: round trips, ordering, per-user scoping of every operation (no global clear),
 * ownership of ids, corrupt rows and idempotent close.
 */
import { randomUUID } from 'node:crypto';
import { BuddyError, type BuddyErrorCode, type MemoryDb, type UserMemory } from '@buddy/core';
import { afterEach, describe, expect, it } from 'vitest';
import { uniqueId } from './session-storage-fixtures.ts';

/** What a memory db backend supplies to `describeMemoryDbContract`. */
export interface MemoryDbHarness {
  /** A fresh, isolated db. */
  create(): Promise<MemoryDb>;
  /** Overwrites the stored row `id` of `userId` with data that cannot be parsed or validated. */
  corruptMemory(db: MemoryDb, userId: string, id: string): Promise<void>;
  /** Releases what `create` made. */
  dispose?(db: MemoryDb): Promise<void>;
}

/** A memory row with a fresh uuid. */
export function makeMemory(
  userId: string,
  memory: string,
  extra: Partial<UserMemory> = {},
): UserMemory {
  const now = extra.createdAt ?? Date.now();
  return {
    id: randomUUID(),
    userId,
    memory,
    createdAt: now,
    updatedAt: now,
    ...extra,
  };
}

async function expectCode(
  promise: Promise<unknown>,
  code: BuddyErrorCode,
  includes?: string,
): Promise<void> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(BuddyError.is(caught), `expected BuddyError ${code}, got ${String(caught)}`).toBe(true);
  expect((caught as BuddyError).code).toBe(code);
  if (includes !== undefined) expect((caught as BuddyError).message).toContain(includes);
}

/** Registers the memory-db contract cases for one backend. */
export function describeMemoryDbContract(name: string, harness: MemoryDbHarness): void {
  describe(`MemoryDb contract: ${name}`, () => {
    const created: MemoryDb[] = [];
    async function open(): Promise<MemoryDb> {
      const db = await harness.create();
      created.push(db);
      return db;
    }
    afterEach(async () => {
      for (const db of created.splice(0)) {
        await db.close();
        await harness.dispose?.(db);
      }
    });

    describe('rows: round trips and order', () => {
      it('declares specification v1', async () => {
        const db = await open();
        expect(db.specificationVersion).toBe('v1');
        expect(db.backend.length).toBeGreaterThan(0);
      });

      it('round-trips a memory exactly, unicode and topics included', async () => {
        const db = await open();
        const userId = uniqueId('user-ü');
        const memory = makeMemory(userId, 'Trinkt Hafermilch 🥛, lives in 東京', {
          topics: ['food', 'ort 📍'],
          input: 'I only drink oat milk',
        });
        expect(await db.upsertMemory(memory)).toEqual(memory);
        expect(await db.readMemories({ userId })).toEqual([memory]);
        expect(await db.readMemories({ userId: uniqueId('nobody') })).toEqual([]);
      });

      it('reads newest first by default, oldest first on request, with a limit', async () => {
        const db = await open();
        const userId = uniqueId('sorter');
        const base = Date.now();
        const rows = [0, 1, 2, 3].map((index) =>
          makeMemory(userId, `fact ${index}`, {
            createdAt: base + index * 1000,
            updatedAt: base + index * 1000,
          }),
        );
        for (const row of [rows[2], rows[0], rows[3], rows[1]] as UserMemory[])
          await db.upsertMemory(row);
        expect((await db.readMemories({ userId })).map((row) => row.memory)).toEqual([
          'fact 3',
          'fact 2',
          'fact 1',
          'fact 0',
        ]);
        expect(
          (await db.readMemories({ userId, sort: 'oldest' })).map((row) => row.memory),
        ).toEqual(['fact 0', 'fact 1', 'fact 2', 'fact 3']);
        expect((await db.readMemories({ userId, limit: 2 })).map((row) => row.memory)).toEqual([
          'fact 3',
          'fact 2',
        ]);
        expect(
          (await db.readMemories({ userId, limit: 1, sort: 'oldest' })).map((row) => row.memory),
        ).toEqual(['fact 0']);
      });

      it('updates a row in place and keeps its createdAt', async () => {
        const db = await open();
        const userId = uniqueId('updater');
        const original = makeMemory(userId, 'likes tea', { createdAt: 1000, updatedAt: 1000 });
        await db.upsertMemory(original);
        const updated = await db.upsertMemory({
          ...original,
          memory: 'likes green tea',
          topics: ['drinks'],
          createdAt: 5000,
          updatedAt: 6000,
        });
        expect(updated).toMatchObject({
          id: original.id,
          memory: 'likes green tea',
          createdAt: 1000,
          updatedAt: 6000,
        });
        const rows = await db.readMemories({ userId });
        expect(rows).toHaveLength(1);
        expect(rows[0]).toMatchObject({
          memory: 'likes green tea',
          topics: ['drinks'],
          createdAt: 1000,
        });
      });
    });

    describe('ownership and per-user scope', () => {
      it("never lets one user overwrite or delete another user's row", async () => {
        const db = await open();
        const alice = uniqueId('alice');
        const mallory = uniqueId('mallory');
        const row = makeMemory(alice, 'allergic to nuts');
        await db.upsertMemory(row);
        await expectCode(
          db.upsertMemory({ ...row, userId: mallory, memory: 'hacked' }),
          'MEMORY_OWNERSHIP',
          row.id,
        );
        expect(await db.deleteMemory({ id: row.id, userId: mallory })).toBe(false);
        expect(await db.readMemories({ userId: mallory })).toEqual([]);
        expect(await db.readMemories({ userId: alice })).toEqual([row]);
        expect(await db.deleteMemory({ id: row.id, userId: alice })).toBe(true);
        expect(await db.deleteMemory({ id: row.id, userId: alice })).toBe(false);
        expect(await db.readMemories({ userId: alice })).toEqual([]);
      });

      it('clears and deletes one user only', async () => {
        const db = await open();
        const alice = uniqueId('alice');
        const bob = uniqueId('bob');
        for (let index = 0; index < 3; index++)
          await db.upsertMemory(makeMemory(alice, `a${index}`));
        for (let index = 0; index < 2; index++) await db.upsertMemory(makeMemory(bob, `b${index}`));
        expect(await db.clearMemories({ userId: alice })).toBe(3);
        expect(await db.readMemories({ userId: alice })).toEqual([]);
        expect(await db.readMemories({ userId: bob })).toHaveLength(2);
        await db.upsertMemory(makeMemory(alice, 'again'));
        expect(await db.deleteUserData(bob)).toBe(2);
        expect(await db.readMemories({ userId: bob })).toEqual([]);
        expect(await db.readMemories({ userId: alice })).toHaveLength(1);
        expect(await db.clearMemories({ userId: uniqueId('nobody') })).toBe(0);
      });
    });

    describe('concurrency', () => {
      it('keeps every row written concurrently', async () => {
        const db = await open();
        const userId = uniqueId('burst');
        const rows = Array.from({ length: 40 }, (_, index) => makeMemory(userId, `fact ${index}`));
        await Promise.all(rows.map((row) => db.upsertMemory(row)));
        const stored = await db.readMemories({ userId });
        expect(stored).toHaveLength(40);
        expect(new Set(stored.map((row) => row.id))).toEqual(new Set(rows.map((row) => row.id)));
      });
    });

    describe('input validation and corruption', () => {
      it('rejects bad input with INVALID_ARGUMENT naming the value', async () => {
        const db = await open();
        await expectCode(db.readMemories({ userId: '' }), 'INVALID_ARGUMENT', 'userId');
        await expectCode(db.readMemories({ userId: 'u', limit: 0 }), 'INVALID_ARGUMENT', 'limit');
        await expectCode(
          db.readMemories({ userId: 'u', sort: 'sideways' as 'newest' }),
          'INVALID_ARGUMENT',
          'sideways',
        );
        await expectCode(
          db.upsertMemory({ ...makeMemory('u', 'x'), memory: 42 as unknown as string }),
          'INVALID_ARGUMENT',
          'memory',
        );
        await expectCode(
          db.upsertMemory({ ...makeMemory('u', 'x'), userId: '' }),
          'INVALID_ARGUMENT',
          'userId',
        );
        await expectCode(db.clearMemories({ userId: '' }), 'INVALID_ARGUMENT', 'userId');
      });

      it('reports a corrupt row as STORAGE_CORRUPT naming it; other users keep working', async () => {
        const db = await open();
        const alice = uniqueId('alice');
        const bob = uniqueId('bob');
        const row = makeMemory(alice, 'fine');
        await db.upsertMemory(row);
        await db.upsertMemory(makeMemory(bob, 'also fine'));
        await harness.corruptMemory(db, alice, row.id);
        await expectCode(db.readMemories({ userId: alice }), 'STORAGE_CORRUPT', row.id);
        expect(await db.readMemories({ userId: bob })).toHaveLength(1);
        // The owner can still clear the broken row.
        expect(await db.clearMemories({ userId: alice })).toBe(1);
        expect(await db.readMemories({ userId: alice })).toEqual([]);
      });
    });

    describe('writes without an id, and bad input', () => {
      it('generates the id and timestamps of a memory written without them, and returns the stored row', async () => {
        const db = await open();
        const userId = uniqueId('new-memory');
        const before = Date.now();
        const stored = await db.upsertMemory({
          userId,
          memory: 'Likes oat milk',
          topics: ['food'],
        });
        expect(stored.id).toMatch(/^[0-9a-f-]{36}$/);
        expect(stored.createdAt).toBeGreaterThanOrEqual(before);
        expect(stored.updatedAt).toBe(stored.createdAt);
        expect(stored).toMatchObject({ userId, memory: 'Likes oat milk', topics: ['food'] });
        expect(await db.readMemories({ userId })).toEqual([stored]);
        const second = await db.upsertMemory({ userId, memory: 'Lives in Lisbon' });
        expect(second.id).not.toBe(stored.id);
        expect(await db.readMemories({ userId })).toHaveLength(2);
      });

      it('refuses malformed memories, bad ids and unknown keys, storing nothing', async () => {
        const db = await open();
        const userId = uniqueId('strict');
        const bad: [unknown, string][] = [
          [{ userId, memory: '' }, 'memory'],
          [{ userId, memory: 42 }, 'memory'],
          [{ userId: 'dana\ud800', memory: 'x' }, 'userId'],
          [{ userId, memory: 'x', id: 'a\u0000b' }, 'id'],
          [{ userId, memory: 'x', topics: ['a', 1] }, 'topics'],
          [{ userId, memory: 'x', createdAt: Number.NaN }, 'createdAt'],
          [{ userId, memory: 'x', memroy: 'typo' }, 'memroy'],
          [null, 'upsertMemory'],
        ];
        for (const [input, includes] of bad) {
          await expectCode(
            db.upsertMemory(input as Parameters<MemoryDb['upsertMemory']>[0]),
            'INVALID_ARGUMENT',
            includes,
          );
        }
        expect(await db.readMemories({ userId })).toEqual([]);
      });

      it('answers null, missing and misspelled inputs with INVALID_ARGUMENT, never a TypeError', async () => {
        const db = await open();
        const calls: [() => Promise<unknown>, string][] = [
          [() => (db.clearMemories as (input?: unknown) => Promise<number>)(), 'clearMemories'],
          [() => db.clearMemories(null as unknown as { userId: string }), 'clearMemories'],
          [() => db.readMemories(null as unknown as { userId: string }), 'readMemories'],
          [
            () => db.readMemories({ userId: 'u', limt: 3 } as unknown as { userId: string }),
            'limt',
          ],
          [
            () => db.deleteMemory({ id: 'x' } as unknown as { id: string; userId: string }),
            'userId',
          ],
          [
            () =>
              db.deleteMemory({ id: 'x', userId: 'u', user: 'v' } as unknown as {
                id: string;
                userId: string;
              }),
            'user',
          ],
          [() => db.deleteUserData(null as unknown as string), 'userId'],
        ];
        for (const [call, includes] of calls)
          await expectCode(call(), 'INVALID_ARGUMENT', includes);
      });
    });

    describe('closing', () => {
      it('rejects every call after close() with STORAGE_CLOSED, and closes idempotently', async () => {
        const db = await harness.create();
        await db.close();
        await db.close();
        const userId = uniqueId('closed');
        await expectCode(db.readMemories({ userId }), 'STORAGE_CLOSED');
        await expectCode(db.upsertMemory({ userId, memory: 'x' }), 'STORAGE_CLOSED');
        await expectCode(db.deleteMemory({ id: 'x', userId }), 'STORAGE_CLOSED');
        await expectCode(db.clearMemories({ userId }), 'STORAGE_CLOSED');
        await expectCode(db.deleteUserData(userId), 'STORAGE_CLOSED');
        await harness.dispose?.(db);
      });

      it('supports await using (Symbol.asyncDispose closes it)', async () => {
        const db = await harness.create();
        expect(typeof db[Symbol.asyncDispose]).toBe('function');
        await db[Symbol.asyncDispose]?.();
        await expectCode(db.readMemories({ userId: 'u' }), 'STORAGE_CLOSED');
        await harness.dispose?.(db);
      });
    });
  });
}
