import {
  Agent,
  InMemoryMemoryDb,
  InMemoryStorage,
  type ModelRequest,
  silentLogger,
  tool,
  type UserMemory,
} from '@buddy/core';
import { MemorySummarizer } from '@buddy/summarizer';
import { MockModel } from '@buddy/testkit';
import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { AgentMemory } from './agent-memory.ts';
import { MemoryClassifier } from './memory-classifier.ts';
import { MemoryManager } from './memory-manager.ts';

function summaryJson(summary: string, topics?: string[]): string {
  return JSON.stringify(topics === undefined ? { summary } : { summary, topics });
}

function systemOf(request: ModelRequest | undefined): string {
  const first = request?.messages[0];
  return first?.role === 'system' ? first.content : '';
}

function promptOf(request: ModelRequest | undefined): string {
  return request?.messages.find((message) => message.role === 'user')?.content ?? '';
}

function occurrences(text: string, fragment: string): number {
  return text.split(fragment).length - 1;
}

function memoryOf(userId: string, id: string, memory: string, createdAt: number): UserMemory {
  return { id, userId, memory, createdAt, updatedAt: createdAt };
}

const lookupTea = tool({
  name: 'lookup_tea',
  parameters: z.object({ time: z.string() }),
  execute: () => 'TOOL-RESULT-rooibos-caffeine-free',
});

