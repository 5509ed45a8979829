/**
 * `encryptedMemoryDb(db, { key, previousKeys? })`: encryption at rest for any `MemoryDb` (SPEC
 * §15.3). The wrapped db stores each memory's text, topics and source input as one ciphertext in
 * the `memory` field, bound by associated data to the memory's id and user: a text copied to
 * another row or user fails to decrypt with `DECRYPTION_FAILED` naming the memory. Ids, the
 * owner and the timestamps stay in clear (the per-user index and the ordering need them).
 *
 * Embeddings stay in clear. `searchMemories` ranks rows inside the backend (exactly, or with
 * pgvector / sqlite-vec), which needs the vectors; encrypting them would turn every search into
 * reading and decrypting all of a user's memories. The trade-off: an embedding is not the text,
 * but it is derived from it, and embedding-inversion attacks recover much of a short text's
 * meaning from its vector. Whoever must not leak even that should not give `AgentMemory` an
 * embedder (then no embeddings are stored at all).
 *
 * Closing the wrapper closes the wrapped db.
 */
import { BuddyError } from '../errors/buddy-error.ts';
import { describeValue } from '../errors/describe-value.ts';
import type {
  MemoryDb,
  ReadMemoriesInput,
  ScoredMemory,
  SearchMemoriesInput,
  UpsertMemoryInput,
  UserMemory,
} from '../spec/memory-db-v1.ts';
import {
  normalizeMemoryEmbedding,
  normalizeUpsertMemoryInput,
  storageClosedError,
} from '../storage/storage-helpers.ts';
import { isPlainObject } from '../validation/options.ts';
import {
  associatedData,
  type EncryptionKeys,
  RecordCipher,
  readWrapperArguments,
} from './record-cipher.ts';

/** Options of `encryptedMemoryDb`. */
export type EncryptedMemoryDbOptions = EncryptionKeys;

const WHO = 'encryptedMemoryDb';

interface MemorySecret {
  memory: string;
  topics?: string[];
  input?: string;
}

class EncryptedMemoryDb implements MemoryDb {
  readonly specificationVersion = 'v1' as const;
  readonly backend: string;
  readonly #inner: MemoryDb;
  readonly #cipher: RecordCipher;
  #closed = false;

  constructor(inner: MemoryDb, options: EncryptedMemoryDbOptions) {
    this.#inner = inner;
    this.#cipher = new RecordCipher(options, WHO);
    this.backend = inner.backend;
  }

  #assertOpen(): void {
    if (this.#closed) throw storageClosedError(WHO);
  }

  #decrypt<T extends UserMemory>(row: T): T {
    const subject = {
      what: `memory ${describeValue(row.id)} of user ${describeValue(row.userId)}`,
      details: { memoryId: row.id, userId: row.userId },
    };
    const text = this.#cipher.decrypt(
      row.memory,
      associatedData('memory', row.userId, row.id),
      subject,
    );
    let secret: MemorySecret;
    try {
      secret = JSON.parse(text) as MemorySecret;
    } catch (error) {
      throw new BuddyError({
        code: 'STORAGE_CORRUPT',
        message: `${subject.what} decrypted to text that is not JSON`,
        details: subject.details,
        cause: error,
      });
    }
    if (!isPlainObject(secret) || typeof secret.memory !== 'string') {
      throw new BuddyError({
        code: 'STORAGE_CORRUPT',
        message: `${subject.what} decrypted to something that is not a memory`,
        details: subject.details,
      });
    }
    // Topics and input live only in the ciphertext; whatever the backend has there is dropped.
    // The keys come back in the order of a plain backend's rows (id, userId, memory, …).
    const { id, userId, topics: _topics, input: _input, memory: _memory, ...rest } = row;
    return {
      id,
      userId,
      memory: secret.memory,
      ...(secret.topics === undefined ? {} : { topics: secret.topics }),
      ...(secret.input === undefined ? {} : { input: secret.input }),
      ...rest,
    } as T;
  }

  async readMemories(input: ReadMemoriesInput): Promise<UserMemory[]> {
    this.#assertOpen();
    const rows = await this.#inner.readMemories(input);
    return rows.map((row) => this.#decrypt(row));
  }

  async upsertMemory(input: UpsertMemoryInput): Promise<UserMemory> {
    this.#assertOpen();
    // Checked before encryption, so errors name the caller's values. The id is fixed here, also
    // for a new memory (a random uuid): the ciphertext is bound to it.
    const memory = normalizeUpsertMemoryInput(input);
    const embedding = normalizeMemoryEmbedding(input);
    const { id } = memory;
    const secret: MemorySecret = {
      memory: memory.memory,
      ...(memory.topics === undefined ? {} : { topics: memory.topics }),
      ...(memory.input === undefined ? {} : { input: memory.input }),
    };
    const stored = await this.#inner.upsertMemory({
      id,
      userId: memory.userId,
      memory: this.#cipher.encrypt(
        JSON.stringify(secret),
        associatedData('memory', memory.userId, id),
      ),
      createdAt: memory.createdAt,
      updatedAt: memory.updatedAt,
      ...(embedding === undefined ? {} : { embedding }),
    });
    return this.#decrypt(stored);
  }

  async searchMemories(input: SearchMemoriesInput): Promise<ScoredMemory[]> {
    this.#assertOpen();
    const rows = await this.#inner.searchMemories(input);
    return rows.map((row) => this.#decrypt(row));
  }

  async deleteMemory(input: { id: string; userId: string }): Promise<boolean> {
    this.#assertOpen();
    return this.#inner.deleteMemory(input);
  }

  async clearMemories(input: { userId: string }): Promise<number> {
    this.#assertOpen();
    return this.#inner.clearMemories(input);
  }

  async deleteUserData(userId: string): Promise<number> {
    this.#assertOpen();
    return this.#inner.deleteUserData(userId);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#inner.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Wraps a memory db so that memory texts (with their topics and input) are stored encrypted
 * (AES-256-GCM); embeddings, ids, owners and timestamps stay in clear (see the module comment).
 * Closing the wrapper closes `db`.
 *
 * @example
 * const db = encryptedMemoryDb(new SqliteMemoryDb({ dbFile: 'agent.db' }), {
 *   key: process.env.BUDDY_ENCRYPTION_KEY,
 * });
 * const memory = new AgentMemory({ db, model });
 */
export function encryptedMemoryDb(db: MemoryDb, options: EncryptedMemoryDbOptions): MemoryDb {
  const checked = readWrapperArguments<EncryptedMemoryDbOptions>(
    WHO,
    db,
    { argument: 'db', contract: 'MemoryDb' },
    options,
    ['key', 'previousKeys'],
  );
  return new EncryptedMemoryDb(db, checked);
}
