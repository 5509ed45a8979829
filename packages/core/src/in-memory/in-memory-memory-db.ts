/**
 * `InMemoryMemoryDb`: the reference implementation of `MemoryDb`. Rows are kept as JSON text per
 * user, so every operation touches one user's rows only. Nothing survives the process.
 */
import type {
  MemoryDb,
  ReadMemoriesInput,
  ScoredMemory,
  SearchMemoriesInput,
  UpsertMemoryInput,
  UserMemory,
} from '../spec/memory-db-v1.ts';
import {
  compareMemories,
  cosineSimilarity,
  memoryOwnershipError,
  normalizeMemoryEmbedding,
  normalizeMemoryIdInput,
  normalizeReadMemoriesInput,
  normalizeSearchMemoriesInput,
  normalizeUpsertMemoryInput,
  normalizeUserIdInput,
  parseUserMemory,
  storageClosedError,
} from '../storage/storage-helpers.ts';
import { assertId } from '../validation/identifier.ts';

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
  /** memory id → its embedding, stored and deleted with the row. */
  readonly #embeddings = new Map<string, number[]>();
  #closed = false;

  #assertOpen(): void {
    if (this.#closed) throw storageClosedError('InMemoryMemoryDb');
  }

  async readMemories(input: ReadMemoriesInput): Promise<UserMemory[]> {
    this.#assertOpen();
    const query = normalizeReadMemoriesInput(input);
    let memories = [...(this.rows.get(query.userId) ?? new Map<string, string>())].map(
      ([id, raw]) => parseUserMemory(raw, id),
    );
    const dimensions = query.missingEmbedding;
    if (dimensions !== undefined) {
      memories = memories.filter(
        (memory) => this.#embeddings.get(memory.id)?.length !== dimensions,
      );
    }
    memories.sort(compareMemories(query.sort));
    return query.limit === undefined ? memories : memories.slice(0, query.limit);
  }

  async upsertMemory(input: UpsertMemoryInput): Promise<UserMemory> {
    this.#assertOpen();
    const memory = normalizeUpsertMemoryInput(input);
    const embedding = normalizeMemoryEmbedding(input);
    const owner = this.#owners.get(memory.id);
    if (owner !== undefined && owner !== memory.userId) {
      throw memoryOwnershipError(memory.id, memory.userId);
    }
    const userRows = this.rows.get(memory.userId) ?? new Map<string, string>();
    const existingRaw = userRows.get(memory.id);
    const stored: UserMemory =
      existingRaw === undefined
        ? memory
        : { ...memory, createdAt: parseUserMemory(existingRaw, memory.id).createdAt };
    userRows.set(memory.id, JSON.stringify(stored));
    this.rows.set(memory.userId, userRows);
    this.#owners.set(memory.id, memory.userId);
    if (embedding === undefined) this.#embeddings.delete(memory.id);
    else this.#embeddings.set(memory.id, embedding);
    return structuredClone(stored);
  }

  /** Exact cosine ranking over the user's memories: O(memories × dimensions) per search. */
  async searchMemories(input: SearchMemoriesInput): Promise<ScoredMemory[]> {
    this.#assertOpen();
    const query = normalizeSearchMemoriesInput(input);
    const scored: ScoredMemory[] = [];
    for (const [id, raw] of this.rows.get(query.userId) ?? new Map<string, string>()) {
      const embedding = this.#embeddings.get(id);
      if (embedding === undefined || embedding.length !== query.embedding.length) continue;
      scored.push({
        ...parseUserMemory(raw, id),
        score: cosineSimilarity(query.embedding, embedding),
      });
    }
    scored.sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1));
    return scored.slice(0, query.limit);
  }

  async deleteMemory(input: { id: string; userId: string }): Promise<boolean> {
    this.#assertOpen();
    const { id, userId } = normalizeMemoryIdInput(input);
    const deleted = this.rows.get(userId)?.delete(id) ?? false;
    if (deleted) {
      this.#owners.delete(id);
      this.#embeddings.delete(id);
    }
    return deleted;
  }

  async clearMemories(input: { userId: string }): Promise<number> {
    this.#assertOpen();
    const { userId } = normalizeUserIdInput(input, 'clearMemories');
    return this.#clear(userId);
  }

  async deleteUserData(userId: string): Promise<number> {
    this.#assertOpen();
    assertId(userId, 'userId');
    return this.#clear(userId);
  }

  #clear(userId: string): number {
    const userRows = this.rows.get(userId);
    if (userRows === undefined) return 0;
    for (const id of userRows.keys()) {
      this.#owners.delete(id);
      this.#embeddings.delete(id);
    }
    this.rows.delete(userId);
    return userRows.size;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
