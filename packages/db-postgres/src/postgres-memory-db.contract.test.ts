/**
 * `PostgresMemoryDb` against a real PostgreSQL: the shared memory-db suite unchanged, plus
 * ownership enforced by the writing statement, metacharacters and values jsonb cannot hold, and
 * exact search (the same ranking and scores as the reference, extreme magnitudes).
 */
import { BuddyError, InMemoryMemoryDb } from '@buddy/core';
import { describeMemoryDbContract, makeMemory, uniqueId } from '@buddy/testkit/storage';
import { afterEach, describe, expect, it } from 'vitest';
import { POSTGRES_URL, postgresTestFile } from '../test/postgres-test-env.ts';
import { createPostgresMemoryDb, PostgresMemoryDb } from './postgres-memory-db.ts';

const { hasPostgres, schema, admin } = await postgresTestFile('memory');
let counter = 0;

function create(): PostgresMemoryDb {
  counter += 1;
  return new PostgresMemoryDb({ connectionString: POSTGRES_URL, schema, tableName: `m${counter}` });
}

describe.skipIf(!hasPostgres)('PostgresMemoryDb', () => {
  describeMemoryDbContract('PostgresMemoryDb', {
    create: async () => create(),
    corruptMemory: async (db, _userId, id) => {
      const { tableName } = db as PostgresMemoryDb;
      await admin.query(
        `UPDATE "${schema}"."${tableName}" SET body = '{"memory": 42}' WHERE id = $1`,
        [id],
      );
    },
  });

  const opened: PostgresMemoryDb[] = [];
  afterEach(async () => {
    for (const db of opened.splice(0)) await db.close();
  });

  it('refuses another user’s id in the writing statement itself, and keeps the row', async () => {
    const db = create();
    opened.push(db);
    const memory = makeMemory(uniqueId('alice'), 'likes tea');
    await db.upsertMemory(memory);
    let caught: unknown;
    try {
      await db.upsertMemory({ ...memory, userId: 'mallory', memory: 'likes coffee' });
    } catch (error) {
      caught = error;
    }
    expect(BuddyError.is(caught, 'MEMORY_OWNERSHIP')).toBe(true);
    expect(await db.deleteMemory({ id: memory.id, userId: 'mallory' })).toBe(false);
    expect(await db.readMemories({ userId: memory.userId })).toEqual([memory]);
    expect(await db.readMemories({ userId: 'mallory' })).toEqual([]);
  });

  it('validates every input before any SQL (an unreachable server still answers INVALID_ARGUMENT)', async () => {
    const db = new PostgresMemoryDb({
      connectionString: 'postgresql://postgres@127.0.0.1:1/test',
      schema,
      connectionTimeoutMs: 100,
    });
    opened.push(db);
    const calls: (() => Promise<unknown>)[] = [
      () => db.readMemories({ userId: '' }),
      () => db.upsertMemory({ userId: 'u', memory: '' }),
      () => db.deleteMemory({ id: 'x', userId: 'u', extra: 1 } as never),
      () => db.clearMemories({ userId: '\u0000' }),
      () => db.deleteUserData(''),
      () => db.readMemories({ userId: 'u', missingEmbedding: 0 }),
      () => db.upsertMemory({ userId: 'u', memory: 'x', embedding: [Number.POSITIVE_INFINITY] }),
      () => db.searchMemories({ userId: 'u', embedding: [], limit: 1 }),
      () => db.searchMemories({ userId: 'u', embedding: [1], limit: 1001 }),
    ];
    for (const call of calls) {
      let caught: unknown;
      try {
        await call();
      } catch (error) {
        caught = error;
      }
      expect(BuddyError.is(caught, 'INVALID_ARGUMENT'), String(caught)).toBe(true);
    }
  });

  it('stores metacharacters and strings jsonb cannot hold verbatim', async () => {
    const db = createPostgresMemoryDb({
      connectionString: POSTGRES_URL,
      schema,
      tableName: 'meta',
    });
    opened.push(db);
    const userId = `'); DROP TABLE meta; -- ${uniqueId('u')}`;
    const memory = makeMemory(userId, 'NUL \u0000 and half \ud83d', {
      id: `id ' " \\ $1 ${uniqueId('m')}`,
      topics: ["O'Brien", '%_'],
      input: '\ude00',
    });
    expect(await db.upsertMemory(memory)).toEqual(memory);
    expect(await db.readMemories({ userId })).toEqual([memory]);
    expect(await db.clearMemories({ userId })).toBe(1);
  });

  describe('searchMemories, exactly in SQL', () => {
    /** Deterministic numbers in [-1, 1) (a linear congruential generator). */
    function numbers(seed: number) {
      let state = seed;
      return () => {
        state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
        return (state / 2_147_483_648) * 2 - 1;
      };
    }

    it('ranks and scores exactly like the reference implementation (cosine over that user’s rows of the query’s length)', async () => {
      const db = create();
      opened.push(db);
      const reference = new InMemoryMemoryDb();
      const next = numbers(42);
      const userId = uniqueId('exact');
      const vector = (dimensions: number) =>
        Array.from({ length: dimensions }, () => next() * 10 ** Math.round(next() * 3));
      for (let index = 0; index < 80; index++) {
        const input = {
          id: `m${index}`,
          userId: index % 10 === 9 ? 'someone-else' : userId,
          memory: `fact ${index}`,
          embedding: vector(index % 5 === 4 ? 8 : 16),
          createdAt: index,
          updatedAt: index,
        };
        await db.upsertMemory(input);
        await reference.upsertMemory(input);
      }
      for (let query = 0; query < 5; query++) {
        const embedding = vector(16);
        const found = await db.searchMemories({ userId, embedding, limit: 25 });
        const expected = await reference.searchMemories({ userId, embedding, limit: 25 });
        expect(found.map((memory) => memory.id)).toEqual(expected.map((memory) => memory.id));
        for (const [index, memory] of found.entries()) {
          expect(Math.abs(memory.score - (expected[index]?.score as number))).toBeLessThan(1e-12);
          const { score: _score, ...row } = memory;
          const { score: _expectedScore, ...expectedRow } = expected[index] as typeof memory;
          expect(row).toEqual(expectedRow);
        }
      }
      // Of the 16 rows of 8 dimensions, 8 are this user's.
      expect(await db.searchMemories({ userId, embedding: vector(8), limit: 100 })).toHaveLength(8);
    });

    it('scores vectors of extreme magnitude without an overflow or underflow error', async () => {
      const db = create();
      opened.push(db);
      const userId = uniqueId('extreme');
      const huge = await db.upsertMemory({ userId, memory: 'huge', embedding: [1e200, 1e200, 0] });
      const tiny = await db.upsertMemory({ userId, memory: 'tiny', embedding: [1, 1e-170, 0] });
      const zero = await db.upsertMemory({ userId, memory: 'zero', embedding: [0, 0, 0] });
      // 1e-170 × 1e-170 underflows float8, which PostgreSQL reports as an error.
      const found = await db.searchMemories({ userId, embedding: [1, 1e-170, 0], limit: 3 });
      expect(found.map((memory) => memory.id)).toEqual([tiny.id, huge.id, zero.id]);
      expect(found[0]?.score).toBeCloseTo(1, 12);
      expect(found[1]?.score).toBeCloseTo(Math.SQRT1_2, 12);
      expect(found[2]?.score).toBe(0);
      const diagonal = await db.searchMemories({
        userId,
        embedding: [1e-200, 1e-200, 0],
        limit: 1,
      });
      expect(diagonal[0]?.id).toBe(huge.id);
      expect(diagonal[0]?.score).toBeCloseTo(1, 12);
      expect(await db.searchMemories({ userId, embedding: [0, 0, 0], limit: 1 })).toMatchObject([
        { score: 0 },
      ]);
    });
  });
});
