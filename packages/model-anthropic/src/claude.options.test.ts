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
  eventFixture,
  messageFixture,
  modelOver,
  scenario,
} from './__fixtures__/anthropic-fixtures.ts';
import { TEMPERATURE_NOT_SENT } from './anthropic-request.ts';
import { Claude } from './claude.ts';

const hi: ModelRequest = { messages: [{ role: 'user', content: 'Hi' }] };
const TEXT = 'Hello! How can I help you today?';
const temperatureWarning = {
  type: 'unsupported-setting',
  setting: 'temperature',
  details: TEMPERATURE_NOT_SENT,
} as const;

function finishOf(parts: readonly ModelStreamPart[]) {
  const last = parts.at(-1);
  if (last?.type !== 'finish') throw new Error(`expected a finish part last, got ${last?.type}`);
  return last;
}

describe('Claude options', () => {
  it('rejects an unknown option with INVALID_ARGUMENT naming it', () => {
    const error = expectBuddyThrow(() => new Claude({ max_tokens: 10 } as never));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain("unknown option 'max_tokens'");
  });
});

describe('Claude temperature warning', () => {
  it('reports a temperature set on the model, in generate() and in the finish part', async () => {
    const { model, fetch } = modelOver(scenario('anthropic-text'), { temperature: 0.2 });
    const response = await model.generate(hi);
    expect(response.content).toBe(TEXT);
    expect(response.warnings).toEqual([temperatureWarning]);
    expect(bodyOf(fetch.lastRequest)).not.toHaveProperty('temperature');
    const parts = await collectStream(model.stream(hi));
    expect(finishOf(parts).warnings).toEqual([temperatureWarning]);
    expect(bodyOf(fetch.lastRequest)).not.toHaveProperty('temperature');
  });

  it('reports a temperature set on the request, even 0', async () => {
    const { model } = modelOver(scenario('anthropic-text'));
    expect((await model.generate({ ...hi, temperature: 0 })).warnings).toEqual([
      temperatureWarning,
    ]);
    const parts = await collectStream(model.stream({ ...hi, temperature: 1 }));
    expect(finishOf(parts).warnings).toEqual([temperatureWarning]);
  });

  it('keeps the warning when generate() falls back to streaming', async () => {
    const { model, fetch } = modelOver(scenario('anthropic-tool-call'), {
      maxTokens: 64_000,
      temperature: 0.5,
    });
    const response = await model.generate(hi);
    expect(bodyOf(fetch.lastRequest)).toMatchObject({ stream: true });
    expect(response.warnings).toEqual([temperatureWarning]);
  });

  it('reports nothing without a temperature', async () => {
    const { model } = modelOver(scenario('anthropic-text'));
    expect(await model.generate(hi)).not.toHaveProperty('warnings');
    expect(finishOf(await collectStream(model.stream(hi)))).not.toHaveProperty('warnings');
  });
});

describe('Claude toolChoice without tools', () => {
  it.each([
    ['required', 'required'],
    ['one tool', { type: 'tool', name: 'get_weather' }],
  ] as const)('warns about toolChoice %s and sends no tool_choice', async (_label, toolChoice) => {
    const { model, fetch } = modelOver(scenario('anthropic-text'));
    const response = await model.generate({ ...hi, toolChoice });
    expect(bodyOf(fetch.lastRequest)).not.toHaveProperty('tool_choice');
    expect(response.warnings).toEqual([
      {
        type: 'unsupported-setting',
        setting: 'toolChoice',
        details: 'the request has no tools, so the model cannot be made to call one',
      },
    ]);
  });

  it('does not warn about toolChoice auto or none, nor with structured output (a tool exists)', async () => {
    const { model } = modelOver(scenario('anthropic-text'));
    expect(await model.generate({ ...hi, toolChoice: 'none' })).not.toHaveProperty('warnings');
    expect(await model.generate({ ...hi, toolChoice: 'auto' })).not.toHaveProperty('warnings');
  });
});

