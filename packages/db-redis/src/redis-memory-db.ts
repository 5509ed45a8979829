/**
 * `RedisMemoryDb`: the `MemoryDb` contract on Redis 6.2+ (standalone, Sentinel or Cluster),
 * through ioredis.
 *
 * Connection ownership: pass `client` and you keep it; pass `url` (or nothing) and the db creates
 * a lazily connecting client that `close()` disconnects.
 *
 * Layout: one hash per user, `m:{userId}` (field = memory id, value = JSON row), and one small
 * string per memory id, `mid:{id}` = owning user, so an id held by one user can never be written
 * by another. The two live in different Cluster slots, so an upsert claims the id first (a script
 * on `mid:{id}`: set if absent, else report the owner) and writes the row second (a script on the
 * user's hash that keeps the stored `createdAt`). Deletes drop the claim before the row, so a row
 * never outlives its claim; a crash in between leaves at worst a claim without a row, which only
 * keeps that id reserved for its user.
 *
 * Embeddings (0.2) live in a second hash with the user's tag, `me:{userId}` (field = memory id,
 * value = little-endian float64 bytes), written and deleted by the same scripts as the rows.
 * `searchMemories` is exact: it reads every vector of that user (one flat `HGETALL`), ranks them by
 * cosine similarity in this process, then reads the winning rows and re-reads their vectors in one
 * `MULTI` and keeps only those that did not change in between (else it searches again, at most
 * three times). Ranking inside a Lua script was measured too: four to six times slower, and it
 * blocks the server (and on a Cluster everyone on that shard) while it runs. See the README for the
 * sizes where this stops being cheap.
 *
 * Sharp edge: `readMemories` reads the user's whole hash and sorts in process (memories per user
 * are few: they all go into the system message anyway).
 */
import {
  BuddyError,
  describeValue,
  type MemoryDb,
  type ReadMemoriesInput,
  type ScoredMemory,
  type SearchMemoriesInput,
  type UpsertMemoryInput,
  type UserMemory,
} from '@buddy/core';
import {
  assertId,
  compareMemories,
  memoryOwnershipError,
  normalizeMemoryEmbedding,
  normalizeMemoryIdInput,
  normalizeReadMemoriesInput,
  normalizeSearchMemoriesInput,
  normalizeUpsertMemoryInput,
  normalizeUserIdInput,
  parseUserMemory,
} from '@buddy/core/adapter-utils';
import {
  type BatchCall,
  callScript,
  RedisConnection,
  type RedisConnectionOptions,
  validateConnectionOptions,
} from './redis-connection.ts';
import { DEFAULT_PREFIX, RedisKeys } from './redis-keys.ts';
import {
  CLAIM_MEMORY_ID,
  DELETE_MEMORIES,
  MEMORIES_MISSING_EMBEDDING,
  PUT_MEMORY,
  RELEASE_MEMORY_ID,
} from './redis-scripts.ts';
import { encodeEmbedding, flatHashReply, rankEmbeddings } from './redis-vector-search.ts';

/** Options of `RedisMemoryDb`: `url` or `client`, and `prefix`. */
export type RedisMemoryDbOptions = RedisConnectionOptions;

const OPTION_KEYS = ['url', 'client', 'prefix'] as const;
const WHO = 'RedisMemoryDb';
/** Memory ids removed per command by `clearMemories`. */
const CLEAR_BATCH = 500;
/** How often `searchMemories` ranks again when a winner changed between its two reads. */
const MAX_SEARCH_ATTEMPTS = 3;

/** `HGETALL`-style replies: an object, or a `Map` from a client with RESP3 reply mapping. */
function entriesOf<T>(reply: unknown): [string, T][] {
  return reply instanceof Map
    ? [...(reply as Map<unknown, T>)].map(([key, value]) => [String(key), value])
    : Object.entries(reply as Record<string, T>);
}

/**
 * User memories on Redis.
 *
 * @example
 * const db = new RedisMemoryDb({ url: 'redis://127.0.0.1:6379' });
 * const memory = new AgentMemory({ db });
 * const agent = new Agent({ model, memory, enableUserMemories: true, userId: 'dana' });
 */
export class RedisMemoryDb implements MemoryDb {
  readonly specificationVersion = 'v1' as const;
  readonly backend = 'redis';
  /** The key prefix in use (default `buddy:`). */
  readonly prefix: string;
  readonly #connection: RedisConnection;
  readonly #keys: RedisKeys;

