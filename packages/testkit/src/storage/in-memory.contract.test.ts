import { InMemoryMemoryDb, InMemoryStorage } from '@buddy/core';
import { describeMemoryDbContract } from './memory-db-contract.ts';
import { describeSessionStorageContract } from './session-storage-contract.ts';

describeSessionStorageContract('InMemoryStorage', {
  create: async () => new InMemoryStorage(),
  capabilities: { leaseReadsSession: true, appendReleasesLease: true },
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
});

describeMemoryDbContract('InMemoryMemoryDb', {
  create: async () => new InMemoryMemoryDb(),
  corruptMemory: async (db, userId, id) => {
    (db as InMemoryMemoryDb).rows.get(userId)?.set(id, '{ nope');
  },
});
