/**
 * `PostgresMemoryDb`: `MemoryDb` (user memories) on PostgreSQL through node-postgres (`pg`).
 *
 * Backend and connection: as `PostgresStorage`. With `pool` it uses yours and never ends it; with
 * `connectionString` (or with neither: node-postgres' `PG*` environment variables) it creates a
 * pool and ends it in `close()`. A storage and a memory db may share one pool.
 *
 * One row per memory in `schema`.`tableName` (default `public.buddy_memories`), created on first
 * use by versioned migrations. User-scoped by construction: every statement filters on
 * `user_id`, an upsert of another user's id is refused by the statement that would write it, and
 * there is no statement that touches more than one user.
 *
 * Embeddings are stored with their row (`double precision[]`, scaled to unit length) and
 * `searchMemories` ranks exactly (cosine over that user's rows of the query's length; `pgvector`
 * is not used). By default each db keeps a search cache in process memory: per (user,
 * dimensions), the user's embedded memories as `Float64Array`s, filled by one full read and then
 * kept current by one statement per search that returns the user's revision `(rev, epoch)` and
 * only the rows written since (every write statement bumps the user's revision row, deletes also
 * its epoch; a changed epoch means a full read again). The ranking is then the same sum of
 * products in JavaScript. So a search is one round trip and sees every committed write of every
 * process at once; a user larger than `searchCache.maxBytes`, or a db with `searchCache: false`,
 * is ranked in SQL as before. See the package README for measured times and the memory cost, and
 * docs/decisions/2026-12-02-postgres-memory-search-cache.md.
 */
import {
  type Logger,
  type MemoryDb,
  type ReadMemoriesInput,
  type ScoredMemory,
  type SearchMemoriesInput,
  silentLogger,
  type UpsertMemoryInput,
  type UserMemory,
} from '@buddy/core';
import {
  assertId,
  isPlainObject,
  memoryOwnershipError,
  normalizeMemoryEmbedding,
  normalizeMemoryIdInput,
  normalizeReadMemoriesInput,
  normalizeSearchMemoriesInput,
  normalizeUpsertMemoryInput,
  normalizeUserIdInput,
  parseUserMemory,
  readOptions,
} from '@buddy/core/adapter-utils';
import type pg from 'pg';
import { assertIdentifier } from './internal/identifiers.ts';
import { fromJsonb, toJsonbText } from './internal/json-codec.ts';
import {
  DEFAULT_MEMORY_TABLE,
  MAX_MEMORY_TABLE_LENGTH,
  type MemoryNames,
  type MemoryStatements,
  memoryMigrations,
  memoryNames,
  memoryStatements,
} from './internal/memory-schema.ts';
import { applyMigrations } from './internal/migrations.ts';
import { PostgresConnection, resolveConnection } from './internal/postgres-connection.ts';
import {
  type CachedMemory,
  type CacheEntry,
  cachedMemoryBytes,
  compareIds,
  decodeFloat8Array,
  ENTRY_OVERHEAD_BYTES,
  type RankedMemory,
  rankEntry,
  readSearchCacheOption,
  SearchCache,
  type SearchCacheOptions,
  scoreVector,
} from './internal/search-cache.ts';
import { unitVector } from './internal/unit-vector.ts';

export type { SearchCacheOptions } from './internal/search-cache.ts';

/** Options of `PostgresMemoryDb`; all optional. */
export interface PostgresMemoryDbOptions {
  /** `postgres://...`; the db creates a pool from it and ends it in `close()`. */
  connectionString?: string;
  /** A `pg.Pool` you created and end yourself; `close()` never ends it. */
  pool?: pg.Pool;
  /** Schema of the table, created if missing (default `'public'`). */
  schema?: string;
  /** Name of the memory table (default `'buddy_memories'`). */
  tableName?: string;
  /** Where recovered problems are reported (an idle connection dropped). Silent by default. */
  logger?: Logger;
  /** Longest a statement may run, in ms (default 5000). */
  statementTimeoutMs?: number;
  /** Longest a call waits for a pool connection, in ms (default 5000). */
  connectionTimeoutMs?: number;
  /**
   * The in-process cache `searchMemories` ranks from (default on, `maxBytes` 64 MiB); `false`
   * ranks every search in SQL. It costs about dimensions × 8 bytes plus the memory's text per
   * cached memory; a user who does not fit is searched in SQL. Correct across processes: every
   * search checks the user's revision in the same round trip that fetches what changed.
   */
  searchCache?: SearchCacheOptions | false;
}

const WHO = 'PostgresMemoryDb';
const OPTION_KEYS = [
  'connectionString',
  'pool',
  'schema',
  'tableName',
  'logger',
  'statementTimeoutMs',
  'connectionTimeoutMs',
  'searchCache',
];
/** Attempts of the cached path when concurrent searches of one user keep moving its entry. */
const CACHE_ATTEMPTS = 3;

