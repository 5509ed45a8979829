/**
 * `AgentMemory`: the memory extension an `Agent` drives after each run (SPEC §2.7, §6, §7).
 *
 * - Session summaries are stored with the session, through the Agent's storage (the host), never
 *   in the memory db; updates are incremental (only runs the summary does not cover yet).
 * - User memories live in a `MemoryDb` (in process by default); every operation is scoped to one
 *   user and nothing here clears another user's rows.
 * - Failures reject; the Agent turns them into `RunResponse.warnings` and keeps the previous
 *   summary, so a missing API key never loses a run.
 * - One `AgentMemory` serves one Agent (`attach` is called by the Agent's constructor).
 */
import {
  type AgentMemoryContract,
  type AgentMemoryHost,
  BuddyError,
  describeValue,
  type Embedder,
  InMemoryMemoryDb,
  type MemoryDb,
  type MessagePair,
  type Model,
  runsToPairs,
  type SessionSummaryRecord,
  type Tool,
  throwIfAborted,
  type UserMemory,
} from '@buddy/core';
import {
  assertId,
  assertInteger,
  assertNonEmptyString,
  KeyedMutex,
} from '@buddy/core/adapter-utils';
import {
  checkOptions,
  estimateTokensConservatively,
  MemorySummarizer,
  modelGetter,
  type SessionSummary,
} from '@buddy/summarizer';
import { createAgenticMemoryTools } from './agentic-memory-tools.ts';
import { assertEmbedder, assertMemoryDb } from './assert-memory-db.ts';
import { RecentMarks } from './internal/recent-marks.ts';
import { UserWriteFence } from './internal/user-write-fence.ts';
import { MemoryClassifier } from './memory-classifier.ts';
import { type MemoryChange, MemoryManager } from './memory-manager.ts';

const WHO = 'AgentMemory';

/** How many memories go into the system message with `retrieval` `'last_n'` or `'first_n'`. */
export const DEFAULT_NUM_MEMORIES = 20;

/** Which memories go into the system message: the newest, the oldest, or all of them. */
export type MemoryRetrieval = 'last_n' | 'first_n' | 'all' | 'relevant';

/** Memories without an embedding embedded per run, at most (the rest in later runs). */
export const MAX_LAZY_EMBEDDINGS_PER_RUN = 100;
/** How long a user counts as fully embedded in this process before it is checked again. */
const EMBEDDED_CHECK_MS = 5 * 60_000;
/** Users remembered as fully embedded, at most (the shortcut must not grow with every user). */
const MAX_EMBEDDED_USERS = 10_000;

/** Options of `new AgentMemory(...)`. All optional. */
export interface AgentMemoryOptions {
  /** Where user memories live. Default: the manager's db when a manager is given, else a new `InMemoryMemoryDb`. */
  db?: MemoryDb;
  /** The model of the default summarizer, classifier and manager (one option for all three). */
  model?: Model;
  /** Replaces the default `new MemorySummarizer({ model })`. */
  summarizer?: MemorySummarizer;
  /** Replaces the default `new MemoryClassifier({ model })`. */
  classifier?: MemoryClassifier;
  /** Replaces the default `new MemoryManager({ model, db })`; must write to the same db. */
  manager?: MemoryManager;
  /**
   * Which memories go into the system message. Default `'last_n'` (the newest). `'relevant'`
   * (needs `embedder`): the `numMemories` closest to the run's input by embedding (SPEC §13.2).
   */
  retrieval?: MemoryRetrieval;
  /**
   * Embeds memories when they are written and the run's input at the start of a run, for
   * `retrieval: 'relevant'` and `search_memories`. Memories written before it was set are
   * embedded lazily, a batch per run, in the same call as the input.
   */
  embedder?: Embedder;
  /** How many, for `'last_n'` / `'first_n'`. Default `DEFAULT_NUM_MEMORIES` (20). */
  numMemories?: number;
}

/** What `updateMemory` did. */
export interface MemoryUpdateResult {
  /** Whether the message was judged worth remembering (always `true` with `force`). */
  remembered: boolean;
  /** The changes the manager made (empty when nothing was remembered). */
  changes: MemoryChange[];
}

