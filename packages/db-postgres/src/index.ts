/**
 * `@buddy/db-postgres`: Buddy's session storage (`PostgresStorage`) and user-memory db
 * (`PostgresMemoryDb`) on PostgreSQL, through node-postgres (`pg`, a peer dependency).
 */
export {
  createPostgresMemoryDb,
  PostgresMemoryDb,
  type PostgresMemoryDbOptions,
  type SearchCacheOptions,
} from './postgres-memory-db.ts';
export {
  createPostgresStorage,
  PostgresStorage,
  type PostgresStorageOptions,
} from './postgres-storage.ts';
