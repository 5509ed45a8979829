/**
 * The session storage contract: where sessions, their runs and their state live.
 *
 * Implemented by `InMemoryStorage` (this package: the executable specification),
 * `SqliteStorage` (`@buddy/db-sqlite`) and `RedisStorage` (`@buddy/db-redis`). Every
 * implementation passes `describeSessionStorageContract` from `@buddy/testkit/storage`.
 * Types only.
 *
 * Rules every implementation keeps:
 * - **Cost does not grow with history.** `appendRun` writes only the new run plus the small
 *   session record; `getRuns({ last })` reads only those runs; listing uses an index.
 * - **Atomic writes.** Each method is one transaction (SQLite) or one script / `MULTI` (Redis):
 *   a crash leaves all of a write or none of it.
 * - **Validated reads.** A stored record that fails validation raises `STORAGE_CORRUPT` naming the
 *   session; other sessions keep working.
 * - **Errors.** Backend failures reject with `BuddyError` `STORAGE_BUSY` (retryable) or
 *   `STORAGE_UNAVAILABLE` (retryable unless permanent: closed, read-only, newer schema) with the
 *   driver error as `cause`.
 * - **Ownership.** Where a method takes `userId` and the session is stored with a different
 *   owner, it rejects with `SESSION_OWNERSHIP` and reads or writes nothing. Without `userId`, no
 *   check is made (trusted, administrative access).
 * - **Validated writes.** Every write checks its input with core's shared validators
 *   (`assertAppendRunInput`, `assertUpsertSessionInput`, … from `@buddy/core/adapter-utils`)
 *   before touching anything: a malformed run, state, summary, id or options object is
 *   `INVALID_ARGUMENT` and nothing is written, so no write can make a session unreadable.
 * - **Incarnations.** A session deleted and created again is a new incarnation (a fresh random
 *   `incarnation` id): caches compare `(incarnation, version)`, never the version alone.
 * - **Deletion wins.** `deleteSession` / `deleteUserData` also delete the session's lease, so an
 *   in-flight run's fenced append rejects with `CONFLICT`; and a summary written with
 *   `expectedIncarnation` never brings a deleted session back.
 * - **No late writes.** A write either resolves (stored) or rejects and is never stored later. When
 *   a backend cannot know (the reply of a sent write never came), it rejects with
 *   `STORAGE_OUTCOME_UNKNOWN` naming the run, and `getRuns` tells the truth once it answers again.
 * - **Corruption stays local.** A corrupt record is `STORAGE_CORRUPT` for that session only:
 *   listing skips it (and reports it through the storage's logger), deletion removes it.
 * - **Closing.** After `close()` every method rejects with `STORAGE_CLOSED`.
 * - **Copies.** Records and runs a method returns are the caller's: fresh objects, never shared
 *   with the store or with another caller (the Agent changes a returned state in place).
 * - **Times.** A session's `createdAt` / `updatedAt` are the storage's write times, except where
 *   an import tool restores them (`upsertSession({ restoreTimes })`, on a storage that declares
 *   `capabilities.restoresTimes`).
 */
import type { ModelInfo, StoredMessage, Usage } from '../messages/message.ts';

/** Free-form JSON metadata of a session (≤ 16 kB serialized). */
export type SessionMetadata = Record<string, unknown>;

/** How a stored run ended (SPEC §16.3). */
export type RunStatus = 'completed' | 'aborted' | 'failed';

/** A tool call waiting for a person's decision (SPEC §16.4). */
export interface PendingApproval {
  /** Names the approval in `agent.resume({ approvals: { [approvalId]: … } })`. */
  approvalId: string;
  /** The tool call it holds back. */
  toolCallId: string;
  toolName: string;
  /** The call's arguments as JSON text, as the model produced them. */
  arguments: string;
}

/**
 * A run paused for approvals, stored with its session so that any process can continue it. While
 * a session has one, new runs on it are refused (`SESSION_BUSY`) unless they resolve it.
 */
export interface PendingRunRecord {
  runId: string;
  userId?: string;
  agentId?: string;
  /** The run's messages so far: the user message, assistant turns, tool results already made. */
  messages: StoredMessage[];
  /** The session state when the run paused. */
  sessionState: Record<string, unknown>;
  /** What waits for a decision. */
  approvals: PendingApproval[];
  usage: Usage;
  model: ModelInfo;
  /** Rounds of tool calls taken so far. */
  rounds: number;
  /** Epoch milliseconds: when the run started, and when it paused. */
  createdAt: number;
  pausedAt: number;
}

