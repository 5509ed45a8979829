/**
 * A history built from aborted runs (SPEC §16.3) is a valid Chat Completions request: every
 * assistant message with tool calls is followed by one tool message per call, in order.
 */
import {
  Agent,
  InMemoryStorage,
  type Model,
  silentLogger,
  toModelMessages,
  tool,
} from '@buddy/core';
import { MockModel } from '@buddy/testkit';
import { describe, expect, it } from 'vitest';
import { toChatCompletionRequest } from './openai-request.ts';

async function abortedHistory() {
  const storage = new InMemoryStorage();
  const controller = new AbortController();
  const slow = tool({
    name: 'slow',
    execute: (_args, { signal }) => {
      controller.abort();
      return new Promise((_resolve, reject) =>
        signal.addEventListener('abort', () => reject(signal.reason)),
      );
    },
  });
  const agent = new Agent({
    model: new MockModel({
      replies: [
        {
          toolCalls: [
            { name: 'slow', arguments: {} },
            { name: 'slow', arguments: { again: true } },
          ],
        },
      ],
    }),
    storage,
    tools: [slow],
    persistAbortedRuns: true,
    logger: silentLogger,
  });
  await agent.run('do two things', { signal: controller.signal }).catch(() => {});
  const streaming: Model = new MockModel({ replies: ['A long answer that gets cut'] });
  const second = new Agent({
    model: streaming,
    sessionId: agent.sessionId,
    storage,
    persistAbortedRuns: true,
    logger: silentLogger,
  });
  for await (const event of second.stream('and then?')) if (event.type === 'text-delta') break;
  await new Promise((resolve) => setTimeout(resolve, 20));
  const runs = await storage.getRuns({ sessionId: agent.sessionId });
  expect(runs.map((run) => run.status)).toEqual(['aborted', 'aborted']);
  return [
    ...toModelMessages(runs.flatMap((run) => run.messages)),
    { role: 'user' as const, content: 'next question' },
  ];
}

describe('OpenAIChat request from an aborted-run history', () => {
  it('pairs every tool call with a tool message right after it', async () => {
    const { body } = toChatCompletionRequest(
      { messages: await abortedHistory() },
      { model: 'gpt-4o' },
    );
    const messages = body.messages as {
      role: string;
      tool_calls?: { id: string }[];
      tool_call_id?: string;
    }[];
    messages.forEach((message, index) => {
      if (message.role !== 'assistant' || message.tool_calls === undefined) return;
      const followers = messages.slice(index + 1, index + 1 + message.tool_calls.length);
      expect(followers.map((follower) => follower.role)).toEqual(
        message.tool_calls.map(() => 'tool'),
      );
      expect(followers.map((follower) => follower.tool_call_id)).toEqual(
        message.tool_calls.map((call) => call.id),
      );
    });
    for (const [index, message] of messages.entries()) {
      if (message.role === 'tool')
        expect(['assistant', 'tool']).toContain(messages[index - 1]?.role);
    }
    expect(messages.at(-1)).toMatchObject({ role: 'user', content: 'next question' });
  });
});
