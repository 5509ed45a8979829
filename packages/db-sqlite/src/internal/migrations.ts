/**
 * Forward-only schema migrations, recorded in a per-table-family schema table.
 *
 * Each migration runs in its own `BEGIN IMMEDIATE` transaction that re-reads the version first,
 * so two processes opening a fresh file at the same moment apply each step exactly once. An
 * up-to-date database is only read, never written, so a read-only connection can open it.
 */
import { BuddyError, describeValue, type Logger } from '@buddy/core';
import { quoteIdentifier, type SqliteDatabase } from './sqlite-connection.ts';

/** One schema step. Versions start at 1 and increase by 1. */
export interface Migration {
  version: number;
  description: string;
  up(db: SqliteDatabase): void;
}

/** Where `applyMigrations` records versions, and what it applies. */
export interface MigrationTarget {
  /** The schema table, e.g. `buddy_sessions$schema`. */
  schemaTable: string;
  /** Which kind of tables this family holds (`'sessions'`, `'memories'`). */
  component: string;
  /** The family's main table name, for messages. */
  tableName: string;
  /** The class applying them, for messages. */
  who: string;
  /** The forward migrations, in version order. */
  migrations: readonly Migration[];
  /** Told (`debug`) about each migration this connection applies. */
  logger?: Logger;
}

interface SchemaState {
  version: number;
  components: string[];
}

function readSchemaState(db: SqliteDatabase, schemaTable: string): SchemaState {
  const exists = db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?")
    .pluck()
    .get(schemaTable);
  if (exists === undefined) return { version: 0, components: [] };
  const table = quoteIdentifier(schemaTable);
  const version = db
    .prepare(`SELECT COALESCE(MAX(version), 0) FROM ${table}`)
    .pluck()
    .safeIntegers(false)
    .get() as number;
  const components = db
    .prepare(`SELECT DISTINCT component FROM ${table}`)
    .pluck()
    .all() as string[];
  return { version, components };
}

function checkSchemaState(state: SchemaState, target: MigrationTarget, latest: number): void {
  const foreign = state.components.find((component) => component !== target.component);
  if (foreign !== undefined) {
    throw new BuddyError({
      code: 'INVALID_ARGUMENT',
      message: `${target.who}: tableName ${describeValue(target.tableName)} is already used for ${foreign} in this database; choose another tableName`,
    });
  }
  if (state.version > latest) {
    throw new BuddyError({
      code: 'STORAGE_UNAVAILABLE',
      retryable: false,
      message: `${target.who}: the tables of ${describeValue(target.tableName)} have schema version ${state.version}, written by a newer @buddy/db-sqlite; this version knows up to ${latest}. Upgrade @buddy/db-sqlite`,
      details: { backend: 'sqlite', schemaVersion: state.version, knownVersion: latest },
    });
  }
}

/**
 * Brings the tables of `target` to the latest version and returns the version found before.
 * Throws when the database was written by a newer schema than `migrations` knows.
 */
export function applyMigrations(db: SqliteDatabase, target: MigrationTarget): number {
  const latest = target.migrations.at(-1)?.version ?? 0;
  const initial = readSchemaState(db, target.schemaTable);
  checkSchemaState(initial, target, latest);
  if (initial.version === latest) return initial.version;

  const table = quoteIdentifier(target.schemaTable);
  for (const migration of target.migrations) {
    if (migration.version <= initial.version) continue;
    const applied = db
      .transaction(() => {
        db.exec(
          `CREATE TABLE IF NOT EXISTS ${table} (
            version INTEGER PRIMARY KEY,
            component TEXT NOT NULL,
            description TEXT NOT NULL,
            applied_at INTEGER NOT NULL
          )`,
        );
        // Another process may have migrated while we waited for the write lock.
        const current = readSchemaState(db, target.schemaTable);
        checkSchemaState(current, target, latest);
        if (current.version >= migration.version) return false;
        migration.up(db);
        db.prepare(
          `INSERT INTO ${table} (version, component, description, applied_at) VALUES (?, ?, ?, ?)`,
        ).run(migration.version, target.component, migration.description, Date.now());
        return true;
      })
      .immediate();
    if (applied) {
      target.logger?.debug(
        `${target.who}: migrated the tables of ${describeValue(target.tableName)} to schema version ${migration.version} (${migration.description})`,
        { backend: 'sqlite', schemaVersion: migration.version },
      );
    }
  }
  return initial.version;
}