/** The session summary as stored with the session. */
export interface SessionSummaryRecord {
  /** Concise, factual summary of the conversation so far. */
  summary: string;
  /** What was discussed. */
  topics?: string[];
  /** How many runs (from the first) the summary covers: the next update starts at this index. */
  runsCovered: number;
  /** Epoch milliseconds. */
  updatedAt: number;
}

/** A session without its runs: small, read at the start of every run. */
export interface SessionRecord {
  sessionId: string;
  /**
   * Random id given when the record is created. Deleting a session and creating one with the same
   * id gives a new incarnation, so a cache of the old one is never mistaken for the new one
   * (versions restart at 1). Records written before 0.2 read as `legacy:<createdAt>`.
   */
  incarnation: string;
  agentId?: string;
  /** Owner. Sessions without an owner are accessible only to callers without a `userId`. */
  userId?: string;
  sessionName?: string;
  /** Free-form JSON state; tools change it during runs. */
  sessionState: Record<string, unknown>;
  summary?: SessionSummaryRecord;
  /** Epoch milliseconds. */
  createdAt: number;
  /** Epoch milliseconds; changes on every write. Listing order. */
  updatedAt: number;
  /** Starts at 1 when created; increases by exactly 1 on every write to the session. */
  version: number;
  /** Number of runs stored; the next run gets this as its `index`. */
  runCount: number;
  /** Free-form JSON metadata (≤ 16 kB serialized), set by `upsertSession` or at creation. */
  metadata?: SessionMetadata;
  /** A run paused for approvals (SPEC §16.4), when there is one. */
  pendingRun?: PendingRunRecord;
}

/** One completed run: the messages it added and what it cost. */
export interface StoredRun {
  runId: string;
  sessionId: string;
  /** 0-based position in the session, assigned by `appendRun` (the input value is ignored). */
  index: number;
  userId?: string;
  agentId?: string;
  /** The run's own messages (user, assistant, tool); never system messages or history copies. */
  messages: StoredMessage[];
  usage: Usage;
  model: ModelInfo;
  /** Epoch milliseconds. */
  createdAt: number;
  /** Epoch milliseconds. */
  completedAt: number;
  /**
   * The session state this run left, written by `appendRun` (from its `sessionState`) in the same
   * write. Absent on runs stored before 0.2.
   */
  stateAfter?: Record<string, unknown>;
  /**
   * `'completed'` (also when absent), or `'aborted'` / `'failed'` for a partial run stored with
   * `persistAbortedRuns` (SPEC §16.3).
   */
  status?: RunStatus;
}

/** What listing returns for each session. */
export interface SessionInfo {
  sessionId: string;
  sessionName?: string;
  userId?: string;
  agentId?: string;
  createdAt: number;
  updatedAt: number;
  metadata?: SessionMetadata;
}

/** Input of `listSessions`. Unknown keys are `INVALID_ARGUMENT` (a typo never widens a query). */
export interface ListSessionsInput {
  /** Only sessions owned by this user. */
  userId?: string;
  /** Only sessions created by this agent. */
  agentId?: string;
  /** Page size, 1..1000; default 20. */
  limit?: number;
  /** `nextCursor` of the previous page. Opaque; an unparsable cursor is `INVALID_ARGUMENT`. */
  cursor?: string;
  /**
   * Only sessions whose metadata has each of these top-level keys with an equal JSON value. A
   * backend may filter after an indexed read of the user's (or all) sessions; it never reads
   * another user's sessions for a user's listing.
   */
  metadata?: SessionMetadata;
}

/** One page of `listSessions`. */
export interface ListSessionsResult {
  /** Most recently updated first; ties by `sessionId` descending. */
  sessions: SessionInfo[];
  /** Present when there may be more; pass it as `cursor` for the next page (keyset, stable). */
  nextCursor?: string;
}

