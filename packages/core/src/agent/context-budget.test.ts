/**
 * The context budget (SPEC §13.3) at the Agent: every request of every round within the budget,
 * trimming in the stated order, whole runs only, the marker, and `CONTEXT_TOO_LARGE` before any
 * model call when the fixed part alone is over.
 */
import { MockModel } from '@buddy/testkit';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { InMemoryStorage } from '../in-memory/in-memory-storage.ts';
import { silentLogger } from '../logging/console-logger.ts';
import type { AgentMemoryContract, AgentMemoryHost } from '../spec/agent-memory-v1.ts';
import type { UserMemory } from '../spec/memory-db-v1.ts';
import { tool } from '../tools/tool.ts';
import { Agent } from './agent.ts';
import { requestTokens } from './context-budget.ts';

const count = (text: string) => Math.ceil(text.length / 4);

const lookup = tool({
  name: 'lookup',
  description: 'Looks something up.',
  parameters: z.object({ topic: z.string() }),
  execute: ({ topic }) => `Facts about ${topic}: ${'detail '.repeat(30)}`,
});

/** Calls `lookup` once per run, then answers at length. */
function lookingModel() {
  return new MockModel({
    respond: (request) =>
      request.messages.at(-1)?.role === 'tool'
        ? `Here is a long answer. ${'words '.repeat(40)}`
        : {
            toolCalls: [
              { name: 'lookup', arguments: { topic: request.messages.at(-1)?.content ?? '' } },
            ],
          },
  });
}

class FixedMemories implements AgentMemoryContract {
  readonly specificationVersion = 'v1' as const;
  readonly memories: UserMemory[];
  constructor(memories: UserMemory[]) {
    this.memories = memories;
  }
  attach(_host: AgentMemoryHost): void {}
  async readMemories() {
    return this.memories;
  }
  async updateSessionSummary() {
    return undefined;
  }
  async updateUserMemories() {}
  async deleteUserData() {
    return 0;
  }
}

