/**
 * What the adapter does with what it is given beyond messages: unknown constructor options,
 * `providerOptions` (pass-through and precedence), settings it cannot honour (warnings), and
 * malformed provider bodies (checked at the boundary).
 */
import type { ModelRequest, ModelStreamPart } from '@buddy/core';
import {
  bodyOf,
  collectStream,
  expectBuddyRejection,
  expectBuddyThrow,
  jsonResponse,
  sseResponse,
} from '@buddy/testkit/fetch';
import { describe, expect, it } from 'vitest';
import {
  chunkFixture,
  completionFixture,
  modelOver,
  scenario,
} from './__fixtures__/openai-fixtures.ts';
import { OpenAIChat } from './openai-chat.ts';
import { isReasoningModel } from './openai-request.ts';

const hi: ModelRequest = { messages: [{ role: 'user', content: 'Hi' }] };

function finishOf(parts: readonly ModelStreamPart[]) {
  const last = parts.at(-1);
  if (last?.type !== 'finish') throw new Error(`expected a finish part last, got ${last?.type}`);
  return last;
}

describe('OpenAIChat options', () => {
  it('rejects an unknown option with INVALID_ARGUMENT naming it', () => {
    const error = expectBuddyThrow(
      () => new OpenAIChat({ id: 'gpt-4o', temprature: 0.2 } as never),
    );
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain("unknown option 'temprature'");
  });
});

