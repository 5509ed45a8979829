/**
 * Child process of the "a script that never calls close() still exits" case: one write through
 * a storage and a memory db with pools of their own, then nothing.
 */
import { PostgresMemoryDb } from '../../src/postgres-memory-db.ts';
import { PostgresStorage } from '../../src/postgres-storage.ts';

const { connectionString, schema } = JSON.parse(process.argv[2] ?? '{}') as {
  connectionString: string;
  schema: string;
};
const storage = new PostgresStorage({ connectionString, schema });
const memory = new PostgresMemoryDb({ connectionString, schema });
await storage.upsertSession({ sessionId: 'left-open' });
await memory.upsertMemory({ userId: 'dana', memory: 'left open' });
process.stdout.write('written\n');
