/**
 * The tools of agentic memory (SPEC §16.1): the agent itself searches, adds, updates and deletes
 * memories of the run's user. Each set of tools is bound to one user when it is made: the tools'
 * arguments have no user (an injected `userId` is dropped by the schema), so no call can read or
 * write another user's row. Writes go through the fence of `AgentMemory`, so a deletion of the
 * user stops them.
 */
import {
  BuddyError,
  describeValue,
  type MemoryDb,
  type Tool,
  tool,
  type UserMemory,
} from '@buddy/core';
import { z } from 'zod';

/** How many memories `search_memories` returns at most. */
export const AGENTIC_SEARCH_LIMIT = 10;

/** Finds memories for a query: relevant search when there is an embedder, else the newest. */
export type MemorySearch = (query: string, limit: number) => Promise<UserMemory[]>;

function cleanTopics(topics: string[] | undefined): { topics?: string[] } {
  const cleaned = [...new Set((topics ?? []).map((topic) => topic.trim()))].filter(
    (topic) => topic !== '',
  );
  return cleaned.length === 0 ? {} : { topics: cleaned };
}

function view(memory: UserMemory) {
  return {
    id: memory.id,
    memory: memory.memory,
    ...(memory.topics === undefined ? {} : { topics: memory.topics }),
    updatedAt: new Date(memory.updatedAt).toISOString(),
  };
}

/** The four tools for `userId`, writing through `db` and searching with `search`. */
export function createAgenticMemoryTools(input: {
  userId: string;
  db: MemoryDb;
  search: MemorySearch;
  /** Prepares a row for writing (e.g. adds its embedding). */
  prepare?: (memory: {
    id?: string;
    userId: string;
    memory: string;
    topics?: string[];
  }) => Promise<Parameters<MemoryDb['upsertMemory']>[0]>;
}): Tool[] {
  const { userId, db, search } = input;
  const prepare = input.prepare ?? (async (memory) => memory);
  /** The user's own row with this id, or a tool error the model sees. */
  const ownRow = async (id: string): Promise<UserMemory> => {
    const rows = await db.readMemories({ userId });
    const row = rows.find((memory) => memory.id === id);
    if (row === undefined) {
      throw new BuddyError({
        code: 'MEMORY_OWNERSHIP',
        message: `there is no memory with id ${describeValue(id)} for this user; search first and use an id it returns`,
      });
    }
    return row;
  };
  return [
    tool({
      name: 'search_memories',
      description:
        'Searches what you remember about the user. Returns the matching memories with their ids, best match first.',
      parameters: z.object({ query: z.string().trim().min(1).describe('What to look for.') }),
      execute: async ({ query }) =>
        JSON.stringify((await search(query, AGENTIC_SEARCH_LIMIT)).map(view)),
    }) as Tool,
    tool({
      name: 'add_memory',
      description:
        'Remembers a new durable fact about the user (one short sentence in the third person).',
      parameters: z.object({
        memory: z.string().trim().min(1).describe('One short sentence about the user.'),
        topics: z.array(z.string()).optional().describe('Short topic labels.'),
      }),
      execute: async ({ memory, topics }) => {
        const stored = await db.upsertMemory(
          await prepare({ userId, memory, ...cleanTopics(topics) }),
        );
        return `Added memory ${stored.id}.`;
      },
    }) as Tool,
    tool({
      name: 'update_memory',
      description: 'Replaces the text (and topics) of a memory of the user, by id.',
      parameters: z.object({
        id: z.string().min(1).describe('The id of a memory, from search_memories.'),
        memory: z.string().trim().min(1).describe('The new text of the memory.'),
        topics: z.array(z.string()).optional().describe('Short topic labels.'),
      }),
      execute: async ({ id, memory, topics }) => {
        const existing = await ownRow(id);
        const stored = await db.upsertMemory(
          await prepare({ id, userId, memory, ...cleanTopics(topics ?? existing.topics) }),
        );
        return `Updated memory ${stored.id}.`;
      },
    }) as Tool,
    tool({
      name: 'delete_memory',
      description: 'Forgets a memory of the user, by id.',
      parameters: z.object({
        id: z.string().min(1).describe('The id of a memory, from search_memories.'),
      }),
      execute: async ({ id }) => {
        await ownRow(id);
        const deleted = await db.deleteMemory({ id, userId });
        return deleted ? `Deleted memory ${id}.` : `Memory ${id} was already deleted.`;
      },
    }) as Tool,
  ];
}