/** Fields to create a session with, or to change on an existing one. */
export interface UpsertSessionInput {
  sessionId: string;
  /** Owner at creation; ownership check against the stored owner otherwise. */
  userId?: string;
  /** Recorded at creation only. */
  agentId?: string;
  sessionName?: string;
  /** Replaces the whole state. A new session without it starts with `{}`. */
  sessionState?: Record<string, unknown>;
  /**
   * Replaces the summary only when `runsCovered` is at least the stored summary's, so a slow,
   * older summary never overwrites a newer one.
   */
  summary?: SessionSummaryRecord;
  /**
   * Write only if the session exists with this incarnation; otherwise reject with `NOT_FOUND` and
   * write nothing (never create it). Post-answer work uses it, so that a summary finishing after
   * `deleteSession` cannot bring the session back.
   */
  expectedIncarnation?: string;
  /** Replaces the whole metadata object (≤ 16 kB serialized). */
  metadata?: SessionMetadata;
  /** Stores a run paused for approvals; `null` clears it. */
  pendingRun?: PendingRunRecord | null;
  /** Fencing, as in `appendRun`: write only while this token holds the lease, else `CONFLICT`. */
  leaseToken?: string;
  /**
   * For import tools (`buddy import`, `migrate`, `rekey`): set the stored session's `createdAt`
   * and `updatedAt` to these instead of the write time, so that listing order and
   * `prune({ olderThan })` keep counting from the source's times. Epoch milliseconds, integers
   * from 0 to 8.64e15 (the range of a `Date`), `createdAt <= updatedAt`; anything else is
   * `INVALID_ARGUMENT` and nothing is written. Only on a storage that declares
   * `capabilities.restoresTimes`; any other rejects it with `INVALID_ARGUMENT` (never ignores it).
   *
   * Everything else about the write is as without it (ownership, `expectedIncarnation`, fencing,
   * `version` + 1; the incarnation does not change). Later writes set `updatedAt` as usual (the
   * write time, never moving backwards). A run's own `createdAt` / `completedAt` are never the
   * storage's to assign: `appendRun` keeps them. Write the runs first, then the session with
   * `restoreTimes`: an append moves `updatedAt` again.
   */
  restoreTimes?: RestoreTimes;
}

/** The times `UpsertSessionInput.restoreTimes` gives a session (epoch milliseconds). */
export interface RestoreTimes {
  createdAt: number;
  updatedAt: number;
}

/** Input of `appendRun`: one run and the state it left, written atomically. */
export interface AppendRunInput {
  sessionId: string;
  /** Owner at creation; ownership check otherwise. */
  userId?: string;
  /** Recorded at creation only. */
  agentId?: string;
  /** Set at creation; when given for an existing session, renames it. */
  sessionName?: string;
  /** The run; its `index` (and `stateAfter`) are assigned by storage. */
  run: Omit<StoredRun, 'index' | 'stateAfter'>;
  /** The session state after the run; replaces the stored state. */
  sessionState: Record<string, unknown>;
  /**
   * Fencing: when given, the write happens only if this lease token still holds the session's
   * lease; otherwise it rejects with `CONFLICT` and writes nothing.
   */
  leaseToken?: string;
  /**
   * Optional capability: with `leaseToken`, also release the lease in the same write, saving the
   * separate `release()` round trip of a turn. Backends that do not support it ignore it and
   * leave `leaseReleased` unset; callers then release as usual.
   */
  releaseLease?: boolean;
  /** Recorded at creation only (like `agentId`). */
  metadata?: SessionMetadata;
  /** Clears the session's paused run in the same write (the resumed run completes it). */
  clearPendingRun?: boolean;
}

/** What `appendRun` wrote. */
export interface AppendRunResult {
  /** The index the run was stored at. */
  index: number;
  /**
   * The session's incarnation (new when this append created the session). Optional for backends
   * written before 0.2; without it the Agent does not cache a just-created session's history.
   */
  incarnation?: string;
  /** The session's version after the write. */
  version: number;
  updatedAt: number;
  /** `true` when the write also released the lease (`releaseLease`). */
  leaseReleased?: boolean;
}

/** Input of `getRuns`: the last N runs, or a range from an index. */
export interface GetRunsInput {
  sessionId: string;
  /** The last N runs (in order). Cannot be combined with `fromIndex` / `limit`. */
  last?: number;
  /** Runs whose index is `>= fromIndex` (default 0), in order. */
  fromIndex?: number;
  /** At most this many runs, counted from `fromIndex`. */
  limit?: number;
}

/** Input of `acquireLease`. */
export interface AcquireLeaseInput {
  sessionId: string;
  /** How long the lease lives without renewal, in ms. */
  ttlMs: number;
  /** How long to wait for a busy lease before rejecting with `SESSION_BUSY`, in ms. */
  waitMs: number;
  /** Aborts the wait (`ABORTED`). */
  signal?: AbortSignal;
  /**
   * Optional capability: also read the session record right after the lease is taken, in the
   * same step, and return it as `lease.session`, saving the separate `getSession` round trip of a
   * turn. No ownership check is made (the caller checks). If the stored record is corrupt, the
   * lease is not kept and the call rejects with `STORAGE_CORRUPT`. Backends that do not support
   * it ignore it and leave `session` absent.
   */
  readSession?: boolean;
}

