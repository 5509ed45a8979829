/**
 * `InMemoryStorage`: the reference implementation of `SessionStorage`, and the executable
 * specification the other backends are tested against (it passes the same contract suite).
 *
 * Records are kept as JSON text, exactly like a real backend, so callers never share objects with
 * the store and corrupt data can be simulated. Nothing survives the process. Listing scans all
 * sessions: fine for tests and demos, not for millions of sessions.
 */
import { randomUUID } from 'node:crypto';
import { BuddyError } from '../errors/buddy-error.ts';
import type {
  AcquireLeaseInput,
  AppendRunInput,
  AppendRunResult,
  GetRunsInput,
  ListSessionsInput,
  ListSessionsResult,
  SessionInfo,
  SessionLease,
  SessionRecord,
  SessionStorage,
  StoredRun,
  UpsertSessionInput,
} from '../spec/session-storage-v1.ts';
import {
  assertLeaseInput,
  assertNonEmptyString,
  assertOptionalUserId,
  assertSessionState,
  compareSessionsForListing,
  describeValue,
  encodeSessionCursor,
  isAfterCursor,
  isAllowedOwner,
  leaseLostError,
  normalizeGetRunsInput,
  normalizeListSessionsInput,
  parseSessionRecord,
  parseStoredRun,
  sessionOwnershipError,
  shouldReplaceSummary,
  toSessionInfo,
  waitForLease,
} from '../storage/storage-helpers.ts';

/**
 * The data behind one or more `InMemoryStorage` instances. Share one between instances to model
 * several processes on one database; write into it to simulate corruption in tests.
 */
export class InMemoryStorageBacking {
  /** sessionId → JSON of the `SessionRecord`. */
  readonly sessions = new Map<string, string>();
  /** sessionId → JSON of each `StoredRun`, in index order. */
  readonly runs = new Map<string, string[]>();
  /** sessionId → current lease. */
  readonly leases = new Map<string, { token: string; expiresAt: number }>();
}

export interface InMemoryStorageOptions {
  /** Data to work on; a fresh, private backing when absent. */
  backing?: InMemoryStorageBacking;
}

/**
 * @example
 * const agent = new Agent({ model, storage: new InMemoryStorage() });
 */
export class InMemoryStorage implements SessionStorage {
  readonly specificationVersion = 'v1' as const;
  readonly backend = 'memory';
  readonly backing: InMemoryStorageBacking;
  #closed = false;

