/**
 * `Agent`: runs a model with tools over a session that keeps identity, state, history, a summary
 * and the user's memories (SPEC §2). The class reads top to bottom as the lifecycle of a turn
 * (SPEC §2.4): serialize (`withSessionLease`), load (`#readRecord`, the `SessionCache`), resolve
 * the state (`session-state.ts`), build messages, run the model loop, persist atomically, then
 * post-answer work (`PostAnswerWork`).
 *
 * Ownership of state: every piece of run data lives in a per-run scope, never in shared mutable
 * fields, so one Agent serves many sessions and users at once. The agent's own session (what the
 * getters show) has one owner, `OwnSession`; the cache of history has one owner, `SessionCache`.
 * Inside a run, `agent.sessionState` resolves (through `AsyncLocalStorage`) to that run's state.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { BuddyError } from '../errors/buddy-error.ts';
import { describeValue } from '../errors/describe-value.ts';
import { throwIfAborted, toBuddyError } from '../errors/to-buddy-error.ts';
import { InMemoryStorage } from '../in-memory/in-memory-storage.ts';
import type {
  AssistantMessage,
  Message,
  StoredMessage,
  SystemMessage,
  ToolCall,
  ToolMessage,
  UserMessage,
} from '../messages/message.ts';
import { runsToPairs, stampMessage } from '../messages/message-helpers.ts';
import { withFields } from '../messages/with-fields.ts';
import type { AgentMemoryContract, AgentMemoryHost } from '../spec/agent-memory-v1.ts';
import type { Logger } from '../spec/logger.ts';
import type { UserMemory } from '../spec/memory-db-v1.ts';
import type { Model, ModelWarning } from '../spec/model-v1.ts';
import type {
  ListSessionsResult,
  PendingRunRecord,
  SessionLease,
  SessionMetadata,
  SessionRecord,
  SessionStorage,
  SessionSummaryRecord,
  StoredRun,
} from '../spec/session-storage-v1.ts';
import { sessionOwnershipError, storageClosedError } from '../storage/storage-helpers.ts';
import { assertSessionMetadata, assertSessionName } from '../storage/write-validators.ts';
import { templateState } from '../templating/template-state.ts';
import { isTool, type Tool, type ToolContext } from '../tools/tool.ts';
import { assertId, assertOptionalId } from '../validation/identifier.ts';
import { assertJsonObject, cloneJson, copyCheckedJson } from '../validation/json-value.ts';
import { isPlainObject, readOptions } from '../validation/options.ts';
import type {
  AgentListSessionsOptions,
  AgentOptions,
  ApprovalDecisions,
  ResumeOptions,
  RunEvent,
  RunInput,
  RunOptions,
  RunResponse,
  SessionState,
} from './agent-types.ts';
import { createToolCallHistoryTool, createUpdateStateTool } from './agentic-tools.ts';
import { createChatHistoryTool, createPreviousSessionsTool } from './builtin-tools.ts';
import {
  conservativeTokenCount,
  createContextPlanner,
  omittedRunsMarker,
  prefixLength,
} from './context-budget.ts';
import { loadDefaultModel } from './default-model.ts';
import { EventChannel } from './event-channel.ts';
import { KeyedMutex } from './keyed-mutex.ts';
import { OwnSession } from './own-session.ts';
import { PostAnswerWork } from './post-answer-work.ts';
import {
  MAX_TOOL_ROUNDS,
  runToolLoop,
  type ToolLoopProgress,
  unabortableToolContext,
} from './run-tool-loop.ts';
import { SessionCache } from './session-cache.ts';
import {
  applyEdits,
  applyStateSchema,
  checkStateToStore,
  type StateEdits,
  seedState,
} from './session-state.ts';
import {
  buildDefaultSystemMessage,
  formatMemoriesSection,
  formatSummarySection,
} from './system-message.ts';
import { startRunTrace } from './tracing.ts';
import { type ResolvedAgentOptions, validateAgentOptions } from './validate-agent-options.ts';
import { type HeldLease, withSessionLease } from './with-session-lease.ts';

const RUN_OPTION_KEYS = ['sessionId', 'userId', 'sessionState', 'signal', 'approvals'];
const RESUME_OPTION_KEYS = ['sessionId', 'userId', 'approvals', 'signal'];
/** The tools `enableAgenticMemory` adds (from the memory extension). */
export const AGENTIC_MEMORY_TOOLS = [
  'search_memories',
  'add_memory',
  'update_memory',
  'delete_memory',
];
const LIST_OPTION_KEYS = ['userId', 'limit', 'cursor', 'metadata'];

/** The per-run scope behind `agent.sessionState` during a run. */
interface RunScope {
  agent: Agent<never, never>;
  state: Record<string, unknown>;
}
const runScope = new AsyncLocalStorage<RunScope>();
/** Tool calls running inside `runScope` now, across every agent of the process. */
let scopedToolCalls = 0;

/**
 * Runs one tool call inside its run's scope, so `agent.sessionState` in the tool (and in async work
 * it awaits) is that run's state. Only tool calls enter the scope, and the scope is switched off
 * again when no tool call is running: on Node 20 an active `AsyncLocalStorage` makes every promise
 * of the process pay for async hooks, which a turn without tools (or the model call and the
 * storage work of a turn with them) has no reason to pay.
 */
async function inRunScope<T>(scope: RunScope, run: () => Promise<T>): Promise<T> {
  scopedToolCalls++;
  try {
    return await runScope.run(scope, run);
  } finally {
    scopedToolCalls--;
    if (scopedToolCalls === 0) runScope.disable();
  }
}

/** A run's inputs, checked. */
interface PreparedRun {
  runId: string;
  sessionId: string;
  userId: string | undefined;
  input: UserMessage;
  /** Per-run `sessionState`, checked as JSON and copied. */
  overrides: Record<string, unknown> | undefined;
  /**
   * The caller's signal, or the stream's. `undefined`: nothing can abort the run, and no
   * `AbortSignal` is made unless a tool reads `ctx.signal` (making one costs ~3 µs on Node 20).
   */
  signal: AbortSignal | undefined;
  /**
   * A stream's link to the caller's `signal`: removes the listener that forwards its abort, so a
   * long-lived signal passed to many streams does not collect one listener (and one stream) each.
   */
  unlinkSignal?: () => void;
  /** Decisions for the session's paused run: this turn resumes it instead of starting one. */
  resume?: { approvals: ApprovalDecisions };
}

function invalidRun(message: string): BuddyError {
  return new BuddyError({ code: 'INVALID_ARGUMENT', message: `Agent.run: ${message}` });
}

/**
 * An AI agent that remembers.
 *
 * @example
 * const stateSchema = z.object({ cart: z.array(z.string()).default([]) });
 * await using agent = new Agent({
 *   model: new OpenAIChat(),
 *   userId: 'dana@example.com',
 *   stateSchema,
 *   storage: new SqliteStorage({ dbFile: 'agent.db' }),
 *   tools: [addToCart],
 * });
 * const res = await agent.run('Add milk to my cart');
 * agent.sessionState.cart; // string[]
 */
