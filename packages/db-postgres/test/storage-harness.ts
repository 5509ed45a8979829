/**
 * The `describeSessionStorageContract` harness for `PostgresStorage`: every `create` gets its own
 * table prefix in the test file's schema (migrated on first use), a peer is a second storage with
 * its own pool on the same tables, and corruption is written with plain SQL behind its back.
 */
import type { SessionStorage } from '@buddy/core';
import type { SessionStorageHarness } from '@buddy/testkit/storage';
import type pg from 'pg';
import { PostgresStorage, type PostgresStorageOptions } from '../src/postgres-storage.ts';
import { POSTGRES_URL } from './postgres-test-env.ts';

let counter = 0;

/** `"schema"."<prefix><table>"` of a storage made by the harness. */
export function tableOf(storage: SessionStorage, table: 'sessions' | 'runs' | 'leases'): string {
  const { schema, tablePrefix } = storage as PostgresStorage;
  return `"${schema}"."${tablePrefix}${table}"`;
}

export function postgresStorageHarness(
  schema: string,
  admin: pg.Pool,
  extra: Partial<PostgresStorageOptions> = {},
): SessionStorageHarness {
  return {
    create: async ({ logger }) => {
      counter += 1;
      return new PostgresStorage({
        connectionString: POSTGRES_URL,
        schema,
        tablePrefix: `t${counter}_`,
        ...(logger === undefined ? {} : { logger }),
        ...extra,
      });
    },
    createPeer: async (storage) => {
      const { schema: peerSchema, tablePrefix } = storage as PostgresStorage;
      return new PostgresStorage({
        connectionString: POSTGRES_URL,
        schema: peerSchema,
        tablePrefix,
        ...extra,
      });
    },
    corruptSession: async (storage, sessionId) => {
      // Valid jsonb, invalid session: a state that is an array and a summary without text.
      await admin.query(
        `UPDATE ${tableOf(storage, 'sessions')} SET state = '["not", "an", "object"]', summary = '{"summary": 42}' WHERE session_id = $1`,
        [sessionId],
      );
    },
    corruptRun: async (storage, sessionId) => {
      await admin.query(
        `UPDATE ${tableOf(storage, 'runs')} SET run = '{"runId": "r", "messages": "not an array"}' WHERE session_id = $1 AND idx = 0`,
        [sessionId],
      );
    },
    corruptLease: async (storage, sessionId) => {
      await admin.query(
        `INSERT INTO ${tableOf(storage, 'leases')} (session_id, token, expires_at) VALUES ($1, NULL, NULL)
         ON CONFLICT (session_id) DO UPDATE SET token = NULL, expires_at = NULL`,
        [sessionId],
      );
    },
  };
}
