/**
 * The factory `describeCrossProcessContract` loads in the test process and in every child: one
 * `SqliteStorage` on the file named by the case's config.
 */
import { SqliteStorage } from '../src/sqlite-storage.ts';

export function createStorage(config: { dbFile: string }): SqliteStorage {
  return new SqliteStorage({ dbFile: config.dbFile });
}
