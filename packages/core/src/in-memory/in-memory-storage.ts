/**
 * `InMemoryStorage`: the reference implementation of `SessionStorage`, and the executable
 * specification the other backends are tested against (it passes the same contract suites).
 *
 * Records are kept as JSON text, exactly like a real backend, so callers never share objects with
 * the store and corrupt data can be simulated. The owner of each session is also kept apart from
 * its record (as a real backend keeps a `user_id` column or a per-user index), so a corrupt
 * record can still be listed around and deleted. Nothing survives the process. Listing all
 * sessions scans them: fine for tests and demos, not for millions of sessions.
 */
import { randomUUID } from 'node:crypto';
import { describeValue } from '../errors/describe-value.ts';
import { silentLogger } from '../logging/console-logger.ts';
import type { Logger } from '../spec/logger.ts';
import type {
  AcquireLeaseInput,
  AppendRunInput,
  AppendRunResult,
  GetRunsInput,
  ListSessionsInput,
  ListSessionsResult,
  PruneInput,
  PruneResult,
  SessionInfo,
  SessionLease,
  SessionRecord,
  SessionStorage,
  SessionStorageCapabilities,
  StoredRun,
  UpsertSessionInput,
} from '../spec/session-storage-v1.ts';
import {
  compareSessionsForListing,
  corruptLeaseError,
  encodeSessionCursor,
  incarnationGoneError,
  isAfterCursor,
  isAllowedOwner,
  leaseLostError,
  newIncarnation,
  normalizeGetRunsInput,
  normalizeListSessionsInput,
  parseSessionRecord,
  parseStoredRun,
  sessionOwnershipError,
  shouldReplaceSummary,
  storageClosedError,
  toSessionInfo,
  waitForLease,
} from '../storage/storage-helpers.ts';
import {
  assertAppendRunInput,
  assertLeaseInput,
  assertUpsertSessionInput,
  metadataMatches,
  normalizePruneInput,
  normalizeSessionOptions,
} from '../storage/write-validators.ts';
import { assertId } from '../validation/identifier.ts';
import { readOptions } from '../validation/options.ts';

/** A lease as the backing keeps it. */
export interface InMemoryLease {
  token: string;
  expiresAt: number;
}

/**
 * The data behind one or more `InMemoryStorage` instances. Share one between instances to model
 * several processes on one database; write into it to simulate corruption in tests.
 */
export class InMemoryStorageBacking {
  /** sessionId → JSON of the `SessionRecord`. */
  readonly sessions = new Map<string, string>();
  /** sessionId → its owner (`undefined` for an anonymous session), kept apart from the record. */
  readonly owners = new Map<string, string | undefined>();
  /** sessionId → JSON of each `StoredRun` kept, in index order. */
  readonly runs = new Map<string, string[]>();
  /** sessionId → the index of the first run kept (after `prune`); 0 when absent. */
  readonly firstRunIndex = new Map<string, number>();
  /** sessionId → current lease (`unknown`, so tests can store a value of the wrong type). */
  readonly leases = new Map<string, InMemoryLease | unknown>();
}

/** Options of `new InMemoryStorage(...)`. */
export interface InMemoryStorageOptions {
  /** Data to work on; a fresh, private backing when absent. */
  backing?: InMemoryStorageBacking;
  /** Where a corrupt session skipped by listing is reported. Silent by default. */
  logger?: Logger;
}

/**
 * @example
 * const agent = new Agent({ model, storage: new InMemoryStorage() });
 */
export class InMemoryStorage implements SessionStorage {
  readonly specificationVersion = 'v1' as const;
  readonly backend = 'memory';
  readonly capabilities: SessionStorageCapabilities = {
    leaseReadsSession: true,
    appendReleasesLease: true,
    restoresTimes: true,
  };
  readonly backing: InMemoryStorageBacking;
  readonly #logger: Logger;
  #closed = false;

  constructor(options: InMemoryStorageOptions = {}) {
    const checked = readOptions<InMemoryStorageOptions>(options, 'InMemoryStorage: options', [
      'backing',
      'logger',
    ]);
    this.backing = checked.backing ?? new InMemoryStorageBacking();
    this.#logger = checked.logger ?? silentLogger;
  }

  #assertOpen(): void {
    if (this.#closed) throw storageClosedError('InMemoryStorage');
  }