const RETRIEVALS: readonly MemoryRetrieval[] = ['last_n', 'first_n', 'all', 'relevant'];

function invalid(message: string): BuddyError {
  return new BuddyError({ code: 'INVALID_ARGUMENT', message: `${WHO}: ${message}` });
}

function toSessionSummary(record: SessionSummaryRecord): SessionSummary;
function toSessionSummary(record: SessionSummaryRecord | undefined): SessionSummary | undefined;
function toSessionSummary(record: SessionSummaryRecord | undefined): SessionSummary | undefined {
  if (record === undefined) return undefined;
  return record.topics === undefined
    ? { summary: record.summary }
    : { summary: record.summary, topics: [...record.topics] };
}

function assertHelper(value: unknown, option: string, method: string, className: string): void {
  if (
    typeof value !== 'object' ||
    value === null ||
    typeof (value as Record<string, unknown>)[method] !== 'function'
  ) {
    throw invalid(`option '${option}' must be a ${className}, got ${describeValue(value)}`);
  }
}

/**
 * Session summaries and user memories for an `Agent`.
 *
 * @example
 * const memory = new AgentMemory({ db: new SqliteMemoryDb({ dbFile: 'memory.db' }), model });
 * const agent = new Agent({ model, userId: 'dana', memory, enableSessionSummaries: true, enableUserMemories: true });
 * await agent.run('I am vegetarian, plan my meals');
 * memory.summary;   // { summary: 'The user ...', topics: [...] }
 * memory.memories;  // [{ memory: 'The user is vegetarian', ... }]
 */
export class AgentMemory implements AgentMemoryContract {
  readonly specificationVersion = 'v1' as const;
  readonly #db: MemoryDb;
  readonly #summarizer: MemorySummarizer;
  readonly #classifier: MemoryClassifier;
  readonly #manager: MemoryManager;
  readonly #retrieval: MemoryRetrieval;
  readonly #numMemories: number;
  readonly #embedder: Embedder | undefined;
  /** Users seen with every memory embedded in the last few minutes (a per-process shortcut). */
  readonly #embedded = new RecentMarks(EMBEDDED_CHECK_MS, MAX_EMBEDDED_USERS);
  readonly #queue = new KeyedMutex();
  readonly #fence = new UserWriteFence();
  #host: AgentMemoryHost | undefined;
  #memories: UserMemory[] = [];

  constructor(options: AgentMemoryOptions = {}) {
    const checked = checkOptions(WHO, options, [
      'db',
      'model',
      'summarizer',
      'classifier',
      'manager',
      'retrieval',
      'numMemories',
      'embedder',
    ]);
    if (checked.db !== undefined) assertMemoryDb(checked.db, `${WHO}: option 'db'`);
    // Validates the option under AgentMemory's name (the helpers would name themselves).
    if (checked.model !== undefined) modelGetter(WHO, checked.model, (name) => import(name));
    if (checked.summarizer !== undefined) {
      assertHelper(checked.summarizer, 'summarizer', 'run', 'MemorySummarizer');
    }
    if (checked.classifier !== undefined) {
      assertHelper(checked.classifier, 'classifier', 'classify', 'MemoryClassifier');
    }
    if (checked.manager !== undefined)
      assertHelper(checked.manager, 'manager', 'run', 'MemoryManager');
    const retrieval = checked.retrieval ?? 'last_n';
    if (!RETRIEVALS.includes(retrieval as MemoryRetrieval)) {
      throw invalid(
        `option 'retrieval' must be one of ${RETRIEVALS.map((entry) => `'${entry}'`).join(', ')}, got ${describeValue(retrieval)}`,
      );
    }
    if (checked.numMemories !== undefined) {
      assertInteger(checked.numMemories, `${WHO}: option 'numMemories'`, { min: 1 });
      if (retrieval === 'all') {
        throw invalid(
          "option 'numMemories' has no effect with retrieval 'all'; remove one of them",
        );
      }
    }
    if (checked.embedder !== undefined)
      assertEmbedder(checked.embedder, `${WHO}: option 'embedder'`);
    if (retrieval === 'relevant' && checked.embedder === undefined) {
      throw invalid(
        "option 'retrieval' is 'relevant', which needs option 'embedder' (e.g. new OpenAIEmbedder() from @buddy/model-openai)",
      );
    }
    this.#embedder = checked.embedder as Embedder | undefined;
    this.#retrieval = retrieval as MemoryRetrieval;
    this.#numMemories = (checked.numMemories as number | undefined) ?? DEFAULT_NUM_MEMORIES;

    const given = options as AgentMemoryOptions;
    const model = given.model;
    const modelOption = model === undefined ? {} : { model };
    const managerDb = given.manager?.db;
    if (given.db !== undefined && managerDb !== undefined && managerDb !== given.db) {
      throw invalid(
        "options 'db' and 'manager' use different MemoryDbs, so memories would be written where they are never read; create the manager with the same db: new MemoryManager({ db })",
      );
    }
    this.#db = given.db ?? managerDb ?? new InMemoryMemoryDb();
    // Helpers are created here but load the default model only at their first call.
    // The default summarizer counts tokens like the agent does, once attached (SPEC §13.3).
    this.#summarizer =
      given.summarizer ??
      new MemorySummarizer({
        ...modelOption,
        countTokens: (text) =>
          this.#host?.countTokens?.(text) ?? estimateTokensConservatively(text),
      });
    this.#classifier = given.classifier ?? new MemoryClassifier(modelOption);
    this.#manager = given.manager ?? new MemoryManager({ ...modelOption, db: this.#db });
  }