export class Agent<
  TState extends SessionState = SessionState,
  TMemory extends AgentMemoryContract | undefined = AgentMemoryContract | undefined,
> {
  readonly #options: ResolvedAgentOptions;
  readonly #storage: SessionStorage;
  readonly #hasStorage: boolean;
  readonly #builtinTools: Tool[];
  readonly #queue = new KeyedMutex();
  readonly #cache: SessionCache;
  readonly #own: OwnSession<TState>;
  readonly #postAnswer: PostAnswerWork;
  readonly #defaultState: Record<string, unknown>;
  #modelPromise: Promise<Model> | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: AgentOptions<TState, TMemory> = {}) {
    this.#options = validateAgentOptions(options, randomUUID);
    const resolved = this.#options;
    this.#hasStorage = resolved.storage !== undefined;
    // Without storage, sessions live in process in a private in-memory store, so every code path
    // (queue, lease, history, summaries) is the same with and without persistence.
    this.#storage = resolved.storage ?? new InMemoryStorage();
    this.#cache = new SessionCache(resolved.cacheSession);
    // The default state: checked as JSON at validation, then through the schema (its defaults).
    this.#defaultState = applyStateSchema(resolved.stateSchema, cloneJson(resolved.sessionState), {
      root: 'sessionState',
      blame: 'caller',
      sessionId: resolved.sessionId,
      context: "Agent: option 'sessionState'",
    });
    this.#own = new OwnSession<TState>({
      sessionId: resolved.sessionId,
      sessionName: resolved.sessionName,
      defaults: (sessionId) => this.#freshState(sessionId, resolved.userId) as TState,
    });
    this.#postAnswer = new PostAnswerWork({
      memory: resolved.memory,
      summaries: resolved.enableSessionSummaries,
      memories: resolved.enableUserMemories,
      timeoutMs: resolved.postAnswerTimeoutMs,
      logger: resolved.logger,
    });
    this.#builtinTools = [];
    if (resolved.readChatHistory) this.#builtinTools.push(createChatHistoryTool(this.#storage));
    if (resolved.searchPreviousSessionsHistory) {
      this.#builtinTools.push(
        createPreviousSessionsTool({
          storage: this.#storage,
          hasStorage: this.#hasStorage,
          numHistorySessions: resolved.numHistorySessions,
        }),
      );
    }
    if (resolved.enableAgenticState) {
      this.#builtinTools.push(createUpdateStateTool(resolved.stateSchema));
    }
    if (resolved.readToolCallHistory) {
      this.#builtinTools.push(createToolCallHistoryTool(this.#storage));
    }
    const names = new Set(resolved.tools.map((entry) => entry.name));
    const reserved = [
      ...this.#builtinTools.map((entry) => entry.name),
      ...(resolved.enableAgenticMemory ? AGENTIC_MEMORY_TOOLS : []),
    ];
    for (const name of reserved) {
      if (names.has(name)) {
        throw new BuddyError({
          code: 'INVALID_ARGUMENT',
          message: `Agent: option 'tools' has a tool named '${name}', which is reserved for a built-in tool`,
        });
      }
    }
    resolved.memory?.attach(this.#memoryHost());
  }

  // ---------------------------------------------------------------- getters

  get agentId(): string {
    return this.#options.agentId;
  }
  get name(): string | undefined {
    return this.#options.name;
  }
  /** The agent's own session id (per-run `sessionId` overrides do not change it). */
  get sessionId(): string {
    return this.#own.sessionId;
  }
  get sessionName(): string | undefined {
    return this.#own.sessionName;
  }
  get userId(): string | undefined {
    return this.#options.userId;
  }
  /**
   * Inside a run (in a tool): that run's session state, the same object as `ctx.sessionState`.
   * Outside runs: the agent's own session state as last loaded or stored. Edits made to it between
   * runs are persisted by the next run of the own session (top-level keys; see `OwnSession`).
   */
  get sessionState(): TState {
    const scope = runScope.getStore();
    if (scope !== undefined && scope.agent === (this as unknown)) return scope.state as TState;
    return this.#own.state;
  }
  /** The memory extension given as `memory`. */
  get memory(): TMemory {
    return this.#options.memory as TMemory;
  }
  /** The configured storage; `undefined` when sessions live in process only. */
  get storage(): SessionStorage | undefined {
    return this.#hasStorage ? this.#storage : undefined;
  }
  get tools(): readonly Tool[] {
    return [...this.#options.tools, ...this.#builtinTools];
  }

  // ---------------------------------------------------------------- running

  /** Runs one turn and resolves when it is persisted and post-answer work is done. */
  async run(input: RunInput, options?: RunOptions<TState>): Promise<RunResponse> {
    const prepared = this.#prepareRun(input, options, undefined);
    if (options?.approvals !== undefined) await this.#resolveFirst(prepared, options.approvals);
    const { response, postAnswer } = await this.#turn(prepared, false, () => {});
    await postAnswer();
    return response;
  }

  /**
   * Runs one turn and streams its events. `run-completed` is emitted as soon as the run is
   * persisted; post-answer work (summary, memories) happens after it, before the stream ends.
   * Failures arrive as a `run-error` event (the iterator itself does not throw). Stopping the
   * iteration early aborts the run.
   */
  stream(input: RunInput, options?: RunOptions<TState>): AsyncIterable<RunEvent> {
    const controller = new AbortController();
    const channel = new EventChannel<RunEvent>(() =>
      controller.abort(
        new BuddyError({ code: 'ABORTED', message: 'The stream consumer stopped reading' }),
      ),
    );
    let prepared: PreparedRun;
    try {
      prepared = this.#prepareRun(input, options, controller);
    } catch (error) {
      channel.push({ type: 'run-error', runId: randomUUID(), error: toBuddyError(error) });
      channel.end();
      return channel;
    }
    void (async () => {
      try {
        if (options?.approvals !== undefined) await this.#resolveFirst(prepared, options.approvals);
        const { response, postAnswer } = await this.#turn(prepared, true, (event) =>
          channel.push(event),
        );
        channel.push({ type: 'run-completed', runId: prepared.runId, response });
        await postAnswer();
      } catch (error) {
        channel.push({ type: 'run-error', runId: prepared.runId, error: toBuddyError(error) });
      } finally {
        prepared.unlinkSignal?.();
        channel.end();
      }
    })();
    return channel;
  }

  /**
   * Continues a run paused for approvals (SPEC §16.4), in this or any other process: approved
   * calls run, denied ones answer the model `Error: denied: <reason>`, and the run goes on (it may
   * pause again). Resolves with the run's `RunResponse`; the completed run is stored as one run.
   *
   * @example
   * const paused = await agent.run('Check out my cart');
   * if (paused.status === 'awaiting-approval') {
   *   const [approval] = paused.pendingApprovals ?? [];
   *   await agent.resume({ approvals: { [approval.approvalId]: { approved: true } } });
   * }
   */
  async resume(options: ResumeOptions): Promise<RunResponse> {
    const prepared = this.#prepareResume(options, undefined);
    const { response, postAnswer } = await this.#turn(prepared, false, () => {});
    await postAnswer();
    return response;
  }

  /** `resume(...)`, streamed like `stream()`. */
  resumeStream(options: ResumeOptions): AsyncIterable<RunEvent> {
    const controller = new AbortController();
    const channel = new EventChannel<RunEvent>(() =>
      controller.abort(
        new BuddyError({ code: 'ABORTED', message: 'The stream consumer stopped reading' }),
      ),
    );
    let prepared: PreparedRun;
    try {
      prepared = this.#prepareResume(options, controller);
    } catch (error) {
      channel.push({ type: 'run-error', runId: randomUUID(), error: toBuddyError(error) });
      channel.end();
      return channel;
    }
    void (async () => {
      let runId = prepared.runId;
      try {
        const { response, postAnswer } = await this.#turn(prepared, true, (event) => {
          if (event.type === 'run-started') runId = event.runId;
          channel.push(event);
        });
        channel.push({ type: 'run-completed', runId: response.runId, response });
        await postAnswer();
      } catch (error) {
        channel.push({ type: 'run-error', runId, error: toBuddyError(error) });
      } finally {
        prepared.unlinkSignal?.();
        channel.end();
      }
    })();
    return channel;
  }

  /** A run given `approvals`: first the session's paused run is resumed with them. */
  async #resolveFirst(prepared: PreparedRun, approvals: ApprovalDecisions): Promise<void> {
    await this.resume({
      sessionId: prepared.sessionId,
      ...(prepared.userId === undefined ? {} : { userId: prepared.userId }),
      approvals,
      ...(prepared.signal === undefined ? {} : { signal: prepared.signal }),
    });
  }

  #prepareResume(rawOptions: unknown, streamController: AbortController | undefined): PreparedRun {
    const options = readOptions<ResumeOptions>(
      rawOptions,
      'Agent.resume: options',
      RESUME_OPTION_KEYS,
    );
    const approvals = checkApprovals(options.approvals, 'Agent.resume');
    const prepared = this.#prepareRun(
      'resume',
      {
        ...(options.sessionId === undefined ? {} : { sessionId: options.sessionId }),
        ...(options.userId === undefined ? {} : { userId: options.userId }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      },
      streamController,
    );
    return { ...prepared, resume: { approvals } };
  }

  /** Checks a run's input and options (every problem a `BuddyError` naming it). */
  #prepareRun(
    input: RunInput,
    rawOptions: unknown,
    streamController: AbortController | undefined,
  ): PreparedRun {
    let message: UserMessage;
    if (typeof input === 'string') {
      if (input.trim() === '')
        throw invalidRun('input must be a non-empty string or a user message, got ""');
      message = { role: 'user', content: input };
    } else if (isPlainObject(input) && input.role === 'user' && typeof input.content === 'string') {
      message = { ...input };
    } else {
      throw invalidRun(
        `input must be a non-empty string or { role: 'user', content: string }, got ${describeValue(input)}`,
      );
    }
    const options = readOptions<RunOptions>(rawOptions, 'Agent.run: options', RUN_OPTION_KEYS);
    assertOptionalId(options.sessionId, 'Agent.run: option sessionId');
    assertOptionalId(options.userId, 'Agent.run: option userId');
    let overrides: Record<string, unknown> | undefined;
    if (options.sessionState !== undefined) {
      if (!isPlainObject(options.sessionState)) {
        throw invalidRun(
          `option 'sessionState' must be a plain object, got ${describeValue(options.sessionState)}`,
        );
      }
      try {
        assertJsonObject(options.sessionState, 'sessionState');
      } catch (error) {
        throw invalidRun(`option ${(error as BuddyError).message}`);
      }
      overrides = copyCheckedJson(options.sessionState as Record<string, unknown>);
    }
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
      throw invalidRun(
        `option 'signal' must be an AbortSignal, got ${describeValue(options.signal)}`,
      );
    }
    if (options.approvals !== undefined) checkApprovals(options.approvals, 'Agent.run');
    const prepared: PreparedRun = {
      runId: randomUUID(),
      sessionId: options.sessionId ?? this.#own.sessionId,
      userId: options.userId ?? this.#options.userId,
      input: message,
      overrides,
      signal: streamController?.signal ?? options.signal,
    };
    const outer = options.signal;
    if (streamController !== undefined && outer !== undefined) {
      if (outer.aborted) streamController.abort(outer.reason);
      else {
        const forward = () => streamController.abort(outer.reason);
        outer.addEventListener('abort', forward, { once: true });
        prepared.unlinkSignal = () => outer.removeEventListener('abort', forward);
      }
    }
    return prepared;
  }

  /** One turn, SPEC §2.4 steps 1–6; resolves with the response and the post-answer work (7). */
  async #turn(
    run: PreparedRun,
    streaming: boolean,
    emit: (event: RunEvent) => void,
  ): Promise<{ response: RunResponse; postAnswer: () => Promise<void> }> {
    this.#assertOpen();
    const { sessionId, userId, signal } = run;
    // A resumed run keeps the paused run's id; it is known once the session is read.
    let runId = run.runId;
    let userText = run.input.content;
    if (run.resume === undefined) {
      emit({ type: 'run-started', runId, sessionId, ...(userId === undefined ? {} : { userId }) });
    }
    const options = this.#options;
    const trace = await startRunTrace({
      telemetry: options.telemetry,
      runId,
      sessionId,
      agentId: options.agentId,
      userId,
      input: run.input.content,
    });
    const model = trace.model(
      await this.#getModel().catch((error: unknown) => {
        trace.end({ error });
        throw error;
      }),
    );
    const storage = trace.storage(this.#storage);
    const isOwn = sessionId === this.#own.sessionId;
    // Read before the queue: the caller's edits of the state as they were when the run was asked.
    const edits = isOwn && run.resume === undefined ? this.#own.edits() : undefined;
    // The user's memories (with relevant retrieval: the input embedded) load while the session
    // does; a failure surfaces where they are used.
    const memoriesRead =
      run.resume === undefined ? this.#readMemories(userId, signal, run.input.content) : undefined;
    memoriesRead?.catch(() => {});

    // 1. Serialize.
    const turn = this.#withLease(
      sessionId,
      signal,
      true,
      async (held) => {
        // 2. Load: the record (with the lease when the storage can), ownership, history, memories.
        const record = await this.#readRecord(sessionId, userId, held.lease, storage);
        const paused = this.#pausedRun(record, sessionId, run.resume);
        if (paused !== undefined) {
          runId = paused.record.runId;
          userText = paused.record.messages[0]?.content ?? '';
          emit({
            type: 'run-started',
            runId,
            sessionId,
            ...(userId === undefined ? {} : { userId }),
          });
        }
        const [history, memories] = await Promise.all([
          this.#history(record, storage),
          memoriesRead ?? this.#readMemories(userId, signal, userText),
        ]);
        // 3. State (a resumed run continues with the state it paused with).
        const state =
          paused === undefined
            ? this.#startState({ record, sessionId, userId, edits, overrides: run.overrides })
            : seedState(cloneJson(paused.record.sessionState), sessionId, userId);
        // 4. Messages.
        const template = this.#templater(sessionId, userId, state);
        const runStart: StoredMessage[] =
          paused === undefined
            ? [
                stampMessage<UserMessage>(
                  withFields(run.input, { content: template(run.input.content) }),
                  runId,
                ) as StoredMessage,
              ]
            : paused.record.messages;
        const systemParts = {
          memories,
          summary: record?.summary,
          compose: (parts: {
            memories: readonly UserMemory[];
            summary: SessionSummaryRecord | undefined;
            omittedRuns: number;
          }) =>
            withMarker(
              this.#systemMessage({ sessionId, userId, state, ...parts, template }),
              parts.omittedRuns,
            ),
        };
        const system = systemParts.compose({ memories, summary: record?.summary, omittedRuns: 0 });
        // Pushed one by one: `flatMap` and array spreads cost about 1 µs each here (Node 20).
        const messages: Message[] = [];
        if (system !== undefined) {
          messages.push({ role: 'system', content: system } satisfies SystemMessage);
        }
        for (const stored of history) for (const message of stored.messages) messages.push(message);
        for (const message of runStart) messages.push(message);
        const budget = options.contextBudget;
        const prepareRequest =
          budget === undefined
            ? undefined
            : createContextPlanner({
                budget,
                count:
                  budget.countTokens ?? model.countTokens?.bind(model) ?? conservativeTokenCount,
                system: systemParts,
                history,
                prefixLength: prefixLength(messages, history),
              });
        // 5. The model loop with tools.
        const toolFields = { agent: this as never, sessionState: state, sessionId, userId, runId };
        const toolContext: ToolContext =
          signal === undefined ? unabortableToolContext(toolFields) : { ...toolFields, signal };
        const startedAt = paused?.record.createdAt ?? Date.now();
        const progress: ToolLoopProgress = {
          messages: [],
          partialText: '',
          started: false,
          usage: { inputTokens: 0, outputTokens: 0 },
        };
        // With persistAbortedRuns, the state at the start is kept to store if the tools' is not.
        const startState = options.persistAbortedRuns ? cloneJson(state) : undefined;
        const scope: RunScope = { agent: this as never, state };
        const loop = runToolLoop({
          model,
          messages,
          tools: this.#runTools(userId, signal),
          context: toolContext,
          streaming,
          onEvent: emit,
          ...(options.providerOptions === undefined
            ? {}
            : { settings: { providerOptions: options.providerOptions } }),
          ...(prepareRequest === undefined ? {} : { prepareRequest }),
          traceTool: (call, execute) => inRunScope(scope, () => trace.tool(call, execute)),
          progress,
          ...(paused === undefined
            ? {}
            : {
                resume: paused.resume,
                maxRounds: Math.max(MAX_TOOL_ROUNDS - paused.record.rounds, 0),
              }),
        });
        let result: Awaited<typeof loop>;
        try {
          result = await loop;
        } catch (error) {
          if (options.persistAbortedRuns && progress.started && paused === undefined) {
            await this.#storePartialRun({
              storage,
              leaseToken: held.lease.token,
              record,
              sessionId,
              userId,
              runId,
              model,
              userMessage: runStart[0] as StoredMessage,
              progress,
              state,
              startState: startState as Record<string, unknown>,
              startedAt,
              status: signal?.aborted === true ? 'aborted' : 'failed',
            });
          }
          throw error;
        }
        const stored = checkStateToStore(options.stateSchema, state, sessionId);
        const runMessages: StoredMessage[] = [...runStart, ...result.messages];
        const usage = {
          inputTokens: (paused?.record.usage.inputTokens ?? 0) + result.usage.inputTokens,
          outputTokens: (paused?.record.usage.outputTokens ?? 0) + result.usage.outputTokens,
        };
        const base = {
          runId,
          sessionId,
          ...(userId === undefined ? {} : { userId }),
          messages: runMessages,
          usage,
          model: { provider: model.provider, id: model.id },
          warnings: result.warnings.map((warning) => describeModelWarning(model, warning)),
        };
        // 6a. Paused for approvals: stored with the session, fenced by the lease; the session's
        // state is unchanged until the run completes.
        if (result.pendingApprovals !== undefined) {
          const approvals = result.pendingApprovals.map((call) => ({
            approvalId: randomUUID(),
            toolCallId: call.id,
            toolName: call.name,
            arguments: call.arguments,
          }));
          const pendingRun: PendingRunRecord = {
            runId,
            ...(userId === undefined ? {} : { userId }),
            agentId: options.agentId,
            messages: runMessages,
            sessionState: stored,
            approvals,
            usage,
            model: { provider: model.provider, id: model.id },
            rounds: (paused?.record.rounds ?? 0) + result.rounds,
            createdAt: startedAt,
            pausedAt: Date.now(),
          };
          const saved = await storage.upsertSession({
            sessionId,
            ...(userId === undefined ? {} : { userId }),
            agentId: options.agentId,
            ...(record === undefined
              ? {
                  // A new session starts from the default; the paused run's changes wait with it.
                  sessionState: this.#freshState(sessionId, userId),
                  ...(options.sessionMetadata === undefined
                    ? {}
                    : { metadata: options.sessionMetadata }),
                }
              : {}),
            pendingRun,
            leaseToken: held.lease.token,
          });
          this.#cache.forget(sessionId);
          if (sessionId === this.#own.sessionId) this.#own.setSummary(saved.summary);
          const pendingApprovals = approvals.map(({ approvalId, toolName, arguments: args }) => ({
            approvalId,
            toolName,
            arguments: args,
          }));
          emit({ type: 'approval-requested', runId, pendingApprovals });
          return {
            ...base,
            content: '',
            status: 'awaiting-approval',
            pendingApprovals,
          } satisfies RunResponse;
        }
        // 6b. Persist atomically (nothing is stored when the state the tools left is not storable).
        const storedRun: Omit<StoredRun, 'index'> = {
          runId,
          sessionId,
          ...(userId === undefined ? {} : { userId }),
          agentId: options.agentId,
          messages: runMessages,
          usage,
          model: { provider: model.provider, id: model.id },
          createdAt: startedAt,
          completedAt: Date.now(),
        };
        // The agent's configured name labels its own session when the stored one has none.
        const ownName = this.#own.sessionName;
        const sessionName = isOwn && record?.sessionName === undefined ? ownName : undefined;
        const appended = await storage.appendRun({
          sessionId,
          ...(userId === undefined ? {} : { userId }),
          agentId: options.agentId,
          ...(sessionName === undefined ? {} : { sessionName }),
          ...(record === undefined && options.sessionMetadata !== undefined
            ? { metadata: options.sessionMetadata }
            : {}),
          run: storedRun,
          sessionState: stored,
          leaseToken: held.lease.token,
          ...(paused === undefined ? {} : { clearPendingRun: true }),
          ...(this.#storage.capabilities?.appendReleasesLease === true
            ? { releaseLease: true }
            : {}),
        });
        if (appended.leaseReleased === true) held.released();
        const incarnation = record?.incarnation ?? appended.incarnation;
        if (incarnation !== undefined) {
          this.#cache.remember(
            sessionId,
            { incarnation, version: appended.version },
            [
              ...history,
              withFields(storedRun, { index: appended.index, stateAfter: stored }),
            ].slice(-Math.max(options.numHistoryRuns, 0)),
          );
        }
        if (sessionId === this.#own.sessionId) {
          this.#own.adopt({
            record: { sessionName: record?.sessionName ?? sessionName, summary: record?.summary },
            state: stored as TState,
          });
        }
        return withFields(base, {
          content: result.content,
          status: 'completed' as const,
        }) satisfies RunResponse;
      },
      storage,
    );
    let response: RunResponse;
    try {
      response = await turn;
    } catch (error) {
      trace.end({ error });
      throw error;
    }

    // 7. Post-answer work, after the run is stored (not for a paused run); never rejects.
    const postAnswer = async () => {
      try {
        if (this.#postAnswer.enabled && response.status === 'completed') {
          await trace.postAnswer(() =>
            this.#postAnswer.run({
              runId,
              sessionId,
              userId,
              message: userText,
              signal,
              warnings: response.warnings,
            }),
          );
        }
      } finally {
        trace.end({ usage: response.usage });
      }
    };
    return { response, postAnswer };
  }

  /**
   * The session's paused run when this turn resumes it (decisions checked), `undefined` for a new
   * run; a new run on a paused session is `SESSION_BUSY`, naming what waits.
   */
  #pausedRun(
    record: SessionRecord | undefined,
    sessionId: string,
    resume: PreparedRun['resume'],
  ):
    | {
        record: PendingRunRecord;
        resume: {
          pending: ToolCall[];
          decisions: Map<string, { approved: boolean; reason?: string }>;
        };
      }
    | undefined {
    const pending = record?.pendingRun;
    if (resume === undefined) {
      if (pending === undefined) return undefined;
      const waiting = pending.approvals
        .map((entry) => `${entry.toolName}(${entry.arguments}) [approvalId ${entry.approvalId}]`)
        .join(', ');
      throw new BuddyError({
        code: 'SESSION_BUSY',
        message: `Session ${describeValue(sessionId)} waits for approval of ${waiting}; decide with agent.resume({ sessionId, approvals: { [approvalId]: { approved } } }) or pass approvals to the run`,
        details: { sessionId, runId: pending.runId },
        retryable: false,
      });
    }
    if (pending === undefined) {
      throw new BuddyError({
        code: 'NOT_FOUND',
        message: `Session ${describeValue(sessionId)} has no run waiting for approval`,
        details: { sessionId },
      });
    }
    const ids = new Set(pending.approvals.map((entry) => entry.approvalId));
    for (const id of Object.keys(resume.approvals)) {
      if (!ids.has(id)) {
        throw new BuddyError({
          code: 'INVALID_ARGUMENT',
          message: `Agent.resume: ${describeValue(id)} is not a pending approval of session ${describeValue(sessionId)} (pending: ${[...ids].join(', ')})`,
        });
      }
    }
    const decisions = new Map<string, { approved: boolean; reason?: string }>();
    for (const entry of pending.approvals) {
      const decision = resume.approvals[entry.approvalId];
      if (decision === undefined) {
        throw new BuddyError({
          code: 'INVALID_ARGUMENT',
          message: `Agent.resume: no decision for approval ${describeValue(entry.approvalId)} (${entry.toolName}); decide every pending approval`,
        });
      }
      decisions.set(entry.toolCallId, decision);
    }
    return {
      record: pending,
      resume: {
        pending: pending.approvals.map((entry) => ({
          id: entry.toolCallId,
          name: entry.toolName,
          arguments: entry.arguments,
        })),
        decisions,
      },
    };
  }

  // ---------------------------------------------------------------- sessions

  /**
   * Reads the agent's own session from storage (state, name, summary, history), creating the
   * record if missing. Returns the session id. Edits made to `agent.sessionState` before it stay
   * pending (the next run stores them).
   */
  async loadSession(): Promise<string> {
    this.#assertOpen();
    const sessionId = this.#own.sessionId;
    const userId = this.#options.userId;
    const edits = this.#own.edits();
    await this.#withLease(sessionId, undefined, false, async () => {
      let record = await this.#readRecord(sessionId, userId, undefined);
      if (record === undefined) {
        const state = this.#startState({ record, sessionId, userId, edits, overrides: undefined });
        record = await this.#storage.upsertSession({
          sessionId,
          ...(userId === undefined ? {} : { userId }),
          agentId: this.#options.agentId,
          ...(this.#own.sessionName === undefined ? {} : { sessionName: this.#own.sessionName }),
          ...(this.#options.sessionMetadata === undefined
            ? {}
            : { metadata: this.#options.sessionMetadata }),
          sessionState: checkStateToStore(this.#options.stateSchema, state, sessionId),
        });
      }
      const state = this.#startState({
        record,
        sessionId,
        userId,
        edits: undefined,
        overrides: undefined,
      });
      const history = await this.#history(record);
      if (sessionId === this.#own.sessionId) {
        this.#own.adopt({ record, state: state as TState });
        // The caller's edits stay pending over the state just read.
        applyEdits(this.#own.state, edits, 'agent.sessionState');
      }
      this.#cache.remember(sessionId, record, history);
    });
    return sessionId;
  }

  /** Starts a fresh session (new id, default state). Returns the new id. */
  newSession(): string {
    this.#own.reset(randomUUID(), undefined);
    return this.#own.sessionId;
  }

  /** Switches the agent's own session to `sessionId` and loads it (creating it if missing). */
  async switchSession(sessionId: string): Promise<string> {
    assertId(sessionId, 'Agent.switchSession: sessionId');
    const restore = this.#own.snapshot();
    this.#own.reset(sessionId, undefined);
    try {
      return await this.loadSession();
    } catch (error) {
      restore();
      throw error;
    }
  }

  /** Renames the agent's own session (creating the record if missing). */
  async renameSession(name: string): Promise<void> {
    assertSessionName(name, 'Agent.renameSession: name');
    await this.updateSession({ sessionName: name });
  }

  /**
   * Changes the agent's own session: its name and/or its metadata (a JSON object of at most
   * 16 kB that replaces the stored one; SPEC §16.2). Creates the record when it is missing.
   */
  async updateSession(changes: {
    sessionName?: string;
    metadata?: SessionMetadata;
  }): Promise<void> {
    this.#assertOpen();
    const checked = readOptions<{ sessionName?: string; metadata?: SessionMetadata }>(
      changes,
      'Agent.updateSession',
      ['sessionName', 'metadata'],
    );
    if (checked.sessionName === undefined && checked.metadata === undefined) {
      throw new BuddyError({
        code: 'INVALID_ARGUMENT',
        message: 'Agent.updateSession: pass sessionName and/or metadata',
      });
    }
    if (checked.sessionName !== undefined) {
      assertSessionName(checked.sessionName, 'Agent.updateSession: sessionName');
    }
    if (checked.metadata !== undefined) {
      assertSessionMetadata(checked.metadata, 'Agent.updateSession: metadata');
    }
    const sessionId = this.#own.sessionId;
    const userId = this.#options.userId;
    const edits = this.#own.edits();
    await this.#withLease(sessionId, undefined, false, async () => {
      const existing = await this.#readRecord(sessionId, userId, undefined);
      const created =
        existing === undefined
          ? {
              sessionState: checkStateToStore(
                this.#options.stateSchema,
                this.#startState({
                  record: existing,
                  sessionId,
                  userId,
                  edits,
                  overrides: undefined,
                }),
                sessionId,
              ),
              ...(this.#options.sessionMetadata === undefined || checked.metadata !== undefined
                ? {}
                : { metadata: this.#options.sessionMetadata }),
            }
          : {};
      const record = await this.#storage.upsertSession({
        sessionId,
        ...(userId === undefined ? {} : { userId }),
        agentId: this.#options.agentId,
        ...(checked.sessionName === undefined ? {} : { sessionName: checked.sessionName }),
        ...(checked.metadata === undefined ? {} : { metadata: checked.metadata }),
        ...created,
      });
      this.#cache.advance(record);
      if (sessionId === this.#own.sessionId && checked.sessionName !== undefined) {
        this.#own.rename(checked.sessionName);
      }
    });
  }

  /**
   * Lets the agent's model name its own session in at most five words, from the first exchanges.
   * Returns the new name.
   */
  async autoRenameSession(): Promise<string> {
    this.#assertOpen();
    const sessionId = this.#own.sessionId;
    await this.#readRecord(sessionId, this.#options.userId, undefined);
    const runs = await this.#storage.getRuns({ sessionId, fromIndex: 0, limit: 3 });
    const pairs = runsToPairs(runs);
    if (pairs.length === 0) {
      throw new BuddyError({
        code: 'NOT_FOUND',
        message: `Agent.autoRenameSession: session ${describeValue(sessionId)} has no exchanges yet; run the agent first`,
      });
    }
    const transcript = pairs
      .map(([user, assistant]) => `User: ${user.content}\nAssistant: ${assistant.content}`)
      .join('\n\n');
    const model = await this.#getModel();
    const answer = await model.generate({
      messages: [
        {
          role: 'system',
          content:
            'You name conversations. Reply with a short title of at most 5 words for the conversation below. Reply with the title only: no quotes, no punctuation at the end.',
        },
        { role: 'user', content: transcript },
      ],
      maxTokens: 20,
    });
    const name = cleanSessionName(typeof answer?.content === 'string' ? answer.content : '');
    if (name === '') {
      throw new BuddyError({
        code: 'MODEL_BAD_RESPONSE',
        message: `Agent.autoRenameSession: the model answered without a usable name (${describeValue(answer?.content)})`,
      });
    }
    await this.renameSession(name);
    return name;
  }

  /**
   * Deletes a session and its runs; `false` when it did not exist. Deletion wins: post-answer work
   * of that session is given up (and waited for) first, and a run in flight on it is fenced (its
   * write is refused). Afterwards nothing of this agent writes the session again; when it was the
   * agent's own, the next run starts from the default state.
   */
  async deleteSession(sessionId: string): Promise<boolean> {
    this.#assertOpen();
    assertId(sessionId, 'Agent.deleteSession: sessionId');
    const userId = this.#options.userId;
    await this.#postAnswer.cancelSession(sessionId);
    const deleted = await this.#storage.deleteSession(
      sessionId,
      userId === undefined ? {} : { userId },
    );
    this.#cache.forget(sessionId);
    if (sessionId === this.#own.sessionId) this.#own.reset(sessionId, this.#options.sessionName);
    return deleted;
  }

  /**
   * Sessions of a user (the agent's own `userId` by default), most recently updated first. An
   * agent with a `userId` acts for that user only: listing another user's sessions is
   * `SESSION_OWNERSHIP`. An agent without one is trusted server code and may list anyone's.
   */
  async listSessions(options?: AgentListSessionsOptions): Promise<ListSessionsResult> {
    this.#assertOpen();
    const checked = readOptions<AgentListSessionsOptions>(
      options,
      'Agent.listSessions',
      LIST_OPTION_KEYS,
    );
    assertOptionalId(checked.userId, 'Agent.listSessions: userId');
    const own = this.#options.userId;
    if (own !== undefined && checked.userId !== undefined && checked.userId !== own) {
      throw this.#actsForAnotherUser('listSessions', checked.userId);
    }
    const userId = checked.userId ?? own;
    return this.#storage.listSessions({
      ...(userId === undefined ? {} : { userId }),
      ...(checked.limit === undefined ? {} : { limit: checked.limit }),
      ...(checked.cursor === undefined ? {} : { cursor: checked.cursor }),
      ...(checked.metadata === undefined ? {} : { metadata: checked.metadata }),
    });
  }

  /**
   * Deletes every session of `userId` and, with a memory, that user's memories; other users' data
   * is untouched. Returns how many sessions and memory rows were deleted. Fenced like
   * `deleteSession`: in-flight post-answer work of that user is given up first. An agent with a
   * `userId` may only delete its own user's data.
   */
  async deleteUserData(userId: string): Promise<{ sessions: number; memories: number }> {
    this.#assertOpen();
    assertId(userId, 'Agent.deleteUserData: userId');
    const own = this.#options.userId;
    if (own !== undefined && userId !== own)
      throw this.#actsForAnotherUser('deleteUserData', userId);
    await this.#postAnswer.cancelUser(userId);
    const sessions = await this.#storage.deleteUserData(userId);
    const memories = (await this.#options.memory?.deleteUserData(userId)) ?? 0;
    this.#cache.forget();
    if (own === userId) this.#own.reset(this.#own.sessionId, this.#options.sessionName);
    return { sessions, memories };
  }

  /** The summary of the agent's own session, fresh from storage. */
  async getSessionSummary(): Promise<SessionSummaryRecord | undefined> {
    this.#assertOpen();
    const sessionId = this.#own.sessionId;
    const record = await this.#readRecord(sessionId, this.#options.userId, undefined);
    if (sessionId === this.#own.sessionId) this.#own.setSummary(record?.summary);
    return record?.summary;
  }

  /** The own session's user messages and final assistant answers, in order. */
  async getChatHistory(): Promise<Message[]> {
    this.#assertOpen();
    const sessionId = this.#own.sessionId;
    const record = await this.#readRecord(sessionId, this.#options.userId, undefined);
    if (record === undefined) return [];
    const runs = await this.#storage.getRuns({ sessionId });
    return runsToPairs(runs).flat();
  }

  // ---------------------------------------------------------------- resources

  /**
   * Closes what the agent was given: the storage, the memory (and its db) and the model client.
   * Post-answer work still running is given up. Idempotent; later runs fail with `STORAGE_CLOSED`.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#postAnswer.cancelAll();
      const model = this.#options.model ?? (await this.#modelPromise?.catch(() => undefined));
      const closing: Promise<unknown>[] = [this.#storage.close()];
      if (this.#options.memory?.close !== undefined) closing.push(this.#options.memory.close());
      if (model?.close !== undefined) closing.push(model.close());
      const results = await Promise.allSettled(closing);
      const failed = results.find((result) => result.status === 'rejected');
      if (failed !== undefined)
        throw toBuddyError(failed.reason, 'STORAGE_UNAVAILABLE', 'Agent.close');
    })();
    return this.#closing;
  }

  /** `await using agent = new Agent(...)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---------------------------------------------------------------- internals

  #assertOpen(): void {
    if (this.#closing !== undefined) throw storageClosedError('This Agent');
  }

  #actsForAnotherUser(method: string, userId: string): BuddyError {
    return new BuddyError({
      code: 'SESSION_OWNERSHIP',
      message: `Agent.${method}: this agent acts for user ${describeValue(this.#options.userId)} only; it may not act for ${describeValue(userId)} (use an agent without userId for administrative work)`,
    });
  }

  /** A fresh default state for a session: the constructor default (schema applied), seeded. */
  #freshState(sessionId: string, userId: string | undefined): Record<string, unknown> {
    return seedState(cloneJson(this.#defaultState), sessionId, userId);
  }

  #withLease<T>(
    sessionId: string,
    signal: AbortSignal | undefined,
    readSession: boolean,
    work: (held: HeldLease) => Promise<T>,
    storage: SessionStorage = this.#storage,
  ): Promise<T> {
    return withSessionLease(
      {
        storage,
        queue: this.#queue,
        sessionId,
        ttlMs: this.#options.leaseTtlMs,
        waitMs: this.#options.leaseWaitMs,
        logger: this.#options.logger,
        signal,
        readSession,
      },
      work,
    );
  }

  /**
   * The stored record under the Agent's ownership rule: its owner must be exactly `userId` (an
   * anonymous session only for runs without a user). Taken from the lease when the storage read
   * it there.
   */
  async #readRecord(
    sessionId: string,
    userId: string | undefined,
    lease: SessionLease | undefined,
    storage: SessionStorage = this.#storage,
  ): Promise<SessionRecord | undefined> {
    const record =
      lease?.session === undefined
        ? await storage.getSession(sessionId)
        : (lease.session ?? undefined);
    if (record !== undefined && record.userId !== userId) {
      throw sessionOwnershipError(sessionId, userId);
    }
    return record;
  }

  /** The last `numHistoryRuns` runs: from the cache when it holds exactly this record. */
  async #history(
    record: SessionRecord | undefined,
    storage: SessionStorage = this.#storage,
  ): Promise<readonly StoredRun[]> {
    const { addHistoryToMessages, numHistoryRuns } = this.#options;
    if (record === undefined || !addHistoryToMessages || numHistoryRuns === 0) return [];
    return (
      this.#cache.history(record) ??
      (await storage.getRuns({ sessionId: record.sessionId, last: numHistoryRuns }))
    );
  }

  /** SPEC §2.4 step 3: default ← stored ← the caller's edits ← per-run state; schema; seeds. */
  #startState(input: {
    record: SessionRecord | undefined;
    sessionId: string;
    userId: string | undefined;
    edits: StateEdits | undefined;
    overrides: Record<string, unknown> | undefined;
  }): Record<string, unknown> {
    const { record, sessionId, userId, edits, overrides } = input;
    const schema = this.#options.stateSchema;
    let state: Record<string, unknown>;
    if (record === undefined) {
      state = cloneJson(this.#defaultState);
    } else {
      // A stored state that no longer matches the schema is that session's corruption.
      // The record was read for this run (storages return fresh copies): no copy needed.
      state = applyStateSchema(schema, record.sessionState, {
        root: 'sessionState',
        blame: 'storage',
        sessionId,
        context: 'Agent',
      });
    }
    const changed =
      (edits !== undefined && (edits.removed.length > 0 || Object.keys(edits.set).length > 0)) ||
      overrides !== undefined;
    if (edits !== undefined) {
      try {
        applyEdits(state, edits, 'agent.sessionState');
      } catch (error) {
        throw invalidRun(`${(error as BuddyError).message} (an edit of agent.sessionState)`);
      }
    }
    if (overrides !== undefined) Object.assign(state, overrides);
    if (changed) {
      state = applyStateSchema(schema, state, {
        root: 'sessionState',
        blame: 'caller',
        sessionId,
        context: 'Agent.run',
      });
    }
    return seedState(state, sessionId, userId);
  }

  /** Templating of SPEC §2.5: the run's real ids are never shadowed by state keys. */
  #templater(
    sessionId: string,
    userId: string | undefined,
    state: Record<string, unknown>,
  ): (text: string) => string {
    if (!this.#options.addStateInMessages) return (text) => text;
    const values: Record<string, unknown> = withFields(state, { current_session_id: sessionId });
    if (userId === undefined) {
      delete values.user_id;
      delete values.current_user_id;
    } else {
      values.user_id = userId;
      values.current_user_id = userId;
    }
    return (text) => templateState(text, values);
  }

  /**
   * Stores what a failed or aborted run did (`persistAbortedRuns`, SPEC §16.3): the user message,
   * the text streamed so far, the tool calls with their results, and `Error: interrupted` for a
   * call left without one, so the history stays valid for every provider. Never throws: a failure
   * here is logged and the run's own error stands.
   */
  async #storePartialRun(input: {
    storage: SessionStorage;
    leaseToken: string;
    record: SessionRecord | undefined;
    sessionId: string;
    userId: string | undefined;
    runId: string;
    model: Model;
    userMessage: StoredMessage;
    progress: ToolLoopProgress;
    state: Record<string, unknown>;
    startState: Record<string, unknown>;
    startedAt: number;
    status: 'aborted' | 'failed';
  }): Promise<void> {
    const { sessionId, userId, runId, progress } = input;
    const messages: StoredMessage[] = [input.userMessage, ...progress.messages];
    const answered = new Set(
      progress.messages.flatMap((message) => (message.role === 'tool' ? [message.toolCallId] : [])),
    );
    for (const message of progress.messages) {
      if (message.role !== 'assistant') continue;
      for (const call of message.toolCalls ?? []) {
        if (answered.has(call.id)) continue;
        messages.push(
          stampMessage<ToolMessage>(
            {
              role: 'tool',
              toolCallId: call.id,
              toolName: call.name,
              content: 'Error: interrupted',
              isError: true,
            },
            runId,
          ) as StoredMessage,
        );
      }
    }
    if (progress.partialText !== '') {
      messages.push(
        stampMessage<AssistantMessage>(
          { role: 'assistant', content: progress.partialText },
          runId,
        ) as StoredMessage,
      );
    }
    let sessionState: Record<string, unknown>;
    try {
      sessionState = checkStateToStore(this.#options.stateSchema, input.state, sessionId);
    } catch {
      sessionState = input.startState;
    }
    try {
      await input.storage.appendRun({
        sessionId,
        ...(userId === undefined ? {} : { userId }),
        agentId: this.#options.agentId,
        run: {
          runId,
          sessionId,
          ...(userId === undefined ? {} : { userId }),
          agentId: this.#options.agentId,
          messages,
          usage: progress.usage,
          model: { provider: input.model.provider, id: input.model.id },
          createdAt: input.startedAt,
          completedAt: Date.now(),
          status: input.status,
        },
        sessionState,
        leaseToken: input.leaseToken,
      });
      this.#cache.forget(sessionId);
      if (sessionId === this.#own.sessionId) {
        this.#own.adopt({
          ...(input.record === undefined ? {} : { record: input.record }),
          state: sessionState as TState,
        });
      }
    } catch (error) {
      this.#options.logger.warn(
        `The partial run of session ${describeValue(sessionId)} could not be stored`,
        { sessionId, runId, error },
      );
    }
  }

  /** The tools of one run: the agent's, the built-in ones, and agentic memory for its user. */
  #runTools(userId: string | undefined, signal: AbortSignal | undefined): readonly Tool[] {
    const { memory, enableAgenticMemory } = this.#options;
    if (!enableAgenticMemory || userId === undefined || memory?.agentTools === undefined) {
      return this.tools;
    }
    const extra = memory.agentTools({ userId, ...(signal === undefined ? {} : { signal }) });
    for (const entry of extra) {
      if (!isTool(entry)) {
        throw new BuddyError({
          code: 'INVALID_ARGUMENT',
          message: `Agent: the memory's agentTools() returned ${describeValue(entry)}, which is not a tool made with tool()`,
        });
      }
    }
    return [...this.tools, ...(extra as Tool[])];
  }

  #getModel(): Promise<Model> {
    if (this.#options.model !== undefined) return Promise.resolve(this.#options.model);
    this.#modelPromise ??= loadDefaultModel({
      who: 'Agent',
      importer: (specifier) => import(specifier),
    }).catch((error: unknown) => {
      this.#modelPromise = undefined;
      throw error;
    });
    return this.#modelPromise;
  }

  async #readMemories(
    userId: string | undefined,
    signal: AbortSignal | undefined,
    query: string,
  ): Promise<UserMemory[]> {
    const { memory, enableUserMemories, addMemoryReferences } = this.#options;
    if (
      memory === undefined ||
      userId === undefined ||
      !(enableUserMemories || addMemoryReferences)
    ) {
      return [];
    }
    return memory.readMemories({ userId, query, ...(signal === undefined ? {} : { signal }) });
  }

  #systemMessage(input: {
    sessionId: string;
    userId: string | undefined;
    state: Record<string, unknown>;
    summary: SessionSummaryRecord | undefined;
    memories: readonly UserMemory[];
    template: (text: string) => string;
  }): string | undefined {
    const options = this.#options;
    const { systemMessage } = options;
    if (systemMessage !== undefined) {
      const text =
        typeof systemMessage === 'function'
          ? systemMessage({
              agent: this as never,
              sessionId: input.sessionId,
              userId: input.userId,
              sessionState: input.state,
            })
          : systemMessage;
      if (typeof text !== 'string') {
        throw new BuddyError({
          code: 'INVALID_ARGUMENT',
          message: `Agent: option 'systemMessage' returned ${describeValue(text)}, expected a string`,
        });
      }
      return input.template(text);
    }
    return buildDefaultSystemMessage({
      description:
        options.description === undefined ? undefined : input.template(options.description),
      instructions: options.instructions.map(input.template),
      memories: options.addMemoryReferences ? formatMemoriesSection(input.memories) : undefined,
      summary: options.addSessionSummaryReferences
        ? formatSummarySection(input.summary)
        : undefined,
    });
  }

  #memoryHost(): AgentMemoryHost {
    // Arrow functions and getters keep `this` (and private fields) bound to the agent.
    const agent = this;
    const host: AgentMemoryHost = {
      get agentId() {
        return agent.#options.agentId;
      },
      get sessionId() {
        return agent.#own.sessionId;
      },
      get userId() {
        return agent.#options.userId;
      },
      get summary() {
        return agent.#own.summary;
      },
      get logger(): Logger {
        return agent.#options.logger;
      },
      get countTokens() {
        const own = agent.#options.contextBudget?.countTokens;
        if (own !== undefined) return own;
        const model = agent.#options.model;
        return model?.countTokens === undefined
          ? undefined
          : (text: string) => model.countTokens?.(text) ?? 0;
      },
      getSession: ({ sessionId, userId }) => agent.#readRecord(sessionId, userId, undefined),
      getRuns: (input) => agent.#storage.getRuns(input),
      saveSummary: async ({ sessionId, userId, incarnation, summary, signal }) => {
        throwIfAborted(signal);
        const record = await agent.#storage.upsertSession({
          sessionId,
          ...(userId === undefined ? {} : { userId }),
          summary,
          expectedIncarnation: incarnation,
        });
        agent.#cache.advance(record);
        if (sessionId === agent.#own.sessionId) agent.#own.setSummary(record.summary);
      },
    };
    return host;
  }
}