/** An exclusive, expiring claim on one session, held by one run. */
export interface SessionLease {
  readonly sessionId: string;
  /** Random token identifying this holder (used for fencing in `appendRun`). */
  readonly token: string;
  /**
   * With `readSession: true` on a supporting backend: the session as stored when the lease was
   * taken, `null` when it does not exist. Absent otherwise.
   */
  readonly session?: SessionRecord | null;
  /** Extends the lease by its ttl. Rejects with `CONFLICT` when the lease was lost. */
  renew(): Promise<void>;
  /** Releases the lease if still held by this token. Idempotent; never throws for a lost lease. */
  release(): Promise<void>;
}

/**
 * Optional capabilities a storage declares about itself. The Agent reads them from here (it never
 * guesses from the shape of a result); absent or `false` means the plain two-call path.
 */
export interface SessionStorageCapabilities {
  /** `acquireLease({ readSession: true })` returns the record as `lease.session` in the same step. */
  readonly leaseReadsSession?: boolean;
  /** `appendRun({ leaseToken, releaseLease: true })` releases the lease in the same write. */
  readonly appendReleasesLease?: boolean;
  /**
   * `upsertSession({ restoreTimes })` sets the session's `createdAt` / `updatedAt` (listing
   * order and `prune({ olderThan })` follow them). Import tools use it when it is `true` and
   * otherwise let the storage assign the write time; a storage without it rejects `restoreTimes`.
   */
  readonly restoresTimes?: boolean;
}

/** Input of `prune` (SPEC §15.2). At least one of `olderThan` and `keepLastRuns`. */
export interface PruneInput {
  /** Epoch ms: sessions whose last update (`updatedAt`) is before it are deleted. */
  olderThan?: number;
  /**
   * Keep at most this many newest runs of every remaining session; older runs are deleted, but
   * never one that the session's summary does not cover yet (`index >= summary.runsCovered`), so
   * nothing is forgotten before it is summarized. Indexes and `runCount` do not change.
   */
  keepLastRuns?: number;
  /** Only this user's sessions. */
  userId?: string;
}

/** What `prune` deleted. */
export interface PruneResult {
  sessionsDeleted: number;
  /** Runs deleted, those of deleted sessions included. */
  runsDeleted: number;
}

/** Session persistence used by the `Agent` (version 1 of the contract). */
export interface SessionStorageV1 {
  /** Always `'v1'`. */
  readonly specificationVersion: 'v1';
  /** Backend name for errors and logs, e.g. `'sqlite'`, `'redis'`, `'memory'`. */
  readonly backend: string;
  /** What this backend can do beyond the required methods. */
  readonly capabilities?: SessionStorageCapabilities;

  /** The session without its runs; `undefined` when missing. */
  getSession(sessionId: string, options?: { userId?: string }): Promise<SessionRecord | undefined>;
  /** Creates the session if missing, else applies the given fields. Bumps `version`. */
  upsertSession(input: UpsertSessionInput): Promise<SessionRecord>;
  /**
   * Appends one run and replaces the state (and name, when given) in one atomic write, creating
   * the session if missing. Concurrent appends from any number of processes are all kept, each at
   * its own index.
   */
  appendRun(input: AppendRunInput): Promise<AppendRunResult>;
  /** Runs in index order. Callers check ownership with `getSession` first. */
  getRuns(input: GetRunsInput): Promise<StoredRun[]>;
  /** Waits up to `waitMs` for the session's lease. Rejects with `SESSION_BUSY` after that. */
  acquireLease(input: AcquireLeaseInput): Promise<SessionLease>;
  /** Sessions by most recent update, with a keyset cursor. */
  listSessions(input?: ListSessionsInput): Promise<ListSessionsResult>;
  /** Deletes the session and its runs. `false` when it did not exist. */
  deleteSession(sessionId: string, options?: { userId?: string }): Promise<boolean>;
  /** Deletes every session owned by `userId`; returns how many. */
  deleteUserData(userId: string): Promise<number>;
  /**
   * Retention with the same semantics on every backend (SPEC §15.2): deletes sessions not updated
   * since `olderThan` (with their runs and leases) and older runs beyond `keepLastRuns`.
   */
  prune(input: PruneInput): Promise<PruneResult>;
  /**
   * Releases what the storage created itself (never a client it was given). Idempotent; every
   * later call rejects with `STORAGE_CLOSED`.
   */
  close(): Promise<void>;
  /** The same as `close()`, for `await using storage = new SqliteStorage(...)`. */
  [Symbol.asyncDispose]?(): Promise<void>;
}

/** The current session storage contract. */
export type SessionStorage = SessionStorageV1;
