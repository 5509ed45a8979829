/**
 * `encryptedStorage(storage, { key, previousKeys? })`: encryption at rest for any
 * `SessionStorage` (SPEC §15.3). The wrapped backend stores, and so its raw bytes contain, only
 * ciphertext for everything a conversation says:
 *
 * - the session state (also as each run's `stateAfter`), the session name, the summary (text and
 *   topics) and a paused run (messages, state, approvals);
 * - each run's messages (text, tool calls and their arguments, tool results).
 *
 * In clear, because the backend's indexes and rules need them: ids (session, run, agent), the
 * owner, timestamps, `version` / `runCount`, the summary's `runsCovered` (which summary is newer,
 * what `prune` may drop), a run's usage, model and status, and the session `metadata` (listing
 * filters on it: keep personal data out of metadata, or leave it out of filters and put it in the
 * state).
 *
 * Every ciphertext is bound to its place by associated data: the session id and the field (for a
 * run also its run id; for the summary also `runsCovered` and `updatedAt`), so a record copied to
 * another session or field fails to decrypt with `DECRYPTION_FAILED` naming the session. So does
 * a record written with a key that is neither `key` nor one of `previousKeys`. A session created
 * by `upsertSession` without a state is stored by the backend with the empty state `{}`; that one
 * value reads back as `{}` without decryption.
 *
 * Sharp edges: an encrypted session name is about 4/3 of the name's UTF-8 size plus 60
 * characters, and must fit the backends' 1000-character limit: names up to about 690 UTF-8
 * bytes (the Agent's generated names are at most 100 characters). Closing the wrapper closes the
 * wrapped storage.
 */
import { BuddyError } from '../errors/buddy-error.ts';
import { describeValue } from '../errors/describe-value.ts';
import { silentLogger } from '../logging/console-logger.ts';
import type { StoredMessage } from '../messages/message.ts';
import type { Logger } from '../spec/logger.ts';
import type {
  AcquireLeaseInput,
  AppendRunInput,
  AppendRunResult,
  GetRunsInput,
  ListSessionsInput,
  ListSessionsResult,
  PendingRunRecord,
  PruneInput,
  PruneResult,
  SessionInfo,
  SessionLease,
  SessionRecord,
  SessionStorage,
  SessionStorageCapabilities,
  SessionSummaryRecord,
  StoredRun,
  UpsertSessionInput,
} from '../spec/session-storage-v1.ts';
import { storageClosedError } from '../storage/storage-helpers.ts';
import {
  assertAppendRunInput,
  assertUpsertSessionInput,
  MAX_SESSION_NAME_LENGTH,
} from '../storage/write-validators.ts';
import { isPlainObject } from '../validation/options.ts';
import {
  associatedData,
  type CipherSubject,
  type EncryptionKeys,
  RecordCipher,
  readWrapperArguments,
} from './record-cipher.ts';

/** Options of `encryptedStorage`. */
export interface EncryptedStorageOptions extends EncryptionKeys {
  /**
   * Where listing reports a session it skipped because its name does not decrypt under a key it
   * has (altered, or moved from another session). Silent by default. A name written by a key
   * that is not given fails the listing instead (`DECRYPTION_FAILED`): that is a configuration
   * problem, not one bad record.
   */
  logger?: Logger;
}

/** The one key of an encrypted session state (and of each run's `stateAfter`). */
export const ENCRYPTED_STATE_KEY = 'buddy:encrypted';

const WHO = 'encryptedStorage';

function quoted(sessionId: string): string {
  return describeValue(sessionId);
}

/** The wrapper; `encryptedStorage` is its public face. */
class EncryptedStorage implements SessionStorage {
  readonly specificationVersion = 'v1' as const;
  readonly backend: string;
  readonly capabilities: SessionStorageCapabilities;
  readonly #inner: SessionStorage;
  readonly #cipher: RecordCipher;
  readonly #logger: Logger;
  #closed = false;

  constructor(inner: SessionStorage, options: EncryptedStorageOptions) {
    this.#inner = inner;
    this.#cipher = new RecordCipher(options, WHO);
    this.#logger = options.logger ?? silentLogger;
    this.backend = inner.backend;
    this.capabilities = inner.capabilities ?? {};
  }

  #assertOpen(): void {
    if (this.#closed) throw storageClosedError(WHO);
  }

  // --- encryption of each field -------------------------------------------------------------

