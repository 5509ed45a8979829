/**
 * Opens the place a storage URL names: its `SessionStorage` and `MemoryDb`, from the storage
 * package of that kind (`@buddy/db-sqlite`, `@buddy/db-redis`, `@buddy/db-postgres`), which are
 * optional peers loaded only when a URL needs one. A missing package is one line saying what to
 * install; an unreachable server is one line naming it. With encryption keys, both are wrapped in
 * `encryptedStorage` / `encryptedMemoryDb`.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  BuddyError,
  type EncryptionKeys,
  encryptedMemoryDb,
  encryptedStorage,
  type Logger,
  type MemoryDb,
  type SessionStorage,
} from '@buddy/core';
import { cliFailure } from './cli-errors.ts';
import type { CliIo } from './cli-io.ts';
import { parseStorageUrl, type StorageUrl } from './storage-url.ts';

/** An opened place: its storage and memory db (encrypted views when keys were given). */
export interface Place {
  readonly url: StorageUrl;
  readonly storage: SessionStorage;
  readonly memoryDb: MemoryDb;
  /** The backend's own objects, without encryption. */
  readonly rawStorage: SessionStorage;
  readonly rawMemoryDb: MemoryDb;
  /** Whether keys were given (`storage` and `memoryDb` encrypt and decrypt). */
  readonly encrypted: boolean;
  /** Closes both (idempotent). */
  close(): Promise<void>;
}

/** How to open a place. */
export interface OpenPlaceOptions {
  /** `'read'`: a SQLite file must exist already (a typo never creates an empty database). */
  mode: 'read' | 'write';
  keys?: EncryptionKeys | undefined;
  /** Where the backends report what they recover from (a corrupt session skipped by listing). */
  logger: Logger;
}

interface PackageInfo {
  name: string;
  driver: string;
  /** The driver's range in the install hint (the one the storage package's README names). */
  range: string;
}

const PACKAGES: Record<StorageUrl['kind'], PackageInfo> = {
  sqlite: { name: '@buddy/db-sqlite', driver: 'better-sqlite3', range: '^12' },
  redis: { name: '@buddy/db-redis', driver: 'ioredis', range: '^6' },
  postgres: { name: '@buddy/db-postgres', driver: 'pg', range: '^8' },
};

type Constructor<T> = new (options: Record<string, unknown>) => T;

async function loadPackage(io: CliIo, kind: StorageUrl['kind']): Promise<Record<string, unknown>> {
  const info = PACKAGES[kind];
  const load = io.importModule ?? ((name: string) => import(name));
  try {
    return (await load(info.name)) as Record<string, unknown>;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const text = error instanceof Error ? error.message : String(error);
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      if (text.includes(`'${info.driver}'`)) {
        throw cliFailure(
          'INVALID_ARGUMENT',
          `${kind} URLs need ${info.driver}, which ${info.name} loads; install it: pnpm add ${info.driver}@${info.range}`,
          error,
        );
      }
      throw cliFailure(
        'INVALID_ARGUMENT',
        `${kind} URLs need the package ${info.name}; install it: pnpm add ${info.name} ${info.driver}@${info.range}`,
        error,
      );
    }
    throw cliFailure('INTERNAL', `cannot load ${info.name}: ${text}`, error);
  }
}

function constructorOf<T>(
  module: Record<string, unknown>,
  name: string,
  kind: string,
): Constructor<T> {
  const value = module[name];
  if (typeof value !== 'function') {
    throw cliFailure('INTERNAL', `${PACKAGES[kind as StorageUrl['kind']].name} exports no ${name}`);
  }
  return value as Constructor<T>;
}

function cannotOpen(url: StorageUrl, error: unknown): BuddyError {
  const text = error instanceof Error ? error.message : String(error);
  const code = BuddyError.is(error) ? error.code : 'STORAGE_UNAVAILABLE';
  const reach = code === 'STORAGE_UNAVAILABLE' || code === 'STORAGE_BUSY';
  return cliFailure(
    code,
    `${reach ? 'cannot reach' : 'cannot open'} ${url.display}: ${text}`,
    error,
  );
}

/**
 * Opens the place named by `text` (a storage URL): loads its package, constructs the storage and
 * the memory db, and makes one cheap read of each, so that an unreachable server fails here,
 * before anything is written anywhere.
 */
export async function openPlace(
  io: CliIo,
  text: string,
  options: OpenPlaceOptions,
): Promise<Place> {
  const url = parseStorageUrl(text);
  const module = await loadPackage(io, url.kind);
  let storageOptions: Record<string, unknown>;
  let memoryOptions: Record<string, unknown>;
  let storageClass: string;
  let memoryClass: string;
  switch (url.kind) {
    case 'sqlite': {
      const dbFile = resolve(io.cwd, url.file);
      if (options.mode === 'read' && !existsSync(dbFile)) {
        throw cliFailure(
          'NOT_FOUND',
          `cannot open ${url.display}: no such file ${JSON.stringify(dbFile)}`,
        );
      }
      storageClass = 'SqliteStorage';
      memoryClass = 'SqliteMemoryDb';
      storageOptions = { dbFile, logger: options.logger };
      memoryOptions = { dbFile, logger: options.logger };
      break;
    }
    case 'redis': {
      const prefix = url.prefix === undefined ? {} : { prefix: url.prefix };
      storageClass = 'RedisStorage';
      memoryClass = 'RedisMemoryDb';
      storageOptions = { url: url.url, ...prefix, logger: options.logger };
      memoryOptions = { url: url.url, ...prefix };
      break;
    }
    case 'postgres': {
      const schema = url.schema === undefined ? {} : { schema: url.schema };
      storageClass = 'PostgresStorage';
      memoryClass = 'PostgresMemoryDb';
      storageOptions = {
        connectionString: url.connectionString,
        ...schema,
        logger: options.logger,
      };
      memoryOptions = { connectionString: url.connectionString, ...schema, logger: options.logger };
      break;
    }
  }
  const Storage = constructorOf<SessionStorage>(module, storageClass, url.kind);
  const Memory = constructorOf<MemoryDb>(module, memoryClass, url.kind);
  let rawStorage: SessionStorage | undefined;
  let rawMemoryDb: MemoryDb | undefined;
  const close = async () => {
    await Promise.allSettled([rawStorage?.close(), rawMemoryDb?.close()]);
  };
  try {
    rawStorage = new Storage(storageOptions);
    rawMemoryDb = new Memory(memoryOptions);
    await rawStorage.listSessions({ limit: 1 });
    await rawMemoryDb.readMemories({ userId: 'buddy-cli-probe', limit: 1 });
  } catch (error) {
    await close();
    throw cannotOpen(url, error);
  }
  const keys = options.keys;
  return {
    url,
    encrypted: keys !== undefined,
    rawStorage,
    rawMemoryDb,
    storage:
      keys === undefined
        ? rawStorage
        : encryptedStorage(rawStorage, { ...keys, logger: options.logger }),
    memoryDb: keys === undefined ? rawMemoryDb : encryptedMemoryDb(rawMemoryDb, keys),
    close,
  };
}
