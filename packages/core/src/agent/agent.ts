/**
 * `Agent`: runs a model with tools over a session that keeps identity, state, history, a summary
 * and the user's memories (SPEC §2).
 *
 * Concurrency model: every piece of run data lives in a per-run scope, never in shared mutable
 * fields, so one Agent serves many sessions and users at once. Runs on one session are
 * serialized: in process by a per-session queue, across processes by the storage lease. Inside a
 * run, `agent.sessionState` resolves (through `AsyncLocalStorage`) to that run's state.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { BuddyError } from '../errors/buddy-error.ts';
import { describeValue } from '../errors/describe-value.ts';
import { throwIfAborted, toBuddyError } from '../errors/to-buddy-error.ts';
import { InMemoryStorage } from '../in-memory/in-memory-storage.ts';
import type { Message, StoredMessage, SystemMessage, UserMessage } from '../messages/message.ts';
import { runsToPairs, stampMessage } from '../messages/message-helpers.ts';
import type { AgentMemoryContract, AgentMemoryHost } from '../spec/agent-memory-v1.ts';
import type { Logger } from '../spec/logger.ts';
import type { UserMemory } from '../spec/memory-db-v1.ts';
import type { Model } from '../spec/model-v1.ts';
import type {
  ListSessionsResult,
  SessionLease,
  SessionRecord,
  SessionStorage,
  SessionSummaryRecord,
  StoredRun,
} from '../spec/session-storage-v1.ts';
import { assertNonEmptyString, sessionOwnershipError } from '../storage/storage-helpers.ts';
import { templateState } from '../templating/template-state.ts';
import type { Tool, ToolContext } from '../tools/tool.ts';
import type {
  AgentListSessionsOptions,
  AgentOptions,
  RunEvent,
  RunInput,
  RunOptions,
  RunResponse,
} from './agent-types.ts';
import { createChatHistoryTool, createPreviousSessionsTool } from './builtin-tools.ts';
import { loadDefaultModel } from './default-model.ts';
import { EventChannel } from './event-channel.ts';
import { KeyedMutex } from './keyed-mutex.ts';
import { runModelLoop } from './run-model-loop.ts';
import {
  buildDefaultSystemMessage,
  formatMemoriesSection,
  formatSummarySection,
} from './system-message.ts';
import { type ResolvedAgentOptions, validateAgentOptions } from './validate-agent-options.ts';

/** Sessions kept in process with `cacheSession: true`; the least recently used is dropped first. */
const MAX_CACHED_SESSIONS = 1000;
const RUN_OPTION_KEYS = new Set(['sessionId', 'userId', 'sessionState', 'signal']);

/** What the agent keeps in process about a session between runs. */
interface CachedSession {
  /** The stored version this copy matches. */
  version: number;
  state: Record<string, unknown>;
  /** The last `numHistoryRuns` runs, for history. */
  runs: StoredRun[];
}

/** The per-run scope behind `agent.sessionState` during a run. */
interface RunScope {
  agent: Agent;
  state: Record<string, unknown>;
}
const runScope = new AsyncLocalStorage<RunScope>();

interface PreparedRun {
  runId: string;
  sessionId: string;
  userId: string | undefined;
  input: UserMessage;
  overrides: Record<string, unknown> | undefined;
  signal: AbortSignal;
}

interface LoadedSession {
  record: SessionRecord | undefined;
  state: Record<string, unknown>;
  history: StoredRun[];
}

