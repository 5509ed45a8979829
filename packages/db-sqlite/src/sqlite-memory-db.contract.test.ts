import type { MemoryDb } from '@buddy/core';
import { describeMemoryDbContract, makeMemory, uniqueId } from '@buddy/testkit/storage';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { expectBuddyError, tempDbFile } from '../test/helpers.ts';
import { memorySql, memoryTableNames } from './internal/memory-schema.ts';
import { createSqliteMemoryDb, SqliteMemoryDb } from './sqlite-memory-db.ts';
import { SqliteStorage } from './sqlite-storage.ts';

const names = memoryTableNames('buddy_memories');

function corruptRow(db: Database.Database, id: string, json = '{ nope'): void {
  db.prepare(`UPDATE "${names.memories}" SET memory = ? WHERE id = ?`).run(json, id);
}

// In-memory databases live inside one connection: the harness lends it and corrupts through it.
const memoryConnections = new Map<MemoryDb, Database.Database>();

describeMemoryDbContract('SqliteMemoryDb (:memory:)', {
  create: async () => {
    const db = new Database(':memory:');
    const memoryDb = new SqliteMemoryDb({ database: db });
    memoryConnections.set(memoryDb, db);
    return memoryDb;
  },
  corruptMemory: async (memoryDb, _userId, id) => {
    corruptRow(memoryConnections.get(memoryDb) as Database.Database, id);
  },
  dispose: async (memoryDb) => {
    memoryConnections.get(memoryDb)?.close();
    memoryConnections.delete(memoryDb);
  },
});

const files = new Map<MemoryDb, string>();

describeMemoryDbContract('SqliteMemoryDb (file)', {
  create: async () => {
    const file = tempDbFile();
    const memoryDb = new SqliteMemoryDb({ dbFile: file });
    files.set(memoryDb, file);
    return memoryDb;
  },
  corruptMemory: async (memoryDb, _userId, id) => {
    const raw = new Database(files.get(memoryDb) as string);
    try {
      corruptRow(raw, id);
    } finally {
      raw.close();
    }
  },
  dispose: async (memoryDb) => {
    files.delete(memoryDb);
  },
});

