import { BuddyError, describeValue, type Embedder, type MemoryDb } from '@buddy/core';

const METHODS = [
  'readMemories',
  'upsertMemory',
  'deleteMemory',
  'clearMemories',
  'deleteUserData',
  'searchMemories',
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

/** Checks that `value` implements the `Embedder` contract (SPEC §13.1). */
export function assertEmbedder(value: unknown, what: string): asserts value is Embedder {
  const embedder = value as Partial<Embedder> | null;
  if (typeof value !== 'object' || embedder === null || typeof embedder.embed !== 'function') {
    throw new BuddyError({
      code: 'INVALID_ARGUMENT',
      message: `${what} must be an Embedder (e.g. new OpenAIEmbedder()), got ${describeValue(value)}`,
    });
  }
  if (embedder.specificationVersion !== 'v1') {
    throw new BuddyError({
      code: 'UNSUPPORTED_SPEC_VERSION',
      message: `${what} implements embedder specification ${describeValue(embedder.specificationVersion)}; this version supports 'v1'`,
    });
  }
  if (
    typeof embedder.dimensions !== 'number' ||
    !Number.isSafeInteger(embedder.dimensions) ||
    embedder.dimensions < 1
  ) {
    throw new BuddyError({
      code: 'INVALID_ARGUMENT',
      message: `${what} must declare its dimensions (a positive integer), got ${describeValue(embedder.dimensions)}`,
    });
  }
}
