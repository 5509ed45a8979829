/**
 * `encryptedStorage` and `encryptedMemoryDb` over the real backends (SQLite file, Redis,
 * PostgreSQL) pass the storage and memory-db contract suites unchanged. Corruption is written
 * behind the wrappers' and the backends' backs, as each backend's own suite does.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  encryptedMemoryDb,
  encryptedStorage,
  type MemoryDb,
  type SessionStorage,
} from '@buddy/core';
import { PostgresMemoryDb, PostgresStorage } from '@buddy/db-postgres';
import { RedisMemoryDb, RedisStorage } from '@buddy/db-redis';
import { SqliteMemoryDb, SqliteStorage } from '@buddy/db-sqlite';
import { describeMemoryDbContract, describeSessionStorageContract } from '@buddy/testkit/storage';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe } from 'vitest';
import {
  POSTGRES_URL,
  REDIS_URL,
  redisKeys,
  requirePostgres,
  requireRedis,
} from '../test/services.ts';

const key = randomBytes(32);
const dir = mkdtempSync(join(tmpdir(), 'buddy-encrypted-contract-'));
const hasRedis = await requireRedis();
const hasPostgres = await requirePostgres();
const schema = `buddy_cli_contract_${randomBytes(5).toString('hex')}`;
const redis = hasRedis ? new Redis(REDIS_URL) : undefined;
const admin = hasPostgres ? new pg.Pool({ connectionString: POSTGRES_URL, max: 2 }) : undefined;

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (redis !== undefined) {
    for (const key of await redisKeys(redis, 'buddy-cli-enc-')) await redis.del(key);
    redis.disconnect();
  }
  if (admin !== undefined) {
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  }
});

/** What each wrapped storage was made of: its backend object and where its data is. */
interface Made {
  inner: SessionStorage | MemoryDb;
  place: string;
}
const made = new WeakMap<object, Made>();
let counter = 0;

function remember<T extends object>(
  wrapped: T,
  inner: SessionStorage | MemoryDb,
  place: string,
): T {
  made.set(wrapped, { inner, place });
  return wrapped;
}

function placeOf(wrapped: object): string {
  const found = made.get(wrapped);
  if (found === undefined) throw new Error('not made by this harness');
  return found.place;
}

function sqlite(file: string, work: (db: Database.Database) => void): void {
  const db = new Database(file);
  try {
    work(db);
  } finally {
    db.close();
  }
}

describeSessionStorageContract('encryptedStorage(SqliteStorage, file)', {
  create: async ({ logger }) => {
    const file = join(dir, `s${++counter}.db`);
    const inner = new SqliteStorage({ dbFile: file, ...(logger === undefined ? {} : { logger }) });
    return remember(encryptedStorage(inner, { key }), inner, file);
  },
  createPeer: async (storage) => {
    const file = placeOf(storage);
    const inner = new SqliteStorage({ dbFile: file });
    return remember(encryptedStorage(inner, { key }), inner, file);
  },
  corruptSession: async (storage, sessionId) => {
    sqlite(placeOf(storage), (db) => {
      db.prepare(
        `UPDATE buddy_sessions SET state = '{"cart": [oops', created_at = 'yesterday' WHERE session_id = ?`,
      ).run(sessionId);
    });
  },
  corruptRun: async (storage, sessionId) => {
    sqlite(placeOf(storage), (db) => {
      db.prepare('UPDATE "buddy_sessions$runs" SET run = ? WHERE session_id = ? AND idx = 0').run(
        JSON.stringify({ runId: 'r', messages: 'not an array' }),
        sessionId,
      );
    });
  },
  corruptLease: async (storage, sessionId) => {
    sqlite(placeOf(storage), (db) => {
      db.prepare(
        `INSERT INTO "buddy_sessions$leases" (session_id, token, expires_at) VALUES (?, 'tok', 'soon')
         ON CONFLICT (session_id) DO UPDATE SET expires_at = 'soon'`,
      ).run(sessionId);
    });
  },
});

describeMemoryDbContract('encryptedMemoryDb(SqliteMemoryDb, file)', {
  create: async () => {
    const file = join(dir, `m${++counter}.db`);
    const inner = new SqliteMemoryDb({ dbFile: file });
    return remember(encryptedMemoryDb(inner, { key }), inner, file);
  },
  corruptMemory: async (db, _userId, id) => {
    sqlite(placeOf(db), (raw) => {
      raw.prepare('UPDATE buddy_memories SET memory = ? WHERE id = ?').run('{ nope', id);
    });
  },
});

