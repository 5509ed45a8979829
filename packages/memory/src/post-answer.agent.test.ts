/**
 * Post-answer work at its edges (SPEC §10.4): it settles whatever the summarizer's model does,
 * it checks ownership, it is fenced against deletion, and a backlog of unsummarized runs recovers
 * in budgeted batches.
 */
import {
  Agent,
  InMemoryMemoryDb,
  InMemoryStorage,
  type Model,
  type ModelRequest,
  type ModelResponse,
  silentLogger,
} from '@buddy/core';
import { MemorySummarizer } from '@buddy/summarizer';
import { MockModel } from '@buddy/testkit';
import { describe, expect, it } from 'vitest';
import { AgentMemory } from './agent-memory.ts';
import { MemoryClassifier } from './memory-classifier.ts';
import { MemoryManager } from './memory-manager.ts';

const summaryJson = (text: string) => JSON.stringify({ summary: text, topics: ['test'] });

/** A model whose every call waits for `release()` and ignores the abort signal, as a hung one. */
function gatedModel(answer: (request: ModelRequest) => ModelResponse) {
  let release: () => void = () => {};
  let called: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const wasCalled = new Promise<void>((resolve) => {
    called = resolve;
  });
  const requests: ModelRequest[] = [];
  const model: Model = {
    specificationVersion: 'v1',
    provider: 'gated',
    id: 'gated',
    generate: async (request) => {
      requests.push(request);
      called();
      await gate;
      return answer(request);
    },
    stream: () => {
      throw new Error('not used');
    },
  };
  return { model, release, wasCalled, requests };
}

const text = (content: string): ModelResponse => ({
  content,
  toolCalls: [],
  usage: { inputTokens: 1, outputTokens: 1 },
  finishReason: 'stop',
});

const tick = () => new Promise((resolve) => setTimeout(resolve, 20));

describe('post-answer work is fenced against deletion', () => {
  it('deleteSession while the summary is being written leaves no ghost record', async () => {
    const storage = new InMemoryStorage();
    const summarizer = gatedModel(() => text(summaryJson('A summary of runs that are gone.')));
    const agent = new Agent({
      model: new MockModel({ replies: ['Hello!'] }),
      userId: 'dana',
      storage,
      memory: new AgentMemory({ summarizer: new MemorySummarizer({ model: summarizer.model }) }),
      enableSessionSummaries: true,
      logger: silentLogger,
    });
    const running = agent.run('hi');
    await summarizer.wasCalled;
    expect(await agent.deleteSession(agent.sessionId)).toBe(true);
    summarizer.release();
    const response = await running;
    await tick();
    expect(await storage.getSession(agent.sessionId)).toBeUndefined();
    expect((await storage.listSessions({ userId: 'dana' })).sessions).toEqual([]);
    expect(response.warnings.join('\n')).toContain('Session summary was not updated');
  });

  it('an in-flight memory update writes nothing once deleteUserData returned', async () => {
    const storage = new InMemoryStorage();
    const db = new InMemoryMemoryDb();
    const manager = gatedModel((request) =>
      request.messages.at(-1)?.role === 'tool'
        ? text('Added.')
        : {
            content: '',
            toolCalls: [
              { id: 'c1', name: 'add_memory', arguments: '{"memory":"The user is Dana."}' },
            ],
            usage: { inputTokens: 1, outputTokens: 1 },
            finishReason: 'tool-calls',
          },
    );
    const agent = new Agent({
      model: new MockModel({ replies: ['Nice to meet you.'] }),
      userId: 'dana',
      storage,
      memory: new AgentMemory({
        db,
        classifier: new MemoryClassifier({
          model: new MockModel({ replies: ['{"remember": true}'] }),
        }),
        manager: new MemoryManager({ model: manager.model, db }),
      }),
      enableUserMemories: true,
      logger: silentLogger,
    });
    const running = agent.run('I am Dana');
    await manager.wasCalled;
    expect(await agent.deleteUserData('dana')).toEqual({ sessions: 1, memories: 0 });
    manager.release();
    await running;
    await tick();
    expect(await db.readMemories({ userId: 'dana' })).toEqual([]);
    expect(await storage.getSession(agent.sessionId)).toBeUndefined();
  });
});