describe('OpenAIChat providerOptions', () => {
  it('adds fields the adapter does not map, from its own namespace only', async () => {
    const { model, fetch } = modelOver(scenario('openai-text'));
    await model.generate({
      ...hi,
      providerOptions: {
        openai: { seed: 7, user: 'user-42', parallel_tool_calls: false, service_tier: null },
        anthropic: { top_k: 5 },
      },
    });
    const body = bodyOf(fetch.lastRequest);
    expect(body).toMatchObject({ seed: 7, user: 'user-42', parallel_tool_calls: false });
    expect(body.service_tier).toBeNull();
    expect(body).not.toHaveProperty('top_k');
    expect(body).not.toHaveProperty('anthropic');
    expect(body).not.toHaveProperty('openai');
  });

  it('overrides what Buddy mapped (provider options win), for generate() and stream()', async () => {
    const { model, fetch } = modelOver(scenario('openai-text'), { temperature: 0.9 });
    const request: ModelRequest = {
      ...hi,
      maxTokens: 100,
      providerOptions: {
        openai: { temperature: 0, max_completion_tokens: 5, reasoning_effort: undefined },
      },
    };
    await model.generate(request);
    await collectStream(model.stream(request));
    for (const recorded of fetch.requests) {
      const body = bodyOf(recorded);
      expect(body).toMatchObject({ temperature: 0, max_completion_tokens: 5 });
      // undefined is no option: nothing is sent for it.
      expect(body).not.toHaveProperty('reasoning_effort');
    }
  });

  it('never replaces the fields it needs to read the reply, and warns about each', async () => {
    const { model, fetch } = modelOver(scenario('openai-text'));
    const request: ModelRequest = {
      ...hi,
      providerOptions: {
        openai: { model: 'gpt-3.5-turbo', messages: [], stream: true, stream_options: null },
      },
    };
    const response = await model.generate(request);
    expect(response.content).toBe('Hello! How can I help you today?');
    expect(bodyOf(fetch.lastRequest)).toMatchObject({
      model: 'gpt-4o',
      stream: false,
      messages: [{ role: 'user', content: 'Hi' }],
    });
    const settings = response.warnings?.map((warning) =>
      warning.type === 'unsupported-setting' ? warning.setting : warning.message,
    );
    expect(settings).toEqual([
      'providerOptions.openai.model',
      'providerOptions.openai.messages',
      'providerOptions.openai.stream',
      'providerOptions.openai.stream_options',
    ]);
    const parts = await collectStream(model.stream(request));
    expect(bodyOf(fetch.lastRequest)).toMatchObject({
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(finishOf(parts).warnings).toEqual(response.warnings);
  });

  it.each([
    ['a string', 'fast', 'providerOptions must be an object keyed by provider'],
    [
      'a namespace that is not an object',
      { openai: 'fast' },
      'providerOptions.openai must be a plain object',
    ],
    [
      'a value that is not JSON',
      { openai: { seed: Number.NaN } },
      'providerOptions.openai.seed must be a JSON value',
    ],
  ])(
    'rejects %s with INVALID_ARGUMENT before sending anything',
    async (_label, providerOptions, message) => {
      const { model, fetch } = modelOver(scenario('openai-text'));
      const error = await expectBuddyRejection(
        model.generate({ ...hi, providerOptions: providerOptions as never }),
      );
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toContain(message);
      const streamed = await expectBuddyRejection(
        collectStream(model.stream({ ...hi, providerOptions: providerOptions as never })),
      );
      expect(streamed.code).toBe('INVALID_ARGUMENT');
      expect(fetch.requests).toHaveLength(0);
    },
  );
});

describe('OpenAIChat warnings', () => {
  it.each([
    ['o1', true],
    ['o3-mini', true],
    ['o4-mini-2025-04-16', true],
    ['gpt-5', true],
    ['gpt-5-mini', true],
    ['gpt-5-nano-2025-08-07', true],
    ['gpt-5-chat-latest', false],
    ['gpt-5.1', false],
    ['gpt-4o', false],
    ['gpt-4.1-mini', false],
    ['omni-moderation-latest', false],
    ['llama3.1', false],
  ])('isReasoningModel(%s) is %s', (id, expected) => {
    expect(isReasoningModel(id)).toBe(expected);
  });

  it('sends no temperature to a reasoning model and says so, in generate() and finish', async () => {
    const { model, fetch } = modelOver(scenario('openai-text'), {
      id: 'o4-mini',
      temperature: 0.2,
    });
    const response = await model.generate(hi);
    expect(response.content).toBe('Hello! How can I help you today?');
    expect(bodyOf(fetch.lastRequest)).not.toHaveProperty('temperature');
    expect(response.warnings).toEqual([
      {
        type: 'unsupported-setting',
        setting: 'temperature',
        details:
          'o4-mini is a reasoning model, which accepts no temperature; the value 0.2 was not sent',
      },
    ]);
    const parts = await collectStream(model.stream({ ...hi, temperature: 0.5 }));
    expect(bodyOf(fetch.lastRequest)).not.toHaveProperty('temperature');
    expect(finishOf(parts).warnings?.[0]).toMatchObject({ setting: 'temperature' });
  });

  it('sends temperature to other models with no warning', async () => {
    const { model, fetch } = modelOver(scenario('openai-text'), { id: 'gpt-5.1' });
    const response = await model.generate({ ...hi, temperature: 0.3 });
    expect(bodyOf(fetch.lastRequest).temperature).toBe(0.3);
    expect(response).not.toHaveProperty('warnings');
    const parts = await collectStream(model.stream({ ...hi, temperature: 0.3 }));
    expect(finishOf(parts)).not.toHaveProperty('warnings');
  });

  it('lets providerOptions send a temperature to a reasoning model anyway (the caller decides)', async () => {
    const { model, fetch } = modelOver(scenario('openai-text'), { id: 'o3' });
    const response = await model.generate({
      ...hi,
      providerOptions: { openai: { temperature: 1 } },
    });
    expect(bodyOf(fetch.lastRequest).temperature).toBe(1);
    expect(response).not.toHaveProperty('warnings');
  });

  it.each([
    ['required', 'required'],
    ['one tool', { type: 'tool', name: 'add_to_cart' }],
  ] as const)(
    'warns about toolChoice %s on a request without tools',
    async (_label, toolChoice) => {
      const { model, fetch } = modelOver(scenario('openai-text'));
      const response = await model.generate({ ...hi, toolChoice });
      expect(bodyOf(fetch.lastRequest)).not.toHaveProperty('tool_choice');
      expect(response.warnings).toEqual([
        {
          type: 'unsupported-setting',
          setting: 'toolChoice',
          details: 'the request has no tools, so the model cannot be made to call one',
        },
      ]);
    },
  );

  it('does not warn about toolChoice auto or none without tools (they are met)', async () => {
    const { model } = modelOver(scenario('openai-text'));
    expect(await model.generate({ ...hi, toolChoice: 'none' })).not.toHaveProperty('warnings');
    expect(await model.generate({ ...hi, toolChoice: 'auto' })).not.toHaveProperty('warnings');
  });
});

describe('OpenAIChat checks replies at the boundary', () => {
  const text = completionFixture('openai-text') as Record<string, unknown> & {
    choices: { message: Record<string, unknown> }[];
  };
  const withMessage = (message: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    ...text,
    ...extra,
    choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', ...message } }],
  });

  it.each([
    ['content that is not text', withMessage({ content: 42 }), 'content that is not text'],
    [
      'tool_calls that is not an array',
      withMessage({ content: null, tool_calls: 'x' }),
      'tool_calls that is not an array',
    ],
    [
      'a tool call without a function',
      withMessage({ content: null, tool_calls: [{ id: 'call_1', type: 'function' }] }),
      'tool_calls[0] that is not a function call',
    ],
    [
      'arguments that are not JSON text',
      withMessage({
        content: null,
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'f', arguments: { a: 1 } } },
        ],
      }),
      'toolCalls[0].arguments that is not JSON text',
    ],
    [
      'a tool call without an id',
      withMessage({
        content: null,
        tool_calls: [{ type: 'function', function: { name: 'f', arguments: '{}' } }],
      }),
      'toolCalls[0].id that is not a non-empty string',
    ],
    [
      'usage that is not a count',
      withMessage({ content: 'Hi' }, { usage: { prompt_tokens: '19', completion_tokens: 1 } }),
      'usage.inputTokens that is not a token count',
    ],
  ])('rejects %s with MODEL_BAD_RESPONSE naming the part', async (_label, body, message) => {
    const { model } = modelOver(jsonResponse(body));
    const error = await expectBuddyRejection(model.generate(hi));
    expect(error.code).toBe('MODEL_BAD_RESPONSE');
    expect(error.message).toContain('OpenAIChat(gpt-4o)');
    expect(error.message).toContain(message);
  });

  it('rejects a stream whose usage is not a count with MODEL_BAD_RESPONSE', async () => {
    const chunks = chunkFixture('openai-text') as Record<string, unknown>[];
    const broken = [...chunks.slice(0, -1), { ...chunks.at(-1), usage: { prompt_tokens: -1 } }];
    const { model } = modelOver(sseResponse(broken, { dialect: 'openai' }));
    const error = await expectBuddyRejection(collectStream(model.stream(hi)));
    expect(error.code).toBe('MODEL_BAD_RESPONSE');
    expect(error.message).toContain('usage.inputTokens that is not a token count');
  });

  it('rejects a streamed tool call fragment whose arguments are not text', async () => {
    const chunks = structuredClone(chunkFixture('openai-tool-call')) as {
      choices: { delta: { tool_calls?: { function: { arguments: unknown } }[] } }[];
    }[];
    const fragment = chunks[1]?.choices[0]?.delta.tool_calls?.[0];
    if (fragment === undefined) throw new Error('fixture changed: no second tool call fragment');
    fragment.function.arguments = { city: 'Paris' };
    const { model } = modelOver(sseResponse(chunks, { dialect: 'openai' }));
    const error = await expectBuddyRejection(collectStream(model.stream(hi)));
    expect(error.code).toBe('MODEL_BAD_RESPONSE');
    expect(error.message).toContain('arguments that are not text');
  });
});