/**
 * How many more than `limit` the ranking made while the statement travels keeps: a reply with at
 * most this many changed rows is merged into it instead of ranking the user again.
 */
const SPARE_RANKS = 8;

/**
 * The best `limit` after a few rows changed: the best `limit + SPARE_RANKS` of the old entry
 * without the changed ids still hold the best `limit` unchanged memories (at most `rows.length`
 * of them were changed ones), so those plus the changed rows' new versions, scored, decide.
 */
function mergeRanks(
  before: readonly RankedMemory[],
  rows: readonly SearchCacheRow[],
  entry: CacheEntry,
  query: Float64Array,
  limit: number,
): RankedMemory[] {
  const changed = new Set(rows.map((row) => row.id as string));
  const merged = before.filter((ranked) => !changed.has(ranked.memory.id));
  for (const id of changed) {
    const memory = entry.memories.get(id);
    if (memory !== undefined) merged.push({ memory, score: scoreVector(memory.vector, query) });
  }
  merged.sort((a, b) => b.score - a.score || compareIds(a.memory.id, b.memory.id));
  return merged.slice(0, limit);
}

/** A row of the `searchCache` statement (see `memory-schema.ts`). */
interface SearchCacheRow {
  kind: 0 | 1 | 2;
  id: string | null;
  created_at: number | null;
  updated_at: number | null;
  body: unknown;
  rev: number | null;
  epoch: number | null;
  total: number | null;
  vector: Buffer | null;
}

interface MemoryRow {
  id: string;
  user_id: string;
  created_at: number;
  updated_at: number;
  body: unknown;
}

/** A row as a validated memory; `STORAGE_CORRUPT` naming it otherwise. */
function rowToMemory(row: MemoryRow): UserMemory {
  const body = fromJsonb(row.body);
  return parseUserMemory(
    isPlainObject(body)
      ? {
          ...body,
          id: row.id,
          userId: row.user_id,
          createdAt: row.created_at,
          updatedAt: row.updated_at,
        }
      : body,
    row.id,
  );
}

/**
 * User memories on PostgreSQL.
 *
 * @example
 * import { AgentMemory } from '@buddy/memory';
 * import { PostgresMemoryDb } from '@buddy/db-postgres';
 *
 * const memory = new AgentMemory({
 *   db: new PostgresMemoryDb({ connectionString: process.env.DATABASE_URL }),
 * });
 */
export class PostgresMemoryDb implements MemoryDb {
  readonly specificationVersion = 'v1' as const;
  readonly backend = 'postgres';
  /** Schema of the table. */
  readonly schema: string;
  /** The memory table. */
  readonly tableName: string;
  readonly #connection: PostgresConnection;
  readonly #names: MemoryNames;
  readonly #sql: MemoryStatements;
  readonly #cache: SearchCache | undefined;
  #isReady = false;
  #readying: Promise<void> | undefined;

  constructor(options: PostgresMemoryDbOptions = {}) {
    const checked = readOptions<PostgresMemoryDbOptions>(options, `${WHO}: options`, OPTION_KEYS);
    this.schema = assertIdentifier(checked.schema ?? 'public', 'schema', WHO);
    this.tableName = assertIdentifier(
      checked.tableName ?? DEFAULT_MEMORY_TABLE,
      'tableName',
      WHO,
      MAX_MEMORY_TABLE_LENGTH,
    );
    const cache = readSearchCacheOption(checked.searchCache, WHO);
    this.#cache = cache === false ? undefined : new SearchCache(cache.maxBytes);
    const logger = checked.logger ?? silentLogger;
    this.#connection = new PostgresConnection(resolveConnection(checked, WHO), WHO, logger);
    this.#names = memoryNames(this.schema, this.tableName);
    this.#sql = memoryStatements(this.#names);
  }

  /** Connects and applies pending migrations (every method does this on first use). */
  async ready(): Promise<void> {
    this.#connection.assertOpen();
    await this.#ensureReady();
  }

