import { InMemoryMemoryDb, type UserMemory } from '@buddy/core';
import { MockModel } from '@buddy/testkit';
import { describe, expect, it } from 'vitest';
import { MAX_MEMORY_MANAGER_ROUNDS, MemoryManager } from './memory-manager.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function memoryOf(userId: string, id: string, memory: string, createdAt = 1000): UserMemory {
  return { id, userId, memory, topics: ['seed'], createdAt, updatedAt: createdAt };
}

function toolResults(model: MockModel, index: number) {
  return (model.requests[index]?.messages ?? []).filter((message) => message.role === 'tool');
}

describe('MemoryManager', () => {
  it('adds memories with random ids, the user id and the message as input', async () => {
    const db = new InMemoryMemoryDb();
    const model = new MockModel({
      replies: [
        {
          toolCalls: [
            {
              name: 'add_memory',
              arguments: { memory: 'The user lives in Porto.', topics: ['home'] },
            },
            { name: 'add_memory', arguments: { memory: 'The user has a cat named Bo.' } },
          ],
        },
        'Added two memories.',
      ],
    });
    const manager = new MemoryManager({ model, db });
    const message = 'I live in Porto with my cat Bo';
    const { changes } = await manager.run({ userId: 'dana', message });

    // Both are written in the same millisecond or two: order them as the manager wrote them.
    const written = changes.map((change) => (change.type === 'added' ? change.memory.id : ''));
    const stored = (await db.readMemories({ userId: 'dana' })).sort(
      (a, b) => written.indexOf(a.id) - written.indexOf(b.id),
    );
    expect(stored.map((memory) => memory.memory)).toEqual([
      'The user lives in Porto.',
      'The user has a cat named Bo.',
    ]);
    for (const memory of stored) {
      expect(memory.id).toMatch(UUID);
      expect(memory.userId).toBe('dana');
      expect(memory.input).toBe(message);
    }
    expect(stored[0]?.topics).toEqual(['home']);
    expect(changes.map((change) => change.type)).toEqual(['added', 'added']);
    expect(toolResults(model, 1).map((result) => result.content)).toEqual([
      `Added memory ${stored[0]?.id}.`,
      `Added memory ${stored[1]?.id}.`,
    ]);
  });

  it("lists that user's memories with ids in the prompt, and no other user's", async () => {
    const db = new InMemoryMemoryDb();
    await db.upsertMemory(memoryOf('dana', 'm-dana', 'The user likes jazz.'));
    await db.upsertMemory(memoryOf('eli', 'm-eli', 'The user likes opera.'));
    const model = new MockModel({ replies: ['Nothing to change.'] });
    const result = await new MemoryManager({ model, db }).run({ userId: 'dana', message: 'Hi' });

    expect(result.changes).toEqual([]);
    const request = model.requests[0];
    const system = request?.messages[0]?.content ?? '';
    expect(system).toContain('[m-dana] The user likes jazz. (topics: seed)');
    expect(system).not.toContain('m-eli');
    expect(system).not.toContain('opera');
    expect(request?.messages[1]).toEqual({ role: 'user', content: 'Hi' });
    expect(request?.tools?.map((definition) => definition.name)).toEqual([
      'add_memory',
      'update_memory',
      'delete_memory',
    ]);
    expect(request?.tools?.[1]?.parameters).toMatchObject({
      type: 'object',
      required: ['id', 'memory'],
    });
  });

  it("updates and deletes that user's memories, keeping createdAt", async () => {
    const db = new InMemoryMemoryDb();
    await db.upsertMemory(memoryOf('dana', 'm1', 'The user lives in Porto.'));
    await db.upsertMemory(memoryOf('dana', 'm2', 'The user has a dog.', 2000));
    const model = new MockModel({
      replies: [
        {
          toolCalls: [
            { name: 'update_memory', arguments: { id: 'm1', memory: 'The user lives in Lisbon.' } },
            { name: 'delete_memory', arguments: { id: 'm2' } },
          ],
        },
        'Done.',
      ],
    });
    const { changes } = await new MemoryManager({ model, db }).run({
      userId: 'dana',
      message: 'I moved to Lisbon, and the dog was my sister’s',
    });
    const stored = await db.readMemories({ userId: 'dana' });
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({
      id: 'm1',
      memory: 'The user lives in Lisbon.',
      topics: ['seed'],
      createdAt: 1000,
    });
    expect(changes).toEqual([
      { type: 'updated', memory: expect.objectContaining({ id: 'm1' }) },
      { type: 'deleted', id: 'm2' },
    ]);
  });

  it("cannot touch another user's rows: the tool result is an error and the rows stay", async () => {
    const db = new InMemoryMemoryDb();
    await db.upsertMemory(memoryOf('dana', 'm-dana', 'The user likes jazz.'));
    const eli = await db.upsertMemory(memoryOf('eli', 'm-eli', 'The user likes opera.'));
    const model = new MockModel({
      replies: [
        {
          toolCalls: [
            { name: 'update_memory', arguments: { id: 'm-eli', memory: 'Hijacked.' } },
            { name: 'delete_memory', arguments: { id: 'm-eli' } },
          ],
        },
        'Could not change those.',
      ],
    });
    const { changes } = await new MemoryManager({ model, db }).run({
      userId: 'dana',
      message: 'Forget everything about Eli',
    });
    expect(changes).toEqual([]);
    expect(await db.readMemories({ userId: 'eli' })).toEqual([eli]);
    expect(await db.readMemories({ userId: 'dana' })).toHaveLength(1);
    const results = toolResults(model, 1);
    expect(results).toHaveLength(2);
    for (const result of results) {
      expect(result).toMatchObject({ isError: true });
      expect(result.content).toMatch(/^Error: there is no memory with id "m-eli" for this user/);
    }
  });

  it('reports bad arguments and unknown tools to the model and carries on', async () => {
    const db = new InMemoryMemoryDb();
    const model = new MockModel({
      replies: [
        {
          toolCalls: [
            { name: 'add_memory', arguments: { memory: '' } },
            { name: 'add_memory', arguments: '{not json' },
            { name: 'clear_memories', arguments: {} },
          ],
        },
        { toolCalls: [{ name: 'add_memory', arguments: { memory: 'The user is a nurse.' } }] },
        'Done.',
      ],
    });
    const { changes } = await new MemoryManager({ model, db }).run({
      userId: 'dana',
      message: 'I work as a nurse',
    });
    expect(changes).toHaveLength(1);
    const [empty, badJson, unknown] = toolResults(model, 1);
    expect(empty?.content).toMatch(
      /^Error: Invalid arguments for tool 'add_memory': memory: .*\(got ""\)/,
    );
    expect(badJson?.content).toMatch(
      /^Error: Invalid arguments for tool 'add_memory': not valid JSON/,
    );
    expect(unknown?.content).toMatch(
      /^Error: Unknown tool "clear_memories"\. Available tools: add_memory, update_memory, delete_memory/,
    );
    expect(await db.readMemories({ userId: 'dana' })).toHaveLength(1);
  });

  it('stops a model that keeps calling tools with MAX_TOOL_ROUNDS, keeping what it did', async () => {
    const db = new InMemoryMemoryDb();
    const model = new MockModel({
      respond: (_request, index) => ({
        toolCalls: [{ name: 'add_memory', arguments: { memory: `Fact ${index}.` } }],
      }),
    });
    await expect(
      new MemoryManager({ model, db }).run({ userId: 'dana', message: 'Facts' }),
    ).rejects.toMatchObject({ code: 'MAX_TOOL_ROUNDS' });
    expect(model.requests).toHaveLength(MAX_MEMORY_MANAGER_ROUNDS + 1);
    expect(await db.readMemories({ userId: 'dana' })).toHaveLength(MAX_MEMORY_MANAGER_ROUNDS);
  });

  it('validates its options and input', async () => {
    expect(() => new MemoryManager({ db: {} as never })).toThrow(/option 'db'/);
    const manager = new MemoryManager({ model: new MockModel() });
    expect(manager.db.backend).toBe('memory');
    await expect(manager.run({ userId: '', message: 'x' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(manager.run({ userId: 'dana', message: '' })).rejects.toThrow(/message/);
  });
});
