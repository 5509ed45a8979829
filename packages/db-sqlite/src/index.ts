export {
  createSqliteMemoryDb,
  SqliteMemoryDb,
  type SqliteMemoryDbOptions,
} from './sqlite-memory-db.ts';
export { createSqliteStorage, SqliteStorage, type SqliteStorageOptions } from './sqlite-storage.ts';