describe('AgentMemory with an Agent: session summaries', () => {
  it('summarizes the session pairs without history copies or tool chatter; the next run sees the summary', async () => {
    const agentModel = new MockModel({
      replies: [
        { toolCalls: [{ name: 'lookup_tea', arguments: { time: 'evening' } }] },
        'Rooibos.',
        'Assam.',
        'Sencha.',
      ],
    });
    const summarizerModel = new MockModel({
      replies: [summaryJson('The user asked about evening tea and tea with milk.', ['tea'])],
    });
    const memory = new AgentMemory({
      summarizer: new MemorySummarizer({ model: summarizerModel }),
    });
    const storage = new InMemoryStorage();
    const agent = new Agent({
      model: agentModel,
      userId: 'dana',
      storage,
      memory,
      tools: [lookupTea],
      addHistoryToMessages: true,
      addSessionSummaryReferences: true,
      logger: silentLogger,
    });
    expect(agent.memory).toBe(memory);

    await agent.run('Which tea in the evening?');
    await agent.run('And with milk?');
    // History is on: the second run replayed the first exchange to the agent's model.
    expect(agentModel.requests[2]?.messages.map((message) => message.content)).toContain(
      'Which tea in the evening?',
    );
    expect(summarizerModel.requests).toHaveLength(0);

    const summary = await memory.updateSummary();
    expect(summary).toEqual({
      summary: 'The user asked about evening tea and tea with milk.',
      topics: ['tea'],
    });
    expect(memory.summary).toEqual(summary);
    const prompt = promptOf(summarizerModel.requests[0]);
    expect(prompt).toContain(
      'User: Which tea in the evening?\nAssistant: Rooibos.\n\nUser: And with milk?\nAssistant: Assam.',
    );
    expect(occurrences(prompt, 'Which tea in the evening?')).toBe(1);
    expect(prompt).not.toContain('TOOL-RESULT');
    expect(prompt).not.toContain('lookup_tea');
    expect(await agent.getSessionSummary()).toMatchObject({
      summary: 'The user asked about evening tea and tea with milk.',
      runsCovered: 2,
    });

    await agent.run('Anything green?');
    const system = systemOf(agentModel.requests.at(-1));
    expect(system).toContain(
      '<summary_of_previous_interactions>\nThe user asked about evening tea and tea with milk.\nTopics: tea\n</summary_of_previous_interactions>',
    );
    expect(system).toMatch(/current conversation takes precedence/);
  });

  it('updates incrementally: the second update sends only the new pairs and the previous summary', async () => {
    const agentModel = new MockModel({ replies: ['Answer one.', 'Answer two.', 'Answer three.'] });
    const summarizerModel = new MockModel({
      respond: (_request, index) => summaryJson(`Summary after update ${index + 1}.`),
    });
    const storage = new InMemoryStorage();
    const getRuns = vi.spyOn(storage, 'getRuns');
    const memory = new AgentMemory({
      summarizer: new MemorySummarizer({ model: summarizerModel }),
    });
    const agent = new Agent({
      model: agentModel,
      userId: 'dana',
      storage,
      memory,
      addHistoryToMessages: true,
      enableSessionSummaries: true,
      logger: silentLogger,
    });

    const first = await agent.run('First question');
    expect(first.warnings).toEqual([]);
    expect(promptOf(summarizerModel.requests[0])).toContain(
      'User: First question\nAssistant: Answer one.',
    );
    expect(memory.summary).toEqual({ summary: 'Summary after update 1.' });

    const second = await agent.run('Second question');
    expect(second.warnings).toEqual([]);
    const prompt = promptOf(summarizerModel.requests[1]);
    expect(prompt).toContain('<previous_summary>\nSummary after update 1.\n</previous_summary>');
    expect(prompt).toContain('User: Second question\nAssistant: Answer two.');
    expect(prompt).not.toContain('First question');
    expect(prompt).not.toContain('Answer one.');
    // Only the runs after the covered ones were read.
    const memoryReads = getRuns.mock.calls
      .map(([input]) => input)
      .filter((input) => input.fromIndex !== undefined);
    expect(memoryReads).toEqual([
      { sessionId: agent.sessionId, fromIndex: 0 },
      { sessionId: agent.sessionId, fromIndex: 1 },
    ]);
    expect(await agent.getSessionSummary()).toMatchObject({
      summary: 'Summary after update 2.',
      runsCovered: 2,
    });

    // Nothing new to summarize: the stored summary comes back without a model call.
    await expect(memory.updateSummary()).resolves.toEqual({ summary: 'Summary after update 2.' });
    expect(summarizerModel.requests).toHaveLength(2);
  });

  it('serializes concurrent updates of one session, so the same runs are summarized once', async () => {
    const summarizerModel = new MockModel({
      latencyMs: 20,
      respond: (_request, index) => summaryJson(`Summary ${index + 1}.`),
    });
    const memory = new AgentMemory({
      summarizer: new MemorySummarizer({ model: summarizerModel }),
    });
    const agent = new Agent({ model: new MockModel(), memory, logger: silentLogger });
    await agent.run('One');
    await agent.run('Two');
    const [first, second] = await Promise.all([memory.updateSummary(), memory.updateSummary()]);
    expect(first).toEqual({ summary: 'Summary 1.' });
    expect(second).toEqual({ summary: 'Summary 1.' });
    expect(summarizerModel.requests).toHaveLength(1);
  });

  it('keeps the previous summary and warns when the summarizer answers garbage or fails', async () => {
    const agentModel = new MockModel({ replies: ['One.', 'Two.', 'Three.'] });
    const summarizerModel = new MockModel({
      respond: (_request, index) => {
        if (index === 0) return summaryJson('The user said hello.', ['greeting']);
        if (index === 1) return 'I am sorry, I cannot produce JSON today.';
        throw new Error('network down');
      },
    });
    const storage = new InMemoryStorage();
    const memory = new AgentMemory({
      summarizer: new MemorySummarizer({ model: summarizerModel }),
    });
    const agent = new Agent({
      model: agentModel,
      userId: 'dana',
      storage,
      memory,
      enableSessionSummaries: true,
      logger: silentLogger,
    });

    await agent.run('Hello');
    const before = (await storage.getSession(agent.sessionId))?.summary;
    expect(before).toMatchObject({ summary: 'The user said hello.', runsCovered: 1 });

    const garbage = await agent.run('How are you?');
    expect(garbage.content).toBe('Two.');
    expect(garbage.warnings).toHaveLength(1);
    expect(garbage.warnings[0]).toContain('Session summary was not updated');
    expect(garbage.warnings[0]).toContain('I am sorry');
    expect((await storage.getSession(agent.sessionId))?.summary).toEqual(before);

    const failed = await agent.run('Still there?');
    expect(failed.warnings).toHaveLength(1);
    expect(failed.warnings[0]).toContain('network down');
    expect((await storage.getSession(agent.sessionId))?.summary).toEqual(before);
    expect(memory.summary).toEqual({ summary: 'The user said hello.', topics: ['greeting'] });
    // The runs themselves were persisted.
    expect((await storage.getSession(agent.sessionId))?.runCount).toBe(3);
  });

  it('stream() emits run-completed before the post-answer summary is written', async () => {
    const order: string[] = [];
    const summarizerModel = new MockModel({
      latencyMs: 50,
      respond: () => {
        order.push('summarizer-answered');
        return summaryJson('The user greeted the assistant.');
      },
    });
    const memory = new AgentMemory({
      summarizer: new MemorySummarizer({ model: summarizerModel }),
    });
    const agent = new Agent({
      model: new MockModel({ replies: ['Hello there, friend.'] }),
      memory,
      enableSessionSummaries: true,
      logger: silentLogger,
    });
    let summaryAtCompletion: unknown = 'not seen';
    for await (const event of agent.stream('Hi')) {
      order.push(event.type);
      if (event.type === 'run-completed') summaryAtCompletion = memory.summary;
    }
    expect(summaryAtCompletion).toBeUndefined();
    expect(order.indexOf('run-completed')).toBeGreaterThan(-1);
    expect(order.indexOf('run-completed')).toBeLessThan(order.indexOf('summarizer-answered'));
    expect(order.at(-1)).toBe('summarizer-answered');
    expect(memory.summary).toEqual({ summary: 'The user greeted the assistant.' });
  });
});

