/**
 * Real OS processes on one SQLite file: the shared cross-process suite (4 processes × 50 turns,
 * SIGKILL mid-turn, a stalled lease holder fenced).
 */
import { describeCrossProcessContract } from '@buddy/testkit/cross-process';
import { tempDbFile } from '../test/helpers.ts';

describeCrossProcessContract('SqliteStorage (file)', {
  storageModule: new URL('../test/cross-process-storage.ts', import.meta.url),
  setup: async () => ({ dbFile: tempDbFile() }),
});