  constructor(options: InMemoryStorageOptions = {}) {
    this.backing = options.backing ?? new InMemoryStorageBacking();
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new BuddyError({
        code: 'STORAGE_UNAVAILABLE',
        message: 'InMemoryStorage is closed',
        retryable: false,
      });
    }
  }

  #read(sessionId: string): SessionRecord | undefined {
    const raw = this.backing.sessions.get(sessionId);
    return raw === undefined ? undefined : parseSessionRecord(raw, sessionId);
  }

  #write(record: SessionRecord): void {
    this.backing.sessions.set(record.sessionId, JSON.stringify(record));
  }

  /** A timestamp that never goes backwards for one session, so `updatedAt` orders writes. */
  #now(previous?: number): number {
    const now = Date.now();
    return previous !== undefined && now < previous ? previous : now;
  }

  async getSession(
    sessionId: string,
    options: { userId?: string } = {},
  ): Promise<SessionRecord | undefined> {
    this.#assertOpen();
    assertNonEmptyString(sessionId, 'sessionId');
    assertOptionalUserId(options.userId);
    const record = this.#read(sessionId);
    if (record !== undefined && !isAllowedOwner(record.userId, options.userId)) {
      throw sessionOwnershipError(sessionId, options.userId);
    }
    return record;
  }

  async upsertSession(input: UpsertSessionInput): Promise<SessionRecord> {
    this.#assertOpen();
    assertNonEmptyString(input.sessionId, 'sessionId');
    assertOptionalUserId(input.userId);
    if (input.sessionState !== undefined) assertSessionState(input.sessionState);
    if (input.sessionName !== undefined) assertNonEmptyString(input.sessionName, 'sessionName');
    if (input.agentId !== undefined) assertNonEmptyString(input.agentId, 'agentId');
    const existing = this.#read(input.sessionId);
    if (existing !== undefined && !isAllowedOwner(existing.userId, input.userId)) {
      throw sessionOwnershipError(input.sessionId, input.userId);
    }
    const now = this.#now(existing?.updatedAt);
    const record: SessionRecord =
      existing === undefined
        ? {
            sessionId: input.sessionId,
            ...(input.agentId === undefined ? {} : { agentId: input.agentId }),
            ...(input.userId === undefined ? {} : { userId: input.userId }),
            ...(input.sessionName === undefined ? {} : { sessionName: input.sessionName }),
            sessionState: input.sessionState ?? {},
            ...(input.summary === undefined ? {} : { summary: input.summary }),
            createdAt: now,
            updatedAt: now,
            version: 1,
            runCount: 0,
          }
        : {
            ...existing,
            ...(input.sessionName === undefined ? {} : { sessionName: input.sessionName }),
            ...(input.sessionState === undefined ? {} : { sessionState: input.sessionState }),
            ...(input.summary !== undefined && shouldReplaceSummary(existing.summary, input.summary)
              ? { summary: input.summary }
              : {}),
            updatedAt: now,
            version: existing.version + 1,
          };
    this.#write(record);
    return structuredClone(record);
  }

  async appendRun(input: AppendRunInput): Promise<AppendRunResult> {
    this.#assertOpen();
    assertNonEmptyString(input.sessionId, 'sessionId');
    assertOptionalUserId(input.userId);
    assertSessionState(input.sessionState);
    if (input.sessionName !== undefined) assertNonEmptyString(input.sessionName, 'sessionName');
    if (input.agentId !== undefined) assertNonEmptyString(input.agentId, 'agentId');
    if (input.run.sessionId !== input.sessionId) {
      throw new BuddyError({
        code: 'INVALID_ARGUMENT',
        message: `run.sessionId ${describeValue(input.run.sessionId)} does not match sessionId ${describeValue(input.sessionId)}`,
      });
    }
    if (input.leaseToken !== undefined) this.#assertLeaseHeld(input.sessionId, input.leaseToken);
    const existing = this.#read(input.sessionId);
    if (existing !== undefined && !isAllowedOwner(existing.userId, input.userId)) {
      throw sessionOwnershipError(input.sessionId, input.userId);
    }
    const now = this.#now(existing?.updatedAt);
    const index = existing?.runCount ?? 0;
    const releaseLease = input.releaseLease === true && input.leaseToken !== undefined;
    const run: StoredRun = { ...input.run, index };
    const record: SessionRecord =
      existing === undefined
        ? {
            sessionId: input.sessionId,
            ...(input.agentId === undefined ? {} : { agentId: input.agentId }),
            ...(input.userId === undefined ? {} : { userId: input.userId }),
            ...(input.sessionName === undefined ? {} : { sessionName: input.sessionName }),
            sessionState: input.sessionState,
            createdAt: now,
            updatedAt: now,
            version: 1,
            runCount: 1,
          }
        : {
            ...existing,
            ...(input.sessionName === undefined ? {} : { sessionName: input.sessionName }),
            sessionState: input.sessionState,
            updatedAt: now,
            version: existing.version + 1,
            runCount: index + 1,
          };
    // Serialize first so a state that cannot be stored fails before anything is written.
    const runJson = JSON.stringify(run);
    const runs = this.backing.runs.get(input.sessionId) ?? [];
    runs.push(runJson);
    this.backing.runs.set(input.sessionId, runs);
    this.#write(record);
    if (releaseLease) this.backing.leases.delete(input.sessionId);
    return {
      index,
      version: record.version,
      updatedAt: record.updatedAt,
      ...(releaseLease ? { leaseReleased: true } : {}),
    };
  }

  async getRuns(input: GetRunsInput): Promise<StoredRun[]> {
    this.#assertOpen();
    const query = normalizeGetRunsInput(input);
    const runs = this.backing.runs.get(query.sessionId) ?? [];
    let selected: string[];
    if (query.last !== undefined) {
      selected = query.last === 0 ? [] : runs.slice(-query.last);
    } else {
      const end = query.limit === undefined ? undefined : query.fromIndex + query.limit;
      selected = runs.slice(query.fromIndex, end);
    }
    return selected.map((raw) => parseStoredRun(raw, query.sessionId));
  }

  async acquireLease(input: AcquireLeaseInput): Promise<SessionLease> {
    this.#assertOpen();
    assertLeaseInput(input);
    const { sessionId, ttlMs } = input;
    const token = randomUUID();
    const leases = this.backing.leases;
    await waitForLease(
      () => {
        const current = leases.get(sessionId);
        if (current !== undefined && current.expiresAt > Date.now()) return undefined;
        leases.set(sessionId, { token, expiresAt: Date.now() + ttlMs });
        return true;
      },
      { sessionId, waitMs: input.waitMs, signal: input.signal },
    );
    let session: SessionRecord | null | undefined;
    if (input.readSession === true) {
      try {
        session = this.#read(sessionId) ?? null;
      } catch (error) {
        leases.delete(sessionId);
        throw error;
      }
    }
    return {
      sessionId,
      token,
      ...(session === undefined ? {} : { session }),
      renew: async () => {
        const current = leases.get(sessionId);
        if (current?.token !== token || current.expiresAt <= Date.now()) {
          throw leaseLostError(sessionId);
        }
        current.expiresAt = Date.now() + ttlMs;
      },
      release: async () => {
        if (leases.get(sessionId)?.token === token) leases.delete(sessionId);
      },
    };
  }

  #assertLeaseHeld(sessionId: string, token: string): void {
    const current = this.backing.leases.get(sessionId);
    if (current?.token !== token || current.expiresAt <= Date.now()) {
      throw leaseLostError(sessionId);
    }
  }

  async listSessions(input: ListSessionsInput = {}): Promise<ListSessionsResult> {
    this.#assertOpen();
    const query = normalizeListSessionsInput(input);
    const matching: SessionInfo[] = [];
    for (const [sessionId, raw] of this.backing.sessions) {
      const record = parseSessionRecord(raw, sessionId);
      if (query.userId !== undefined && record.userId !== query.userId) continue;
      if (query.agentId !== undefined && record.agentId !== query.agentId) continue;
      if (query.cursor !== undefined && !isAfterCursor(record, query.cursor)) continue;
      matching.push(toSessionInfo(record));
    }
    matching.sort(compareSessionsForListing);
    const sessions = matching.slice(0, query.limit);
    const last = sessions.at(-1);
    return matching.length > query.limit && last !== undefined
      ? { sessions, nextCursor: encodeSessionCursor(last) }
      : { sessions };
  }

  async deleteSession(sessionId: string, options: { userId?: string } = {}): Promise<boolean> {
    this.#assertOpen();
    assertNonEmptyString(sessionId, 'sessionId');
    assertOptionalUserId(options.userId);
    const raw = this.backing.sessions.get(sessionId);
    if (raw === undefined) {
      this.backing.runs.delete(sessionId);
      return false;
    }
    // A corrupt record can still be deleted by its owner's admin (no userId given).
    if (options.userId !== undefined) {
      const record = parseSessionRecord(raw, sessionId);
      if (!isAllowedOwner(record.userId, options.userId)) {
        throw sessionOwnershipError(sessionId, options.userId);
      }
    }
    this.backing.sessions.delete(sessionId);
    this.backing.runs.delete(sessionId);
    this.backing.leases.delete(sessionId);
    return true;
  }

  async deleteUserData(userId: string): Promise<number> {
    this.#assertOpen();
    assertNonEmptyString(userId, 'userId');
    let deleted = 0;
    for (const [sessionId, raw] of [...this.backing.sessions]) {
      let owner: string | undefined;
      try {
        owner = parseSessionRecord(raw, sessionId).userId;
      } catch {
        continue; // a corrupt record's owner is unknown; never delete what might be someone else's
      }
      if (owner !== userId) continue;
      this.backing.sessions.delete(sessionId);
      this.backing.runs.delete(sessionId);
      this.backing.leases.delete(sessionId);
      deleted++;
    }
    return deleted;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}