describe('AgentMemory with an Agent: user memories', () => {
  it('loads memories at the start of every run, also the first run of a new session', async () => {
    const db = new InMemoryMemoryDb();
    await db.upsertMemory(memoryOf('dana', 'm1', 'The user is vegetarian.', 1000));
    const agentModel = new MockModel();
    const memory = new AgentMemory({ db });
    const agent = new Agent({
      model: agentModel,
      userId: 'dana',
      memory,
      addMemoryReferences: true,
      logger: silentLogger,
    });

    await agent.run('Plan dinner');
    const first = systemOf(agentModel.requests[0]);
    expect(first).toContain(
      '<memories_from_previous_interactions>\n- The user is vegetarian.\n</memories_from_previous_interactions>',
    );
    expect(first).toMatch(/current conversation takes precedence/);
    expect(memory.memories.map((entry) => entry.id)).toEqual(['m1']);

    agent.newSession();
    await db.upsertMemory(memoryOf('dana', 'm2', 'The user lives in Porto.', 2000));
    await agent.run('Plan lunch');
    expect(systemOf(agentModel.requests[1])).toContain(
      '<memories_from_previous_interactions>\n- The user lives in Porto.\n- The user is vegetarian.\n</memories_from_previous_interactions>',
    );
    expect(memory.memories.map((entry) => entry.id)).toEqual(['m2', 'm1']);
  });

  it('classifies the message, lets the manager add a memory, and the next run lists it', async () => {
    const db = new InMemoryMemoryDb();
    const agentModel = new MockModel({ replies: ['Nice to meet you, Ann.', 'Hello again.'] });
    const classifierModel = new MockModel({
      replies: ['{"remember": true, "reason": "Name."}', '{"remember": false}'],
    });
    const managerModel = new MockModel({
      replies: [
        { toolCalls: [{ name: 'add_memory', arguments: { memory: 'The user is called Ann.' } }] },
        'Added.',
      ],
    });
    const memory = new AgentMemory({
      db,
      classifier: new MemoryClassifier({ model: classifierModel }),
      manager: new MemoryManager({ model: managerModel, db }),
    });
    const agent = new Agent({
      model: agentModel,
      userId: 'ann',
      memory,
      enableUserMemories: true,
      logger: silentLogger,
    });

    const first = await agent.run('Hi, my name is Ann');
    expect(first.warnings).toEqual([]);
    expect(promptOf(classifierModel.requests[0])).toContain('Hi, my name is Ann');
    expect(memory.memories.map((entry) => entry.memory)).toEqual(['The user is called Ann.']);
    expect(memory.memories[0]?.input).toBe('Hi, my name is Ann');

    await agent.run('What is 2 + 2?');
    expect(systemOf(agentModel.requests[1])).toContain('- The user is called Ann.');
    expect(managerModel.requests).toHaveLength(2);
  });

  it("memory tools of user A cannot touch user B's rows; deleteUserData('A') leaves B alone", async () => {
    const db = new InMemoryMemoryDb();
    const storage = new InMemoryStorage();
    const bMemory = await db.upsertMemory(memoryOf('B', 'b-1', 'The user likes opera.', 1000));
    const managerModel = new MockModel({
      replies: [
        {
          toolCalls: [
            { name: 'update_memory', arguments: { id: 'b-1', memory: 'Hijacked by A.' } },
            { name: 'delete_memory', arguments: { id: 'b-1' } },
            { name: 'add_memory', arguments: { memory: 'The user plays the cello.' } },
          ],
        },
        'Done.',
      ],
    });
    const memory = new AgentMemory({
      db,
      classifier: new MemoryClassifier({
        model: new MockModel({ replies: ['{"remember":true}'] }),
      }),
      manager: new MemoryManager({ model: managerModel, db }),
    });
    const agentA = new Agent({
      model: new MockModel(),
      userId: 'A',
      storage,
      memory,
      enableUserMemories: true,
      logger: silentLogger,
    });
    const agentB = new Agent({
      model: new MockModel(),
      userId: 'B',
      storage,
      logger: silentLogger,
    });
    await agentB.run('Hello from B');

    const run = await agentA.run('I play the cello; also forget b-1');
    expect(run.warnings).toEqual([]);
    expect(await db.readMemories({ userId: 'B' })).toEqual([bMemory]);
    const results = (managerModel.requests[1]?.messages ?? []).filter(
      (message) => message.role === 'tool',
    );
    expect(results.map((result) => result.content.startsWith('Error:'))).toEqual([
      true,
      true,
      false,
    ]);
    expect((await db.readMemories({ userId: 'A' })).map((entry) => entry.memory)).toEqual([
      'The user plays the cello.',
    ]);

    await expect(agentA.deleteUserData('A')).resolves.toEqual({ sessions: 1, memories: 1 });
    expect(await db.readMemories({ userId: 'A' })).toEqual([]);
    expect(memory.memories).toEqual([]);
    expect((await storage.listSessions({ userId: 'A' })).sessions).toEqual([]);
    expect(await db.readMemories({ userId: 'B' })).toEqual([bMemory]);
    expect((await storage.listSessions({ userId: 'B' })).sessions).toHaveLength(1);
  });

  it('warns and still resolves when the memory update fails', async () => {
    const memory = new AgentMemory({
      classifier: new MemoryClassifier({ model: new MockModel({ replies: ['maybe?'] }) }),
    });
    const agent = new Agent({
      model: new MockModel(),
      userId: 'dana',
      memory,
      enableUserMemories: true,
      logger: silentLogger,
    });
    const run = await agent.run('I like tea');
    expect(run.content).toBe('Echo: I like tea');
    expect(run.warnings).toEqual([expect.stringContaining('User memories were not updated')]);
    expect(run.warnings[0]).toContain('maybe?');
  });
});

