/**
 * Partial turns (SPEC §16.3): with `persistAbortedRuns`, a run aborted or failed after the model
 * started answering is stored with its status, the text so far, and valid tool call/result pairs.
 */
import { MockModel } from '@buddy/testkit';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { InMemoryStorage } from '../in-memory/in-memory-storage.ts';
import { silentLogger } from '../logging/console-logger.ts';
import type { Model, ModelStreamPart } from '../spec/model-v1.ts';
import { tool } from '../tools/tool.ts';
import { Agent } from './agent.ts';

/** Streams the given deltas one by one, each after the previous was pulled; then never ends. */
function slowStreamingModel(deltas: string[]): Model {
  return {
    specificationVersion: 'v1',
    provider: 'slow',
    id: 'slow',
    generate: async () => {
      throw new Error('unused');
    },
    stream: async function* (_request, options): AsyncGenerator<ModelStreamPart> {
      for (const delta of deltas) {
        yield { type: 'text-delta', delta };
      }
      await new Promise((_resolve, reject) =>
        options?.signal?.addEventListener('abort', () => reject(options.signal?.reason), {
          once: true,
        }),
      );
    },
  };
}

describe('Agent: persistAbortedRuns', () => {
  it('stores a stream aborted after 3 text deltas with status aborted and their text; the next run sees it', async () => {
    const storage = new InMemoryStorage();
    const agent = new Agent({
      model: slowStreamingModel(['The ', 'answer ', 'is ', 'forty-two']),
      storage,
      persistAbortedRuns: true,
      addHistoryToMessages: true,
      logger: silentLogger,
    });
    let deltas = 0;
    for await (const event of agent.stream('what is the answer?')) {
      if (event.type === 'text-delta' && ++deltas === 3) break;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
    const [run] = await storage.getRuns({ sessionId: agent.sessionId });
    expect(run?.status).toBe('aborted');
    expect(run?.messages.map((message) => [message.role, message.content])).toEqual([
      ['user', 'what is the answer?'],
      ['assistant', expect.stringMatching(/^The answer is /)],
    ]);
    const model = new MockModel({ replies: ['ok'] });
    const resumed = new Agent({
      model,
      sessionId: agent.sessionId,
      storage,
      addHistoryToMessages: true,
      logger: silentLogger,
    });
    await resumed.run('go on');
    const sent = model.requests[0]?.messages.map((message) => message.content) ?? [];
    expect(sent.some((content) => content.startsWith('The answer is'))).toBe(true);
  });

  it('stores nothing without the option', async () => {
    const storage = new InMemoryStorage();
    const agent = new Agent({
      model: slowStreamingModel(['a', 'b', 'c', 'd']),
      storage,
      logger: silentLogger,
    });
    let deltas = 0;
    for await (const event of agent.stream('hi')) {
      if (event.type === 'text-delta' && ++deltas === 3) break;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await storage.getSession(agent.sessionId)).toBeUndefined();
  });

  it('closes every tool call with a result ("Error: interrupted" when it had none) when a run fails mid-tools', async () => {
    const storage = new InMemoryStorage();
    const controller = new AbortController();
    const slow = tool({
      name: 'slow',
      parameters: z.object({}),
      execute: (_args, { signal }) =>
        new Promise((_resolve, reject) => {
          controller.abort();
          signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        }),
    });
    const agent = new Agent({
      model: new MockModel({
        replies: [{ toolCalls: [{ name: 'slow', arguments: {} }] }, 'never'],
      }),
      storage,
      tools: [slow],
      persistAbortedRuns: true,
      logger: silentLogger,
    });
    await expect(agent.run('do it', { signal: controller.signal })).rejects.toMatchObject({
      code: 'ABORTED',
    });
    const [run] = await storage.getRuns({ sessionId: agent.sessionId });
    expect(run?.status).toBe('aborted');
    const [user, assistant, result] = run?.messages ?? [];
    expect(user).toMatchObject({ role: 'user', content: 'do it' });
    expect(assistant?.role === 'assistant' && assistant.toolCalls?.[0]?.name).toBe('slow');
    expect(result).toMatchObject({ role: 'tool', content: 'Error: interrupted', isError: true });
    expect(
      result?.role === 'tool' &&
        assistant?.role === 'assistant' &&
        result.toolCallId === assistant.toolCalls?.[0]?.id,
    ).toBe(true);
  });

  it('stores a run that failed after answering with status failed, and nothing when the model never answered', async () => {
    const storage = new InMemoryStorage();
    const loop = tool({ name: 'again', execute: () => 'again' });
    const agent = new Agent({
      model: new MockModel({ respond: () => ({ toolCalls: [{ name: 'again', arguments: {} }] }) }),
      storage,
      tools: [loop],
      persistAbortedRuns: true,
      logger: silentLogger,
    });
    await expect(agent.run('loop forever')).rejects.toMatchObject({ code: 'MAX_TOOL_ROUNDS' });
    const runs = await storage.getRuns({ sessionId: agent.sessionId });
    expect(runs[0]?.status).toBe('failed');
    const silent = new Agent({
      model: new MockModel({
        respond: () => {
          throw new Error('down');
        },
      }),
      storage,
      persistAbortedRuns: true,
      logger: silentLogger,
    });
    await expect(silent.run('hello')).rejects.toBeDefined();
    expect(await storage.getSession(silent.sessionId)).toBeUndefined();
  });
});
