/**
 * The file a `SqliteStorage` creates: 2 KiB pages (a turn's WAL frames are whole pages), while a
 * file created before keeps its page size and its sessions.
 */
import { makeRun } from '@buddy/testkit/storage';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { tempDbFile } from '../test/helpers.ts';
import { SESSION_PAGE_SIZE } from './internal/session-schema.ts';
import { SqliteStorage } from './sqlite-storage.ts';

function pageSize(file: string): number {
  const db = new Database(file, { readonly: true });
  try {
    return db.pragma('page_size', { simple: true }) as number;
  } finally {
    db.close();
  }
}

describe('SqliteStorage file layout', () => {
  it('creates a new file with 2 KiB pages', async () => {
    const file = tempDbFile();
    const storage = new SqliteStorage({ dbFile: file });
    await storage.appendRun({
      sessionId: 's',
      userId: 'u',
      run: makeRun('s', 'hi'),
      sessionState: {},
    });
    await storage.close();
    expect(SESSION_PAGE_SIZE).toBe(2048);
    expect(pageSize(file)).toBe(2048);
  });

  it('keeps the page size of an existing file, and its sessions', async () => {
    const file = tempDbFile();
    const first = new SqliteStorage({ dbFile: file });
    await first.appendRun({
      sessionId: 's',
      userId: 'u',
      run: makeRun('s', 'hi'),
      sessionState: { n: 1 },
    });
    await first.close();
    // Rewrite the file with 4 KiB pages, as a file created before this version has.
    const raw = new Database(file);
    raw.pragma('journal_mode = DELETE');
    raw.pragma('page_size = 4096');
    raw.exec('VACUUM');
    raw.close();
    expect(pageSize(file)).toBe(4096);
    const again = new SqliteStorage({ dbFile: file });
    await again.appendRun({
      sessionId: 's',
      userId: 'u',
      run: makeRun('s', 'again'),
      sessionState: { n: 2 },
    });
    expect((await again.getSession('s', { userId: 'u' }))?.runCount).toBe(2);
    expect((await again.getRuns({ sessionId: 's' })).map((run) => run.stateAfter)).toEqual([
      { n: 1 },
      { n: 2 },
    ]);
    await again.close();
    expect(pageSize(file)).toBe(4096);
  });
});