/** The system text with the "runs left out" marker of the context budget, when runs were. */
function withMarker(text: string | undefined, omittedRuns: number): string | undefined {
  if (omittedRuns === 0) return text;
  const marker = omittedRunsMarker(omittedRuns);
  return text === undefined ? marker : `${text}\n\n${marker}`;
}

/** Checks approval decisions: `{ [approvalId]: { approved: boolean, reason?: string } }`. */
function checkApprovals(value: unknown, who: string): ApprovalDecisions {
  if (!isPlainObject(value) || Object.keys(value).length === 0) {
    throw new BuddyError({
      code: 'INVALID_ARGUMENT',
      message: `${who}: approvals must be an object of { [approvalId]: { approved, reason? } }, got ${describeValue(value)}`,
    });
  }
  for (const [id, decision] of Object.entries(value)) {
    const checked = readOptions<{ approved: boolean; reason?: string }>(
      decision,
      `${who}: approvals[${JSON.stringify(id)}]`,
      ['approved', 'reason'],
    );
    if (typeof checked.approved !== 'boolean') {
      throw new BuddyError({
        code: 'INVALID_ARGUMENT',
        message: `${who}: approvals[${JSON.stringify(id)}].approved must be true or false, got ${describeValue(checked.approved)}`,
      });
    }
    if (checked.reason !== undefined && typeof checked.reason !== 'string') {
      throw new BuddyError({
        code: 'INVALID_ARGUMENT',
        message: `${who}: approvals[${JSON.stringify(id)}].reason must be a string, got ${describeValue(checked.reason)}`,
      });
    }
  }
  return value as ApprovalDecisions;
}

/** A model warning as one line of `RunResponse.warnings`. */
function describeModelWarning(model: Model, warning: ModelWarning): string {
  const who = `Model ${model.provider}/${model.id}`;
  return warning.type === 'unsupported-setting'
    ? `${who} does not support the setting '${warning.setting}'; it was not sent${warning.details === undefined ? '' : ` (${warning.details})`}.`
    : `${who}: ${warning.message}`;
}

/** Trims a model-proposed session name to at most five words, without quotes or end punctuation. */
export function cleanSessionName(text: string): string {
  const firstLine = text.trim().split('\n')[0] ?? '';
  const words = firstLine
    .replace(/^["'`*#\s]+|["'`*\s]+$/g, '')
    .replace(/^(title|name)\s*:\s*/i, '')
    .split(/\s+/)
    .filter((word) => word !== '')
    .slice(0, 5);
  return words
    .join(' ')
    .replace(/[.!?,;:]+$/, '')
    .slice(0, 100);
}
