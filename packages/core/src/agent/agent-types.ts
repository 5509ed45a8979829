import type { z } from 'zod';
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
import type { Model, ProviderOptions } from '../spec/model-v1.ts';
import type { SessionMetadata, SessionStorage } from '../spec/session-storage-v1.ts';
import type { Tool } from '../tools/tool.ts';
import type { Agent } from './agent.ts';
import type { ContextBudget } from './context-budget.ts';

/** A session state: a JSON object. */
export type SessionState = Record<string, unknown>;

/** What a `systemMessage` function receives. */
export interface SystemMessageContext<TState extends SessionState = SessionState> {
  agent: Agent<TState>;
  sessionId: string;
  userId: string | undefined;
  /** The run's state (after defaults, stored state and per-run state are merged). */
  sessionState: Readonly<TState>;
}

/**
 * Options of `new Agent(...)`. All optional; see SPEC §2.1 for the defaults. `TState` is the
 * session state (inferred from `stateSchema`), `TMemory` the memory extension (inferred from
 * `memory`), so `agent.sessionState` and `agent.memory` are typed without casts.
 */
export interface AgentOptions<
  TState extends SessionState = SessionState,
  TMemory extends AgentMemoryContract | undefined = AgentMemoryContract | undefined,
> {
  /** The model; `new OpenAIChat({ id: 'gpt-4o' })` from `@buddy/model-openai` when absent. */
  model?: Model;
  /** Recorded on sessions. A random uuid when absent. */
  agentId?: string;
  /** A name for logs and the default system message. */
  name?: string;
  /** What the agent is, first in the default system message (templated with `addStateInMessages`). */
  description?: string;
  /** Instructions of the default system message, one line each (templated with `addStateInMessages`). */
  instructions?: string | string[];
  /** Replaces the default system message entirely (no instructions, summary or memory sections). */
  systemMessage?: string | ((context: SystemMessageContext<NoInfer<TState>>) => string);
  /** Tools made with `tool()`; the model may call them during runs. */
  // biome-ignore lint/suspicious/noExplicitAny: a tool's argument and result types are its own
  tools?: Tool<any, any, NoInfer<TState>>[];
  /** The agent's own session. A random uuid when absent. */
  sessionId?: string;
  /** A human label of the own session, stored when the stored session has none. */
  sessionName?: string;
  /** Default state of a new session (JSON values only), deep-copied per session. */
  sessionState?: Partial<NoInfer<TState>>;
  /**
   * A zod object schema of the session state: types `agent.sessionState` and `ctx.sessionState`,
   * fills defaults for a new session, and validates the state when it is loaded (a stored state
   * that no longer matches is `STORAGE_CORRUPT` for that session) and before every write (a tool
   * leaving an invalid state fails its run with `INVALID_ARGUMENT` naming the path).
   */
  stateSchema?: z.ZodType<TState>;
  /** Keep loaded sessions in process between runs (checked against the stored version). */
  cacheSession?: boolean;
  /** The owner of the agent's sessions; scopes history, memories and listing (SPEC §2.4). */
  userId?: string;
  /** Where sessions persist; in process (`InMemoryStorage`) when absent. */
  storage?: SessionStorage;
  /** An `AgentMemory` from `@buddy/memory`. */
  memory?: TMemory;
  /** Template `{key}` from the run's state into the system message and the input (SPEC §2.5). */
  addStateInMessages?: boolean;
  /** Replay the last `numHistoryRuns` runs of the session before the new message. */
  addHistoryToMessages?: boolean;
  /** How many whole runs `addHistoryToMessages` replays. Default 3; 0 means none. */
  numHistoryRuns?: number;
  /** Add the tool `get_chat_history(num_chats?)`. */
  readChatHistory?: boolean;
  /** Add the tool `get_previous_session_messages` (this user's other recent sessions). */
  searchPreviousSessionsHistory?: boolean;
  /** How many previous sessions that tool reads. Default 2. */
  numHistorySessions?: number;
  /** Update the session summary after each run (needs `memory`). */
  enableSessionSummaries?: boolean;
  /** Put the summary into the system message. Default: `enableSessionSummaries`. */
  addSessionSummaryReferences?: boolean;
  /** Learn durable memories about the user after each run (needs `memory` and a `userId`). */
  enableUserMemories?: boolean;
  /** Put the user's memories into the system message. Default: `enableUserMemories`. */
  addMemoryReferences?: boolean;
  /** Where recovered problems are reported. Console warnings by default. */
  logger?: Logger;
  /**
   * The per-session lease that serializes runs across processes: it lives `ttlMs` (default
   * 15 000) and is renewed while the run is alive; a second run waits up to `waitMs` (default
   * 30 000) and then fails with `SESSION_BUSY`.
   */
  sessionLease?: { ttlMs?: number; waitMs?: number };
  /**
   * Post-answer work (summary, memories) gives up after this many milliseconds, with a warning
   * (SPEC §10.4). Default 60 000.
   */
  postAnswerTimeoutMs?: number;
  /**
   * Provider-specific request options, namespaced by provider and passed through to the model on
   * every call: `{ openai: { parallel_tool_calls: false } }` (SPEC §3).
   */
  providerOptions?: ProviderOptions;
  /**
   * Every model request of a run counts at most `maxInputTokens` (SPEC §13.3): the oldest history
   * runs, then memories, then summary topics are left out to fit; the instructions and the input
   * never are (`CONTEXT_TOO_LARGE` when they alone do not fit). Tokens are counted with
   * `countTokens`, else the model's own counter, else a conservative characters / 3.
   */
  contextBudget?: ContextBudget;
  /**
   * Add the tool `update_session_state({ patch })`: a JSON merge patch (RFC 7396) applied to the
   * run's state, checked against `stateSchema` (an invalid patch is a tool error; the state is
   * unchanged). Stored with the run like every other state change (SPEC §16.1).
   */
  enableAgenticState?: boolean;
  /**
   * Add the memory's own tools for the agent (`search_memories`, `add_memory`, `update_memory`,
   * `delete_memory`), bound to the run's user; runs without a user get none. Needs `memory`.
   */
  enableAgenticMemory?: boolean;
  /**
   * Store a run that was aborted (signal, stream consumer gone) or failed after the model started
   * answering, with `status: 'aborted' | 'failed'`: the user message, the text so far, the tool
   * calls with their results and `Error: interrupted` for a call left without one (SPEC §16.3).
   * Default `false`: nothing of such a run is stored.
   */
  persistAbortedRuns?: boolean;
  /** Metadata of a new session (a JSON object, at most 16 kB), stored when it is created. */
  sessionMetadata?: SessionMetadata;
  /** Add the tool `get_tool_call_history({ num_calls? })`: this session's latest tool calls. */
  readToolCallHistory?: boolean;
  /**
   * Tracing with OpenTelemetry (SPEC §16.5), when `@opentelemetry/api` is installed and a tracer
   * provider is registered: a `buddy.run` span per run with model, tool, storage and post-answer
   * children. No message content and no user id unless asked.
   */
  telemetry?: TelemetryOptions;
}

