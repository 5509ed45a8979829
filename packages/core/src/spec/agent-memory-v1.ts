/**
 * The agent-memory contract: how an `Agent` hands post-answer work (session summaries, user
 * memories) to a memory extension such as `AgentMemory` from `@buddy/memory`.
 *
 * Core defines it so that it never imports `@buddy/memory`. Types only.
 *
 * Call order inside one run, all driven by the Agent:
 * 1. `readMemories` at the start of the run (when user memories are enabled or referenced);
 * 2. after the run is persisted: `updateSessionSummary` and/or `updateUserMemories`.
 * A rejection in step 2 never fails the run: the Agent turns it into `RunResponse.warnings`.
 */
import type { Logger } from './logger.ts';
import type { UserMemory } from './memory-db-v1.ts';
import type {
  GetRunsInput,
  SessionRecord,
  SessionSummaryRecord,
  StoredRun,
} from './session-storage-v1.ts';

/** What the Agent lends its memory extension. Given once, through `attach`. */
export interface AgentMemoryHost {
  readonly agentId: string;
  /** The agent's own session id (changes with `newSession()`). */
  readonly sessionId: string;
  /** The agent's own user. */
  readonly userId: string | undefined;
  /** The summary of the agent's own session as last loaded or written. */
  readonly summary: SessionSummaryRecord | undefined;
  readonly logger: Logger;
  /**
   * The agent's token counter (`contextBudget.countTokens`, else its model's), when it has one:
   * the extension's summaries count their requests the same way (SPEC §13.3).
   */
  readonly countTokens: ((text: string) => number) | undefined;
  /**
   * Reads a session record under the Agent's ownership rule: the stored owner must be exactly
   * `userId` (an anonymous session only without `userId`), else `SESSION_OWNERSHIP`.
   */
  getSession(input: { sessionId: string; userId?: string }): Promise<SessionRecord | undefined>;
  /** Reads runs of a session (same semantics as `SessionStorage.getRuns`). */
  getRuns(input: GetRunsInput): Promise<StoredRun[]>;
  /**
   * Persists a session summary with the session (an older summary never replaces a newer one)
   * and refreshes the agent's copy. Fenced: it writes only into `incarnation` (the record the
   * summary was made from), so a deleted or recreated session rejects with `NOT_FOUND` and is
   * never created again; an aborted `signal` rejects with `ABORTED` and writes nothing.
   */
  saveSummary(input: {
    sessionId: string;
    userId?: string;
    incarnation: string;
    summary: SessionSummaryRecord;
    signal?: AbortSignal;
  }): Promise<void>;
}

/** A memory extension the Agent drives. `AgentMemory` from `@buddy/memory` implements it. */
export interface AgentMemoryV1 {
  /** Always `'v1'`. */
  readonly specificationVersion: 'v1';
  /**
   * Called once by the Agent's constructor. An extension serves one agent: attaching it to a
   * second agent rejects with `INVALID_ARGUMENT`.
   */
  attach(host: AgentMemoryHost): void;
  /**
   * The user's memories for the system message, most relevant (or newest) first. `query` is the
   * run's input, for relevant retrieval (SPEC §13.2); the Agent asks in parallel with loading the
   * session.
   */
  readMemories(input: {
    userId: string;
    signal?: AbortSignal;
    query?: string;
  }): Promise<UserMemory[]>;
  /**
   * Brings the session's summary up to date with its runs (incrementally) and saves it through
   * the host. Resolves to the current summary (`undefined` when there is nothing to summarize).
   */
  updateSessionSummary(input: {
    sessionId: string;
    userId?: string;
    signal?: AbortSignal;
  }): Promise<SessionSummaryRecord | undefined>;
  /**
   * Deletes everything the extension stores for `userId` (memories); returns how many rows. Fenced:
   * once it resolves, no memory update of that user that was in flight writes anything.
   */
  deleteUserData(userId: string): Promise<number>;
  /**
   * Decides whether `message` holds something worth remembering and updates memories. Honours
   * `signal`: once it fires, nothing more is written.
   */
  updateUserMemories(input: {
    userId: string;
    message: string;
    signal?: AbortSignal;
  }): Promise<void>;
  /** Closes what the extension was given (its memory db). Optional; idempotent. */
  close?(): Promise<void>;
  /**
   * Optional: the tools of agentic memory (SPEC §16.1) for one run — `search_memories`,
   * `add_memory`, `update_memory`, `delete_memory` — each bound to `userId` (whatever the model
   * passes, no other user's row is read or written). The Agent adds them with
   * `enableAgenticMemory`.
   */
  agentTools?(input: { userId: string; signal?: AbortSignal }): readonly AgentMemoryTool[];
}

/**
 * A tool an extension gives the agent: made with `tool()` from `@buddy/core` (the Agent checks),
 * described here only by what the contract needs, so the contract stays free of runtime types.
 */
export interface AgentMemoryTool {
  readonly name: string;
  readonly description: string | undefined;
}

/** The current agent-memory contract. */
export type AgentMemoryContract = AgentMemoryV1;