function deepCopy<T>(value: T): T {
  return structuredClone(value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function invalidRun(message: string): BuddyError {
  return new BuddyError({ code: 'INVALID_ARGUMENT', message: `Agent.run: ${message}` });
}

/**
 * An AI agent that remembers.
 *
 * @example
 * const agent = new Agent({
 *   model: new OpenAIChat(),
 *   userId: 'dana@example.com',
 *   sessionState: { cart: [] },
 *   storage: new SqliteStorage({ dbFile: 'agent.db' }),
 *   tools: [addToCart],
 * });
 * const res = await agent.run('Add milk to my cart');
 */
export class Agent {
  readonly #options: ResolvedAgentOptions;
  readonly #storage: SessionStorage;
  readonly #hasStorage: boolean;
  readonly #builtinTools: Tool[];
  readonly #mutex = new KeyedMutex();
  readonly #cache = new Map<string, CachedSession>();
  #modelPromise: Promise<Model> | undefined;

  // The agent's own session, as the getters show it.
  #sessionId: string;
  #sessionName: string | undefined;
  #sessionState: Record<string, unknown>;
  #summary: SessionSummaryRecord | undefined;
  /** The stored version `#sessionState` matches; `undefined` until loaded or written. */
  #sessionVersion: number | undefined;

  constructor(options: AgentOptions = {}) {
    this.#options = validateAgentOptions(options, randomUUID);
    const resolved = this.#options;
    this.#hasStorage = resolved.storage !== undefined;
    // Without storage, sessions live in process in a private in-memory store, so every code path
    // (queue, lease, history, summaries) is the same with and without persistence.
    this.#storage = resolved.storage ?? new InMemoryStorage();
    this.#sessionId = resolved.sessionId;
    this.#sessionName = resolved.sessionName;
    this.#sessionState = this.#seed(
      deepCopy(resolved.sessionState),
      resolved.sessionId,
      resolved.userId,
    );
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
    const names = new Set(resolved.tools.map((entry) => entry.name));
    for (const builtin of this.#builtinTools) {
      if (names.has(builtin.name)) {
        throw new BuddyError({
          code: 'INVALID_ARGUMENT',
          message: `Agent: option 'tools' has a tool named '${builtin.name}', which is reserved for the built-in history tool`,
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
    return this.#sessionId;
  }
  get sessionName(): string | undefined {
    return this.#sessionName;
  }
  get userId(): string | undefined {
    return this.#options.userId;
  }
  /**
   * Inside a run (in a tool): that run's session state, the same object as `ctx.sessionState`.
   * Outside runs: the agent's own session state as last loaded or left by a run.
   */
  get sessionState(): Record<string, unknown> {
    const scope = runScope.getStore();
    if (scope !== undefined && scope.agent === this) return scope.state;
    return this.#sessionState;
  }
  /** The memory extension given as `memory`. */
  get memory(): AgentMemoryContract | undefined {
    return this.#options.memory;
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
  async run(input: RunInput, options: RunOptions = {}): Promise<RunResponse> {
    const prepared = this.#prepareRun(input, options, options.signal);
    const { response, postAnswer } = await this.#execute(prepared, false, () => {});
    await postAnswer();
    return response;
  }

  /**
   * Runs one turn and streams its events. `run-completed` is emitted as soon as the run is
   * persisted; post-answer work (summary, memories) happens after it, before the stream ends.
   * Failures arrive as a `run-error` event (the iterator itself does not throw). Stopping the
   * iteration early aborts the run.
   */
  stream(input: RunInput, options: RunOptions = {}): AsyncIterable<RunEvent> {
    const controller = new AbortController();
    const outer = options.signal;
    const onOuterAbort = () => controller.abort(outer?.reason);
    if (outer?.aborted) controller.abort(outer.reason);
    else outer?.addEventListener('abort', onOuterAbort, { once: true });
    const channel = new EventChannel<RunEvent>(() =>
      controller.abort(
        new BuddyError({ code: 'ABORTED', message: 'The stream consumer stopped reading' }),
      ),
    );
    let prepared: PreparedRun;
    try {
      prepared = this.#prepareRun(input, options, controller.signal);
    } catch (error) {
      channel.push({ type: 'run-error', runId: randomUUID(), error: toBuddyError(error) });
      channel.end();
      return channel;
    }
    void (async () => {
      try {
        const { response, postAnswer } = await this.#execute(prepared, true, (event) =>
          channel.push(event),
        );
        channel.push({ type: 'run-completed', runId: prepared.runId, response });
        await postAnswer();
      } catch (error) {
        channel.push({ type: 'run-error', runId: prepared.runId, error: toBuddyError(error) });
      } finally {
        outer?.removeEventListener('abort', onOuterAbort);
        channel.end();
      }
    })();
    return channel;
  }

  #prepareRun(input: RunInput, options: RunOptions, signal: AbortSignal | undefined): PreparedRun {
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
    if (!isPlainObject(options))
      throw invalidRun(`options must be an object, got ${describeValue(options)}`);
    for (const key of Object.keys(options)) {
      if (!RUN_OPTION_KEYS.has(key)) throw invalidRun(`unknown option '${key}'`);
    }
    if (options.sessionId !== undefined)
      assertNonEmptyString(options.sessionId, 'Agent.run: option sessionId');
    if (options.userId !== undefined)
      assertNonEmptyString(options.userId, 'Agent.run: option userId');
    if (options.sessionState !== undefined && !isPlainObject(options.sessionState)) {
      throw invalidRun(
        `option 'sessionState' must be a plain object, got ${describeValue(options.sessionState)}`,
      );
    }
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
      throw invalidRun(
        `option 'signal' must be an AbortSignal, got ${describeValue(options.signal)}`,
      );
    }
    return {
      runId: randomUUID(),
      sessionId: options.sessionId ?? this.#sessionId,
      userId: options.userId ?? this.#options.userId,
      input: message,
      overrides: options.sessionState === undefined ? undefined : deepCopy(options.sessionState),
      signal: signal ?? new AbortController().signal,
    };
  }

  async #execute(
    run: PreparedRun,
    streaming: boolean,
    emit: (event: RunEvent) => void,
  ): Promise<{ response: RunResponse; postAnswer: () => Promise<void> }> {
    const { runId, sessionId, userId, signal } = run;
    emit({ type: 'run-started', runId, sessionId, ...(userId === undefined ? {} : { userId }) });
    const model = await this.#getModel();
    const options = this.#options;

    const response = await this.#withSession(
      sessionId,
      { signal, readSession: true },
      async (lease, released) => {
        const loaded = await this.#loadForRun(sessionId, userId, lease);
        const state = this.#seed({ ...loaded.state, ...(run.overrides ?? {}) }, sessionId, userId);
        const summary = loaded.record?.summary;
        const memories = await this.#readMemories(userId, signal);

        const templateValues = { ...(userId === undefined ? {} : { user_id: userId }), ...state };
        const template = (text: string) =>
          options.addStateInMessages ? templateState(text, templateValues) : text;
        const system = this.#systemMessage({
          sessionId,
          userId,
          state,
          summary,
          memories,
          template,
        });
        const userMessage = stampMessage<UserMessage>(
          {
            ...run.input,
            content:
              typeof run.input.content === 'string'
                ? template(run.input.content)
                : run.input.content,
          },
          runId,
        );
        const history: Message[] = options.addHistoryToMessages
          ? loaded.history.flatMap((stored) => stored.messages)
          : [];
        const messages: Message[] = [
          ...(system === undefined
            ? []
            : [{ role: 'system', content: system } satisfies SystemMessage]),
          ...history,
          userMessage,
        ];

        const toolContext: ToolContext = {
          agent: this,
          sessionState: state,
          sessionId,
          userId,
          runId,
          signal,
        };
        const startedAt = Date.now();
        const result = await runScope.run({ agent: this, state }, () =>
          runModelLoop({
            model,
            messages,
            tools: this.tools,
            toolContext,
            streaming,
            emit,
          }),
        );

        const runMessages: StoredMessage[] = [userMessage as StoredMessage, ...result.messages];
        const storedRun: Omit<StoredRun, 'index'> = {
          runId,
          sessionId,
          ...(userId === undefined ? {} : { userId }),
          agentId: options.agentId,
          messages: runMessages,
          usage: result.usage,
          model: { provider: model.provider, id: model.id },
          createdAt: startedAt,
          completedAt: Date.now(),
        };
        const isOwn = sessionId === this.#sessionId;
        // The agent's configured name labels its own session when the stored one has none.
        const sessionName =
          isOwn && loaded.record?.sessionName === undefined ? this.#sessionName : undefined;
        const appended = await this.#storage.appendRun({
          sessionId,
          ...(userId === undefined ? {} : { userId }),
          agentId: options.agentId,
          ...(sessionName === undefined ? {} : { sessionName }),
          run: storedRun,
          sessionState: state,
          leaseToken: lease.token,
          releaseLease: true,
        });
        if (appended.leaseReleased === true) released();
        const persistedRun: StoredRun = { ...storedRun, index: appended.index };
        this.#remember(sessionId, {
          version: appended.version,
          state,
          runs: [...loaded.history, persistedRun].slice(-Math.max(options.numHistoryRuns, 0)),
        });
        if (sessionId === this.#sessionId) {
          this.#sessionState = state;
          this.#sessionVersion = appended.version;
          this.#sessionName = loaded.record?.sessionName ?? this.#sessionName;
          this.#summary = summary;
        }
        return {
          runId,
          sessionId,
          ...(userId === undefined ? {} : { userId }),
          content: result.content,
          messages: runMessages,
          usage: result.usage,
          model: { provider: model.provider, id: model.id },
          warnings: [],
        } satisfies RunResponse;
      },
    );

    return { response, postAnswer: () => this.#postAnswer(response, run.input.content) };
  }

  /** Summary and memories after the run is persisted; failures become warnings (SPEC §2.7). */
  async #postAnswer(response: RunResponse, userText: string): Promise<void> {
    const { memory, enableSessionSummaries, enableUserMemories, logger } = this.#options;
    if (memory === undefined) return;
    const { sessionId, userId } = response;
    const warn = (message: string, error?: unknown) => {
      response.warnings.push(message);
      logger.warn(message, {
        sessionId,
        runId: response.runId,
        ...(error === undefined ? {} : { error }),
      });
    };
    const jobs: Promise<void>[] = [];
    if (enableSessionSummaries) {
      jobs.push(
        memory
          .updateSessionSummary({ sessionId, ...(userId === undefined ? {} : { userId }) })
          .then(
            () => {},
            (error: unknown) =>
              warn(
                `Session summary was not updated; the previous summary is kept. ${toBuddyError(error).message}`,
                error,
              ),
          ),
      );
    }
    if (enableUserMemories) {
      if (userId === undefined) {
        warn(
          'User memories were not updated: the run has no userId (pass userId to the Agent or the run).',
        );
      } else {
        jobs.push(
          memory.updateUserMemories({ userId, message: userText }).then(
            () => {},
            (error: unknown) =>
              warn(`User memories were not updated. ${toBuddyError(error).message}`, error),
          ),
        );
      }
    }
    await Promise.all(jobs);
  }

  // ---------------------------------------------------------------- sessions

  /**
   * Reads the agent's own session from storage (state, name, summary), creating the record if
   * missing. Returns the session id.
   */
  async loadSession(): Promise<string> {
    const sessionId = this.#sessionId;
    const userId = this.#options.userId;
    await this.#withSession(sessionId, {}, async () => {
      let record = await this.#getOwnedSession(sessionId, userId);
      if (record === undefined) {
        record = await this.#storage.upsertSession({
          sessionId,
          ...(userId === undefined ? {} : { userId }),
          agentId: this.#options.agentId,
          ...(this.#sessionName === undefined ? {} : { sessionName: this.#sessionName }),
          sessionState: this.#sessionState,
        });
      }
      const state = this.#seed(record.sessionState, sessionId, userId);
      const history =
        this.#options.addHistoryToMessages && this.#options.numHistoryRuns > 0
          ? await this.#storage.getRuns({ sessionId, last: this.#options.numHistoryRuns })
          : [];
      this.#remember(sessionId, { version: record.version, state, runs: history });
      if (sessionId === this.#sessionId) {
        this.#sessionState = state;
        this.#sessionVersion = record.version;
        this.#sessionName = record.sessionName;
        this.#summary = record.summary;
      }
    });
    return sessionId;
  }

  /** Starts a fresh session (new id, default state). Returns the new id. */
  newSession(): string {
    this.#sessionId = randomUUID();
    this.#sessionName = undefined;
    this.#summary = undefined;
    this.#sessionVersion = undefined;
    this.#sessionState = this.#seed(
      deepCopy(this.#options.sessionState),
      this.#sessionId,
      this.#options.userId,
    );
    return this.#sessionId;
  }

  /** Switches the agent's own session to `sessionId` and loads it (creating it if missing). */
  async switchSession(sessionId: string): Promise<string> {
    assertNonEmptyString(sessionId, 'sessionId');
    const previous = {
      id: this.#sessionId,
      name: this.#sessionName,
      state: this.#sessionState,
      summary: this.#summary,
      version: this.#sessionVersion,
    };
    this.#sessionId = sessionId;
    this.#sessionName = undefined;
    this.#summary = undefined;
    this.#sessionVersion = undefined;
    this.#sessionState = this.#seed(
      deepCopy(this.#options.sessionState),
      sessionId,
      this.#options.userId,
    );
    try {
      return await this.loadSession();
    } catch (error) {
      this.#sessionId = previous.id;
      this.#sessionName = previous.name;
      this.#sessionState = previous.state;
      this.#summary = previous.summary;
      this.#sessionVersion = previous.version;
      throw error;
    }
  }

  /** Renames the agent's own session (creating the record if missing). */
  async renameSession(name: string): Promise<void> {
    assertNonEmptyString(name, 'Agent.renameSession: name');
    const sessionId = this.#sessionId;
    const userId = this.#options.userId;
    await this.#withSession(sessionId, {}, async () => {
      const existing = await this.#getOwnedSession(sessionId, userId);
      const record = await this.#storage.upsertSession({
        sessionId,
        ...(userId === undefined ? {} : { userId }),
        agentId: this.#options.agentId,
        sessionName: name,
        ...(existing === undefined ? { sessionState: this.#sessionState } : {}),
      });
      this.#bumpCachedVersion(sessionId, record.version);
      if (sessionId === this.#sessionId) this.#sessionName = name;
    });
  }

  /**
   * Lets the agent's model name its own session in at most five words, from the first exchanges.
   * Returns the new name.
   */
  async autoRenameSession(): Promise<string> {
    const sessionId = this.#sessionId;
    await this.#getOwnedSession(sessionId, this.#options.userId);
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
    const name = cleanSessionName(answer.content);
    if (name === '') {
      throw new BuddyError({
        code: 'MODEL_BAD_RESPONSE',
        message: `Agent.autoRenameSession: the model answered without a usable name (${describeValue(answer.content)})`,
      });
    }
    await this.renameSession(name);
    return name;
  }

  /** Deletes a session and its runs. `false` when it did not exist. */
  async deleteSession(sessionId: string): Promise<boolean> {
    assertNonEmptyString(sessionId, 'Agent.deleteSession: sessionId');
    const userId = this.#options.userId;
    return this.#mutex.run(sessionId, async () => {
      const existing = await this.#getOwnedSession(sessionId, userId);
      if (existing === undefined) return false;
      const deleted = await this.#storage.deleteSession(
        sessionId,
        userId === undefined ? {} : { userId },
      );
      this.#cache.delete(sessionId);
      if (sessionId === this.#sessionId) {
        this.#sessionState = this.#seed(deepCopy(this.#options.sessionState), sessionId, userId);
        this.#summary = undefined;
        this.#sessionVersion = undefined;
      }
      return deleted;
    });
  }

  /** Sessions of a user (the agent's own `userId` by default), most recently updated first. */
  async listSessions(options: AgentListSessionsOptions = {}): Promise<ListSessionsResult> {
    const userId = options.userId ?? this.#options.userId;
    return this.#storage.listSessions({
      ...(userId === undefined ? {} : { userId }),
      ...(options.limit === undefined ? {} : { limit: options.limit }),
      ...(options.cursor === undefined ? {} : { cursor: options.cursor }),
    });
  }

  /**
   * Deletes every session of `userId` and, with a memory, that user's memories. Other users' data
   * is untouched. Returns how many sessions and memory rows were deleted.
   */
  async deleteUserData(userId: string): Promise<{ sessions: number; memories: number }> {
    assertNonEmptyString(userId, 'Agent.deleteUserData: userId');
    const sessions = await this.#storage.deleteUserData(userId);
    this.#cache.clear();
    if (this.#options.userId === userId) this.#sessionVersion = undefined;
    const memories = (await this.#options.memory?.deleteUserData(userId)) ?? 0;
    return { sessions, memories };
  }

  /** The summary of the agent's own session, fresh from storage. */
  async getSessionSummary(): Promise<SessionSummaryRecord | undefined> {
    const record = await this.#getOwnedSession(this.#sessionId, this.#options.userId);
    if (this.#sessionId === record?.sessionId) this.#summary = record.summary;
    return record?.summary;
  }

  /** The own session's user messages and final assistant answers, in order. */
  async getChatHistory(): Promise<Message[]> {
    const sessionId = this.#sessionId;
    const record = await this.#getOwnedSession(sessionId, this.#options.userId);
    if (record === undefined) return [];
    const runs = await this.#storage.getRuns({ sessionId });
    return runsToPairs(runs).flat();
  }

  // ---------------------------------------------------------------- internals

  #seed(
    state: Record<string, unknown>,
    sessionId: string,
    userId: string | undefined,
  ): Record<string, unknown> {
    state.current_session_id = sessionId;
    if (userId !== undefined) state.current_user_id = userId;
    return state;
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

  /** Reads a session and applies the agent's strict ownership rule (owner must equal userId). */
  async #getOwnedSession(
    sessionId: string,
    userId: string | undefined,
  ): Promise<SessionRecord | undefined> {
    return this.#checkOwner(await this.#storage.getSession(sessionId), sessionId, userId);
  }

  #checkOwner(
    record: SessionRecord | undefined,
    sessionId: string,
    userId: string | undefined,
  ): SessionRecord | undefined {
    if (record !== undefined && record.userId !== userId) {
      throw sessionOwnershipError(sessionId, userId);
    }
    return record;
  }

  /**
   * Serializes work on a session: in process by the queue, across processes by the lease. With
   * `readSession`, storages that can read the session while taking the lease return it on the
   * lease (one round trip less). `work` calls `released()` when a write already freed the lease.
   */
  async #withSession<T>(
    sessionId: string,
    options: { signal?: AbortSignal | undefined; readSession?: boolean },
    work: (lease: SessionLease, released: () => void) => Promise<T>,
  ): Promise<T> {
    return this.#mutex.run(sessionId, async () => {
      const { leaseTtlMs, leaseWaitMs, logger } = this.#options;
      const lease = await this.#storage.acquireLease({
        sessionId,
        ttlMs: leaseTtlMs,
        waitMs: leaseWaitMs,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        ...(options.readSession === true ? { readSession: true } : {}),
      });
      let isReleased = false;
      const timer = setInterval(
        () => {
          if (isReleased) return;
          lease.renew().catch((error: unknown) => {
            logger.warn(`Could not renew the lease on session ${describeValue(sessionId)}`, {
              error,
            });
          });
        },
        Math.max(Math.floor(leaseTtlMs / 3), 50),
      );
      timer.unref();
      try {
        return await work(lease, () => {
          isReleased = true;
        });
      } finally {
        clearInterval(timer);
        if (!isReleased) {
          await lease.release().catch((error: unknown) => {
            logger.warn(`Could not release the lease on session ${describeValue(sessionId)}`, {
              error,
            });
          });
        }
      }
    });
  }

  async #loadForRun(
    sessionId: string,
    userId: string | undefined,
    lease: SessionLease,
  ): Promise<LoadedSession> {
    const options = this.#options;
    const record =
      lease.session === undefined
        ? await this.#getOwnedSession(sessionId, userId)
        : this.#checkOwner(lease.session ?? undefined, sessionId, userId);
    const wantsHistory = options.addHistoryToMessages && options.numHistoryRuns > 0;
    const isOwn = sessionId === this.#sessionId;
    if (record === undefined) {
      this.#cache.delete(sessionId);
      // A session not stored yet: the agent's own starts from its in-process state (which the
      // caller may have edited), any other from the default.
      const base =
        isOwn && this.#sessionVersion === undefined ? this.#sessionState : options.sessionState;
      return { record, state: deepCopy(base), history: [] };
    }
    const cached = options.cacheSession ? this.#cache.get(sessionId) : undefined;
    if (cached !== undefined && cached.version === record.version) {
      const base =
        isOwn && this.#sessionVersion === record.version ? this.#sessionState : cached.state;
      return { record, state: deepCopy(base), history: wantsHistory ? cached.runs : [] };
    }
    const history = wantsHistory
      ? await this.#storage.getRuns({ sessionId, last: options.numHistoryRuns })
      : [];
    return { record, state: record.sessionState, history };
  }

  #remember(sessionId: string, entry: CachedSession): void {
    if (!this.#options.cacheSession) return;
    this.#cache.delete(sessionId);
    this.#cache.set(sessionId, entry);
    if (this.#cache.size > MAX_CACHED_SESSIONS) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
  }

  /** After a write of our own that bumped the version by one, the cached copy is still current. */
  #bumpCachedVersion(sessionId: string, version: number): void {
    const cached = this.#cache.get(sessionId);
    if (cached !== undefined) {
      if (cached.version + 1 === version) cached.version = version;
      else this.#cache.delete(sessionId);
    }
    if (sessionId === this.#sessionId && this.#sessionVersion !== undefined) {
      this.#sessionVersion = this.#sessionVersion + 1 === version ? version : undefined;
    }
  }

  async #readMemories(userId: string | undefined, signal: AbortSignal): Promise<UserMemory[]> {
    const { memory, enableUserMemories, addMemoryReferences } = this.#options;
    if (
      memory === undefined ||
      userId === undefined ||
      !(enableUserMemories || addMemoryReferences)
    ) {
      return [];
    }
    return memory.readMemories({ userId, signal });
  }

  #systemMessage(input: {
    sessionId: string;
    userId: string | undefined;
    state: Record<string, unknown>;
    summary: SessionSummaryRecord | undefined;
    memories: UserMemory[];
    template: (text: string) => string;
  }): string | undefined {
    const options = this.#options;
    const { systemMessage } = options;
    if (systemMessage !== undefined) {
      const text =
        typeof systemMessage === 'function'
          ? systemMessage({
              agent: this,
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
        return agent.#sessionId;
      },
      get userId() {
        return agent.#options.userId;
      },
      get summary() {
        return agent.#summary;
      },
      get logger(): Logger {
        return agent.#options.logger;
      },
      getSession: ({ sessionId, userId }) =>
        agent.#storage.getSession(sessionId, userId === undefined ? {} : { userId }),
      getRuns: (input) => agent.#storage.getRuns(input),
      saveSummary: async ({ sessionId, userId, incarnation, summary, signal }) => {
        throwIfAborted(signal);
        const record = await agent.#storage.upsertSession({
          sessionId,
          ...(userId === undefined ? {} : { userId }),
          summary,
          expectedIncarnation: incarnation,
        });
        agent.#bumpCachedVersion(sessionId, record.version);
        if (sessionId === agent.#sessionId) agent.#summary = record.summary;
      },
    };
    return host;
  }
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
