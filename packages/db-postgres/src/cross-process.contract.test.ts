/**
 * Real OS processes on one PostgreSQL session: the shared cross-process suite (4 processes × 50
 * turns, SIGKILL mid-turn, a stalled lease holder fenced). Each case gets its own table prefix in
 * this file's schema.
 */
import { describeCrossProcessContract } from '@buddy/testkit/cross-process';
import { describe } from 'vitest';
import { POSTGRES_URL, postgresTestFile } from '../test/postgres-test-env.ts';

const { hasPostgres, schema } = await postgresTestFile('xproc');
let counter = 0;

describe.skipIf(!hasPostgres)('PostgresStorage across processes', () => {
  describeCrossProcessContract('PostgresStorage', {
    storageModule: new URL('../test/cross-process-storage.ts', import.meta.url),
    setup: async () => {
      counter += 1;
      return { connectionString: POSTGRES_URL, schema, tablePrefix: `x${counter}_` };
    },
  });
});
