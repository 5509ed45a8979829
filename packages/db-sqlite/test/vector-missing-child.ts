/**
 * The child process of the missing-sqlite-vec tests. It runs with `test/hide-packages.mjs`, which
 * makes `sqlite-vec` (or only its platform binary) unresolvable as if it were not installed,
 * opens `SqliteMemoryDb({ dbFile })` on a file the parent filled (user `plain` without
 * embeddings, user `vec` with one), tries every operation and prints one JSON report on stdout.
 *
 * Argument: JSON `{ dbFile, plainId, vecId }`.
 */
import { BuddyError } from '@buddy/core';
import { makeRun } from '@buddy/testkit/storage';
import { SqliteMemoryDb } from '../src/sqlite-memory-db.ts';
import { SqliteStorage } from '../src/sqlite-storage.ts';

interface Job {
  dbFile: string;
  plainId: string;
  vecId: string;
}

const job = JSON.parse(process.argv[2] ?? '{}') as Job;

async function outcome(work: () => Promise<unknown>) {
  try {
    return { ok: true, value: await work() };
  } catch (error) {
    if (!BuddyError.is(error))
      return { ok: false, error: { isBuddyError: false, text: String(error) } };
    return {
      ok: false,
      error: {
        isBuddyError: true,
        code: error.code,
        retryable: error.retryable,
        message: error.message,
        details: error.details,
      },
    };
  }
}

const db = new SqliteMemoryDb({ dbFile: job.dbFile });
const storage = new SqliteStorage({ dbFile: job.dbFile, tableName: 'sessions' });
const vector = [1, 0, 0, 0];
const report = {
  readPlain: await outcome(() => db.readMemories({ userId: 'plain' })),
  writePlain: await outcome(() => db.upsertMemory({ userId: 'plain', memory: 'written without' })),
  writeEmbedding: await outcome(() =>
    db.upsertMemory({ userId: 'plain', memory: 'with a vector', embedding: vector }),
  ),
  writeZeroEmbedding: await outcome(() =>
    db.upsertMemory({ userId: 'plain', memory: 'all zeros', embedding: [0, 0, 0, 0] }),
  ),
  search: await outcome(() => db.searchMemories({ userId: 'vec', embedding: vector, limit: 3 })),
  missingEmbedding: await outcome(() => db.readMemories({ userId: 'vec', missingEmbedding: 4 })),
  updateEmbedded: await outcome(() =>
    db.upsertMemory({ id: job.vecId, userId: 'vec', memory: 'changed text' }),
  ),
  deleteEmbedded: await outcome(() => db.deleteMemory({ id: job.vecId, userId: 'vec' })),
  forgetEmbeddedUser: await outcome(() => db.deleteUserData('vec')),
  readVecAfter: await outcome(() => db.readMemories({ userId: 'vec' })),
  deletePlain: await outcome(() => db.deleteMemory({ id: job.plainId, userId: 'plain' })),
  forgetPlainUser: await outcome(() => db.deleteUserData('plain')),
  sessions: await outcome(async () => {
    await storage.appendRun({ sessionId: 's', run: makeRun('s', 'hi'), sessionState: {} });
    return (await storage.getSession('s'))?.runCount;
  }),
};
await db.close();
await storage.close();
process.stdout.write(`${JSON.stringify(report)}\n`);
