/**
 * Opens the sample app's storage and memory db on one backend: PostgreSQL when a PostgreSQL URL
 * is set (checked first), else Redis when a Redis URL is set, else a SQLite file. A server that
 * does not answer is one `STORAGE_UNAVAILABLE` line naming it (a PostgreSQL password masked) and
 * what to do, found before the first turn. Shared by `pnpm chat`, `pnpm demo` and `pnpm studio`.
 */
import { mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, resolve } from 'node:path';
import { BuddyError, type MemoryDb, type SessionStorage } from '@buddy/core';
import { SqliteMemoryDb, SqliteStorage } from '@buddy/db-sqlite';
import type { StoreSettings } from './app-settings.ts';
import { networkReason } from './network-reason.ts';

/** An opened storage and memory db, and one line saying where they are. */
export interface OpenedStores {
  storage: SessionStorage;
  memoryDb: MemoryDb;
  /** `SQLite file …`, `Redis at …`, `PostgreSQL at … (schema …)`. */
  where: string;
}

/**
 * A URL as it may be printed: the password (and a `password` query parameter) replaced by `***`.
 * Text that is not a URL has any `password=…` masked.
 *
 * @example
 * maskUrl('postgresql://dana:s3cret@db:5432/app'); // 'postgresql://dana:***@db:5432/app'
 */
export function maskUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url.replace(/(password\s*=\s*)[^\s&]+/gi, '$1***');
  }
  let masked = false;
  if (parsed.password !== '') {
    parsed.password = '***';
    masked = true;
  }
  for (const key of [...parsed.searchParams.keys()]) {
    if (/^pass(word)?$/i.test(key)) {
      parsed.searchParams.set(key, '***');
      masked = true;
    }
  }
  return masked ? parsed.toString() : url;
}

/** Why a TCP connection to a URL's host and port fails, or `undefined` when it opens. */
function tcpProblem(url: string, defaultPort: number): Promise<string | undefined> {
  let host: string;
  let port: number;
  try {
    const parsed = new URL(url);
    host = parsed.hostname || '127.0.0.1';
    port = Number(parsed.port || defaultPort);
  } catch {
    return Promise.resolve('not a URL');
  }
  return new Promise((done) => {
    const socket = connect({ host, port });
    socket.setTimeout(2_000);
    socket.once('connect', () => {
      socket.destroy();
      done(undefined);
    });
    socket.once('error', (error) => done(networkReason(error) ?? 'cannot connect'));
    socket.once('timeout', () => {
      socket.destroy();
      done('timed out');
    });
  });
}

/** The innermost message of an error's `cause` chain (the server's own words). */
function rootMessage(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 8; depth++) {
    const cause = current instanceof Error ? current.cause : undefined;
    if (!(cause instanceof Error)) break;
    current = cause;
  }
  return current instanceof Error ? current.message : String(current);
}

async function openPostgres(settings: StoreSettings, url: string): Promise<OpenedStores> {
  const { PostgresMemoryDb, PostgresStorage } = await import('@buddy/db-postgres');
  const options = {
    connectionString: url,
    ...(settings.postgresSchema === undefined ? {} : { schema: settings.postgresSchema }),
  };
  const storage = new PostgresStorage(options);
  const memoryDb = new PostgresMemoryDb(options);
  try {
    await storage.ready();
    await memoryDb.ready();
  } catch (error) {
    await storage.close();
    await memoryDb.close();
    const reason = networkReason(error) ?? rootMessage(error);
    const instead =
      settings.urlSource === 'flag' ? 'leave out --postgres' : 'unset BUDDY_POSTGRES_URL';
    throw new BuddyError({
      code: 'STORAGE_UNAVAILABLE',
      message: `PostgreSQL at ${maskUrl(url)} does not answer (${reason}). Start PostgreSQL or ${instead} to use SQLite.`,
      cause: error,
    });
  }
  return {
    storage,
    memoryDb,
    where: `PostgreSQL at ${maskUrl(url)} (schema ${storage.schema})`,
  };
}

async function openRedis(
  settings: StoreSettings,
  url: string,
  probeUserId: string | undefined,
): Promise<OpenedStores> {
  const options = {
    url,
    ...(settings.redisPrefix === undefined ? {} : { prefix: settings.redisPrefix }),
  };
  const { RedisMemoryDb, RedisStorage } = await import('@buddy/db-redis');
  const storage = new RedisStorage(options);
  const memoryDb = new RedisMemoryDb(options);
  try {
    await storage.listSessions({
      ...(probeUserId === undefined ? {} : { userId: probeUserId }),
      limit: 1,
    });
  } catch (error) {
    await storage.close();
    await memoryDb.close();
    const reason =
      networkReason(error) ??
      (await tcpProblem(url, 6379)) ??
      'it accepts connections but its replies failed';
    throw new BuddyError({
      code: 'STORAGE_UNAVAILABLE',
      message: `Redis at ${url} does not answer (${reason}). Start Redis there, point --redis or BUDDY_REDIS_URL at a running server, or leave both unset to use SQLite.`,
      cause: error,
    });
  }
  const prefix = settings.redisPrefix === undefined ? '' : `, keys under ${storage.prefix}`;
  return { storage, memoryDb, where: `Redis at ${url}${prefix}` };
}

/**
 * Opens the storage and memory db the settings name: PostgreSQL, else Redis, else SQLite. A
 * server is asked once before this returns (`probeUserId` scopes the Redis probe to one user).
 */
export async function openStores(
  settings: StoreSettings,
  probeUserId?: string,
): Promise<OpenedStores> {
  if (settings.postgresUrl !== undefined && settings.postgresUrl !== '') {
    return openPostgres(settings, settings.postgresUrl);
  }
  if (settings.redisUrl !== undefined && settings.redisUrl !== '') {
    return openRedis(settings, settings.redisUrl, probeUserId);
  }
  const file = resolve(settings.dbFile);
  mkdirSync(dirname(file), { recursive: true });
  return {
    storage: new SqliteStorage({ dbFile: file }),
    memoryDb: new SqliteMemoryDb({ dbFile: file }),
    where: `SQLite file ${file}`,
  };
}