  #read(sessionId: string): SessionRecord | undefined {
    const raw = this.backing.sessions.get(sessionId);
    return raw === undefined ? undefined : parseSessionRecord(raw, sessionId);
  }

  /** Reads a lease entry; one of the wrong shape is `STORAGE_CORRUPT`, never "busy forever". */
  #lease(sessionId: string): InMemoryLease | undefined {
    const raw = this.backing.leases.get(sessionId);
    if (raw === undefined) return undefined;
    const lease = raw as Partial<InMemoryLease> | null;
    if (
      typeof lease !== 'object' ||
      lease === null ||
      typeof lease.token !== 'string' ||
      typeof lease.expiresAt !== 'number'
    ) {
      throw corruptLeaseError(sessionId, raw);
    }
    return lease as InMemoryLease;
  }

  /** A timestamp that never goes backwards for one session, so `updatedAt` orders writes. */
  #now(previous?: number): number {
    const now = Date.now();
    return previous !== undefined && now < previous ? previous : now;
  }

  #remove(sessionId: string): void {
    this.backing.sessions.delete(sessionId);
    this.backing.owners.delete(sessionId);
    this.backing.runs.delete(sessionId);
    this.backing.firstRunIndex.delete(sessionId);
    this.backing.leases.delete(sessionId);
  }

  async getSession(
    sessionId: string,
    options?: { userId?: string },
  ): Promise<SessionRecord | undefined> {
    this.#assertOpen();
    assertId(sessionId, 'sessionId');
    const { userId } = normalizeSessionOptions(options, 'getSession');
    // Ownership first, on the owner kept beside the record: another user learns nothing, not
    // even that the record is corrupt.
    if (
      this.backing.sessions.has(sessionId) &&
      !isAllowedOwner(this.backing.owners.get(sessionId), userId)
    ) {
      throw sessionOwnershipError(sessionId, userId);
    }
    return this.#read(sessionId);
  }

  async upsertSession(input: UpsertSessionInput): Promise<SessionRecord> {
    this.#assertOpen();
    assertUpsertSessionInput(input, this);
    const existing = this.#read(input.sessionId);
    if (
      input.expectedIncarnation !== undefined &&
      existing?.incarnation !== input.expectedIncarnation
    ) {
      throw incarnationGoneError(input.sessionId);
    }
    if (existing !== undefined && !isAllowedOwner(existing.userId, input.userId)) {
      throw sessionOwnershipError(input.sessionId, input.userId);
    }
    if (input.leaseToken !== undefined) this.#assertLeaseHeld(input.sessionId, input.leaseToken);
    const now = this.#now(existing?.updatedAt);
    const base: SessionRecord =
      existing === undefined
        ? {
            sessionId: input.sessionId,
            incarnation: newIncarnation(),
            ...(input.agentId === undefined ? {} : { agentId: input.agentId }),
            ...(input.userId === undefined ? {} : { userId: input.userId }),
            sessionState: {},
            createdAt: now,
            updatedAt: now,
            version: 1,
            runCount: 0,
          }
        : { ...existing, updatedAt: now, version: existing.version + 1 };
    const record: SessionRecord = {
      ...base,
      ...(input.sessionName === undefined ? {} : { sessionName: input.sessionName }),
      ...(input.sessionState === undefined ? {} : { sessionState: input.sessionState }),
      ...(input.summary !== undefined && shouldReplaceSummary(existing?.summary, input.summary)
        ? { summary: input.summary }
        : {}),
      ...(input.metadata === undefined ? {} : { metadata: input.metadata }),
      ...(input.pendingRun === undefined || input.pendingRun === null
        ? {}
        : { pendingRun: input.pendingRun }),
    };
    if (input.pendingRun === null) delete record.pendingRun;
    if (input.restoreTimes !== undefined) {
      // An import keeps its source's times; the incarnation stays (it is kept in the record).
      record.createdAt = input.restoreTimes.createdAt;
      record.updatedAt = input.restoreTimes.updatedAt;
    }
    const json = JSON.stringify(record);
    this.backing.sessions.set(record.sessionId, json);
    this.backing.owners.set(record.sessionId, record.userId);
    return JSON.parse(json) as SessionRecord;
  }

  async appendRun(input: AppendRunInput): Promise<AppendRunResult> {
    this.#assertOpen();
    assertAppendRunInput(input);
    if (input.leaseToken !== undefined) this.#assertLeaseHeld(input.sessionId, input.leaseToken);
    const existing = this.#read(input.sessionId);
    if (existing !== undefined && !isAllowedOwner(existing.userId, input.userId)) {
      throw sessionOwnershipError(input.sessionId, input.userId);
    }
    const now = this.#now(existing?.updatedAt);
    const index = existing?.runCount ?? 0;
    const releaseLease = input.releaseLease === true && input.leaseToken !== undefined;
    const run: StoredRun = { ...input.run, index, stateAfter: input.sessionState };
    const record: SessionRecord =
      existing === undefined
        ? {
            sessionId: input.sessionId,
            incarnation: newIncarnation(),
            ...(input.agentId === undefined ? {} : { agentId: input.agentId }),
            ...(input.userId === undefined ? {} : { userId: input.userId }),
            ...(input.sessionName === undefined ? {} : { sessionName: input.sessionName }),
            sessionState: input.sessionState,
            createdAt: now,
            updatedAt: now,
            version: 1,
            runCount: 1,
            ...(input.metadata === undefined ? {} : { metadata: input.metadata }),
          }
        : {
            ...existing,
            ...(input.sessionName === undefined ? {} : { sessionName: input.sessionName }),
            sessionState: input.sessionState,
            updatedAt: now,
            version: existing.version + 1,
            runCount: index + 1,
          };
    if (input.clearPendingRun === true) delete record.pendingRun;
    // Both serialized before anything is written: the write is all or nothing.
    const runJson = JSON.stringify(run);
    const recordJson = JSON.stringify(record);
    const runs = this.backing.runs.get(input.sessionId) ?? [];
    runs.push(runJson);
    this.backing.runs.set(input.sessionId, runs);
    this.backing.sessions.set(input.sessionId, recordJson);
    this.backing.owners.set(input.sessionId, record.userId);
    if (releaseLease) this.backing.leases.delete(input.sessionId);
    return {
      index,
      incarnation: record.incarnation,
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
      const first = this.backing.firstRunIndex.get(query.sessionId) ?? 0;
      const start = Math.max(0, query.fromIndex - first);
      const end =
        query.limit === undefined ? undefined : Math.max(0, query.fromIndex + query.limit - first);
      selected = runs.slice(start, end);
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
        this.#assertOpen();
        const current = this.#lease(sessionId);
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
        this.#assertOpen();
        const current = this.#lease(sessionId);
        if (current?.token !== token || current.expiresAt <= Date.now()) {
          throw leaseLostError(sessionId);
        }
        current.expiresAt = Date.now() + ttlMs;
      },
      release: async () => {
        const current = leases.get(sessionId) as Partial<InMemoryLease> | undefined;
        if (current?.token === token) leases.delete(sessionId);
      },
    };
  }

  #assertLeaseHeld(sessionId: string, token: string): void {
    const current = this.#lease(sessionId);
    if (current?.token !== token || current.expiresAt <= Date.now()) {
      throw leaseLostError(sessionId);
    }
  }

  async listSessions(input?: ListSessionsInput): Promise<ListSessionsResult> {
    this.#assertOpen();
    const query = normalizeListSessionsInput(input);
    const matching: SessionInfo[] = [];
    for (const [sessionId, raw] of this.backing.sessions) {
      if (query.userId !== undefined && this.backing.owners.get(sessionId) !== query.userId)
        continue;
      let record: SessionRecord;
      try {
        record = parseSessionRecord(raw, sessionId);
      } catch (error) {
        this.#logger.warn(`Listing skipped session ${describeValue(sessionId)}: it is corrupt`, {
          sessionId,
          error,
        });
        continue;
      }
      if (query.userId !== undefined && record.userId !== query.userId) continue;
      if (query.agentId !== undefined && record.agentId !== query.agentId) continue;
      if (!metadataMatches(record.metadata, query.metadata)) continue;
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

  async deleteSession(sessionId: string, options?: { userId?: string }): Promise<boolean> {
    this.#assertOpen();
    assertId(sessionId, 'sessionId');
    const { userId } = normalizeSessionOptions(options, 'deleteSession');
    if (!this.backing.sessions.has(sessionId)) {
      this.#remove(sessionId);
      return false;
    }
    // The owner is checked on the index, so an owner can delete a corrupt record too.
    if (!isAllowedOwner(this.backing.owners.get(sessionId), userId)) {
      throw sessionOwnershipError(sessionId, userId);
    }
    this.#remove(sessionId);
    return true;
  }

  async deleteUserData(userId: string): Promise<number> {
    this.#assertOpen();
    assertId(userId, 'userId');
    let deleted = 0;
    for (const [sessionId, owner] of [...this.backing.owners]) {
      if (owner !== userId) continue;
      if (this.backing.sessions.has(sessionId)) deleted++;
      this.#remove(sessionId);
    }
    return deleted;
  }

  async prune(input: PruneInput): Promise<PruneResult> {
    this.#assertOpen();
    const { olderThan, keepLastRuns, userId } = normalizePruneInput(input);
    let sessionsDeleted = 0;
    let runsDeleted = 0;
    for (const [sessionId, owner] of [...this.backing.owners]) {
      if (userId !== undefined && owner !== userId) continue;
      const raw = this.backing.sessions.get(sessionId);
      if (raw === undefined) continue;
      let record: SessionRecord;
      try {
        record = parseSessionRecord(raw, sessionId);
      } catch (error) {
        this.#logger.warn(`Prune skipped session ${describeValue(sessionId)}: it is corrupt`, {
          sessionId,
          error,
        });
        continue;
      }
      const runs = this.backing.runs.get(sessionId) ?? [];
      if (olderThan !== undefined && record.updatedAt < olderThan) {
        runsDeleted += runs.length;
        sessionsDeleted++;
        this.#remove(sessionId);
        continue;
      }
      if (keepLastRuns === undefined) continue;
      // Never a run the summary does not cover yet.
      const firstKept = Math.min(
        record.runCount - keepLastRuns,
        record.summary?.runsCovered ?? Number.POSITIVE_INFINITY,
      );
      const first = this.backing.firstRunIndex.get(sessionId) ?? 0;
      const drop = Math.min(runs.length, Math.max(0, firstKept - first));
      if (drop === 0) continue;
      this.backing.runs.set(sessionId, runs.slice(drop));
      this.backing.firstRunIndex.set(sessionId, first + drop);
      runsDeleted += drop;
    }
    return { sessionsDeleted, runsDeleted };
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
