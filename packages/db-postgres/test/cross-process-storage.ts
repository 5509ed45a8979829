/**
 * The factory `describeCrossProcessContract` loads in the test process and in every child: one
 * `PostgresStorage` (its own small pool) on the schema and prefix named by the case's config.
 */
import { PostgresStorage } from '../src/postgres-storage.ts';

export function createStorage(config: {
  connectionString: string;
  schema: string;
  tablePrefix: string;
}): PostgresStorage {
  return new PostgresStorage(config);
}
