import { randomUUID } from 'node:crypto';
import {
  BuddyError,
  describeValue,
  InMemoryMemoryDb,
  type MemoryDb,
  type Message,
  type Model,
  runToolLoop,
  type Tool,
  throwIfAborted,
  tool,
  type UserMemory,
} from '@buddy/core';
import { assertId, assertNonEmptyString } from '@buddy/core/adapter-utils';
import { checkOptions, modelGetter } from '@buddy/summarizer';
import { z } from 'zod';
import { assertMemoryDb } from './assert-memory-db.ts';

const WHO = 'MemoryManager';

/** Rounds of tool calls per `run`; the model call after the last round must answer in text. */
export const MAX_MEMORY_MANAGER_ROUNDS = 5;
/** How many of the user's memories (newest first) the manager's prompt lists. */
export const MAX_MEMORIES_IN_PROMPT = 100;

/** The instructions the manager's model gets unless `systemPrompt` replaces them. */
export const DEFAULT_MANAGER_PROMPT = [
  'You manage the long-term memories an AI assistant keeps about one user. You get the memories already stored about this user and their latest message.',
  '- Call add_memory for each new durable fact about the user in the message: personal details, preferences, goals, plans, important events. Write each memory as one short, self-contained sentence in the third person ("The user ...").',
  '- Call update_memory (with the id of the stored memory) when the message refines or changes a stored memory, and delete_memory when the user says a stored memory is wrong or asks you to forget it.',
  '- Never store duplicates of stored memories, questions, small talk or general facts about the world. When nothing needs to change, call no tool.',
  'When you are done, answer with one short sentence saying what you changed.',
].join('\n');

/** Options of `new MemoryManager(...)`. */
export interface MemoryManagerOptions {
  /** The model that edits memories; the default model (SPEC §2.8) when absent, loaded at the first run. */
  model?: Model;
  /** Where memories are stored; a fresh `InMemoryMemoryDb` when absent. */
  db?: MemoryDb;
  /** Replaces `DEFAULT_MANAGER_PROMPT`; the stored memories are always appended to it. */
  systemPrompt?: string;
}

/** Input of `MemoryManager.run`. */
export interface MemoryManagerRunInput {
  /** The user whose memories may change. Every tool call is scoped to this user. */
  userId: string;
  /** The user's message; stored as `input` on the memories it adds. */
  message: string;
  /** Once it fires, nothing more is written (a write already sent completes). */
  signal?: AbortSignal;
  /**
   * Where this run reads and writes; the manager's own db when absent. `AgentMemory` passes a
   * fenced view of the same db, so a deletion of the user stops the run's writes.
   */
  db?: MemoryDb;
}

/** One change the manager made. */
export type MemoryChange =
  | { type: 'added' | 'updated'; memory: UserMemory }
  | { type: 'deleted'; id: string };

/** What `MemoryManager.run` changed. */
export interface MemoryManagerResult {
  /** The changes in the order they were made. */
  changes: MemoryChange[];
}

function managerTool<TSchema extends z.ZodObject>(
  name: string,
  description: string,
  parameters: TSchema,
  run: (args: z.output<TSchema>) => Promise<string>,
): Tool {
  return tool({ name, description, parameters, execute: run }) as Tool;
}

function memoryLine(memory: UserMemory): string {
  const topics =
    memory.topics !== undefined && memory.topics.length > 0
      ? ` (topics: ${memory.topics.join(', ')})`
      : '';
  return `- [${memory.id}] ${memory.memory.replace(/\s*\n\s*/g, ' ')}${topics}`;
}

function cleanTopics(topics: string[] | undefined): { topics?: string[] } {
  const cleaned = [...new Set((topics ?? []).map((topic) => topic.trim()))].filter(
    (topic) => topic !== '',
  );
  return cleaned.length === 0 ? {} : { topics: cleaned };
}

/**
 * Adds, updates and deletes one user's memories (SPEC §7). The model sees that user's stored
 * memories (with their ids) and the new message, and edits them through three tools:
 * `add_memory(memory, topics?)`, `update_memory(id, memory, topics?)` and `delete_memory(id)`.
 *
 * Every tool call is scoped to the user of the run: an id that is not one of that user's
 * memories is an error result for the model and changes nothing (the `MemoryDb` enforces the
 * same rule with `MEMORY_OWNERSHIP`). There is no tool that clears memories.
 *
 * @example
 * const manager = new MemoryManager({ model, db: new SqliteMemoryDb({ dbFile: 'memory.db' }) });
 * const { changes } = await manager.run({ userId: 'dana', message: 'I moved to Lisbon' });
 */
export class MemoryManager {
  readonly #getModel: () => Promise<Model>;
  readonly #db: MemoryDb;
  readonly #systemPrompt: string;

  constructor(options: MemoryManagerOptions = {}) {
    const checked = checkOptions(WHO, options, ['model', 'db', 'systemPrompt']);
    this.#getModel = modelGetter(WHO, checked.model, (name) => import(name));
    if (checked.db !== undefined) assertMemoryDb(checked.db, `${WHO}: option 'db'`);
    this.#db = (checked.db as MemoryDb | undefined) ?? new InMemoryMemoryDb();
    if (checked.systemPrompt !== undefined) {
      assertNonEmptyString(checked.systemPrompt, `${WHO}: option 'systemPrompt'`);
    }
    this.#systemPrompt = (checked.systemPrompt as string | undefined) ?? DEFAULT_MANAGER_PROMPT;
  }