  /** Called by the Agent's constructor. One AgentMemory serves one Agent. */
  attach(host: AgentMemoryHost): void {
    if (this.#host !== undefined) {
      throw invalid(
        `this AgentMemory is already attached to agent ${describeValue(this.#host.agentId)}; create one AgentMemory per Agent`,
      );
    }
    this.#host = host;
  }

  /** Where user memories are stored. */
  get db(): MemoryDb {
    return this.#db;
  }

  /** The summary of the agent's own session, as last loaded or written; `undefined` when none. */
  get summary(): SessionSummary | undefined {
    return toSessionSummary(this.#host?.summary);
  }

  /** The agent's own user's memories, newest first, as last loaded (by a run or `loadMemories`). */
  get memories(): UserMemory[] {
    return [...this.#memories];
  }

  // ------------------------------------------------------------ session summaries

  /** Brings the agent's own session summary up to date now and returns it. */
  async updateSummary(): Promise<SessionSummary | undefined> {
    const host = this.#requireHost('updateSummary');
    const record = await this.updateSessionSummary({
      sessionId: host.sessionId,
      ...(host.userId === undefined ? {} : { userId: host.userId }),
    });
    return toSessionSummary(record);
  }

  /**
   * Summarizes the runs the stored summary does not cover yet (only those are read and sent,
   * with the previous summary), saves the result with the session and returns it. Without new
   * runs it returns the stored summary without calling the model. Rejects on failure; the stored
   * summary is then unchanged.
   */
  async updateSessionSummary(input: {
    sessionId: string;
    userId?: string;
    signal?: AbortSignal;
  }): Promise<SessionSummaryRecord | undefined> {
    const host = this.#requireHost('updateSessionSummary');
    const checked = checkOptions(`${WHO}.updateSessionSummary`, input, [
      'sessionId',
      'userId',
      'signal',
    ]);
    assertId(checked.sessionId, `${WHO}.updateSessionSummary: sessionId`);
    if (checked.userId !== undefined)
      assertId(checked.userId, `${WHO}.updateSessionSummary: userId`);
    const { sessionId, userId, signal } = input;
    return this.#queue.run(`summary:${sessionId}`, async () => {
      throwIfAborted(signal);
      // The Agent's ownership rule: another user's session is SESSION_OWNERSHIP, nothing read.
      const record = await host.getSession({
        sessionId,
        ...(userId === undefined ? {} : { userId }),
      });
      if (record === undefined) return undefined;
      let current = record.summary;
      const runsCovered = current?.runsCovered ?? 0;
      if (record.runCount <= runsCovered) return current;
      const runs = await host.getRuns({ sessionId, fromIndex: runsCovered });
      const lastRun = runs.at(-1);
      if (lastRun === undefined) return current;
      // Each pair with the index of its run, so a batch knows how many runs it covers.
      const indexed = runs.flatMap((run) => {
        const pair = runsToPairs([run])[0];
        return pair === undefined ? [] : [{ pair, index: run.index }];
      });
      const save = async (result: SessionSummary, covered: number) => {
        const summary: SessionSummaryRecord = {
          summary: result.summary,
          ...(result.topics === undefined ? {} : { topics: result.topics }),
          runsCovered: covered,
          updatedAt: Date.now(),
        };
        // Fenced: only into the incarnation read above, never after the signal fired.
        await host.saveSummary({
          sessionId,
          ...(userId === undefined ? {} : { userId }),
          incarnation: record.incarnation,
          summary,
          ...(signal === undefined ? {} : { signal }),
        });
        current = summary;
      };
      const result = await this.#summarizer.run(
        indexed.map((entry) => entry.pair),
        {
          ...(current === undefined ? {} : { previousSummary: toSessionSummary(current) }),
          ...(signal === undefined ? {} : { signal }),
          // A backlog is summarized in batches; each one's progress is kept as it completes.
          onBatch: async (partial, pairsCovered) => {
            const covered =
              pairsCovered >= indexed.length
                ? lastRun.index + 1
                : (indexed[pairsCovered - 1]?.index ?? runsCovered - 1) + 1;
            await save(partial, covered);
          },
        },
      );
      if (result === undefined) return current;
      return current;
    });
  }

  /**
   * The (user message, final assistant message) pairs of a session (the agent's own by
   * default), in order. Sessions of another user are refused with `SESSION_OWNERSHIP`.
   */
  async getMessagePairs(options: { sessionId?: string } = {}): Promise<MessagePair[]> {
    const host = this.#requireHost('getMessagePairs');
    const sessionId = options.sessionId ?? host.sessionId;
    assertNonEmptyString(sessionId, `${WHO}.getMessagePairs: sessionId`);
    // The Agent's rule: the session's owner must be exactly the agent's user.
    const record = await host.getSession({
      sessionId,
      ...(host.userId === undefined ? {} : { userId: host.userId }),
    });
    if (record === undefined) return [];
    return runsToPairs(await host.getRuns({ sessionId }));
  }

  // ------------------------------------------------------------ user memories

  /**
   * The user's memories for the system message, newest first: the newest `numMemories` with
   * `retrieval: 'last_n'`, the oldest with `'first_n'`, every one with `'all'`.
   */
  async readMemories(input: {
    userId: string;
    signal?: AbortSignal;
    query?: string;
  }): Promise<UserMemory[]> {
    assertNonEmptyString(input.userId, `${WHO}.readMemories: userId`);
    const { userId, query } = input;
    let memories: UserMemory[];
    if (this.#retrieval === 'relevant' && query !== undefined && query.trim() !== '') {
      memories = await this.#relevant(userId, query, this.#numMemories, input.signal);
    } else if (this.#retrieval === 'all') {
      memories = await this.#db.readMemories({ userId });
    } else if (this.#retrieval === 'last_n' || this.#retrieval === 'relevant') {
      memories = await this.#db.readMemories({ userId, limit: this.#numMemories, sort: 'newest' });
    } else {
      const oldest = await this.#db.readMemories({
        userId,
        limit: this.#numMemories,
        sort: 'oldest',
      });
      memories = oldest.reverse();
    }
    if (this.#host !== undefined && userId === this.#host.userId) this.#memories = memories;
    return memories;
  }

  /**
   * The `limit` memories closest to `query`: one embedding call (the query, plus a batch of the
   * user's memories still without an embedding, which are stored with theirs) and one search.
   */
  async #relevant(
    userId: string,
    query: string,
    limit: number,
    signal: AbortSignal | undefined,
  ): Promise<UserMemory[]> {
    const embedder = this.#embedder as Embedder;
    const missing = this.#embedded.has(userId)
      ? []
      : await this.#db.readMemories({
          userId,
          missingEmbedding: embedder.dimensions,
          limit: MAX_LAZY_EMBEDDINGS_PER_RUN,
        });
    const vectors = await this.#embed([query, ...missing.map((memory) => memory.memory)], signal);
    const [queryVector, ...rest] = vectors;
    await Promise.all(
      missing.map((memory, index) =>
        this.#fence.write(userId, signal, () =>
          this.#db.upsertMemory({ ...memory, embedding: rest[index] as number[] }),
        ),
      ),
    );
    if (missing.length < MAX_LAZY_EMBEDDINGS_PER_RUN) this.#embedded.mark(userId);
    const found = await this.#db.searchMemories({
      userId,
      embedding: queryVector as number[],
      limit,
    });
    return found.map(({ score: _score, ...memory }) => memory);
  }

  /** Embeds texts with the embedder, checking what it returns. */
  async #embed(texts: string[], signal: AbortSignal | undefined): Promise<number[][]> {
    const embedder = this.#embedder as Embedder;
    const vectors = await embedder.embed(texts, signal === undefined ? {} : { signal });
    if (
      !Array.isArray(vectors) ||
      vectors.length !== texts.length ||
      vectors.some(
        (vector) =>
          !Array.isArray(vector) ||
          vector.length !== embedder.dimensions ||
          vector.some((value) => typeof value !== 'number' || !Number.isFinite(value)),
      )
    ) {
      throw new BuddyError({
        code: 'MODEL_BAD_RESPONSE',
        message: `${WHO}: embedder ${embedder.provider}/${embedder.id} did not return ${texts.length} vector(s) of ${embedder.dimensions} finite numbers`,
      });
    }
    return vectors;
  }

  /** Adds the embedding of a memory about to be written (when there is an embedder). */
  async #withEmbedding<T extends { memory: string }>(
    memory: T,
    signal: AbortSignal | undefined,
  ): Promise<T & { embedding?: number[] }> {
    if (this.#embedder === undefined) return memory;
    const [embedding] = await this.#embed([memory.memory], signal);
    return { ...memory, embedding: embedding as number[] };
  }

  /** Reads the agent's own user's memories (as `readMemories` does) into `memories`. */
  async loadMemories(): Promise<UserMemory[]> {
    return this.readMemories({ userId: this.#requireUser('loadMemories') });
  }

  /**
   * Remembers what `input` says about the agent's own user: the classifier decides whether it is
   * worth it (skipped with `force`), then the manager adds, updates or deletes memories.
   */
  async updateMemory(
    input: string,
    options: { force?: boolean; signal?: AbortSignal } = {},
  ): Promise<MemoryUpdateResult> {
    const userId = this.#requireUser('updateMemory');
    assertNonEmptyString(input, `${WHO}.updateMemory: input`);
    return this.#update(userId, input, options.force === true, options.signal);
  }

  /** Called by the Agent after a run: classify, and when worth remembering, run the manager. */
  async updateUserMemories(input: {
    userId: string;
    message: string;
    signal?: AbortSignal;
  }): Promise<void> {
    assertNonEmptyString(input.userId, `${WHO}.updateUserMemories: userId`);
    if (typeof input.message !== 'string') {
      throw invalid(
        `updateUserMemories: message must be a string, got ${describeValue(input.message)}`,
      );
    }
    await this.#update(input.userId, input.message, false, input.signal);
  }

  /** Deletes the agent's own user's memories (never another user's). Returns how many. */
  async clearMemories(): Promise<number> {
    const userId = this.#requireUser('clearMemories');
    const count = await this.#db.clearMemories({ userId });
    this.#memories = [];
    return count;
  }

  /**
   * Deletes everything stored for `userId` in the memory db. Returns how many rows. Fenced: memory
   * updates of that user in flight are stopped and their sent writes waited for first, so once
   * this resolves nothing of theirs is written.
   */
  async deleteUserData(userId: string): Promise<number> {
    assertId(userId, `${WHO}.deleteUserData: userId`);
    const count = await this.#fence.exclusive(userId, () => this.#db.deleteUserData(userId));
    this.#embedded.delete(userId);
    if (this.#host !== undefined && userId === this.#host.userId) this.#memories = [];
    return count;
  }

  /**
   * The tools of agentic memory for one run of `userId` (SPEC §16.1): `search_memories`,
   * `add_memory`, `update_memory`, `delete_memory`, bound to that user and fenced like every other
   * memory write. The Agent adds them with `enableAgenticMemory`.
   */
  agentTools(input: { userId: string; signal?: AbortSignal }): Tool[] {
    assertId(input.userId, `${WHO}.agentTools: userId`);
    const { userId, signal } = input;
    const db = this.#db;
    const fence = this.#fence;
    const write = <T>(work: () => Promise<T>) => fence.write(userId, signal, work);
    const fenced: MemoryDb = {
      specificationVersion: db.specificationVersion,
      backend: db.backend,
      readMemories: (query) => db.readMemories(query),
      searchMemories: (query) => db.searchMemories(query),
      upsertMemory: (memory) => write(() => db.upsertMemory(memory)),
      deleteMemory: (query) => write(() => db.deleteMemory(query)),
      clearMemories: (query) => write(() => db.clearMemories(query)),
      deleteUserData: (id) => write(() => db.deleteUserData(id)),
      close: () => Promise.resolve(),
    };
    return createAgenticMemoryTools({
      userId,
      db: fenced,
      search: (query, limit) =>
        this.#embedder === undefined
          ? this.#search(userId, query, limit)
          : this.#relevant(userId, query, limit, signal),
      prepare: (memory) => this.#withEmbedding(memory, signal),
    });
  }

  /** Without an embedder: memories sharing a word with the query first, then the newest. */
  async #search(userId: string, query: string, limit: number): Promise<UserMemory[]> {
    const memories = await this.#db.readMemories({ userId, limit: 200 });
    const words = new Set(
      query
        .toLowerCase()
        .split(/\W+/)
        .filter((word) => word.length > 2),
    );
    const score = (memory: UserMemory) =>
      memory.memory
        .toLowerCase()
        .split(/\W+/)
        .filter((word) => words.has(word)).length;
    return memories
      .map((memory, order) => ({ memory, order, score: score(memory) }))
      .sort((a, b) => b.score - a.score || a.order - b.order)
      .slice(0, limit)
      .map((entry) => entry.memory);
  }

  /** Closes the memory db. Idempotent. */
  async close(): Promise<void> {
    await this.#db.close();
  }

  /** `await using memory = new AgentMemory(...)`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ------------------------------------------------------------ internals

  async #update(
    userId: string,
    message: string,
    force: boolean,
    outer: AbortSignal | undefined,
  ): Promise<MemoryUpdateResult> {
    const update = this.#fence.begin(userId, this.#db, outer);
    const { signal } = update;
    try {
      return await this.#queue.run(`memories:${userId}`, async () => {
        throwIfAborted(signal);
        const remembered = force || (await this.#classifier.classify(message, { signal }));
        if (!remembered) return { remembered, changes: [] };
        throwIfAborted(signal);
        // Memories the manager writes get their embedding on the way (for relevant retrieval).
        const embedder = this.#embedder;
        const db: MemoryDb =
          embedder === undefined
            ? update.db
            : {
                ...update.db,
                upsertMemory: async (memory) =>
                  update.db.upsertMemory(await this.#withEmbedding(memory, signal)),
              };
        const { changes } = await this.#manager.run({ userId, message, signal, db });
        if (changes.length > 0 && this.#host !== undefined && userId === this.#host.userId) {
          await this.readMemories({ userId });
        }
        return { remembered, changes };
      });
    } finally {
      update.end();
    }
  }

  #requireHost(method: string): AgentMemoryHost {
    if (this.#host === undefined) {
      throw invalid(
        `${method}() needs an Agent: pass this AgentMemory as new Agent({ memory }) first`,
      );
    }
    return this.#host;
  }

  #requireUser(method: string): string {
    const userId = this.#requireHost(method).userId;
    if (userId === undefined) {
      throw invalid(`${method}() works on the agent's own user, but the agent has no userId`);
    }
    return userId;
  }
}