  #encryptJson(value: unknown, data: string): string {
    return this.#cipher.encrypt(JSON.stringify(value), data);
  }

  #decryptJson(value: unknown, data: string, subject: CipherSubject): unknown {
    const text = this.#cipher.decrypt(value, data, subject);
    try {
      return JSON.parse(text);
    } catch (error) {
      // Authenticated, so only a bug could get here; say so rather than return garbage.
      throw new BuddyError({
        code: 'STORAGE_CORRUPT',
        message: `${subject.what} decrypted to text that is not JSON`,
        details: subject.details,
        cause: error,
      });
    }
  }

  #subject(sessionId: string, what: string): CipherSubject {
    return { what: `${what} of session ${quoted(sessionId)}`, details: { sessionId } };
  }

  #encryptState(sessionId: string, state: Record<string, unknown>): Record<string, unknown> {
    return { [ENCRYPTED_STATE_KEY]: this.#encryptJson(state, associatedData('state', sessionId)) };
  }

  #decryptState(sessionId: string, state: Record<string, unknown>, what: string) {
    const keys = Object.keys(state);
    // The one plaintext value accepted: what a backend stores for a session created without state.
    if (keys.length === 0) return {};
    const subject = this.#subject(sessionId, what);
    const value = keys.length === 1 ? state[ENCRYPTED_STATE_KEY] : undefined;
    const decrypted = this.#decryptJson(value, associatedData('state', sessionId), subject);
    if (!isPlainObject(decrypted)) {
      throw new BuddyError({
        code: 'STORAGE_CORRUPT',
        message: `${subject.what} decrypted to something that is not an object`,
        details: subject.details,
      });
    }
    return decrypted;
  }

  #encryptName(sessionId: string, name: string): string {
    const encrypted = this.#cipher.encrypt(name, associatedData('name', sessionId));
    if (encrypted.length > MAX_SESSION_NAME_LENGTH) {
      throw new BuddyError({
        code: 'INVALID_ARGUMENT',
        message: `sessionName is too long to store encrypted: ${Buffer.byteLength(name)} UTF-8 bytes take ${encrypted.length} characters encrypted, the limit is ${MAX_SESSION_NAME_LENGTH} (about 690 bytes of name)`,
        details: { path: 'sessionName' },
      });
    }
    return encrypted;
  }

  #decryptName(sessionId: string, name: string): string {
    return this.#cipher.decrypt(
      name,
      associatedData('name', sessionId),
      this.#subject(sessionId, 'the name'),
    );
  }

  #encryptSummary(sessionId: string, summary: SessionSummaryRecord): SessionSummaryRecord {
    const secret = {
      summary: summary.summary,
      ...(summary.topics ? { topics: summary.topics } : {}),
    };
    return {
      summary: this.#encryptJson(
        secret,
        associatedData('summary', sessionId, summary.runsCovered, summary.updatedAt),
      ),
      runsCovered: summary.runsCovered,
      updatedAt: summary.updatedAt,
    };
  }

  #decryptSummary(sessionId: string, summary: SessionSummaryRecord): SessionSummaryRecord {
    const secret = this.#decryptJson(
      summary.summary,
      associatedData('summary', sessionId, summary.runsCovered, summary.updatedAt),
      this.#subject(sessionId, 'the summary'),
    ) as { summary: string; topics?: string[] };
    return {
      summary: secret.summary,
      ...(secret.topics === undefined ? {} : { topics: secret.topics }),
      runsCovered: summary.runsCovered,
      updatedAt: summary.updatedAt,
    };
  }

  /** A message that carries ciphertext in a shape every backend's validators accept. */
  #carrier(content: string, id: string, createdAt: number, runId: string): StoredMessage {
    return { role: 'user', content, id, createdAt, runId };
  }

  #encryptMessages(
    sessionId: string,
    kind: 'run' | 'pending',
    runId: string,
    secret: unknown,
    first: StoredMessage,
    createdAt: number,
  ): StoredMessage[] {
    const content = this.#encryptJson(secret, associatedData(kind, sessionId, runId));
    return [this.#carrier(content, first.id, createdAt, runId)];
  }

  #decryptMessages(
    sessionId: string,
    kind: 'run' | 'pending',
    runId: string,
    messages: StoredMessage[],
    what: string,
  ): unknown {
    const subject: CipherSubject = {
      what: `${what} ${quoted(runId)} of session ${quoted(sessionId)}`,
      details: { sessionId, runId },
    };
    const carrier = messages.length === 1 ? messages[0]?.content : undefined;
    return this.#decryptJson(carrier, associatedData(kind, sessionId, runId), subject);
  }

  #encryptRun(sessionId: string, run: AppendRunInput['run']): AppendRunInput['run'] {
    // `index` and `stateAfter` are the storage's to assign: never hand a plaintext copy down.
    const { index: _index, stateAfter: _stateAfter, ...rest } = run as StoredRun;
    const first = run.messages[0] as StoredMessage;
    return {
      ...rest,
      messages: this.#encryptMessages(
        sessionId,
        'run',
        run.runId,
        run.messages,
        first,
        run.createdAt,
      ),
    };
  }

  #decryptRun(run: StoredRun): StoredRun {
    const messages = this.#decryptMessages(
      run.sessionId,
      'run',
      run.runId,
      run.messages,
      'the messages of run',
    ) as StoredMessage[];
    return {
      ...run,
      messages,
      ...(run.stateAfter === undefined
        ? {}
        : {
            stateAfter: this.#decryptState(
              run.sessionId,
              run.stateAfter,
              `the state after run ${quoted(run.runId)}`,
            ),
          }),
    };
  }

  #encryptPendingRun(sessionId: string, pending: PendingRunRecord): PendingRunRecord {
    const secret = {
      messages: pending.messages,
      sessionState: pending.sessionState,
      approvals: pending.approvals,
    };
    const first = pending.messages[0] as StoredMessage;
    return {
      runId: pending.runId,
      ...(pending.userId === undefined ? {} : { userId: pending.userId }),
      ...(pending.agentId === undefined ? {} : { agentId: pending.agentId }),
      messages: this.#encryptMessages(
        sessionId,
        'pending',
        pending.runId,
        secret,
        first,
        pending.createdAt,
      ),
      sessionState: {},
      // The validators want one; the real approvals are in the ciphertext.
      approvals: [{ approvalId: 'encrypted', toolCallId: '', toolName: '', arguments: '' }],
      usage: pending.usage,
      model: pending.model,
      rounds: pending.rounds,
      createdAt: pending.createdAt,
      pausedAt: pending.pausedAt,
    };
  }

  #decryptPendingRun(sessionId: string, pending: PendingRunRecord): PendingRunRecord {
    const secret = this.#decryptMessages(
      sessionId,
      'pending',
      pending.runId,
      pending.messages,
      'the paused run',
    ) as Pick<PendingRunRecord, 'messages' | 'sessionState' | 'approvals'>;
    return {
      ...pending,
      messages: secret.messages,
      sessionState: secret.sessionState,
      approvals: secret.approvals,
    };
  }

  #decryptRecord(record: SessionRecord): SessionRecord {
    const { sessionId } = record;
    const decrypted: SessionRecord = {
      ...record,
      sessionState: this.#decryptState(sessionId, record.sessionState, 'the state'),
    };
    if (record.sessionName !== undefined) {
      decrypted.sessionName = this.#decryptName(sessionId, record.sessionName);
    }
    if (record.summary !== undefined) {
      decrypted.summary = this.#decryptSummary(sessionId, record.summary);
    }
    if (record.pendingRun !== undefined) {
      decrypted.pendingRun = this.#decryptPendingRun(sessionId, record.pendingRun);
    }
    return decrypted;
  }

  // --- SessionStorage ---------------------------------------------------------------------------

  async getSession(
    sessionId: string,
    options?: { userId?: string },
  ): Promise<SessionRecord | undefined> {
    this.#assertOpen();
    const record = await this.#inner.getSession(sessionId, options);
    return record === undefined ? undefined : this.#decryptRecord(record);
  }

  async upsertSession(input: UpsertSessionInput): Promise<SessionRecord> {
    this.#assertOpen();
    // Checked here, before encryption, so errors name the caller's values and paths. The
    // capabilities are the wrapped storage's: `restoreTimes` goes through in clear (timestamps
    // stay in clear) where it restores times, and is refused here where it does not.
    assertUpsertSessionInput(input, this);
    const { sessionId } = input;
    const encrypted: UpsertSessionInput = { ...input };
    if (input.sessionName !== undefined) {
      encrypted.sessionName = this.#encryptName(sessionId, input.sessionName);
    }
    if (input.sessionState !== undefined) {
      encrypted.sessionState = this.#encryptState(sessionId, input.sessionState);
    }
    if (input.summary !== undefined) {
      encrypted.summary = this.#encryptSummary(sessionId, input.summary);
    }
    if (input.pendingRun !== undefined && input.pendingRun !== null) {
      encrypted.pendingRun = this.#encryptPendingRun(sessionId, input.pendingRun);
    }
    return this.#decryptRecord(await this.#inner.upsertSession(encrypted));
  }

  async appendRun(input: AppendRunInput): Promise<AppendRunResult> {
    this.#assertOpen();
    assertAppendRunInput(input);
    const { sessionId } = input;
    const encrypted: AppendRunInput = {
      ...input,
      run: this.#encryptRun(sessionId, input.run),
      sessionState: this.#encryptState(sessionId, input.sessionState),
    };
    if (input.sessionName !== undefined) {
      encrypted.sessionName = this.#encryptName(sessionId, input.sessionName);
    }
    return this.#inner.appendRun(encrypted);
  }

  async getRuns(input: GetRunsInput): Promise<StoredRun[]> {
    this.#assertOpen();
    const runs = await this.#inner.getRuns(input);
    return runs.map((run) => this.#decryptRun(run));
  }

  async acquireLease(input: AcquireLeaseInput): Promise<SessionLease> {
    this.#assertOpen();
    const lease = await this.#inner.acquireLease(input);
    if (lease.session === undefined || lease.session === null) return lease;
    let session: SessionRecord;
    try {
      session = this.#decryptRecord(lease.session);
    } catch (error) {
      // As for a corrupt record: the lease is not kept.
      await lease.release();
      throw error;
    }
    return {
      sessionId: lease.sessionId,
      token: lease.token,
      session,
      renew: () => lease.renew(),
      release: () => lease.release(),
    };
  }

  async listSessions(input?: ListSessionsInput): Promise<ListSessionsResult> {
    this.#assertOpen();
    const page = await this.#inner.listSessions(input);
    const sessions: SessionInfo[] = [];
    for (const info of page.sessions) {
      if (info.sessionName === undefined) {
        sessions.push(info);
        continue;
      }
      try {
        sessions.push({
          ...info,
          sessionName: this.#decryptName(info.sessionId, info.sessionName),
        });
      } catch (error) {
        // A key we do not have is a configuration problem: fail. Anything else is one bad record.
        if (
          RecordCipher.isCiphertext(info.sessionName) &&
          !this.#cipher.hasKeyFor(info.sessionName)
        ) {
          throw error;
        }
        this.#logger.warn(
          `Listing skipped session ${quoted(info.sessionId)}: its name does not decrypt`,
          { sessionId: info.sessionId, error },
        );
      }
    }
    return page.nextCursor === undefined ? { sessions } : { sessions, nextCursor: page.nextCursor };
  }

  async deleteSession(sessionId: string, options?: { userId?: string }): Promise<boolean> {
    this.#assertOpen();
    return this.#inner.deleteSession(sessionId, options);
  }

  async deleteUserData(userId: string): Promise<number> {
    this.#assertOpen();
    return this.#inner.deleteUserData(userId);
  }

  async prune(input: PruneInput): Promise<PruneResult> {
    this.#assertOpen();
    return this.#inner.prune(input);
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
 * Wraps a session storage so that what it stores is encrypted (AES-256-GCM), see the module
 * comment for what stays in clear. Reads decrypt with `key` or, for older records, the
 * `previousKeys`; writes always use `key`. Closing the wrapper closes `storage`.
 *
 * @example
 * const storage = encryptedStorage(new SqliteStorage({ dbFile: 'agent.db' }), {
 *   key: process.env.BUDDY_ENCRYPTION_KEY, // base64 of 32 random bytes: openssl rand -base64 32
 * });
 * const agent = new Agent({ model, storage });
 */
export function encryptedStorage(
  storage: SessionStorage,
  options: EncryptedStorageOptions,
): SessionStorage {
  const checked = readWrapperArguments<EncryptedStorageOptions>(
    WHO,
    storage,
    { argument: 'storage', contract: 'SessionStorage' },
    options,
    ['key', 'previousKeys', 'logger'],
  );
  return new EncryptedStorage(storage, checked);
}
