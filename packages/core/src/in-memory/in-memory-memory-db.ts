/**
 * `InMemoryMemoryDb`: the reference implementation of `MemoryDb`. Rows are kept as JSON text per
 * user, so every operation touches one user's rows only. Nothing survives the process.
 */
import { BuddyError } from '../errors/buddy-error.ts';
import type { MemoryDb, ReadMemoriesInput, UserMemory } from '../spec/memory-db-v1.ts';
import {
  assertNonEmptyString,
  assertUserMemory,
  compareMemories,
  memoryOwnershipError,
  normalizeReadMemoriesInput,
  parseUserMemory,
} from '../storage/storage-helpers.ts';

/**
 * @example
 * const memory = new AgentMemory({ db: new InMemoryMemoryDb() });
 */
export class InMemoryMemoryDb implements MemoryDb {
  readonly specificationVersion = 'v1' as const;
  readonly backend = 'memory';
  /** userId → (memory id → JSON row). Exposed for tests that simulate corruption. */
  readonly rows = new Map<string, Map<string, string>>();
  /** memory id → owner, so an id can never be taken over by another user. */
  readonly #owners = new Map<string, string>();
  #closed = false;

  #assertOpen(): void {
    if (this.#closed) {
      throw new BuddyError({
        code: 'STORAGE_UNAVAILABLE',
        message: 'InMemoryMemoryDb is closed',
        retryable: false,
      });
    }
  }

  async readMemories(input: ReadMemoriesInput): Promise<UserMemory[]> {
    this.#assertOpen();
    const query = normalizeReadMemoriesInput(input);
    const memories = [...(this.rows.get(query.userId) ?? new Map<string, string>())].map(
      ([id, raw]) => parseUserMemory(raw, id),
    );
    memories.sort(compareMemories(query.sort));
    return query.limit === undefined ? memories : memories.slice(0, query.limit);
  }

  async upsertMemory(memory: UserMemory): Promise<UserMemory> {
    this.#assertOpen();
    assertUserMemory(memory);
    const owner = this.#owners.get(memory.id);
    if (owner !== undefined && owner !== memory.userId) {
      throw memoryOwnershipError(memory.id, memory.userId);
    }
    const userRows = this.rows.get(memory.userId) ?? new Map<string, string>();
    const existingRaw = userRows.get(memory.id);
    const stored: UserMemory =
      existingRaw === undefined
        ? { ...memory }
        : { ...memory, createdAt: parseUserMemory(existingRaw, memory.id).createdAt };
    userRows.set(memory.id, JSON.stringify(stored));
    this.rows.set(memory.userId, userRows);
    this.#owners.set(memory.id, memory.userId);
    return stored;
  }

  async deleteMemory(input: { id: string; userId: string }): Promise<boolean> {
    this.#assertOpen();
    assertNonEmptyString(input.id, 'id');
    assertNonEmptyString(input.userId, 'userId');
    const deleted = this.rows.get(input.userId)?.delete(input.id) ?? false;
    if (deleted) this.#owners.delete(input.id);
    return deleted;
  }

  async clearMemories(input: { userId: string }): Promise<number> {
    this.#assertOpen();
    assertNonEmptyString(input.userId, 'userId');
    const userRows = this.rows.get(input.userId);
    if (userRows === undefined) return 0;
    for (const id of userRows.keys()) this.#owners.delete(id);
    this.rows.delete(input.userId);
    return userRows.size;
  }

  async deleteUserData(userId: string): Promise<number> {
    return this.clearMemories({ userId });
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}
