import { type AssistantMessage, BuddyError, type MessagePair, type UserMessage } from '@buddy/core';
import { MockModel } from '@buddy/testkit';
import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { DEFAULT_SUMMARIZER_PROMPT, MemorySummarizer } from './memory-summarizer.ts';
import { SessionSummarySchema } from './session-summary.ts';

function pair(user: string, assistant: string): MessagePair {
  return [
    { role: 'user', content: user } satisfies UserMessage,
    { role: 'assistant', content: assistant } satisfies AssistantMessage,
  ];
}

const answer = JSON.stringify({ summary: 'The user asked about tea.', topics: ['tea'] });

function userPrompt(model: MockModel, index = 0): string {
  const message = model.requests[index]?.messages.find((entry) => entry.role === 'user');
  return message?.content ?? '';
}

describe('MemorySummarizer', () => {
  it('does not call the model when there are no pairs', async () => {
    const model = new MockModel({ replies: [answer] });
    const summarizer = new MemorySummarizer({ model });
    await expect(summarizer.run([])).resolves.toBeUndefined();
    await expect(summarizer.run([], { previousSummary: 'Earlier.' })).resolves.toBeUndefined();
    expect(model.requests).toHaveLength(0);
  });

  it('asks for structured output with the JSON schema of SessionSummarySchema', async () => {
    const model = new MockModel({ replies: [answer] });
    await new MemorySummarizer({ model }).run([pair('Hi', 'Hello')]);
    const { $schema: _dialect, ...expected } = z.toJSONSchema(SessionSummarySchema);
    expect(model.requests[0]?.responseFormat).toEqual({
      type: 'json',
      name: 'session_summary',
      schema: expected,
    });
    expect(model.requests[0]?.responseFormat?.schema).toMatchObject({
      type: 'object',
      properties: { summary: { type: 'string' }, topics: { type: 'array' } },
      required: ['summary'],
    });
  });

  it('sends the system prompt and exactly the given pairs as a transcript', async () => {
    const model = new MockModel({ replies: [answer] });
    const result = await new MemorySummarizer({ model }).run([
      pair('Which tea is good in the evening?', 'Rooibos, it has no caffeine.'),
      pair('And with milk?', 'Assam works well with milk.'),
    ]);
    expect(result).toEqual({ summary: 'The user asked about tea.', topics: ['tea'] });
    const request = model.requests[0];
    expect(request?.messages[0]).toEqual({ role: 'system', content: DEFAULT_SUMMARIZER_PROMPT });
    expect(request?.messages).toHaveLength(2);
    const prompt = userPrompt(model);
    expect(prompt).toContain(
      'User: Which tea is good in the evening?\nAssistant: Rooibos, it has no caffeine.\n\nUser: And with milk?\nAssistant: Assam works well with milk.',
    );
    expect(prompt).not.toContain('previous_summary');
  });

  it('puts the previous summary (object or string) into the prompt for an incremental update', async () => {
    const model = new MockModel({ replies: [answer, answer] });
    const summarizer = new MemorySummarizer({ model });
    await summarizer.run([pair('And green tea?', 'Sencha is a good start.')], {
      previousSummary: { summary: 'The user likes rooibos.', topics: ['tea', 'evening'] },
    });
    const prompt = userPrompt(model);
    expect(prompt).toContain(
      '<previous_summary>\nThe user likes rooibos.\nTopics: tea, evening\n</previous_summary>',
    );
    expect(prompt).toContain('User: And green tea?\nAssistant: Sencha is a good start.');
    await summarizer.run([pair('Q', 'A')], { previousSummary: 'Plain text summary.' });
    expect(userPrompt(model, 1)).toContain('<previous_summary>\nPlain text summary.\n');
  });

  it.each([
    ['a ```json fenced answer', `Here is the summary:\n\`\`\`json\n${answer}\n\`\`\``],
    ['JSON wrapped in prose', `Sure. ${answer} Let me know if you need more.`],
  ])('parses %s', async (_name, reply) => {
    const model = new MockModel({ replies: [reply] });
    await expect(new MemorySummarizer({ model }).run([pair('Q', 'A')])).resolves.toEqual({
      summary: 'The user asked about tea.',
      topics: ['tea'],
    });
  });

  it('trims the summary and drops blank or repeated topics', async () => {
    const model = new MockModel({
      replies: [JSON.stringify({ summary: '  Short.  ', topics: ['tea', ' ', 'tea ', 'milk'] })],
    });
    await expect(new MemorySummarizer({ model }).run([pair('Q', 'A')])).resolves.toEqual({
      summary: 'Short.',
      topics: ['tea', 'milk'],
    });
  });

  it.each([
    ['prose without JSON', 'I would rather not summarize this conversation.', 'I would rather'],
    ['JSON of the wrong shape', '{"text": "no summary field"}', 'summary'],
    ['an empty summary', '{"summary": "  "}', 'empty summary'],
  ])('rejects %s with MODEL_BAD_RESPONSE', async (_name, reply, fragment) => {
    const model = new MockModel({ replies: [reply] });
    const error = await new MemorySummarizer({ model }).run([pair('Q', 'A')]).catch((e) => e);
    expect(BuddyError.is(error, 'MODEL_BAD_RESPONSE')).toBe(true);
    expect(error.message).toContain('MemorySummarizer');
    expect(error.message).toContain(fragment);
  });

  it("passes the model's BuddyError through and wraps other errors", async () => {
    const limited = new MockModel({
      respond: () => {
        throw new BuddyError({ code: 'MODEL_RATE_LIMITED', message: 'slow down' });
      },
    });
    await expect(
      new MemorySummarizer({ model: limited }).run([pair('Q', 'A')]),
    ).rejects.toMatchObject({
      code: 'MODEL_RATE_LIMITED',
    });
    const broken = new MockModel({
      respond: () => {
        throw new TypeError('boom');
      },
    });
    const error = await new MemorySummarizer({ model: broken })
      .run([pair('Q', 'A')])
      .catch((e) => e);
    expect(BuddyError.is(error, 'INTERNAL')).toBe(true);
    expect(error.message).toContain('mock/mock-model failed: boom');
  });

  it('uses a custom system prompt', async () => {
    const model = new MockModel({ replies: [answer] });
    await new MemorySummarizer({ model, systemPrompt: 'Summarize in French.' }).run([
      pair('Q', 'A'),
    ]);
    expect(model.requests[0]?.messages[0]?.content).toBe('Summarize in French.');
  });

  it('passes the abort signal to the model', async () => {
    const model = new MockModel({ replies: [answer], latencyMs: 1000 });
    const controller = new AbortController();
    const pending = new MemorySummarizer({ model }).run([pair('Q', 'A')], {
      signal: controller.signal,
    });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'ABORTED' });
  });

  it('rejects invalid options and inputs with INVALID_ARGUMENT', async () => {
    expect(() => new MemorySummarizer({ modle: new MockModel() } as never)).toThrow(
      /unknown option 'modle'/,
    );
    expect(() => new MemorySummarizer({ model: {} as never })).toThrow(/option 'model'/);
    expect(() => new MemorySummarizer({ systemPrompt: '' })).toThrow(/systemPrompt/);
    const summarizer = new MemorySummarizer({ model: new MockModel() });
    await expect(summarizer.run('hi' as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(
      summarizer.run([
        [
          { role: 'assistant', content: 'x' },
          { role: 'user', content: 'y' },
        ],
      ] as never),
    ).rejects.toThrow(/pairs\[0\]/);
    await expect(
      summarizer.run([pair('Q', 'A')], { previousSummary: { text: 'x' } as never }),
    ).rejects.toThrow(/previousSummary/);
  });
});

describe('MemorySummarizer default model', () => {
  it('loads @buddy/model-openai lazily, at the first run, as OpenAIChat gpt-4o', async () => {
    const constructed: unknown[] = [];
    const model = new MockModel({ replies: [answer] });
    vi.doMock('@buddy/model-openai', () => ({
      OpenAIChat: class {
        constructor(settings: unknown) {
          constructed.push(settings);
          // biome-ignore lint/correctness/noConstructorReturn: hands the mock model back as the instance
          return model;
        }
      },
    }));
    try {
      const summarizer = new MemorySummarizer();
      expect(constructed).toEqual([]);
      await expect(summarizer.run([])).resolves.toBeUndefined();
      expect(constructed).toEqual([]);
      await expect(summarizer.run([pair('Q', 'A')])).resolves.toMatchObject({
        summary: 'The user asked about tea.',
      });
      expect(constructed).toEqual([{ id: 'gpt-4o' }]);
      expect(model.requests).toHaveLength(1);
    } finally {
      vi.doUnmock('@buddy/model-openai');
    }
  });
});
