/**
 * `encryptedStorage` and `encryptedMemoryDb` over the in-memory reference backends pass every
 * contract suite unchanged: encryption changes what is stored, never what the contract promises.
 */
import {
  describeMemoryDbContract,
  describeSessionStorageContract,
  inMemoryMemoryDbHarness,
  inMemoryStorageHarness,
} from '@buddy/testkit/storage';
import { InMemoryMemoryDb } from '../in-memory/in-memory-memory-db.ts';
import { InMemoryStorage } from '../in-memory/in-memory-storage.ts';
import type { MemoryDb } from '../spec/memory-db-v1.ts';
import type { SessionStorage } from '../spec/session-storage-v1.ts';
import { encryptedMemoryDb } from './encrypted-memory-db.ts';
import { encryptedStorage } from './encrypted-storage.ts';

const key = Buffer.alloc(32, 7);
const innerOf = new WeakMap<object, InMemoryStorage>();
const innerDbOf = new WeakMap<object, InMemoryMemoryDb>();

function wrap(inner: InMemoryStorage): SessionStorage {
  const storage = encryptedStorage(inner, { key });
  innerOf.set(storage, inner);
  return storage;
}

function inner(storage: SessionStorage): InMemoryStorage {
  const found = innerOf.get(storage);
  if (found === undefined) throw new Error('not an encrypted test storage');
  return found;
}

describeSessionStorageContract('encryptedStorage(InMemoryStorage)', {
  create: async ({ logger }) => wrap(new InMemoryStorage(logger === undefined ? {} : { logger })),
  createPeer: async (storage) => wrap(new InMemoryStorage({ backing: inner(storage).backing })),
  corruptSession: (storage, sessionId) =>
    inMemoryStorageHarness.corruptSession(inner(storage), sessionId),
  corruptRun: async (storage, sessionId) =>
    inMemoryStorageHarness.corruptRun?.(inner(storage), sessionId),
  corruptLease: async (storage, sessionId) =>
    inMemoryStorageHarness.corruptLease?.(inner(storage), sessionId),
});

describeMemoryDbContract('encryptedMemoryDb(InMemoryMemoryDb)', {
  create: async () => {
    const db = new InMemoryMemoryDb();
    const wrapped = encryptedMemoryDb(db, { key });
    innerDbOf.set(wrapped, db);
    return wrapped;
  },
  corruptMemory: (db: MemoryDb, userId, id) => {
    const found = innerDbOf.get(db);
    if (found === undefined) throw new Error('not an encrypted test db');
    return inMemoryMemoryDbHarness.corruptMemory(found, userId, id);
  },
});