  constructor(options: RedisMemoryDbOptions = {}) {
    validateConnectionOptions(WHO, options, OPTION_KEYS);
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    this.#keys = new RedisKeys(this.prefix);
    this.#connection = new RedisConnection(WHO, options, [
      CLAIM_MEMORY_ID,
      RELEASE_MEMORY_ID,
      PUT_MEMORY,
      DELETE_MEMORIES,
      MEMORIES_MISSING_EMBEDDING,
    ]);
  }

  async readMemories(input: ReadMemoriesInput): Promise<UserMemory[]> {
    this.#connection.assertOpen();
    const { userId, limit, sort, missingEmbedding } = normalizeReadMemoriesInput(input);
    const key = this.#keys.memories(userId);
    let entries: [string, unknown][];
    if (missingEmbedding === undefined) {
      // A client created with `replyMapping: 'resp3'` may hand maps back as `Map`s.
      entries = entriesOf(
        await this.#connection.run('readMemories', (client) => client.hgetall(key)),
      );
    } else {
      const flat = (await this.#connection.run('readMemories', (client) =>
        callScript(
          client,
          MEMORIES_MISSING_EMBEDDING,
          [key, this.#keys.memoryEmbeddings(userId)],
          [missingEmbedding * Float64Array.BYTES_PER_ELEMENT],
        ),
      )) as string[];
      entries = [];
      for (let position = 0; position + 1 < flat.length; position += 2) {
        entries.push([String(flat[position]), flat[position + 1]]);
      }
    }
    const memories = entries.map(([id, raw]) => parseUserMemory(raw, id));
    memories.sort(compareMemories(sort));
    return limit === undefined ? memories : memories.slice(0, limit);
  }

  async upsertMemory(input: UpsertMemoryInput): Promise<UserMemory> {
    this.#connection.assertOpen();
    const memory = normalizeUpsertMemoryInput(input);
    const embedding = normalizeMemoryEmbedding(input);
    const { createdAt, ...rest } = memory;
    const restJson = JSON.stringify(rest);
    const owner = await this.#connection.run('upsertMemory', (client) =>
      callScript(client, CLAIM_MEMORY_ID, [this.#keys.memoryOwner(memory.id)], [memory.userId]),
    );
    if (owner !== memory.userId) throw memoryOwnershipError(memory.id, memory.userId);
    const reply = (await this.#connection.run('upsertMemory', (client) =>
      callScript(
        client,
        PUT_MEMORY,
        [this.#keys.memories(memory.userId), this.#keys.memoryEmbeddings(memory.userId)],
        // The script writes `{"createdAt":<n>` and appends the rest of the row.
        [
          memory.id,
          `,${restJson.slice(1)}`,
          JSON.stringify(createdAt),
          embedding === undefined ? '' : encodeEmbedding(embedding),
        ],
      ),
    )) as (string | null)[];
    if (reply[0] === 'corrupt-vectors') {
      throw new BuddyError({
        code: 'STORAGE_CORRUPT',
        message: `The memory embeddings of user ${describeValue(memory.userId)} are corrupt: ${String(reply[1])}; nothing was written`,
        details: { backend: 'redis', operation: 'upsertMemory' },
      });
    }
    if (reply[0] !== 'ok') {
      parseUserMemory(reply[1], memory.id);
      throw new BuddyError({
        code: 'STORAGE_CORRUPT',
        message: `Memory ${describeValue(memory.id)} is corrupt: its stored createdAt cannot be read`,
      });
    }
    return { ...memory, createdAt: Number(reply[1]) };
  }

  /**
   * Exact cosine ranking over this user's memories with an embedding of the query's length: one
   * `HGETALL` of the user's vectors (cost grows with their number: see the README), ranking here,
   * then one `MULTI` reading the winners' rows and vectors again. A winner deleted or re-embedded
   * in between makes it rank again (at most three times; then only unchanged winners are
   * returned), so a result never names a deleted memory or a score of a vector it no longer has.
   */
  async searchMemories(input: SearchMemoriesInput): Promise<ScoredMemory[]> {
    this.#connection.assertOpen();
    const { userId, embedding, limit } = normalizeSearchMemoriesInput(input);
    const rowsKey = this.#keys.memories(userId);
    const vectorsKey = this.#keys.memoryEmbeddings(userId);
    for (let attempt = 1; ; attempt++) {
      // The flat reply (no object of thousands of keys to build): ids are decoded for winners only.
      const vectors = flatHashReply(
        await this.#connection.run('searchMemories', (client) =>
          client.callBuffer('HGETALL', vectorsKey),
        ),
      );
      const winners = rankEmbeddings(embedding, vectors, limit);
      if (winners.length === 0) return [];
      const ids = winners.map((winner) => winner.id);
      const replies = await this.#connection.run('searchMemories', (client) =>
        client
          .multi()
          .hmget(rowsKey, ...ids)
          .hmgetBuffer(vectorsKey, ...ids)
          .exec(),
      );
      if (replies === null) {
        throw this.#connection.translate(new Error('the MULTI was discarded'), 'searchMemories');
      }
      for (const [error] of replies) {
        if (error) throw this.#connection.translate(error, 'searchMemories');
      }
      const rows = replies[0]?.[1] as (string | null)[];
      const now = replies[1]?.[1] as (Buffer | null)[];
      const found: ScoredMemory[] = [];
      let changed = false;
      winners.forEach((winner, position) => {
        const row = rows[position];
        const vector = now[position];
        if (vector === null || vector === undefined || !vector.equals(winner.bytes)) {
          changed = true; // deleted or re-embedded since it was ranked
          return;
        }
        // A vector without its row cannot be written by this package (one script writes both);
        // it is skipped, not searched for again.
        if (row === null || row === undefined) return;
        found.push({ ...parseUserMemory(row, winner.id), score: winner.score });
      });
      if (!changed || attempt >= MAX_SEARCH_ATTEMPTS) return found;
    }
  }

  async deleteMemory(input: { id: string; userId: string }): Promise<boolean> {
    this.#connection.assertOpen();
    const { id, userId } = normalizeMemoryIdInput(input);
    // Claim first, row second (see the module header): two slots, so two steps on a Cluster.
    // Another user's claim is left alone, and the row delete only touches this user's own hash.
    const [, removed] = await this.#connection.batchValues(
      [
        (target) => callScript(target, RELEASE_MEMORY_ID, [this.#keys.memoryOwner(id)], [userId]),
        (target) =>
          callScript(
            target,
            DELETE_MEMORIES,
            [this.#keys.memories(userId), this.#keys.memoryEmbeddings(userId)],
            [id],
          ),
      ],
      'deleteMemory',
    );
    return Number(removed) === 1;
  }

  async clearMemories(input: { userId: string }): Promise<number> {
    this.#connection.assertOpen();
    const { userId } = normalizeUserIdInput(input, 'clearMemories');
    return this.#clear(userId);
  }

  async deleteUserData(userId: string): Promise<number> {
    this.#connection.assertOpen();
    assertId(userId, 'userId');
    return this.#clear(userId);
  }

  /** Idempotent. Closes the client only if this db created it. */
  async close(): Promise<void> {
    await this.#connection.close();
  }

  /** The same as `close()`, for `await using db = new RedisMemoryDb(...)`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #clear(userId: string): Promise<number> {
    const key = this.#keys.memories(userId);
    const ids = await this.#connection.run('clearMemories', (client) => client.hkeys(key));
    let removed = 0;
    for (let start = 0; start < ids.length; start += CLEAR_BATCH) {
      const batch = ids.slice(start, start + CLEAR_BATCH);
      const calls: BatchCall[] = batch.map(
        (id) => (target) =>
          callScript(target, RELEASE_MEMORY_ID, [this.#keys.memoryOwner(id)], [userId]),
      );
      calls.push((target) =>
        callScript(target, DELETE_MEMORIES, [key, this.#keys.memoryEmbeddings(userId)], batch),
      );
      const replies = await this.#connection.batchValues(calls, 'clearMemories');
      removed += Number(replies.at(-1));
    }
    return removed;
  }
}

/**
 * Same as `new RedisMemoryDb(options)`.
 *
 * @example
 * const db = createRedisMemoryDb({ url: 'redis://127.0.0.1:6379', prefix: 'myapp:' });
 */
export function createRedisMemoryDb(options: RedisMemoryDbOptions = {}): RedisMemoryDb {
  return new RedisMemoryDb(options);
}
