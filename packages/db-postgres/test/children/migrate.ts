/**
 * Child process of the "ten processes migrate at once" case: waits for the start signal (a
 * timestamp), opens a storage and a memory db on the given empty schema, migrates both and prints
 * `ok` or the error code.
 */
import { BuddyError } from '@buddy/core';
import { PostgresMemoryDb } from '../../src/postgres-memory-db.ts';
import { PostgresStorage } from '../../src/postgres-storage.ts';

const { connectionString, schema, startAt } = JSON.parse(process.argv[2] ?? '{}') as {
  connectionString: string;
  schema: string;
  startAt: number;
};
const storage = new PostgresStorage({ connectionString, schema });
const memory = new PostgresMemoryDb({ connectionString, schema });
await new Promise((resolve) => setTimeout(resolve, Math.max(0, startAt - Date.now())));
let outcome = 'ok';
try {
  await Promise.all([storage.ready(), memory.ready()]);
} catch (error) {
  outcome = BuddyError.is(error) ? `${error.code}: ${error.message}` : String(error);
}
await storage.close();
await memory.close();
process.stdout.write(`${outcome}\n`);
