import { BuddyError, type ModelRequest, type ModelStreamPart } from '@buddy/core';
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

  it('keeps each request as a deep copy: nested edits, undefined keys, dates, cycles', async () => {
    const model = new MockModel({ replies: ['a', 'b', 'c'] });
    const when = new Date(1_700_000_000_000);
    const options: Record<string, unknown> = { nested: { list: [1, { deep: 'x' }] }, when };
    const own = JSON.parse('{"__proto__": {"kept": true}}') as Record<string, unknown>;
    const sent = {
      messages: [{ role: 'user' as const, content: 'hi' }],
      temperature: undefined,
      providerOptions: { mock: options, own },
    };
    await model.generate(sent as unknown as ModelRequest);
    sent.messages[0] = { role: 'user', content: 'changed' };
    ((options.nested as { list: unknown[] }).list[1] as { deep: string }).deep = 'changed';
    when.setTime(0);
    const kept = model.requests[0];
    expect(kept?.messages).toEqual([{ role: 'user', content: 'hi' }]);
    expect(kept && 'temperature' in kept).toBe(true);
    const keptOptions = kept?.providerOptions?.mock as Record<string, unknown>;
    expect(keptOptions.nested).toEqual({ list: [1, { deep: 'x' }] });
    expect(keptOptions.when).toBeInstanceOf(Date);
    expect((keptOptions.when as Date).getTime()).toBe(1_700_000_000_000);
    const keptOwn = kept?.providerOptions?.own as Record<string, unknown>;
    expect(Object.getPrototypeOf(keptOwn)).toBe(Object.prototype);
    expect(Object.keys(keptOwn)).toEqual(['__proto__']);

    // A cyclic value (no real request has one) is still copied, by structuredClone.
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    await model.generate({ ...request('cycle'), providerOptions: { mock: cyclic } });
    const keptCycle = model.requests[1]?.providerOptions?.mock as Record<string, unknown>;
    expect(keptCycle).not.toBe(cyclic);
    expect(keptCycle.self).toBe(keptCycle);

    // A function (not JSON; structuredClone threw a raw DataCloneError here) is kept as it is.
    const call = () => 1;
    await model.generate({ ...request('fn'), providerOptions: { mock: { call } } });
    const keptCall = model.requests[2]?.providerOptions?.mock as { call: unknown } | undefined;
    expect(keptCall?.call).toBe(call);
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

  it('reports the warnings option in generate() results and the finish part', async () => {
    const warning = { type: 'unsupported-setting', setting: 'temperature' } as const;
    const model = new MockModel({ replies: ['a', 'b'], warnings: [warning] });
    expect((await model.generate(request('x'))).warnings).toEqual([warning]);
    const parts: ModelStreamPart[] = [];
    for await (const part of model.stream(request('y'))) parts.push(part);
    expect(parts.at(-1)).toMatchObject({ type: 'finish', warnings: [warning] });
    expect(await new MockModel().generate(request('z'))).not.toHaveProperty('warnings');
  });

  it('computes warnings per call with a function', async () => {
    const model = new MockModel({
      warnings: (req, index) =>
        req.temperature === undefined ? undefined : [{ type: 'other', message: `call ${index}` }],
    });
    expect(await model.generate(request('x'))).not.toHaveProperty('warnings');
    expect((await model.generate({ ...request('x'), temperature: 1 })).warnings).toEqual([
      { type: 'other', message: 'call 1' },
    ]);
  });

  it('has countTokens only when the option is given', () => {
    expect(new MockModel().countTokens).toBeUndefined();
    expect('countTokens' in new MockModel()).toBe(false);
    const model = new MockModel({ countTokens: (text) => text.split(' ').length });
    expect(model.countTokens?.('one two three')).toBe(3);
  });

  it.each([
    [{ warnings: 'temperature' }, 'warnings must be an array of warnings or a function'],
    [{ countTokens: 4 }, 'countTokens must be a function'],
  ])('rejects %o with INVALID_ARGUMENT', (options, message) => {
    expect(() => new MockModel(options as never)).toThrow(message);
  });
});
