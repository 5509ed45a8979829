/**
 * `PostgresMemoryDb` against a real PostgreSQL: the shared memory-db suite unchanged, plus
 * ownership enforced by the writing statement, metacharacters and values jsonb cannot hold.
 */
import { BuddyError } from '@buddy/core';
import { describeMemoryDbContract, makeMemory, uniqueId } from '@buddy/testkit/storage';
import type pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  adminPool,
  dropSchema,
  POSTGRES_URL,
  requirePostgres,
  testSchema,
} from '../test/postgres-test-env.ts';
import { createPostgresMemoryDb, PostgresMemoryDb } from './postgres-memory-db.ts';

const hasPostgres = await requirePostgres();
const schema = testSchema('memory');
const admin = hasPostgres ? adminPool() : (undefined as unknown as pg.Pool);
let counter = 0;

afterAll(async () => {
  if (!hasPostgres) return;
  await dropSchema(admin, schema);
  await admin.end();
});

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
});
