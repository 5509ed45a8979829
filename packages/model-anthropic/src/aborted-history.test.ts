/**
 * A history built from aborted runs (SPEC §16.3) is a valid Messages API request: roles
 * alternate, and every `tool_use` is answered by a `tool_result` in the very next user turn.
 */
import { Agent, InMemoryStorage, silentLogger, toModelMessages, tool } from '@buddy/core';
import { MockModel } from '@buddy/testkit';
import { describe, expect, it } from 'vitest';
import { toAnthropicRequest } from './anthropic-request.ts';

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
  const second = new Agent({
    model: new MockModel({ replies: ['A long answer that gets cut'] }),
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

type Block = { type: string; id?: string; tool_use_id?: string };

describe('Claude request from an aborted-run history', () => {
  it('alternates roles and answers every tool_use in the next user turn', async () => {
    const { body } = toAnthropicRequest(
      { messages: await abortedHistory() },
      { model: 'claude-sonnet-5-5' },
    );
    const turns = body.messages as { role: string; content: string | Block[] }[];
    expect(turns[0]?.role).toBe('user');
    turns.forEach((turn, index) => {
      if (index > 0) expect(turn.role).not.toBe(turns[index - 1]?.role);
      if (turn.role !== 'assistant' || typeof turn.content === 'string') return;
      const uses = turn.content
        .filter((block) => block.type === 'tool_use')
        .map((block) => block.id);
      if (uses.length === 0) return;
      const next = turns[index + 1];
      const results =
        typeof next?.content === 'string'
          ? []
          : (next?.content ?? [])
              .filter((block) => block.type === 'tool_result')
              .map((block) => block.tool_use_id);
      expect(next?.role).toBe('user');
      expect(results).toEqual(uses);
    });
    expect(turns.at(-1)?.role).toBe('user');
  });
});
