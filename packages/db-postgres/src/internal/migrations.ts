/**
 * Versioned, forward-only schema migrations, safe when many processes start at once.
 *
 * Each family of tables (the session tables of one `tablePrefix`, the memory table of one
 * `tableName`) records the migrations applied to it in its own version table. Opening checks the
 * version with one read; only when something is missing does it open a transaction, take
 * `pg_advisory_xact_lock` on a key derived from the schema, re-read the
 * version and apply what is still missing. Ten processes starting on an empty schema therefore
 * queue on the lock, the first one creates everything, and the others find it done. A version
 * newer than this package knows is refused with `STORAGE_UNAVAILABLE` ("upgrade
 * @buddy/db-postgres"), before anything is written.
 */
import { BuddyError, describeValue } from '@buddy/core';
import type pg from 'pg';
import { qualifiedName } from './identifiers.ts';
import type { PostgresConnection } from './postgres-connection.ts';

/** One schema step: statements run in order, in the migrating transaction. */
export interface Migration {
  version: number;
  description: string;
  statements: readonly string[];
}

/** Where migrations apply and how they are named in errors. */
export interface MigrationTarget {
  schema: string;
  /** Table recording applied versions, e.g. `buddy_schema_versions`. */
  versionTable: string;
  /** What this family holds (`'sessions'`, `'memories'`), recorded with each version. */
  component: string;
  /** The family's main table, for messages. */
  tableName: string;
  migrations: readonly Migration[];
}

const PACKAGE = '@buddy/db-postgres';

interface VersionState {
  version: number;
  components: string[];
}

async function readVersion(client: pg.PoolClient, target: MigrationTarget): Promise<VersionState> {
  const exists = await client.query<{ exists: boolean }>(
    'SELECT to_regclass($1) IS NOT NULL AS exists',
    [qualifiedName(target.schema, target.versionTable)],
  );
  if (exists.rows[0]?.exists !== true) return { version: 0, components: [] };
  const result = await client.query<{ version: number | null; components: string[] | null }>(
    `SELECT max(version)::integer AS version, array_agg(DISTINCT component) AS components FROM ${qualifiedName(target.schema, target.versionTable)}`,
  );
  const row = result.rows[0];
  return { version: row?.version ?? 0, components: row?.components ?? [] };
}

function checkVersion(state: VersionState, target: MigrationTarget, who: string): void {
  const latest = target.migrations.at(-1)?.version ?? 0;
  const foreign = state.components.find((component) => component !== target.component);
  if (foreign !== undefined) {
    throw new BuddyError({
      code: 'INVALID_ARGUMENT',
      message: `${who}: the tables of ${describeValue(target.tableName)} in schema ${describeValue(target.schema)} hold ${foreign}, not ${target.component}; choose another name`,
    });
  }
  if (state.version > latest) {
    throw new BuddyError({
      code: 'STORAGE_UNAVAILABLE',
      retryable: false,
      message: `${who}: the tables of ${describeValue(target.tableName)} in schema ${describeValue(target.schema)} have schema version ${state.version}, written by a newer ${PACKAGE}; this version knows up to ${latest}. Upgrade ${PACKAGE}`,
      details: {
        backend: 'postgres',
        schemaVersion: state.version,
        knownVersion: latest,
      },
    });
  }
}

/**
 * Brings the family to the latest version; returns the version found before. Read-only (one
 * round trip) when it is already there.
 */
export async function applyMigrations(
  connection: PostgresConnection,
  target: MigrationTarget,
): Promise<number> {
  const who = connection.who;
  const latest = target.migrations.at(-1)?.version ?? 0;
  return connection.withClient('migrate', async (client) => {
    const initial = await readVersion(client, target);
    checkVersion(initial, target, who);
    if (initial.version === latest) return initial.version;

    await client.query('BEGIN');
    try {
      // Serializes every process migrating anything of this package in this schema (the session
      // and memory families share CREATE SCHEMA); released by COMMIT / ROLLBACK.
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
        `${PACKAGE}:${target.schema}`,
      ]);
      const schema = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [
        target.schema,
      ]);
      if (schema.rowCount === 0) await client.query(`CREATE SCHEMA "${target.schema}"`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${qualifiedName(target.schema, target.versionTable)} (
          version integer PRIMARY KEY,
          component text NOT NULL,
          description text NOT NULL,
          applied_at timestamptz NOT NULL DEFAULT now()
        )`,
      );
      // Another process may have migrated while this one waited for the lock.
      const current = await readVersion(client, target);
      checkVersion(current, target, who);
      for (const migration of target.migrations) {
        if (migration.version <= current.version) continue;
        for (const sql of migration.statements) await client.query(sql);
        await client.query(
          `INSERT INTO ${qualifiedName(target.schema, target.versionTable)} (version, component, description) VALUES ($1, $2, $3)`,
          [migration.version, target.component, migration.description],
        );
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      if (
        typeof error === 'object' &&
        error !== null &&
        (error as { code?: unknown }).code === '42P07'
      ) {
        throw new BuddyError({
          code: 'INVALID_ARGUMENT',
          message: `${who}: a table named like ${describeValue(target.tableName)} already exists in schema ${describeValue(target.schema)} and was not created by ${PACKAGE}; choose another name`,
          cause: error,
        });
      }
      throw error;
    }
    return initial.version;
  });
}
