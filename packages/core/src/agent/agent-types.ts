import type { BuddyError } from '../errors/buddy-error.ts';
import type {
  ModelInfo,
  StoredMessage,
  ToolCall,
  Usage,
  UserMessage,
} from '../messages/message.ts';
import type { AgentMemoryContract } from '../spec/agent-memory-v1.ts';
import type { Logger } from '../spec/logger.ts';
import type { Model } from '../spec/model-v1.ts';
import type { SessionStorage } from '../spec/session-storage-v1.ts';
import type { Tool } from '../tools/tool.ts';
import type { Agent } from './agent.ts';

/** What a `systemMessage` function receives. */
export interface SystemMessageContext {
  agent: Agent;
  sessionId: string;
  userId: string | undefined;
  /** The run's state (after defaults, stored state and per-run state are merged). */
  sessionState: Readonly<Record<string, unknown>>;
}

/** Options of `new Agent(...)`. All optional; see SPEC §2.1 for the defaults. */
export interface AgentOptions {
  /** The model; `new OpenAIChat({ id: 'gpt-4o' })` from `@buddy/model-openai` when absent. */
  model?: Model;
  /** Recorded on sessions. A random uuid when absent. */
  agentId?: string;
  name?: string;
  description?: string;
  instructions?: string | string[];
  /** Replaces the default system message entirely (no instructions, summary or memory sections). */
  systemMessage?: string | ((context: SystemMessageContext) => string);
  tools?: Tool[];
  /** The agent's own session. A random uuid when absent. */
  sessionId?: string;
  sessionName?: string;
  /** Default state of a new session, deep-copied per session. */
  sessionState?: Record<string, unknown>;
  /** Keep loaded sessions in process between runs (checked against the stored version). */
  cacheSession?: boolean;
  userId?: string;
  storage?: SessionStorage;
  /** An `AgentMemory` from `@buddy/memory`. */
  memory?: AgentMemoryContract;
  addStateInMessages?: boolean;
  addHistoryToMessages?: boolean;
  numHistoryRuns?: number;
  readChatHistory?: boolean;
  searchPreviousSessionsHistory?: boolean;
  numHistorySessions?: number;
  enableSessionSummaries?: boolean;
  addSessionSummaryReferences?: boolean;
  enableUserMemories?: boolean;
  addMemoryReferences?: boolean;
  /** Where recovered problems are reported. Console warnings by default. */
  logger?: Logger;
  /**
   * The per-session lease that serializes runs across processes: it lives `ttlMs` (default
   * 15 000) and is renewed while the run is alive; a second run waits up to `waitMs` (default
   * 30 000) and then fails with `SESSION_BUSY`.
   */
  sessionLease?: { ttlMs?: number; waitMs?: number };
}

/** Per-run overrides. They apply to this run only and never change the agent's own fields. */
export interface RunOptions {
  sessionId?: string;
  userId?: string;
  /** Merged over the stored state, top-level keys, for this run (and persisted with it). */
  sessionState?: Record<string, unknown>;
  signal?: AbortSignal;
}

/** The result of one run. */
export interface RunResponse {
  runId: string;
  sessionId: string;
  userId?: string;
  /** The final assistant text. */
  content: string;
  /** This run's new messages (user, assistant, tool), as stored. */
  messages: StoredMessage[];
  usage: Usage;
  model: ModelInfo;
  /**
   * Problems in post-answer work (summary, memories). Empty when all went well. In `stream()`,
   * post-answer warnings are appended to this array after `run-completed` was emitted, before the
   * stream ends.
   */
  warnings: string[];
}

/** Events of `agent.stream()`, discriminated on `type`. */
export type RunEvent =
  | { type: 'run-started'; runId: string; sessionId: string; userId?: string }
  | { type: 'text-delta'; runId: string; delta: string }
  | { type: 'tool-call'; runId: string; toolCall: ToolCall }
  | {
      type: 'tool-result';
      runId: string;
      toolCallId: string;
      toolName: string;
      result: string;
      isError: boolean;
    }
  | { type: 'run-completed'; runId: string; response: RunResponse }
  | { type: 'run-error'; runId: string; error: BuddyError };

/** A run's input: text, or a user message. */
export type RunInput = string | UserMessage;

/** `listSessions` on the agent. */
export interface AgentListSessionsOptions {
  /** Defaults to the agent's `userId`. */
  userId?: string;
  limit?: number;
  cursor?: string;
}
