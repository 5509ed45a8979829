import { silentLogger } from '@buddy/core';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDbFile } from '../../test/helpers.ts';
import { DEFAULT_SESSIONS_TABLE, SESSION_PAGE_CACHE_KIB } from './session-schema.ts';
import { resolveConnectionOptions, SqliteConnection } from './sqlite-connection.ts';

describe('SqliteConnection page cache', () => {
  const open: SqliteConnection[] = [];
  afterEach(() => {
    for (const connection of open.splice(0)) connection.close();
  });

  it('caps the page cache of a file it opens at the size SqliteStorage asks for', () => {
    const resolved = resolveConnectionOptions(
      { dbFile: tempDbFile(), logger: silentLogger },
      'test',
      DEFAULT_SESSIONS_TABLE,
    );
    const connection = new SqliteConnection(resolved, 'test', {
      cacheSizeKiB: SESSION_PAGE_CACHE_KIB,
    });
    open.push(connection);
    expect(SESSION_PAGE_CACHE_KIB).toBe(2048);
    expect(connection.db.pragma('cache_size', { simple: true })).toBe(-SESSION_PAGE_CACHE_KIB);
  });
});
