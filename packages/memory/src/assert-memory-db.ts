import { BuddyError, describeValue, type MemoryDb } from '@buddy/core';

const METHODS = [
  'readMemories',
  'upsertMemory',
  'deleteMemory',
  'clearMemories',
  'deleteUserData',
] as const;

/** Checks a value that claims to be a `MemoryDb`; `what` names the option in the error. */
export function assertMemoryDb(value: unknown, what: string): asserts value is MemoryDb {
  const db = value as Partial<MemoryDb> | null;
  if (typeof value !== 'object' || db === null) {
    throw new BuddyError({
      code: 'INVALID_ARGUMENT',
      message: `${what} must be a MemoryDb (e.g. new InMemoryMemoryDb()), got ${describeValue(value)}`,
    });
  }
  if (db.specificationVersion !== 'v1') {
    throw new BuddyError({
      code: 'UNSUPPORTED_SPEC_VERSION',
      message: `${what} implements memory-db specification ${describeValue(db.specificationVersion)}; only 'v1' is supported`,
    });
  }
  for (const method of METHODS) {
    if (typeof db[method] !== 'function') {
      throw new BuddyError({
        code: 'INVALID_ARGUMENT',
        message: `${what} is missing the method ${method}()`,
      });
    }
  }
}
