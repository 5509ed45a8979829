/**
 * The user-memory database contract: durable facts about a user that outlive sessions.
 *
 * Implemented by `InMemoryMemoryDb` (this package), `SqliteMemoryDb` (`@buddy/db-sqlite`) and
 * `RedisMemoryDb` (`@buddy/db-redis`); all pass `describeMemoryDbContract` from
 * `@buddy/testkit/storage`. Types only.
 *
 * Every operation is scoped to one user: no method reads, changes or deletes another user's rows,
 * and there is no global clear. Rows are stored as JSON (never evaluated). A stored row that fails
 * validation raises `STORAGE_CORRUPT` naming it. Every input is checked with core's shared
 * validators (`normalizeUpsertMemoryInput`, `normalizeReadMemoriesInput`, …) before anything is
 * written; unknown option keys are `INVALID_ARGUMENT`.
 */

/** One durable fact about a user. */
export interface UserMemory {
  /** Random (uuid). Unique across all users. */
  id: string;
  userId: string;
  /** The fact, in one or two sentences. */
  memory: string;
  topics?: string[];
  /** The user message it was learnt from. */
  input?: string;
  /** Epoch milliseconds. */
  createdAt: number;
  /** Epoch milliseconds. */
  updatedAt: number;
}

/** Input of `readMemories`. */
export interface ReadMemoriesInput {
  userId: string;
  /** At most this many (positive integer). All when absent. */
  limit?: number;
  /** By `createdAt` (then `id`); `'newest'` first by default. */
  sort?: 'newest' | 'oldest';
}

/**
 * A memory to store: `id`, `createdAt` and `updatedAt` may be left out for a new memory (the db
 * generates a random uuid and takes the time). Only `userId` and `memory` are required.
 */
export interface UpsertMemoryInput {
  /** Absent for a new memory: a random uuid is generated. */
  id?: string;
  userId: string;
  memory: string;
  topics?: string[];
  input?: string;
  /** Epoch milliseconds; now when absent. Kept from the stored row when the id exists. */
  createdAt?: number;
  /** Epoch milliseconds; now when absent. */
  updatedAt?: number;
}

/** Storage for user memories (version 1 of the contract). */
export interface MemoryDbV1 {
  /** Always `'v1'`. */
  readonly specificationVersion: 'v1';
  /** Backend name, e.g. `'sqlite'`. */
  readonly backend: string;
  readMemories(input: ReadMemoriesInput): Promise<UserMemory[]>;
  /**
   * Inserts, or replaces the row with the same `id`, and resolves with the stored row. Without an
   * `id` a new row gets a random uuid. The stored `createdAt` of an existing row is kept. When
   * the id exists for another user, rejects with `MEMORY_OWNERSHIP` and writes nothing.
   */
  upsertMemory(memory: UpsertMemoryInput): Promise<UserMemory>;
  /** Deletes the row only if it belongs to `userId`. `false` when there was no such row. */
  deleteMemory(input: { id: string; userId: string }): Promise<boolean>;
  /** Deletes all of this user's memories; returns how many. */
  clearMemories(input: { userId: string }): Promise<number>;
  /** Deletes everything stored for this user; returns how many rows. */
  deleteUserData(userId: string): Promise<number>;
  /** Releases what the db created itself. Idempotent; later calls reject with `STORAGE_CLOSED`. */
  close(): Promise<void>;
  /** The same as `close()`, for `await using db = ...`. */
  [Symbol.asyncDispose]?(): Promise<void>;
}

/** The current memory db contract. */
export type MemoryDb = MemoryDbV1;