  async #ensureReady(): Promise<void> {
    if (this.#isReady) return;
    this.#readying ??= applyMigrations(this.#connection, {
      schema: this.schema,
      versionTable: this.#names.versions,
      component: 'memories',
      tableName: this.tableName,
      migrations: memoryMigrations(this.#names),
    }).then(
      () => {
        this.#isReady = true;
      },
      (error: unknown) => {
        this.#readying = undefined;
        throw error;
      },
    );
    await this.#readying;
  }

  async readMemories(input: ReadMemoriesInput): Promise<UserMemory[]> {
    this.#connection.assertOpen();
    const { userId, limit, sort, missingEmbedding } = normalizeReadMemoriesInput(input);
    await this.#ensureReady();
    const result = await this.#connection.query<MemoryRow>(
      'readMemories',
      sort === 'newest' ? this.#sql.selectNewest : this.#sql.selectOldest,
      [userId, limit ?? null, missingEmbedding ?? null],
      'read',
    );
    return result.rows.map(rowToMemory);
  }

  async upsertMemory(input: UpsertMemoryInput): Promise<UserMemory> {
    this.#connection.assertOpen();
    const memory = normalizeUpsertMemoryInput(input);
    const embedding = normalizeMemoryEmbedding(input);
    const { id, userId, createdAt, updatedAt, ...rest } = memory;
    const body = toJsonbText(rest, 'memory');
    await this.#ensureReady();
    const result = await this.#connection.query<{ created_at: number }>(
      'upsertMemory',
      this.#sql.upsert,
      [
        id,
        userId,
        createdAt,
        updatedAt,
        body,
        embedding === undefined ? null : unitVector(embedding),
      ],
      'write',
    );
    const row = result.rows[0];
    if (row === undefined) throw memoryOwnershipError(id, userId);
    return { ...memory, createdAt: row.created_at };
  }

  /**
   * Exact cosine ranking over that user's memories with an embedding of the query's length, best
   * `limit` first, ties by id. With the search cache (the default) one statement returns the
   * user's revision and what changed since the cached one, and the ranking runs in process; a
   * user too large for the cache (or `searchCache: false`) is ranked by SQL in one statement (the
   * `(user_id, embedding_dims)` index, the sum of products of the two unit vectors). Both give
   * the same order and the same scores.
   */
  async searchMemories(input: SearchMemoriesInput): Promise<ScoredMemory[]> {
    this.#connection.assertOpen();
    const { userId, embedding, limit } = normalizeSearchMemoriesInput(input);
    await this.#ensureReady();
    const query = unitVector(embedding);
    const cache = this.#cache;
    const key = SearchCache.key(userId, query.length);
    if (cache !== undefined && !cache.isOversize(key)) {
      const vector = Float64Array.from(query);
      for (let attempt = 0; attempt < CACHE_ATTEMPTS; attempt++) {
        const ranked = await this.#searchCached(cache, key, userId, vector, limit);
        if (ranked === 'oversize') break;
        if (ranked !== 'moved') {
          return ranked.map(({ memory, score }) => ({
            ...rowToMemory({
              id: memory.id,
              user_id: userId,
              created_at: memory.createdAt,
              updated_at: memory.updatedAt,
              body: memory.body,
            }),
            score,
          }));
        }
      }
    }
    const result = await this.#connection.query<MemoryRow & { score: number }>(
      'searchMemories',
      this.#sql.search,
      [userId, query, query.length, limit],
      'read',
    );
    return result.rows.map((row) => ({ ...rowToMemory(row), score: row.score }));
  }

  /**
   * One round trip of the cached path. `'oversize'`: the user does not fit (search in SQL);
   * `'moved'`: a concurrent search changed the entry while this one waited, try again.
   */
  async #searchCached(
    cache: SearchCache,
    key: string,
    userId: string,
    query: Float64Array,
    limit: number,
  ): Promise<RankedMemory[] | 'oversize' | 'moved'> {
    const dimensions = query.length;
    const base = cache.get(key);
    const baseVersion = base?.version;
    const maxRows = Math.floor(cache.maxBytes / (ENTRY_OVERHEAD_BYTES + dimensions * 8));
    const pending = this.#connection.query<SearchCacheRow>(
      'searchMemories',
      this.#sql.searchCache,
      [userId, dimensions, base?.epoch ?? null, base?.rev ?? 0, maxRows],
      'read',
    );
    // While the statement travels, rank what is cached: when it reports nothing new (the usual
    // case) that ranking is the answer, and the round trip costs no extra time. One macrotask
    // first, so that the statement is on the socket before the ranking occupies the thread.
    let speculative: RankedMemory[] | undefined;
    if (base !== undefined) {
      pending.catch(() => {});
      await new Promise((resolve) => setImmediate(resolve));
      if (base.version === baseVersion) speculative = rankEntry(base, query, limit + SPARE_RANKS);
    }
    const result = await pending;
    const [header, ...rows] = result.rows;
    if (header === undefined || header.kind !== 0) {
      throw this.#connection.toError(
        new Error('the search statement returned no revision row'),
        'searchMemories',
        'read',
      );
    }
    const { rev, epoch } = header;
    const same = base !== undefined && epoch !== null && epoch === base.epoch;
    if (!same) {
      // A full read (first search, or something of the user was deleted): a complete snapshot.
      if (header.total !== null && header.total > maxRows) {
        cache.markOversize(key);
        return 'oversize';
      }
      const entry: CacheEntry = {
        key,
        userId,
        dimensions,
        rev: rev ?? 0,
        epoch: epoch ?? 0,
        version: 0,
        bytes: 0,
        memories: new Map(),
      };
      for (const row of rows) {
        const memory = this.#cachedMemory(row, dimensions);
        if (memory === undefined) continue;
        entry.memories.set(memory.id, memory);
        entry.bytes += memory.bytes;
      }
      const ranked = rankEntry(entry, query, limit);
      const current = cache.peek(key);
      if (rev === null || epoch === null) {
        // The user was deleted: no revision to keep an entry current by.
        if (current === base) cache.delete(key);
      } else if (current === base && current?.version === baseVersion) {
        cache.store(entry);
      }
      return ranked;
    }
    const current = cache.peek(key);
    if (current === base && current.version === baseVersion) {
      if (rows.length === 0) {
        // Nothing written since (a revision without a row: a refused upsert of another user's id).
        current.rev = rev ?? current.rev;
        return speculative?.slice(0, limit) ?? rankEntry(current, query, limit);
      }
      // The rows written after the cached revision: newer versions replace older ones, a row
      // whose embedding is gone or has another length leaves (deletions change the epoch).
      let delta = 0;
      for (const row of rows) {
        const id = row.id as string;
        const previous = current.memories.get(id);
        if (previous !== undefined) {
          current.memories.delete(id);
          delta -= previous.bytes;
        }
        const memory = this.#cachedMemory(row, dimensions);
        if (memory === undefined) continue;
        current.memories.set(id, memory);
        delta += memory.bytes;
      }
      current.rev = rev ?? current.rev;
      current.bytes += delta;
      current.version += 1;
      const ranked =
        speculative !== undefined && rows.length <= SPARE_RANKS
          ? mergeRanks(speculative, rows, current, query, limit)
          : rankEntry(current, query, limit);
      if (delta !== 0) cache.resized(current, delta);
      return ranked;
    }
    // Another search moved the entry meanwhile: usable if it is at least as new as this snapshot.
    if (current !== undefined && current.epoch === epoch && rev !== null && current.rev >= rev) {
      return rankEntry(current, query, limit);
    }
    return 'moved';
  }

  /** A row of the cache statement as a cached memory; `undefined` when it has no vector. */
  #cachedMemory(row: SearchCacheRow, dimensions: number): CachedMemory | undefined {
    if (row.vector === null) return undefined;
    const id = row.id as string;
    return {
      id,
      createdAt: row.created_at as number,
      updatedAt: row.updated_at as number,
      body: row.body,
      rev: row.rev as number,
      vector: decodeFloat8Array(row.vector, dimensions, id),
      bytes: cachedMemoryBytes(id, row.body, dimensions),
    };
  }

  async deleteMemory(input: { id: string; userId: string }): Promise<boolean> {
    this.#connection.assertOpen();
    const { id, userId } = normalizeMemoryIdInput(input);
    await this.#ensureReady();
    const result = await this.#connection.query<{ deleted: number }>(
      'deleteMemory',
      this.#sql.deleteMemory,
      [id, userId],
      'write',
    );
    return (result.rows[0]?.deleted ?? 0) > 0;
  }

  async clearMemories(input: { userId: string }): Promise<number> {
    this.#connection.assertOpen();
    const { userId } = normalizeUserIdInput(input, 'clearMemories');
    return this.#deleteUser('clearMemories', userId);
  }

  async deleteUserData(userId: string): Promise<number> {
    this.#connection.assertOpen();
    assertId(userId, 'userId');
    return this.#deleteUser('deleteUserData', userId);
  }

  async #deleteUser(operation: string, userId: string): Promise<number> {
    await this.#ensureReady();
    const result = await this.#connection.query<{ deleted: number }>(
      operation,
      this.#sql.deleteUserMemories,
      [userId],
      'write',
    );
    // Not needed for correctness (the next search sees the user's revision row gone), but what
    // was deleted should not stay in this process's memory either.
    this.#cache?.deleteUser(userId);
    return result.rows[0]?.deleted ?? 0;
  }

  /** Ends the pool if this db created it; never a pool you passed. Idempotent. */
  async close(): Promise<void> {
    this.#cache?.clear();
    await this.#connection.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Alias of `new PostgresMemoryDb(options)`.
 *
 * @example
 * const db = createPostgresMemoryDb({ connectionString: 'postgres://localhost/app' });
 */
export function createPostgresMemoryDb(options?: PostgresMemoryDbOptions): PostgresMemoryDb {
  return new PostgresMemoryDb(options);
}