describe('Claude providerOptions', () => {
  it('adds fields the adapter does not map, from its own namespace only', async () => {
    const { model, fetch } = modelOver(scenario('anthropic-text'));
    await model.generate({
      ...hi,
      providerOptions: {
        anthropic: { metadata: { user_id: 'user-42' }, stop_sequences: ['END'] },
        openai: { seed: 7 },
      },
    });
    const body = bodyOf(fetch.lastRequest);
    expect(body).toMatchObject({ metadata: { user_id: 'user-42' }, stop_sequences: ['END'] });
    expect(body).not.toHaveProperty('seed');
  });

  it('overrides what Buddy mapped (provider options win), for generate() and stream()', async () => {
    const { model, fetch } = modelOver(scenario('anthropic-text'), { maxTokens: 1000 });
    const system = [{ type: 'text', text: 'Cached.', cache_control: { type: 'ephemeral' } }];
    const request: ModelRequest = {
      messages: [{ role: 'system', content: 'Plain.' }, ...hi.messages],
      providerOptions: { anthropic: { max_tokens: 5, system } },
    };
    await model.generate(request);
    await collectStream(model.stream(request));
    for (const recorded of fetch.requests) {
      expect(bodyOf(recorded)).toMatchObject({ max_tokens: 5, system });
    }
  });

  it('sends a temperature given as a provider option (the caller decides), with no warning', async () => {
    const { model, fetch } = modelOver(scenario('anthropic-text'));
    const response = await model.generate({
      ...hi,
      providerOptions: { anthropic: { temperature: 0.3 } },
    });
    expect(bodyOf(fetch.lastRequest).temperature).toBe(0.3);
    expect(response).not.toHaveProperty('warnings');
  });

  it('never replaces the fields it needs to read the reply, and warns about each', async () => {
    const { model, fetch } = modelOver(scenario('anthropic-text'));
    const request: ModelRequest = {
      ...hi,
      providerOptions: { anthropic: { model: 'claude-3-opus', messages: [], stream: true } },
    };
    const response = await model.generate(request);
    expect(response.content).toBe(TEXT);
    expect(bodyOf(fetch.lastRequest)).toMatchObject({ model: 'claude-sonnet-5-5', stream: false });
    expect(bodyOf(fetch.lastRequest).messages).toHaveLength(1);
    expect(
      response.warnings?.map((warning) =>
        warning.type === 'unsupported-setting' ? warning.setting : warning.message,
      ),
    ).toEqual([
      'providerOptions.anthropic.model',
      'providerOptions.anthropic.messages',
      'providerOptions.anthropic.stream',
    ]);
    const parts = await collectStream(model.stream(request));
    expect(finishOf(parts).warnings).toEqual(response.warnings);
  });

  it('rejects a namespace that is not a JSON object with INVALID_ARGUMENT, sending nothing', async () => {
    const { model, fetch } = modelOver(scenario('anthropic-text'));
    const error = await expectBuddyRejection(
      model.generate({ ...hi, providerOptions: { anthropic: [] as never } }),
    );
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain('providerOptions.anthropic must be a plain object');
    const notJson = await expectBuddyRejection(
      collectStream(model.stream({ ...hi, providerOptions: { anthropic: { metadata: () => 1 } } })),
    );
    expect(notJson.message).toContain('providerOptions.anthropic.metadata must be a JSON value');
    expect(fetch.requests).toHaveLength(0);
  });
});

describe('Claude checks replies at the boundary', () => {
  const message = (overrides: object) => ({
    ...(messageFixture('anthropic-text') as object),
    ...overrides,
  });

  it.each([
    [
      'a text block whose text is not text',
      message({ content: [{ type: 'text', text: 7 }] }),
      'a text block whose text is not text',
    ],
    [
      'a tool_use block without an id',
      message({ content: [{ type: 'tool_use', name: 'get_weather', input: {} }] }),
      'toolCalls[0].id that is not a non-empty string',
    ],
    [
      'usage that is not a count',
      message({ usage: { input_tokens: '14', output_tokens: 12 } }),
      'usage.inputTokens that is not a token count',
    ],
  ])('rejects %s with MODEL_BAD_RESPONSE naming the part', async (_label, body, expected) => {
    const { model } = modelOver(jsonResponse(body));
    const error = await expectBuddyRejection(model.generate(hi));
    expect(error.code).toBe('MODEL_BAD_RESPONSE');
    expect(error.message).toContain('Claude(claude-sonnet-5-5)');
    expect(error.message).toContain(expected);
  });

  it('rejects a stream whose usage is not a count with MODEL_BAD_RESPONSE', async () => {
    const events = structuredClone(eventFixture('anthropic-text')) as {
      type: string;
      usage?: Record<string, unknown>;
    }[];
    const delta = events.find((event) => event.type === 'message_delta');
    if (delta === undefined) throw new Error('fixture changed: no message_delta');
    delta.usage = { output_tokens: 1.5 };
    const { model } = modelOver(sseResponse(events, { dialect: 'anthropic' }));
    const error = await expectBuddyRejection(collectStream(model.stream(hi)));
    expect(error.code).toBe('MODEL_BAD_RESPONSE');
    expect(error.message).toContain('usage.outputTokens that is not a token count');
  });

  it('rejects a streamed text delta that is not text with MODEL_BAD_RESPONSE', async () => {
    const events = structuredClone(eventFixture('anthropic-text')) as {
      type: string;
      delta?: Record<string, unknown>;
    }[];
    const delta = events.find((event) => event.type === 'content_block_delta');
    if (delta?.delta === undefined) throw new Error('fixture changed: no content_block_delta');
    delta.delta.text = { nested: true };
    const { model } = modelOver(sseResponse(events, { dialect: 'anthropic' }));
    const error = await expectBuddyRejection(collectStream(model.stream(hi)));
    expect(error.code).toBe('MODEL_BAD_RESPONSE');
    expect(error.message).toContain('a text delta that is not text');
  });
});
