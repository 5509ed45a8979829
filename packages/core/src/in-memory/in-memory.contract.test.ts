/**
 * The reference implementations pass every contract suite, from core's own test command. The
 * session suite also runs on an `InMemoryStorage` that declares no optional capability, as a
 * backend written without them: the capability cases skip (saying why) and the storage refuses
 * what it cannot do (`restoreTimes`).
 */
import type { SessionStorageCapabilities } from '@buddy/core';
import {
  describeMemoryDbContract,
  describeSessionStorageContract,
  inMemoryMemoryDbHarness,
  inMemoryStorageHarness,
} from '@buddy/testkit/storage';
import { InMemoryStorage, type InMemoryStorageOptions } from './in-memory-storage.ts';

describeSessionStorageContract('InMemoryStorage', inMemoryStorageHarness);
describeMemoryDbContract('InMemoryMemoryDb', inMemoryMemoryDbHarness);

/** An `InMemoryStorage` that declares no optional capability. */
class PlainInMemoryStorage extends InMemoryStorage {
  override readonly capabilities: SessionStorageCapabilities = {};
  constructor(options: InMemoryStorageOptions = {}) {
    super(options);
  }
}

describeSessionStorageContract('InMemoryStorage without optional capabilities', {
  ...inMemoryStorageHarness,
  create: async ({ logger }) => new PlainInMemoryStorage(logger === undefined ? {} : { logger }),
  createPeer: async (storage) =>
    new PlainInMemoryStorage({ backing: (storage as InMemoryStorage).backing }),
});