/** `telemetry` of `new Agent(...)`. */
export interface TelemetryOptions {
  /** Trace runs when `@opentelemetry/api` is installed. Default `true`. */
  enabled?: boolean;
  /** Record message texts, tool arguments and results on spans. Default `false`. */
  recordContent?: boolean;
  /** Record the run's user id on the run span. Default `false`. */
  recordUserId?: boolean;
}

/** Per-run overrides. They apply to this run only and never change the agent's own fields. */
export interface RunOptions<TState extends SessionState = SessionState> {
  /** Run on this session instead of the agent's own. */
  sessionId?: string;
  /** Run for this user instead of the agent's own. */
  userId?: string;
  /** Merged over the stored state, top-level keys, for this run (and persisted with it). */
  sessionState?: Partial<TState>;
  /** Aborts the run (`ABORTED`, nothing stored) and its post-answer work. */
  signal?: AbortSignal;
  /**
   * Decisions for the session's run paused for approvals: it is resumed with them (as
   * `agent.resume`) before this run starts. Without them a run on a paused session is
   * `SESSION_BUSY`.
   */
  approvals?: ApprovalDecisions;
}

/** Decisions on pending approvals, by `approvalId`. */
export type ApprovalDecisions = Record<string, { approved: boolean; reason?: string }>;

/** `agent.resume(...)` / `agent.resumeStream(...)`. */
export interface ResumeOptions {
  /** The paused session; the agent's own by default. */
  sessionId?: string;
  /** The run's user; the agent's own by default. */
  userId?: string;
  /** A decision for every pending approval of the paused run. */
  approvals: ApprovalDecisions;
  signal?: AbortSignal;
}

/** A tool call waiting for a person's decision, as a `RunResponse` shows it. */
export interface PendingApprovalInfo {
  approvalId: string;
  toolName: string;
  /** The call's arguments as JSON text. */
  arguments: string;
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
  /**
   * `'awaiting-approval'` when a tool that needs approval was called: the run is paused and stored
   * with its session; continue it with `agent.resume({ approvals })`. `'completed'` otherwise.
   */
  status: 'completed' | 'awaiting-approval';
  /** With `status: 'awaiting-approval'`: what waits for a decision. */
  pendingApprovals?: PendingApprovalInfo[];
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
  | { type: 'approval-requested'; runId: string; pendingApprovals: PendingApprovalInfo[] }
  | { type: 'run-completed'; runId: string; response: RunResponse }
  | { type: 'run-error'; runId: string; error: BuddyError };

/** A run's input: text, or a user message. */
export type RunInput = string | UserMessage;

/** `listSessions` on the agent. */
export interface AgentListSessionsOptions {
  /** Defaults to the agent's `userId`. */
  userId?: string;
  /** Page size, 1..1000; default 20. */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
  /** Only sessions whose metadata has these top-level keys with equal JSON values. */
  metadata?: SessionMetadata;
}
