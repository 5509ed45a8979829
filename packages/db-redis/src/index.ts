/**
 * `@buddy/db-redis`: Buddy's session storage (`RedisStorage`) and user-memory db
 * (`RedisMemoryDb`) on plain Redis 6+ through ioredis (a peer dependency).
 *
 * Both accept a ready ioredis `client` (never closed for you) or a `url` (a client is created,
 * connected on first use, and closed by `close()`). All keys start with `prefix` (default
 * `buddy:`) and carry a `{hash tag}` per session, user or memory id.
 */
export { DEFAULT_REDIS_URL, type RedisConnectionOptions } from './redis-connection.ts';
export { DEFAULT_PREFIX } from './redis-keys.ts';
export {
  createRedisMemoryDb,
  RedisMemoryDb,
  type RedisMemoryDbOptions,
} from './redis-memory-db.ts';
export { createRedisStorage, RedisStorage, type RedisStorageOptions } from './redis-storage.ts';
