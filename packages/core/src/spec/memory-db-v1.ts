/**
 * The user-memory database contract: durable facts about a user that outlive sessions.
 *
 * Implemented by `InMemoryMemoryDb` (this package), `SqliteMemoryDb` (`@buddy/db-sqlite`) and
 * `RedisMemoryDb` (`@buddy/db-redis`); all pass `describeMemoryDbContract` from
 * `@buddy/testkit/storage`. Types only.
 *
 * Every operation is scoped to one user: no method reads, changes or deletes another user's rows,
 * and there is no global clear. Rows are stored as JSON (never evaluated). A stored row that fails
 * validation raises `STORAGE_CORRUPT` naming it.
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

export interface ReadMemoriesInput {
  userId: string;
  /** At most this many (positive integer). All when absent. */
  limit?: number;
  /** By `createdAt` (then `id`); `'newest'` first by default. */
  sort?: 'newest' | 'oldest';
}

/** Storage for user memories. */
export interface MemoryDb {
  /** Always `'v1'`. */
  readonly specificationVersion: 'v1';
  /** Backend name, e.g. `'sqlite'`. */
  readonly backend: string;
  readMemories(input: ReadMemoriesInput): Promise<UserMemory[]>;
  /**
   * Inserts, or replaces the row with the same `id`. The stored `createdAt` of an existing row is
   * kept. When the id exists for another user, rejects with `MEMORY_OWNERSHIP` and writes nothing.
   */
  upsertMemory(memory: UserMemory): Promise<UserMemory>;
  /** Deletes the row only if it belongs to `userId`. `false` when there was no such row. */
  deleteMemory(input: { id: string; userId: string }): Promise<boolean>;
  /** Deletes all of this user's memories; returns how many. */
  clearMemories(input: { userId: string }): Promise<number>;
  /** Deletes everything stored for this user; returns how many rows. */
  deleteUserData(userId: string): Promise<number>;
  /** Releases what the db created itself. Idempotent. */
  close(): Promise<void>;
}