describe('post-answer work always settles', () => {
  it("gives up a hanging summarizer when the run's signal aborts; run() resolves with a warning", async () => {
    const storage = new InMemoryStorage();
    const summarizer = gatedModel(() => text(summaryJson('never')));
    const agent = new Agent({
      model: new MockModel({ replies: ['Hello!'] }),
      storage,
      memory: new AgentMemory({ summarizer: new MemorySummarizer({ model: summarizer.model }) }),
      enableSessionSummaries: true,
      logger: silentLogger,
    });
    const controller = new AbortController();
    const running = agent.run('hi', { signal: controller.signal });
    await summarizer.wasCalled;
    controller.abort();
    const response = await running;
    expect(response.content).toBe('Hello!');
    expect(response.warnings.join('\n')).toMatch(/Session summary was not updated \(given up/);
    // The run itself is stored; the late summary never lands.
    summarizer.release();
    await tick();
    const record = await storage.getSession(agent.sessionId);
    expect(record?.runCount).toBe(1);
    expect(record?.summary).toBeUndefined();
  });

  it('gives up after postAnswerTimeoutMs with a warning naming it', async () => {
    const summarizer = gatedModel(() => text(summaryJson('never')));
    const agent = new Agent({
      model: new MockModel({ replies: ['Hello!'] }),
      memory: new AgentMemory({ summarizer: new MemorySummarizer({ model: summarizer.model }) }),
      enableSessionSummaries: true,
      postAnswerTimeoutMs: 50,
      logger: silentLogger,
    });
    const response = await agent.run('hi');
    expect(response.warnings.join('\n')).toContain('postAnswerTimeoutMs (50 ms)');
    summarizer.release();
  });
});

describe('summaries check ownership', () => {
  it("refuses updateSessionSummary for another user's session with SESSION_OWNERSHIP and writes nothing", async () => {
    const storage = new InMemoryStorage();
    const alice = new Agent({
      model: new MockModel({ replies: ['hi alice'] }),
      userId: 'alice',
      sessionId: 'alice-s',
      storage,
      logger: silentLogger,
    });
    await alice.run('my secret plan');
    const summarizerModel = new MockModel({ replies: [summaryJson('stolen')] });
    const memory = new AgentMemory({
      summarizer: new MemorySummarizer({ model: summarizerModel }),
    });
    new Agent({ model: new MockModel(), userId: 'mallory', storage, memory, logger: silentLogger });
    await expect(
      memory.updateSessionSummary({ sessionId: 'alice-s', userId: 'mallory' }),
    ).rejects.toMatchObject({
      code: 'SESSION_OWNERSHIP',
    });
    await expect(memory.updateSessionSummary({ sessionId: 'alice-s' })).rejects.toMatchObject({
      code: 'SESSION_OWNERSHIP',
    });
    expect(summarizerModel.requests).toHaveLength(0);
    expect((await storage.getSession('alice-s'))?.summary).toBeUndefined();
  });
});

describe('summaries recover after an outage', () => {
  it('after 200 runs with a failing summarizer, the first successful update covers all of them in several requests within the budget', async () => {
    const storage = new InMemoryStorage();
    let down = true;
    const budget = 2000;
    const countTokens = (value: string) => Math.ceil(value.length / 3);
    const summarizerModel = new MockModel({
      respond: (request) => {
        if (down) throw new Error('summarizer outage');
        const covered = (request.messages.at(-1)?.content.match(/User: /g) ?? []).length;
        return summaryJson(`Summary after a batch of ${covered} exchanges.`);
      },
    });
    const agent = new Agent({
      model: new MockModel({
        respond: (_request, index) => `Answer number ${index} with some words in it.`,
      }),
      storage,
      memory: new AgentMemory({
        summarizer: new MemorySummarizer({
          model: summarizerModel,
          maxInputTokens: budget,
          countTokens,
        }),
      }),
      enableSessionSummaries: true,
      logger: silentLogger,
    });
    for (let turn = 0; turn < 200; turn++) {
      const response = await agent.run(`Question ${turn}: tell me something about topic ${turn}.`);
      expect(response.warnings).toHaveLength(1);
    }
    expect((await storage.getSession(agent.sessionId))?.summary).toBeUndefined();
    down = false;
    const failedCalls = summarizerModel.requests.length;
    const response = await agent.run('Question 200: and now?');
    expect(response.warnings).toEqual([]);
    const requests = summarizerModel.requests.slice(failedCalls);
    expect(requests.length).toBeGreaterThan(1);
    for (const request of requests) {
      const size = request.messages.reduce((sum, message) => sum + countTokens(message.content), 0);
      expect(size).toBeLessThanOrEqual(budget);
    }
    const summary = (await storage.getSession(agent.sessionId))?.summary;
    expect(summary?.runsCovered).toBe(201);
    // Batches go oldest first, each building on the summary so far.
    expect(requests[0]?.messages.at(-1)?.content).toContain('Question 0:');
    expect(requests[1]?.messages.at(-1)?.content).toContain('<previous_summary>');
  });
});

describe('summaries count tokens like the agent', () => {
  it("uses the agent's contextBudget.countTokens for the default summarizer's budget", async () => {
    const counted: string[] = [];
    const summarizerModel = new MockModel({ replies: [summaryJson('Dana said hi.')] });
    const agent = new Agent({
      model: new MockModel({ replies: ['Hello!'] }),
      memory: new AgentMemory({ model: summarizerModel }),
      enableSessionSummaries: true,
      contextBudget: {
        maxInputTokens: 100_000,
        countTokens: (text) => {
          counted.push(text);
          return Math.ceil(text.length / 4);
        },
      },
      logger: silentLogger,
    });
    counted.length = 0;
    const response = await agent.run('hi there');
    expect(response.warnings).toEqual([]);
    expect(summarizerModel.requests).toHaveLength(1);
    expect(counted.some((text) => text.includes('<conversation>'))).toBe(true);
  });
});
