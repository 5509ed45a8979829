/**
 * Which storage the flags and environment pick, shared by `pnpm chat` and `pnpm studio`: a
 * storage flag (`--db`, `--redis`, `--postgres`) wins over the environment, so `--db` or
 * `--redis` still work where `BUDDY_POSTGRES_URL` is exported; in the environment PostgreSQL is
 * checked before Redis, and either before SQLite. `--prefix` goes with Redis only, `--schema`
 * with PostgreSQL only.
 */
import { DEFAULT_DB_FILE, type StoreSettings } from './app-settings.ts';

/**
 * The store settings from flag and environment values (`db`, `redis`, `prefix`, `postgres`,
 * `schema`; a flag's value over its variable's) and the names of the flags given, or one line
 * about what is wrong.
 *
 * @example
 * storeSettings({ postgres: 'postgresql://localhost/app' }, new Set(['postgres']));
 * // { dbFile: '.buddy/buddy.db', postgresUrl: 'postgresql://localhost/app', urlSource: 'flag' }
 */
export function storeSettings(
  values: Readonly<Record<string, string | undefined>>,
  given: ReadonlySet<string>,
): StoreSettings | { error: string } {
  const { postgres, redis, prefix, schema } = values;
  if (given.has('postgres') && given.has('redis'))
    return { error: 'Options --postgres and --redis both choose the storage: give one of them.' };
  let backend: { kind: 'redis' | 'postgres'; url: string; source: 'flag' | 'env' } | undefined;
  if (given.has('postgres') && postgres !== undefined)
    backend = { kind: 'postgres', url: postgres, source: 'flag' };
  else if (given.has('redis') && redis !== undefined)
    backend = { kind: 'redis', url: redis, source: 'flag' };
  else if (given.has('db')) backend = undefined;
  else if (postgres !== undefined) backend = { kind: 'postgres', url: postgres, source: 'env' };
  else if (redis !== undefined) backend = { kind: 'redis', url: redis, source: 'env' };
  if (given.has('prefix') && backend?.kind !== 'redis')
    return { error: 'Option --prefix is for Redis: add --redis <url> (or set BUDDY_REDIS_URL).' };
  if (given.has('schema') && backend?.kind !== 'postgres')
    return {
      error: 'Option --schema is for PostgreSQL: add --postgres <url> (or set BUDDY_POSTGRES_URL).',
    };
  const dbFile = values.db ?? DEFAULT_DB_FILE;
  if (backend?.kind === 'redis')
    return {
      dbFile,
      redisUrl: backend.url,
      ...(prefix === undefined ? {} : { redisPrefix: prefix }),
      urlSource: backend.source,
    };
  if (backend?.kind === 'postgres')
    return {
      dbFile,
      postgresUrl: backend.url,
      ...(schema === undefined ? {} : { postgresSchema: schema }),
      urlSource: backend.source,
    };
  return { dbFile };
}