describe('Agent: contextBudget', () => {
  it('keeps every request of every round within the budget, whole runs only, with the marker', async () => {
    const model = lookingModel();
    const budget = 700;
    const agent = new Agent({
      model,
      storage: new InMemoryStorage(),
      tools: [lookup],
      instructions: 'Answer briefly.',
      addHistoryToMessages: true,
      numHistoryRuns: 20,
      contextBudget: { maxInputTokens: budget, countTokens: count },
      logger: silentLogger,
    });
    for (let turn = 0; turn < 12; turn++)
      await agent.run(`question ${turn} ${'padding '.repeat(10)}`);
    expect(model.requests.length).toBe(24);
    for (const request of model.requests) {
      expect(requestTokens(request, count)).toBeLessThanOrEqual(budget);
      // Every tool call sent has its result right after it (runs are never split).
      request.messages.forEach((message, index) => {
        if (message.role === 'assistant' && message.toolCalls !== undefined) {
          for (const [offset, call] of message.toolCalls.entries()) {
            const result = request.messages[index + 1 + offset];
            expect(result).toMatchObject({ role: 'tool', toolCallId: call.id });
          }
        }
        if (message.role === 'tool') {
          const previous = request.messages
            .slice(0, index)
            .reverse()
            .find((m) => m.role === 'assistant');
          expect(
            previous?.role === 'assistant' &&
              previous.toolCalls?.some((c) => c.id === message.toolCallId),
          ).toBe(true);
        }
      });
    }
    const last = model.requests.at(-2);
    expect(last?.messages[0]?.content).toMatch(
      /Note: the \d+ earliest runs of this conversation are left out/,
    );
    // The newest history runs are the ones kept.
    const userTexts = last?.messages
      .filter((m) => m.role === 'user')
      .map((m) => m.content.split(' ').slice(0, 2).join(' '));
    expect(userTexts?.at(-1)).toBe('question 11');
    expect(userTexts?.at(-2)).toBe('question 10');
  });

  it('trims history first, then memories (the last listed first), then summary topics', async () => {
    const storage = new InMemoryStorage();
    const memories: UserMemory[] = Array.from({ length: 6 }, (_, index) => ({
      id: `m${index}`,
      userId: 'dana',
      memory: `Memory number ${index}: ${'fact '.repeat(12)}`,
      createdAt: 1000 - index,
      updatedAt: 1000 - index,
    }));
    const model = new MockModel({ respond: () => `ok ${'x '.repeat(20)}` });
    const agent = new Agent({
      model,
      userId: 'dana',
      sessionId: 'budget',
      storage,
      memory: new FixedMemories(memories),
      addMemoryReferences: true,
      addSessionSummaryReferences: true,
      addHistoryToMessages: true,
      numHistoryRuns: 10,
      logger: silentLogger,
    });
    for (let turn = 0; turn < 4; turn++) await agent.run(`turn ${turn} ${'pad '.repeat(20)}`);
    await storage.upsertSession({
      sessionId: 'budget',
      userId: 'dana',
      summary: { summary: 'Dana chatted.', topics: ['a', 'b', 'c'], runsCovered: 4, updatedAt: 1 },
    });
    const unbounded = await agent.run('probe');
    expect(unbounded.content).toMatch(/^ok/);
    const full = model.requests.at(-1);
    if (full === undefined) throw new Error('no request');
    const fullTokens = requestTokens(full, count);

    const trimmed = new Agent({
      model,
      userId: 'dana',
      sessionId: 'budget',
      storage,
      memory: new FixedMemories(memories),
      addMemoryReferences: true,
      addSessionSummaryReferences: true,
      addHistoryToMessages: true,
      numHistoryRuns: 10,
      contextBudget: { maxInputTokens: fullTokens - 60, countTokens: count },
      logger: silentLogger,
    });
    await trimmed.run('probe two');
    const cut = model.requests.at(-1);
    const system = cut?.messages[0]?.content ?? '';
    // Some history went, every memory and topic stayed.
    expect(cut?.messages.filter((m) => m.role === 'user').length).toBeLessThan(
      full.messages.filter((m) => m.role === 'user').length,
    );
    for (const memory of memories) expect(system).toContain(memory.memory.trim().slice(0, 15));
    expect(system).toContain('Topics: a, b, c');

    // A tighter budget: no history left, the last memories go first, topics last.
    const system0 = full.messages[0]?.content ?? '';
    const tight = new Agent({
      model,
      userId: 'dana',
      sessionId: 'budget',
      storage,
      memory: new FixedMemories(memories),
      addMemoryReferences: true,
      addSessionSummaryReferences: true,
      addHistoryToMessages: true,
      numHistoryRuns: 10,
      contextBudget: { maxInputTokens: count(system0) + 30, countTokens: count },
      logger: silentLogger,
    });
    await tight.run('probe three');
    const tightest = model.requests.at(-1);
    const text = tightest?.messages[0]?.content ?? '';
    expect(tightest?.messages.filter((m) => m.role === 'user')).toHaveLength(1);
    expect(text).toContain('Memory number 0');
    expect(text).not.toContain('Memory number 5');
    expect(requestTokens(tightest as never, count)).toBeLessThanOrEqual(count(system0) + 30);
  });

  it('fails with CONTEXT_TOO_LARGE before any model call when the instructions and input alone are over', async () => {
    const model = new MockModel({ replies: ['never'] });
    const storage = new InMemoryStorage();
    const agent = new Agent({
      model,
      storage,
      instructions: 'Be helpful. '.repeat(50),
      contextBudget: { maxInputTokens: 50, countTokens: count },
      logger: silentLogger,
    });
    await expect(agent.run('hello')).rejects.toMatchObject({ code: 'CONTEXT_TOO_LARGE' });
    expect(model.requests).toHaveLength(0);
    expect(await storage.getSession(agent.sessionId)).toBeUndefined();
  });

  it("counts with the model's own countTokens when the budget has none", async () => {
    const model = new MockModel({ replies: ['one', 'two'] });
    let counted = 0;
    Object.assign(model, {
      countTokens: (text: string) => {
        counted++;
        return text.length;
      },
    });
    const agent = new Agent({
      model,
      contextBudget: { maxInputTokens: 10_000 },
      logger: silentLogger,
    });
    await agent.run('hello');
    expect(counted).toBeGreaterThan(0);
  });

  it('rejects a malformed contextBudget naming it', () => {
    expect(
      () => new Agent({ model: new MockModel(), contextBudget: { maxInputTokens: 0 } }),
    ).toThrow(/maxInputTokens/);
    expect(() => new Agent({ model: new MockModel(), contextBudget: { max: 5 } as never })).toThrow(
      /max/,
    );
  });
});
