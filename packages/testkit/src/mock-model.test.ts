import { BuddyError, type ModelStreamPart } from '@buddy/core';
import { describe, expect, it } from 'vitest';
import { MockModel, splitIntoDeltas } from './mock-model.ts';

const request = (content: string) => ({ messages: [{ role: 'user' as const, content }] });

describe('MockModel', () => {
  it('answers scripted replies in order and records every request as a copy', async () => {
    const model = new MockModel({
      replies: [
        'first',
        { content: 'calling', toolCalls: [{ name: 'add', arguments: { item: 'milk' } }] },
      ],
    });
    const sent = request('hi');
    const first = await model.generate(sent);
    sent.messages.push({ role: 'user', content: 'mutated later' });
    expect(first).toMatchObject({ content: 'first', toolCalls: [], finishReason: 'stop' });
    const second = await model.generate(request('again'));
    expect(second.toolCalls).toEqual([
      { id: 'call_2_1', name: 'add', arguments: '{"item":"milk"}' },
    ]);
    expect(second.finishReason).toBe('tool-calls');
    expect(model.requests).toHaveLength(2);
    expect(model.requests[0]?.messages).toEqual([{ role: 'user', content: 'hi' }]);
    await expect(model.generate(request('third'))).rejects.toMatchObject({
      code: 'MODEL_BAD_RESPONSE',
      message: expect.stringContaining('no reply left for request #3'),
    });
  });

  it('computes replies with respond(request, index) and echoes by default', async () => {
    const model = new MockModel({
      respond: (req, index) => `${index}:${req.messages[0]?.content}`,
    });
    expect((await model.generate(request('x'))).content).toBe('0:x');
    expect((await new MockModel().generate(request('hello'))).content).toBe('Echo: hello');
  });

  it('streams text in several deltas, tool calls as deltas then one assembled call, and finishes once', async () => {
    const model = new MockModel({
      replies: [
        'The cart now holds milk and eggs.',
        { toolCalls: [{ name: 'add', arguments: { item: 'tea' } }] },
      ],
    });
    const parts: ModelStreamPart[] = [];
    for await (const part of model.stream(request('hi'))) parts.push(part);
    const deltas = parts.filter((part) => part.type === 'text-delta');
    expect(deltas.length).toBeGreaterThan(3);
    expect(deltas.map((part) => (part.type === 'text-delta' ? part.delta : '')).join('')).toBe(
      'The cart now holds milk and eggs.',
    );
    expect(parts.at(-1)?.type).toBe('finish');
    expect(parts.filter((part) => part.type === 'finish')).toHaveLength(1);

    const toolParts: ModelStreamPart[] = [];
    for await (const part of model.stream(request('tool'))) toolParts.push(part);
    expect(toolParts.map((part) => part.type)).toEqual([
      'tool-call-delta',
      'tool-call-delta',
      'tool-call',
      'finish',
    ]);
    const joined = toolParts
      .map((part) => (part.type === 'tool-call-delta' ? part.argumentsDelta : ''))
      .join('');
    expect(JSON.parse(joined)).toEqual({ item: 'tea' });
  });

  it('returns the JSON text for structured output and counts tokens', async () => {
    const model = new MockModel({
      replies: ['{"summary":"Dana buys milk","topics":["groceries"]}'],
    });
    const response = await model.generate({
      ...request('summarize'),
      responseFormat: { type: 'json', name: 'session_summary', schema: { type: 'object' } },
    });
    expect(JSON.parse(response.content)).toEqual({
      summary: 'Dana buys milk',
      topics: ['groceries'],
    });
    expect(response.usage.inputTokens).toBeGreaterThan(0);
    expect(response.usage.outputTokens).toBe(Math.ceil(response.content.length / 4));
    expect(model.lastRequest?.responseFormat?.name).toBe('session_summary');
  });

  it('rejects with ABORTED when the signal fires during latency', async () => {
    const model = new MockModel({ replies: ['late'], latencyMs: 1000 });
    const controller = new AbortController();
    const pending = model.generate(request('x'), { signal: controller.signal });
    setTimeout(() => controller.abort(), 5);
    const error = await pending.catch((caught: unknown) => caught);
    expect(BuddyError.is(error, 'ABORTED')).toBe(true);
  });

  it('splits text into word-sized deltas that join back exactly', () => {
    expect(splitIntoDeltas('a  b\nc ')).toEqual(['a  ', 'b\n', 'c ']);
    expect(splitIntoDeltas('')).toEqual([]);
    expect(splitIntoDeltas('   ')).toEqual(['   ']);
  });
});
