/**
 * Agentic memory (SPEC §16.1): the agent's own memory tools act for the run's user only.
 */
import { Agent, InMemoryMemoryDb, silentLogger } from '@buddy/core';
import { MockModel } from '@buddy/testkit';
import { describe, expect, it } from 'vitest';
import { AgentMemory } from './agent-memory.ts';

describe('enableAgenticMemory', () => {
  it("never shows user A another user's memories, also with an injected userId argument", async () => {
    const db = new InMemoryMemoryDb();
    await db.upsertMemory({ userId: 'alice', memory: 'Alice likes jazz.' });
    const bobSecret = await db.upsertMemory({
      userId: 'bob',
      memory: 'Bob likes jazz too and his PIN is 1234.',
    });
    const seen: string[] = [];
    const model = new MockModel({
      respond: (request) => {
        const last = request.messages.at(-1);
        if (last?.role === 'tool') {
          seen.push(last.content);
          if (seen.length === 1) {
            return {
              toolCalls: [
                { name: 'delete_memory', arguments: { id: bobSecret.id, userId: 'bob' } },
              ],
            };
          }
          return 'done';
        }
        return {
          toolCalls: [{ name: 'search_memories', arguments: { query: 'jazz', userId: 'bob' } }],
        };
      },
    });
    const agent = new Agent({
      model,
      userId: 'alice',
      memory: new AgentMemory({ db }),
      enableAgenticMemory: true,
      logger: silentLogger,
    });
    await agent.run('what music do I like?');
    expect(seen[0]).toContain('Alice likes jazz.');
    expect(seen[0]).not.toContain('Bob');
    expect(seen[1]).toMatch(/^Error: .*no memory with id/);
    expect(await db.readMemories({ userId: 'bob' })).toHaveLength(1);
  });

  it('adds, updates and deletes the run user’s memories through the tools', async () => {
    const db = new InMemoryMemoryDb();
    let addedId = '';
    const model = new MockModel({
      respond: (request) => {
        const last = request.messages.at(-1);
        const text = last?.content ?? '';
        if (last?.role === 'tool') {
          const match = /Added memory (\S+)\./.exec(text);
          if (match !== null) {
            addedId = match[1] as string;
            return {
              toolCalls: [
                {
                  name: 'update_memory',
                  arguments: { id: addedId, memory: 'Dana lives in Lisbon.' },
                },
              ],
            };
          }
          if (text.startsWith('Updated'))
            return { toolCalls: [{ name: 'search_memories', arguments: { query: 'Lisbon' } }] };
          if (text.includes('Lisbon') && !text.startsWith('Deleted')) {
            return { toolCalls: [{ name: 'delete_memory', arguments: { id: addedId } }] };
          }
          return 'ok';
        }
        return {
          toolCalls: [
            { name: 'add_memory', arguments: { memory: 'Dana lives in Porto.', topics: ['home'] } },
          ],
        };
      },
    });
    const agent = new Agent({
      model,
      userId: 'dana',
      memory: new AgentMemory({ db }),
      enableAgenticMemory: true,
      logger: silentLogger,
    });
    await agent.run('I moved');
    expect(addedId).not.toBe('');
    expect(await db.readMemories({ userId: 'dana' })).toEqual([]);
    const toolNames = model.requests[0]?.tools?.map((entry) => entry.name);
    expect(toolNames).toEqual(['search_memories', 'add_memory', 'update_memory', 'delete_memory']);
  });

  it('needs a memory, and offers no memory tools to a run without a user', async () => {
    expect(() => new Agent({ model: new MockModel(), enableAgenticMemory: true })).toThrow(
      /enableAgenticMemory/,
    );
    const model = new MockModel({ replies: ['hi'] });
    const agent = new Agent({
      model,
      memory: new AgentMemory(),
      enableAgenticMemory: true,
      logger: silentLogger,
    });
    await agent.run('hello');
    expect(model.requests[0]?.tools).toBeUndefined();
  });
});
