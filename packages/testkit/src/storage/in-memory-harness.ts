/**
 * Harnesses of the reference implementations (`InMemoryStorage`, `InMemoryMemoryDb`) for the
 * contract suites. `@buddy/core` runs the suites with them from its own test command, and so does
 * this package, so the executable specification always passes its own specification.
 */
import { InMemoryMemoryDb, InMemoryStorage } from '@buddy/core';
import type { MemoryDbHarness } from './memory-db-contract.ts';
import type { SessionStorageHarness } from './session-storage-contract.ts';

/** `describeSessionStorageContract('InMemoryStorage', inMemoryStorageHarness)`. */
export const inMemoryStorageHarness: SessionStorageHarness = {
  create: async ({ logger }) => new InMemoryStorage(logger === undefined ? {} : { logger }),
  // Another instance over the same backing: what a second process sees of one database.
  createPeer: async (storage) =>
    new InMemoryStorage({ backing: (storage as InMemoryStorage).backing }),
  corruptSession: async (storage, sessionId) => {
    (storage as InMemoryStorage).backing.sessions.set(sessionId, '{"sessionId": 42, oops');
  },
  corruptRun: async (storage, sessionId) => {
    const runs = (storage as InMemoryStorage).backing.runs.get(sessionId) ?? [];
    runs[0] = JSON.stringify({ runId: 'r', messages: 'not an array' });
  },
  corruptLease: async (storage, sessionId) => {
    (storage as InMemoryStorage).backing.leases.set(sessionId, 'not a lease');
  },
};

/** `describeMemoryDbContract('InMemoryMemoryDb', inMemoryMemoryDbHarness)`. */
export const inMemoryMemoryDbHarness: MemoryDbHarness = {
  create: async () => new InMemoryMemoryDb(),
  corruptMemory: async (db, userId, id) => {
    (db as InMemoryMemoryDb).rows.get(userId)?.set(id, '{ nope');
  },
};
