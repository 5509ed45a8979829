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
 * Sharp edge: `readMemories` reads the user's whole hash and sorts in process (memories per user
 * are few: they all go into the system message anyway).
 */
import {
  BuddyError,
  describeValue,
  type MemoryDb,
  type ReadMemoriesInput,
  type UpsertMemoryInput,
  type UserMemory,
} from '@buddy/core';
import {
  assertId,
  compareMemories,
  memoryOwnershipError,
  normalizeMemoryIdInput,
  normalizeReadMemoriesInput,
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
import { CLAIM_MEMORY_ID, PUT_MEMORY, RELEASE_MEMORY_ID } from './redis-scripts.ts';

/** Options of `RedisMemoryDb`: `url` or `client`, and `prefix`. */
export type RedisMemoryDbOptions = RedisConnectionOptions;

const OPTION_KEYS = ['url', 'client', 'prefix'] as const;
const WHO = 'RedisMemoryDb';
/** Memory ids removed per command by `clearMemories`. */
const CLEAR_BATCH = 500;

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
    ]);
  }

  async readMemories(input: ReadMemoriesInput): Promise<UserMemory[]> {
    this.#connection.assertOpen();
    const { userId, limit, sort } = normalizeReadMemoriesInput(input);
    const key = this.#keys.memories(userId);
    const rows = await this.#connection.run('readMemories', (client) => client.hgetall(key));
    // A client created with `replyMapping: 'resp3'` may hand maps back as `Map`s.
    const entries: [string, unknown][] =
      (rows as unknown) instanceof Map
        ? [...(rows as unknown as Map<string, unknown>)]
        : Object.entries(rows);
    const memories = entries.map(([id, raw]) => parseUserMemory(raw, id));
    memories.sort(compareMemories(sort));
    return limit === undefined ? memories : memories.slice(0, limit);
  }

  async upsertMemory(input: UpsertMemoryInput): Promise<UserMemory> {
    this.#connection.assertOpen();
    const memory = normalizeUpsertMemoryInput(input);
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
        [this.#keys.memories(memory.userId)],
        // The script writes `{"createdAt":<n>` and appends the rest of the row.
        [memory.id, `,${restJson.slice(1)}`, JSON.stringify(createdAt)],
      ),
    )) as (string | null)[];
    if (reply[0] !== 'ok') {
      parseUserMemory(reply[1], memory.id);
      throw new BuddyError({
        code: 'STORAGE_CORRUPT',
        message: `Memory ${describeValue(memory.id)} is corrupt: its stored createdAt cannot be read`,
      });
    }
    return { ...memory, createdAt: Number(reply[1]) };
  }

  async deleteMemory(input: { id: string; userId: string }): Promise<boolean> {
    this.#connection.assertOpen();
    const { id, userId } = normalizeMemoryIdInput(input);
    // Claim first, row second (see the module header): two slots, so two steps on a Cluster.
    // Another user's claim is left alone, and the row delete only touches this user's own hash.
    const [, removed] = await this.#connection.batchValues(
      [
        (target) => callScript(target, RELEASE_MEMORY_ID, [this.#keys.memoryOwner(id)], [userId]),
        (target) => target.hdel(this.#keys.memories(userId), id),
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
      calls.push((target) => target.hdel(key, ...batch));
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