  /** The db the manager writes to. */
  get db(): MemoryDb {
    return this.#db;
  }

  /**
   * Lets the model edit `userId`'s memories in response to `message`. Resolves with the changes
   * made. Rejects with the model's `BuddyError`, or `MAX_TOOL_ROUNDS` when the model keeps calling
   * tools (the changes made until then are kept).
   */
  async run(input: MemoryManagerRunInput): Promise<MemoryManagerResult> {
    const checked = checkOptions(`${WHO}.run`, input, ['userId', 'message', 'signal', 'db']);
    assertId(checked.userId, `${WHO}.run: userId`);
    assertNonEmptyString(checked.message, `${WHO}.run: message`);
    if (checked.db !== undefined) assertMemoryDb(checked.db, `${WHO}.run: option 'db'`);
    const { userId, message, signal } = input;
    const db = input.db ?? this.#db;
    const model = await this.#getModel();

    const stored = await db.readMemories({ userId, limit: MAX_MEMORIES_IN_PROMPT });
    // The ids this run may touch: the user's memories it was shown and the ones it adds.
    const owned = new Map(stored.map((memory) => [memory.id, memory]));
    const changes: MemoryChange[] = [];
    const notOwned = (id: string) =>
      new BuddyError({
        code: 'MEMORY_OWNERSHIP',
        message: `there is no memory with id ${describeValue(id)} for this user; use an id from the list of stored memories`,
      });

    const tools: Tool[] = [
      managerTool(
        'add_memory',
        'Store a new memory about the user.',
        z.object({
          memory: z.string().trim().min(1).describe('One short sentence about the user.'),
          topics: z.array(z.string()).optional().describe('Short topic labels.'),
        }),
        async (args) => {
          throwIfAborted(signal);
          const now = Date.now();
          const memory = await db.upsertMemory({
            id: randomUUID(),
            userId,
            memory: args.memory,
            ...cleanTopics(args.topics),
            input: message,
            createdAt: now,
            updatedAt: now,
          });
          owned.set(memory.id, memory);
          changes.push({ type: 'added', memory });
          return `Added memory ${memory.id}.`;
        },
      ),
      managerTool(
        'update_memory',
        'Replace the text (and topics) of a stored memory of the user.',
        z.object({
          id: z.string().min(1).describe('The id of a stored memory.'),
          memory: z.string().trim().min(1).describe('The new text of the memory.'),
          topics: z.array(z.string()).optional().describe('Short topic labels.'),
        }),
        async (args) => {
          const existing = owned.get(args.id);
          if (existing === undefined) throw notOwned(args.id);
          throwIfAborted(signal);
          const { topics: _previousTopics, ...rest } = existing;
          const memory = await db.upsertMemory({
            ...rest,
            userId,
            memory: args.memory,
            ...cleanTopics(args.topics ?? existing.topics),
            input: message,
            updatedAt: Date.now(),
          });
          owned.set(memory.id, memory);
          changes.push({ type: 'updated', memory });
          return `Updated memory ${memory.id}.`;
        },
      ),
      managerTool(
        'delete_memory',
        'Delete a stored memory of the user.',
        z.object({ id: z.string().min(1).describe('The id of a stored memory.') }),
        async (args) => {
          if (!owned.has(args.id)) throw notOwned(args.id);
          throwIfAborted(signal);
          const deleted = await db.deleteMemory({ id: args.id, userId });
          owned.delete(args.id);
          if (!deleted) return `Memory ${args.id} was already deleted.`;
          changes.push({ type: 'deleted', id: args.id });
          return `Deleted memory ${args.id}.`;
        },
      ),
    ];

    const listing =
      stored.length === 0
        ? 'No memories are stored about this user yet.'
        : `Memories stored about this user, newest first ([id] memory):\n<memories>\n${stored.map(memoryLine).join('\n')}\n</memories>`;
    const conversation: Message[] = [
      { role: 'system', content: `${this.#systemPrompt}\n\n${listing}` },
      { role: 'user', content: message },
    ];

    // The Agent's own tool loop; calls run one after the other, since a later call may depend on
    // an earlier one (delete, then add).
    try {
      await runToolLoop({
        model,
        messages: conversation,
        tools,
        maxRounds: MAX_MEMORY_MANAGER_ROUNDS,
        parallelToolCalls: false,
        context: {
          sessionState: {},
          sessionId: '',
          userId,
          runId: '',
          signal: signal ?? new AbortController().signal,
        },
        who: WHO,
      });
    } catch (error) {
      if (BuddyError.is(error, 'MAX_TOOL_ROUNDS')) {
        throw new BuddyError({
          code: 'MAX_TOOL_ROUNDS',
          message: `${WHO}: the model was still calling tools after ${MAX_MEMORY_MANAGER_ROUNDS} rounds; stopped after ${changes.length} change(s)`,
          details: { rounds: MAX_MEMORY_MANAGER_ROUNDS },
          cause: error,
        });
      }
      throw error;
    }
    return { changes };
  }
}