describe.skipIf(!hasRedis)('on Redis', () => {
  const raw = redis as Redis;
  const prefix = () => `buddy-cli-enc-${randomBytes(5).toString('hex')}:`;
  describeSessionStorageContract('encryptedStorage(RedisStorage)', {
    create: async ({ logger }) => {
      const place = prefix();
      const inner = new RedisStorage({
        url: REDIS_URL,
        prefix: place,
        ...(logger === undefined ? {} : { logger }),
      });
      return remember(encryptedStorage(inner, { key }), inner, place);
    },
    createPeer: async (storage) => {
      const place = placeOf(storage);
      const inner = new RedisStorage({ url: REDIS_URL, prefix: place });
      return remember(encryptedStorage(inner, { key }), inner, place);
    },
    corruptSession: async (storage, sessionId) => {
      await raw.hset(`${placeOf(storage)}s:{${sessionId}}`, 'state', '{"sessionId": 42, oops');
    },
    corruptRun: async (storage, sessionId) => {
      await raw.lset(
        `${placeOf(storage)}r:{${sessionId}}`,
        0,
        JSON.stringify({ runId: 'r', messages: 'not an array' }),
      );
    },
    corruptLease: async (storage, sessionId) => {
      const lease = `${placeOf(storage)}l:{${sessionId}}`;
      await raw.del(lease);
      await raw.hset(lease, 'not', 'a lease');
    },
  });
  describeMemoryDbContract('encryptedMemoryDb(RedisMemoryDb)', {
    create: async () => {
      const place = prefix();
      const inner = new RedisMemoryDb({ url: REDIS_URL, prefix: place });
      return remember(encryptedMemoryDb(inner, { key }), inner, place);
    },
    corruptMemory: async (db, userId, id) => {
      await raw.hset(`${placeOf(db)}m:{${userId}}`, id, '{ nope');
    },
  });
});

describe.skipIf(!hasPostgres)('on PostgreSQL', () => {
  const pool = admin as pg.Pool;
  describeSessionStorageContract('encryptedStorage(PostgresStorage)', {
    create: async ({ logger }) => {
      const tablePrefix = `t${++counter}_`;
      const inner = new PostgresStorage({
        connectionString: POSTGRES_URL,
        schema,
        tablePrefix,
        ...(logger === undefined ? {} : { logger }),
      });
      return remember(encryptedStorage(inner, { key }), inner, tablePrefix);
    },
    createPeer: async (storage) => {
      const tablePrefix = placeOf(storage);
      const inner = new PostgresStorage({ connectionString: POSTGRES_URL, schema, tablePrefix });
      return remember(encryptedStorage(inner, { key }), inner, tablePrefix);
    },
    corruptSession: async (storage, sessionId) => {
      await pool.query(
        `UPDATE "${schema}"."${placeOf(storage)}sessions" SET state = '["not", "an", "object"]', summary = '{"summary": 42}' WHERE session_id = $1`,
        [sessionId],
      );
    },
    corruptRun: async (storage, sessionId) => {
      await pool.query(
        `UPDATE "${schema}"."${placeOf(storage)}runs" SET run = '{"runId": "r", "messages": "not an array"}' WHERE session_id = $1 AND idx = 0`,
        [sessionId],
      );
    },
    corruptLease: async (storage, sessionId) => {
      await pool.query(
        `INSERT INTO "${schema}"."${placeOf(storage)}leases" (session_id, token, expires_at) VALUES ($1, NULL, NULL)
         ON CONFLICT (session_id) DO UPDATE SET token = NULL, expires_at = NULL`,
        [sessionId],
      );
    },
  });
  describeMemoryDbContract('encryptedMemoryDb(PostgresMemoryDb)', {
    create: async () => {
      const tableName = `m${++counter}`;
      const inner = new PostgresMemoryDb({ connectionString: POSTGRES_URL, schema, tableName });
      return remember(encryptedMemoryDb(inner, { key }), inner, tableName);
    },
    corruptMemory: async (db, _userId, id) => {
      await pool.query(
        `UPDATE "${schema}"."${placeOf(db)}" SET body = '{"memory": 42}' WHERE id = $1`,
        [id],
      );
    },
  });
});