describe('AgentMemory with an Agent: own-user helpers', () => {
  it('updateMemory, clearMemories and getMessagePairs work on the agent’s own user and session', async () => {
    const db = new InMemoryMemoryDb();
    await db.upsertMemory(memoryOf('other', 'o-1', 'Another user.', 1000));
    const classifierModel = new MockModel({ replies: ['{"remember": false}'] });
    const managerModel = new MockModel({
      replies: [
        { toolCalls: [{ name: 'add_memory', arguments: { memory: 'The user is a nurse.' } }] },
        'Added.',
      ],
    });
    const memory = new AgentMemory({
      db,
      classifier: new MemoryClassifier({ model: classifierModel }),
      manager: new MemoryManager({ model: managerModel, db }),
    });
    const agent = new Agent({
      model: new MockModel({ replies: ['Hi!'] }),
      userId: 'dana',
      memory,
      logger: silentLogger,
    });

    await expect(memory.updateMemory('I work as a nurse')).resolves.toEqual({
      remembered: false,
      changes: [],
    });
    expect(managerModel.requests).toHaveLength(0);
    const forced = await memory.updateMemory('I work as a nurse', { force: true });
    expect(forced.remembered).toBe(true);
    expect(forced.changes).toHaveLength(1);
    expect(classifierModel.requests).toHaveLength(1);
    expect(memory.memories.map((entry) => entry.memory)).toEqual(['The user is a nurse.']);
    await expect(memory.loadMemories()).resolves.toHaveLength(1);

    await agent.run('Hello');
    const pairs = await memory.getMessagePairs();
    expect(pairs.map(([user, assistant]) => [user.content, assistant.content])).toEqual([
      ['Hello', 'Hi!'],
    ]);
    await expect(memory.getMessagePairs({ sessionId: 'missing' })).resolves.toEqual([]);

    await expect(memory.clearMemories()).resolves.toBe(1);
    expect(memory.memories).toEqual([]);
    expect(await db.readMemories({ userId: 'other' })).toHaveLength(1);
  });

  it('refuses to serve a second agent', () => {
    const memory = new AgentMemory();
    new Agent({ model: new MockModel(), memory, logger: silentLogger });
    expect(() => new Agent({ model: new MockModel(), memory, logger: silentLogger })).toThrow(
      expect.objectContaining({
        code: 'INVALID_ARGUMENT',
        message: expect.stringContaining('one AgentMemory per Agent'),
      }),
    );
  });
});
