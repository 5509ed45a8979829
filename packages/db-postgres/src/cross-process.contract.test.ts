/**
 * Real OS processes on one PostgreSQL session: the shared cross-process suite (4 processes × 50
 * turns, SIGKILL mid-turn, a stalled lease holder fenced). Each case gets its own table prefix in
 * this file's schema.
 */
import { describeCrossProcessContract } from '@buddy/testkit/cross-process';
import type pg from 'pg';
import { afterAll, describe } from 'vitest';
import {
  adminPool,
  dropSchema,
  POSTGRES_URL,
  requirePostgres,
  testSchema,
} from '../test/postgres-test-env.ts';

const hasPostgres = await requirePostgres();
const schema = testSchema('xproc');
const admin = hasPostgres ? adminPool() : (undefined as unknown as pg.Pool);
let counter = 0;

afterAll(async () => {
  if (!hasPostgres) return;
  await dropSchema(admin, schema);
  await admin.end();
});

describe.skipIf(!hasPostgres)('PostgresStorage across processes', () => {
  describeCrossProcessContract('PostgresStorage', {
    storageModule: new URL('../test/cross-process-storage.ts', import.meta.url),
    setup: async () => {
      counter += 1;
      return { connectionString: POSTGRES_URL, schema, tablePrefix: `x${counter}_` };
    },
  });
});
