/**
 * Storage URLs (SPEC §15.1): one URL names both the sessions and the memories of one place.
 *
 * - `sqlite:<file>` (also `sqlite:///absolute/path`): the file holds both tables.
 * - `redis://[user:password@]host:port[/db][?prefix=…]` (or `rediss://`): the key prefix.
 * - `postgres://user[:password]@host:port/db[?schema=…]` (or `postgresql://`): the schema;
 *   other query parameters (`sslmode`, …) go to node-postgres unchanged.
 */
import { BuddyError, describeValue } from '@buddy/core';

/** A parsed storage URL. `display` is the URL without its password, for messages. */
export type StorageUrl =
  | { kind: 'sqlite'; file: string; display: string }
  | { kind: 'redis'; url: string; prefix?: string; display: string }
  | { kind: 'postgres'; connectionString: string; schema?: string; display: string };

const FORMS =
  'sqlite:<file>, redis://host:port[/db][?prefix=…] or postgres://user@host:port/db[?schema=…]';

function badUrl(url: string, problem: string): BuddyError {
  return new BuddyError({
    code: 'INVALID_ARGUMENT',
    message: `bad storage URL ${describeValue(redactUrl(url))}: ${problem}`,
  });
}

/** The URL with any password replaced by `***` (for messages and export headers). */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@?#]*:)[^@/?#]*@/i, '$1***@');
}

/**
 * Parses a storage URL; `INVALID_ARGUMENT` naming it (without its password) when it is not one
 * of the three forms.
 *
 * @example
 * parseStorageUrl('redis://127.0.0.1:6379/0?prefix=app:'); // { kind: 'redis', prefix: 'app:', … }
 */
export function parseStorageUrl(url: string): StorageUrl {
  if (typeof url !== 'string' || url.trim() === '') throw badUrl(String(url), 'it is empty');
  const display = redactUrl(url);
  if (url.startsWith('sqlite:')) {
    let file = url.slice('sqlite:'.length);
    if (file.startsWith('//')) file = file.slice(2);
    if (file === '') throw badUrl(url, 'it names no file (sqlite:<file>)');
    if (file === ':memory:') {
      throw badUrl(url, 'an in-memory database would be empty, and gone when the command ends');
    }
    return { kind: 'sqlite', file, display };
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw badUrl(url, `it is none of ${FORMS}`);
  }
  if (parsed.protocol === 'redis:' || parsed.protocol === 'rediss:') {
    if (parsed.hostname === '') throw badUrl(url, 'it names no host');
    if (parsed.pathname !== '' && parsed.pathname !== '/' && !/^\/\d+$/.test(parsed.pathname)) {
      throw badUrl(
        url,
        `the database must be a number (redis://host:port/0), got ${describeValue(parsed.pathname.slice(1))}`,
      );
    }
    let prefix: string | undefined;
    for (const [name, value] of parsed.searchParams) {
      if (name !== 'prefix')
        throw badUrl(url, `unknown parameter ${describeValue(name)} (known: prefix)`);
      if (value === '') throw badUrl(url, 'prefix must not be empty');
      prefix = value;
    }
    parsed.search = '';
    return {
      kind: 'redis',
      url: parsed.href,
      ...(prefix === undefined ? {} : { prefix }),
      display,
    };
  }
  if (parsed.protocol === 'postgres:' || parsed.protocol === 'postgresql:') {
    if (parsed.hostname === '') throw badUrl(url, 'it names no host');
    if (parsed.pathname === '' || parsed.pathname === '/')
      throw badUrl(url, 'it names no database');
    const schema = parsed.searchParams.get('schema');
    if (schema === '') throw badUrl(url, 'schema must not be empty');
    parsed.searchParams.delete('schema');
    return {
      kind: 'postgres',
      connectionString: parsed.href,
      ...(schema === null ? {} : { schema }),
      display,
    };
  }
  throw badUrl(url, `it is none of ${FORMS}`);
}

/** Whether two URLs name the same place (the same SQLite file, Redis prefix or schema). */
export function samePlace(
  a: StorageUrl,
  b: StorageUrl,
  resolveFile: (file: string) => string,
): boolean {
  if (a.kind === 'sqlite' && b.kind === 'sqlite')
    return resolveFile(a.file) === resolveFile(b.file);
  if (a.kind === 'redis' && b.kind === 'redis') {
    return a.url === b.url && (a.prefix ?? '') === (b.prefix ?? '');
  }
  if (a.kind === 'postgres' && b.kind === 'postgres') {
    return (
      a.connectionString === b.connectionString && (a.schema ?? 'public') === (b.schema ?? 'public')
    );
  }
  return false;
}