describe('SqliteMemoryDb (SQLite specifics)', () => {
  const toClose: { close(): unknown }[] = [];
  afterEach(async () => {
    for (const item of toClose.splice(0).reverse()) await item.close();
  });
  function track<T extends { close(): unknown }>(item: T): T {
    toClose.push(item);
    return item;
  }

  it('rejects bad options eagerly with INVALID_ARGUMENT naming the option', async () => {
    const db = track(new Database(':memory:'));
    await expectBuddyError(
      () => new SqliteMemoryDb({ dbFile: '  ' }),
      'INVALID_ARGUMENT',
      'dbFile',
    );
    await expectBuddyError(
      () => new SqliteMemoryDb({ dbFile: 'm.db', database: db }),
      'INVALID_ARGUMENT',
      'not both',
    );
    await expectBuddyError(
      () => new SqliteMemoryDb({ tableName: 'memories; DROP TABLE x' }),
      'INVALID_ARGUMENT',
      'tableName',
    );
    await expectBuddyError(
      () => new SqliteMemoryDb({ table: 'x' } as unknown as { tableName: string }),
      'INVALID_ARGUMENT',
      "'table'",
    );
    expect(track(createSqliteMemoryDb()).tableName).toBe('buddy_memories');
  });

  it('shares one file with a SqliteStorage and never closes a borrowed connection', async () => {
    const db = track(new Database(':memory:'));
    const storage = track(new SqliteStorage({ database: db }));
    const memoryDb = new SqliteMemoryDb({ database: db });
    const row = makeMemory('dana', 'likes tea');
    await memoryDb.upsertMemory(row);
    await storage.upsertSession({ sessionId: 's', userId: 'dana' });
    await memoryDb.close();
    expect(db.open).toBe(true);
    expect(await new SqliteMemoryDb({ database: db }).readMemories({ userId: 'dana' })).toEqual([
      row,
    ]);
    expect(await storage.deleteUserData('dana')).toBe(1);
  });

  it('refuses a tableName already used by a SqliteStorage in the same database', async () => {
    const db = track(new Database(':memory:'));
    track(new SqliteStorage({ database: db, tableName: 'shared' }));
    await expectBuddyError(
      () => new SqliteMemoryDb({ database: db, tableName: 'shared' }),
      'INVALID_ARGUMENT',
      'sessions',
    );
  });

  it('keeps memory dbs with different tableNames apart', async () => {
    const db = track(new Database(':memory:'));
    const work = track(new SqliteMemoryDb({ database: db, tableName: 'work' }));
    const home = track(new SqliteMemoryDb({ database: db, tableName: 'home' }));
    await work.upsertMemory(makeMemory('dana', 'at work'));
    expect(await home.readMemories({ userId: 'dana' })).toEqual([]);
    expect(await work.readMemories({ userId: 'dana' })).toHaveLength(1);
  });

  it('reopens a file without re-applying migrations and keeps the rows', async () => {
    const file = tempDbFile();
    const first = new SqliteMemoryDb({ dbFile: file });
    const row = makeMemory('dana', 'lives in Berlin', { topics: ['home'] });
    await first.upsertMemory(row);
    await first.close();
    const schema = () => {
      const raw = new Database(file, { readonly: true });
      try {
        return raw.prepare(`SELECT * FROM "${names.schema}"`).all();
      } finally {
        raw.close();
      }
    };
    const before = schema();
    expect(before).toMatchObject([
      { version: 1, component: 'memories' },
      { version: 2, component: 'memories' },
    ]);
    const second = track(new SqliteMemoryDb({ dbFile: file }));
    expect(schema()).toEqual(before);
    expect(await second.readMemories({ userId: 'dana' })).toEqual([row]);
  });

  it('refuses a file written by a newer schema version', async () => {
    const file = tempDbFile();
    await new SqliteMemoryDb({ dbFile: file }).close();
    const raw = new Database(file);
    raw.prepare(`INSERT INTO "${names.schema}" VALUES (3, 'memories', 'future', 0)`).run();
    raw.close();
    await expectBuddyError(
      () => new SqliteMemoryDb({ dbFile: file }),
      'STORAGE_UNAVAILABLE',
      'newer',
    );
  });

  it('reads, deletes and clears through the per-user index, never a table scan', () => {
    const db = track(new Database(':memory:'));
    track(new SqliteMemoryDb({ database: db }));
    const sql = memorySql(names);
    for (const [key, statement] of Object.entries(sql)) {
      const positional = (statement.match(/\?/g) ?? []).map(() => null);
      const details = (
        db.prepare(`EXPLAIN QUERY PLAN ${statement}`).all(positional) as { detail: string }[]
      )
        .map((row) => row.detail)
        .join(' | ');
      expect(details, key).not.toMatch(/\bSCAN\b/);
      expect(details, key).not.toContain('TEMP B-TREE');
      if (key === 'selectNewest' || key === 'selectOldest' || key === 'deleteUserMemories') {
        expect(details, key).toContain(`INDEX ${names.byUser}`);
      }
    }
  });

  it('treats a row whose JSON names another owner as corrupt, not as that user’s data', async () => {
    const db = track(new Database(':memory:'));
    const memoryDb = track(new SqliteMemoryDb({ database: db }));
    const row = makeMemory('alice', 'secret');
    await memoryDb.upsertMemory(row);
    corruptRow(db, row.id, JSON.stringify({ ...row, userId: 'mallory' }));
    await expectBuddyError(memoryDb.readMemories({ userId: 'alice' }), 'STORAGE_CORRUPT', row.id);
    expect(await memoryDb.readMemories({ userId: 'mallory' })).toEqual([]);
  });

  it('lets the owner overwrite a corrupt row, keeping its stored createdAt', async () => {
    const db = track(new Database(':memory:'));
    const memoryDb = track(new SqliteMemoryDb({ database: db }));
    const userId = uniqueId('u');
    const row = makeMemory(userId, 'old', { createdAt: 1000, updatedAt: 1000 });
    await memoryDb.upsertMemory(row);
    corruptRow(db, row.id);
    const repaired = await memoryDb.upsertMemory({
      ...row,
      memory: 'new',
      createdAt: 9000,
      updatedAt: 9000,
    });
    expect(repaired.createdAt).toBe(1000);
    expect(await memoryDb.readMemories({ userId })).toEqual([repaired]);
  });

  it('rejects calls after close() with STORAGE_CLOSED, and maps a read-only database', async () => {
    const file = tempDbFile();
    const memoryDb = new SqliteMemoryDb({ dbFile: file });
    await memoryDb.upsertMemory(makeMemory('dana', 'x'));
    await memoryDb.close();
    await memoryDb.close();
    const closed = await expectBuddyError(
      memoryDb.readMemories({ userId: 'dana' }),
      'STORAGE_CLOSED',
      'SqliteMemoryDb',
    );
    expect(closed.retryable).toBe(false);

    const readonly = track(
      new SqliteMemoryDb({ database: track(new Database(file, { readonly: true })) }),
    );
    expect(await readonly.readMemories({ userId: 'dana' })).toHaveLength(1);
    const error = await expectBuddyError(
      readonly.upsertMemory(makeMemory('dana', 'y')),
      'STORAGE_UNAVAILABLE',
      'SqliteMemoryDb.upsertMemory',
    );
    expect((error.cause as { code?: string }).code).toMatch(/^SQLITE_READONLY/);
  });
});
