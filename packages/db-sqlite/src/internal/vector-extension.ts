/**
 * Loading sqlite-vec, the optional peer that stores and searches memory embeddings.
 *
 * `SqliteMemoryDb` imports it with `import()` only when an operation needs vectors (an embedding
 * written, a search, a memory with an embedding replaced or deleted), so memories without
 * embeddings work without the package. Each failure is a `BuddyError` that says what to do.
 */
import { BuddyError } from '@buddy/core';
import type { SqliteDatabase } from './sqlite-connection.ts';

/** The npm package that provides the vector extension. */
export const SQLITE_VEC_PACKAGE = 'sqlite-vec';
/** The versions this package is tested with (its peer range). */
export const SQLITE_VEC_RANGE = '^0.1.9';
/** The oldest sqlite-vec accepted on a connection (deletes zero their slot from 0.1.9 on). */
const MINIMUM_VERSION: readonly number[] = [0, 1, 9];

/** Imports a module by name, relative to this package (tests pass their own). */
export type ModuleImporter = (specifier: string) => Promise<unknown>;

const importFromHere: ModuleImporter = (specifier) => import(specifier);

interface SqliteVecModule {
  getLoadablePath(): string;
}

function isModuleNotFound(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : '';
  return (
    (code === 'ERR_MODULE_NOT_FOUND' ||
      code === 'MODULE_NOT_FOUND' ||
      /Cannot find (module|package)/.test(message)) &&
    message.includes(`'${SQLITE_VEC_PACKAGE}'`)
  );
}

function text(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function failure(where: string, message: string, cause?: unknown): BuddyError {
  return new BuddyError({
    code: 'STORAGE_UNAVAILABLE',
    // Retrying cannot help until someone installs or upgrades the package.
    retryable: false,
    message: `${where}: ${message}`,
    ...(cause === undefined ? {} : { cause }),
    details: { backend: 'sqlite', package: SQLITE_VEC_PACKAGE },
  });
}

/** The version sqlite-vec reports on this connection, or `undefined` when it is not loaded. */
function loadedVersion(db: SqliteDatabase): string | undefined {
  try {
    return String(db.prepare('SELECT vec_version()').pluck().get());
  } catch {
    return undefined;
  }
}

function isOlder(version: string, minimum: readonly number[]): boolean {
  const parts = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version)?.slice(1).map(Number);
  if (parts === undefined) return false;
  for (let index = 0; index < minimum.length; index++) {
    const part = parts[index] ?? 0;
    const wanted = minimum[index] ?? 0;
    if (part !== wanted) return part < wanted;
  }
  return false;
}

/**
 * Makes sure sqlite-vec is loaded on `db` (loading it once; a connection that already has it,
 * e.g. a borrowed one, is used as is) and returns its version. `where` names the operation in
 * errors (`'SqliteMemoryDb.searchMemories'`).
 */
export async function loadSqliteVec(
  db: SqliteDatabase,
  where: string,
  importer: ModuleImporter = importFromHere,
): Promise<string> {
  let version = loadedVersion(db);
  if (version === undefined) {
    let loaded: unknown;
    try {
      loaded = await importer(SQLITE_VEC_PACKAGE);
    } catch (error) {
      if (isModuleNotFound(error)) {
        throw failure(
          where,
          `memory embeddings need the optional package ${SQLITE_VEC_PACKAGE}, which is not installed. Install it next to @buddy/db-sqlite: pnpm add ${SQLITE_VEC_PACKAGE}@${SQLITE_VEC_RANGE} (memories without embeddings work without it)`,
          error,
        );
      }
      throw failure(where, `importing ${SQLITE_VEC_PACKAGE} failed: ${text(error)}`, error);
    }
    const module = loaded as Partial<SqliteVecModule> | null;
    if (typeof module?.getLoadablePath !== 'function') {
      throw failure(
        where,
        `${SQLITE_VEC_PACKAGE} does not export getLoadablePath(); install ${SQLITE_VEC_PACKAGE}@${SQLITE_VEC_RANGE}`,
      );
    }
    let path: string;
    try {
      path = module.getLoadablePath();
    } catch (error) {
      // Installed, but without the binary of this platform (its optional dependency
      // sqlite-vec-<os>-<arch> was skipped), or on a platform it does not support.
      throw failure(
        where,
        `${SQLITE_VEC_PACKAGE} is installed but has no loadable extension for ${process.platform}-${process.arch}: ${text(error)} Reinstall it with its optional dependencies (pnpm add ${SQLITE_VEC_PACKAGE}@${SQLITE_VEC_RANGE})`,
        error,
      );
    }
    try {
      db.loadExtension(path);
    } catch (error) {
      throw failure(
        where,
        `loading the ${SQLITE_VEC_PACKAGE} extension from ${JSON.stringify(path)} into database ${JSON.stringify(db.name)} failed: ${text(error)}`,
        error,
      );
    }
    version = loadedVersion(db);
    if (version === undefined) {
      throw failure(where, `${SQLITE_VEC_PACKAGE} loaded but vec_version() is missing`);
    }
  }
  if (isOlder(version, MINIMUM_VERSION)) {
    throw failure(
      where,
      `the connection has ${SQLITE_VEC_PACKAGE} ${version}; ${MINIMUM_VERSION.join('.')} or newer is needed (pnpm add ${SQLITE_VEC_PACKAGE}@${SQLITE_VEC_RANGE})`,
    );
  }
  return version;
}
