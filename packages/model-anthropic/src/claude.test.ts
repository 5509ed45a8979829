import Anthropic from '@anthropic-ai/sdk';
import { BuddyError, type Message } from '@buddy/core';
import {
  bodyOf,
  collectStream,
  expectBuddyRejection,
  expectBuddyThrow,
  type FixtureServer,
  jsonResponse,
  sseResponse,
  textResponse,
  useEnv,
} from '@buddy/testkit/fetch';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  errorResponse,
  eventFixture,
  fixtures,
  messageFixture,
  modelOver,
  scenario,
} from './__fixtures__/anthropic-fixtures.ts';
import { Claude } from './claude.ts';

const hi: Message[] = [{ role: 'user', content: 'Hi' }];

const conversation: Message[] = [
  { role: 'system', content: 'You are a shopping assistant.' },
  { role: 'system', content: 'The cart is empty.' },
  { role: 'user', content: 'Add milk and eggs.' },
  {
    role: 'assistant',
    content: 'Adding both.',
    toolCalls: [
      { id: 'toolu_milk', name: 'add_to_cart', arguments: '{"item":"milk"}' },
      { id: 'toolu_eggs', name: 'add_to_cart', arguments: '{"item":"eggs"}' },
    ],
  },
  {
    role: 'tool',
    toolCallId: 'toolu_milk',
    toolName: 'add_to_cart',
    content: 'Cart now has 1 item(s).',
  },
  {
    role: 'tool',
    toolCallId: 'toolu_eggs',
    toolName: 'add_to_cart',
    content: 'Error: out of stock',
    isError: true,
  },
  { role: 'assistant', content: 'I added milk; eggs are out of stock.' },
  { role: 'user', content: 'Thanks!' },
  { role: 'user', content: 'Also add bread.' },
];

const addToCart = {
  name: 'add_to_cart',
  description: "Add an item to the user's cart.",
  parameters: {
    type: 'object',
    properties: { item: { type: 'string' } },
    required: ['item'],
    additionalProperties: false,
  },
};

const summaryFormat = {
  type: 'json' as const,
  name: 'session_summary',
  schema: z.toJSONSchema(z.object({ summary: z.string(), topics: z.array(z.string()) })),
};

describe('Claude construction', () => {
  it('defaults to the newest Sonnet alias and needs no key to construct', () => {
    const model = new Claude();
    expect(model.id).toBe('claude-sonnet-5-5');
    expect(model.provider).toBe('anthropic');
    expect(model.specificationVersion).toBe('v1');
    expect(new Claude({ id: 'claude-haiku-4-5' }).id).toBe('claude-haiku-4-5');
  });

  it.each([
    ['id', { id: '  ' }, 'id must be a non-empty string'],
    ['apiKey', { apiKey: '' }, 'apiKey must be a non-empty string'],
    ['baseURL', { baseURL: 'api.example.com' }, 'baseURL must be an absolute URL'],
    ['temperature', { temperature: Number.NaN }, 'temperature must be a number >= 0'],
    ['maxTokens', { maxTokens: -5 }, 'maxTokens must be an integer >= 1'],
    [
      'client with baseURL',
      { client: new Anthropic({ apiKey: 'sk-ant-test' }), baseURL: 'http://127.0.0.1:1' },
      'pass either client or baseURL',
    ],
  ])('rejects a bad %s with INVALID_ARGUMENT', (_label, options, message) => {
    const caught = expectBuddyThrow(
      () => new Claude(options as ConstructorParameters<typeof Claude>[0]),
    );
    expect(BuddyError.is(caught, 'INVALID_ARGUMENT')).toBe(true);
    expect(caught.message).toContain(message);
  });
});

describe('Claude request bodies', () => {
  it('joins system messages, merges turns and tool results, and maps tool calls and definitions', async () => {
    const { model, fetch } = modelOver(scenario('anthropic-text'));
    await model.generate({ messages: conversation, tools: [addToCart], toolChoice: 'auto' });
    expect(fetch.lastRequest?.path).toBe('/v1/messages');
    expect(bodyOf(fetch.lastRequest)).toMatchInlineSnapshot(`
      {
        "max_tokens": 4096,
        "messages": [
          {
            "content": [
              {
                "text": "Add milk and eggs.",
                "type": "text",
              },
            ],
            "role": "user",
          },
          {
            "content": [
              {
                "text": "Adding both.",
                "type": "text",
              },
              {
                "id": "toolu_milk",
                "input": {
                  "item": "milk",
                },
                "name": "add_to_cart",
                "type": "tool_use",
              },
              {
                "id": "toolu_eggs",
                "input": {
                  "item": "eggs",
                },
                "name": "add_to_cart",
                "type": "tool_use",
              },
            ],
            "role": "assistant",
          },
          {
            "content": [
              {
                "content": "Cart now has 1 item(s).",
                "tool_use_id": "toolu_milk",
                "type": "tool_result",
              },
              {
                "content": "Error: out of stock",
                "is_error": true,
                "tool_use_id": "toolu_eggs",
                "type": "tool_result",
              },
            ],
            "role": "user",
          },
          {
            "content": [
              {
                "text": "I added milk; eggs are out of stock.",
                "type": "text",
              },
            ],
            "role": "assistant",
          },
          {
            "content": [
              {
                "text": "Thanks!",
                "type": "text",
              },
              {
                "text": "Also add bread.",
                "type": "text",
              },
            ],
            "role": "user",
          },
        ],
        "model": "claude-sonnet-5-5",
        "stream": false,
        "system": "You are a shopping assistant.

      The cart is empty.",
        "tool_choice": {
          "type": "auto",
        },
        "tools": [
          {
            "description": "Add an item to the user's cart.",
            "input_schema": {
              "additionalProperties": false,
              "properties": {
                "item": {
                  "type": "string",
                },
              },
              "required": [
                "item",
              ],
              "type": "object",
            },
            "name": "add_to_cart",
          },
        ],
      }
    `);
  });

  it.each([
    ['auto', { type: 'auto' }],
    ['none', { type: 'none' }],
    ['required', { type: 'any' }],
    [
      { type: 'tool', name: 'add_to_cart' },
      { type: 'tool', name: 'add_to_cart' },
    ],
  ] as const)('maps toolChoice %o', async (toolChoice, expected) => {
    const { model, fetch } = modelOver(scenario('anthropic-text'));
    await model.generate({ messages: hi, tools: [addToCart], toolChoice });
    expect(bodyOf(fetch.lastRequest).tool_choice).toEqual(expected);
  });

  it('sends invalid tool-call JSON as an empty input object', async () => {
    const { model, fetch } = modelOver(scenario('anthropic-text'));
    await model.generate({
      messages: [
        { role: 'user', content: 'Add milk.' },
        {
          role: 'assistant',
          content: '',
          toolCalls: [{ id: 'toolu_bad', name: 'add_to_cart', arguments: '{"item": "mil' }],
        },
        {
          role: 'tool',
          toolCallId: 'toolu_bad',
          toolName: 'add_to_cart',
          content: 'Error: invalid arguments',
          isError: true,
        },
      ],
    });
    const messages = bodyOf(fetch.lastRequest).messages as { content: unknown[] }[];
    expect(messages[1]?.content).toEqual([
      { type: 'tool_use', id: 'toolu_bad', name: 'add_to_cart', input: {} },
    ]);
  });

  it('sends structured output as a forced tool whose input schema is the response schema', async () => {
    const { model, fetch } = modelOver(scenario('anthropic-structured'));
    await model.generate({ messages: hi, responseFormat: summaryFormat });
    expect(bodyOf(fetch.lastRequest)).toMatchInlineSnapshot(`
      {
        "max_tokens": 4096,
        "messages": [
          {
            "content": [
              {
                "text": "Hi",
                "type": "text",
              },
            ],
            "role": "user",
          },
        ],
        "model": "claude-sonnet-5-5",
        "stream": false,
        "tool_choice": {
          "name": "session_summary",
          "type": "tool",
        },
        "tools": [
          {
            "description": "Respond with a JSON object that matches the input schema. Call this tool to give your answer.",
            "input_schema": {
              "additionalProperties": false,
              "properties": {
                "summary": {
                  "type": "string",
                },
                "topics": {
                  "items": {
                    "type": "string",
                  },
                  "type": "array",
                },
              },
              "required": [
                "summary",
                "topics",
              ],
              "type": "object",
            },
            "name": "session_summary",
          },
        ],
      }
    `);
  });

  it('lets the model call a real tool or the response tool when both are present', async () => {
    const { model, fetch } = modelOver(scenario('anthropic-structured'));
    await model.generate({ messages: hi, tools: [addToCart], responseFormat: summaryFormat });
    const body = bodyOf(fetch.lastRequest);
    expect((body.tools as { name: string }[]).map((tool) => tool.name)).toEqual([
      'add_to_cart',
      'session_summary',
    ]);
    expect(body.tool_choice).toEqual({ type: 'any' });
  });

  it('rejects a response format named like one of the tools', async () => {
    const { model, fetch } = modelOver(scenario('anthropic-structured'));
    const error = await expectBuddyRejection(
      model.generate({
        messages: hi,
        tools: [addToCart],
        responseFormat: { ...summaryFormat, name: 'add_to_cart' },
      }),
    );
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(fetch.requests).toHaveLength(0);
  });

  it('sends the default max_tokens, the configured one, and a per-call one, but never temperature', async () => {
    const { model, fetch } = modelOver(scenario('anthropic-text'));
    await model.generate({ messages: hi, temperature: 0 });
    expect(bodyOf(fetch.lastRequest).max_tokens).toBe(4096);
    expect(bodyOf(fetch.lastRequest)).not.toHaveProperty('temperature');

    const configured = modelOver(scenario('anthropic-text'), { maxTokens: 1024, temperature: 0.3 });
    await collectStream(configured.model.stream({ messages: hi }));
    expect(bodyOf(configured.fetch.lastRequest)).toMatchObject({ max_tokens: 1024, stream: true });
    expect(bodyOf(configured.fetch.lastRequest)).not.toHaveProperty('temperature');
    await configured.model.generate({ messages: hi, maxTokens: 10 });
    expect(bodyOf(configured.fetch.lastRequest).max_tokens).toBe(10);
  });
});

describe('Claude responses', () => {
  const message = (overrides: object) => ({
    ...(messageFixture('anthropic-text') as object),
    ...overrides,
  });

  it.each([
    ['end_turn', 'stop'],
    ['stop_sequence', 'stop'],
    ['max_tokens', 'length'],
    ['model_context_window_exceeded', 'length'],
    ['refusal', 'content-filter'],
    ['pause_turn', 'other'],
  ])('maps stop_reason %s to %s', async (stopReason, expected) => {
    const { model } = modelOver(jsonResponse(message({ stop_reason: stopReason })));
    const response = await model.generate({ messages: hi });
    expect(response.finishReason).toBe(expected);
  });

  it('counts cached prompt tokens as input tokens', async () => {
    const { model } = modelOver(scenario('anthropic-tool-call'));
    const response = await model.generate({ messages: hi });
    expect(response.usage).toEqual({ inputTokens: 38 + 512, outputTokens: 64 });
    expect(response.content).toBe("I'll look up the weather in Paris.");
  });

  it('drops text around the response tool in generate() and holds it back in stream()', async () => {
    const withPreamble = {
      ...(messageFixture('anthropic-structured') as { content: unknown[] }),
    };
    withPreamble.content = [
      { type: 'text', text: 'Here you go:', citations: null },
      ...withPreamble.content,
    ];
    const { model } = modelOver(jsonResponse(withPreamble));
    const response = await model.generate({ messages: hi, responseFormat: summaryFormat });
    expect(JSON.parse(response.content)).toEqual({
      summary: 'The user asked about the weather in Paris.',
      topics: ['weather', 'Paris'],
    });
  });

  it('streams held-back text when the model answered without the response tool', async () => {
    const { model } = modelOver(scenario('anthropic-text'));
    const parts = await collectStream(
      model.stream({ messages: hi, responseFormat: summaryFormat }),
    );
    expect(parts).toEqual([
      { type: 'text-delta', delta: 'Hello! How can I help you today?' },
      { type: 'finish', usage: { inputTokens: 14, outputTokens: 12 }, finishReason: 'stop' },
    ]);
  });

  it('falls back to streaming in generate() when the SDK refuses a long non-streaming call', async () => {
    const { model, fetch } = modelOver(scenario('anthropic-tool-call'), { maxTokens: 64_000 });
    const response = await model.generate({ messages: hi });
    expect(bodyOf(fetch.lastRequest)).toMatchObject({ stream: true, max_tokens: 64_000 });
    expect(fetch.requests).toHaveLength(1);
    expect(response).toEqual({
      content: "I'll look up the weather in Paris.",
      toolCalls: [
        {
          id: 'toolu_01WeAtHeR7kLm2Np4Qr6St8V',
          name: 'get_weather',
          arguments: '{"city": "Paris", "unit": "celsius"}',
        },
      ],
      usage: { inputTokens: 550, outputTokens: 64 },
      finishReason: 'tool-calls',
    });
  });

  it('rejects a message without a content list with MODEL_BAD_RESPONSE', async () => {
    const { model } = modelOver(jsonResponse({ id: 'msg_x', type: 'message' }));
    const error = await expectBuddyRejection(model.generate({ messages: hi }));
    expect(error.code).toBe('MODEL_BAD_RESPONSE');
  });

  it('rejects a body that is not JSON with MODEL_BAD_RESPONSE', async () => {
    const { model } = modelOver(
      textResponse('{"id": "msg_x", "content": [', { contentType: 'application/json' }),
    );
    const error = await expectBuddyRejection(model.generate({ messages: hi }));
    expect(error.code).toBe('MODEL_BAD_RESPONSE');
  });

  it('rejects a stream that ends before message_stop with MODEL_BAD_RESPONSE', async () => {
    const truncated = eventFixture('anthropic-text').slice(0, 5);
    const { model } = modelOver(sseResponse(truncated, { dialect: 'anthropic' }));
    const error = await expectBuddyRejection(collectStream(model.stream({ messages: hi })));
    expect(error.code).toBe('MODEL_BAD_RESPONSE');
    expect(error.message).toContain('before message_stop');
  });
});

describe('Claude errors', () => {
  it.each([
    [400, '400', 'MODEL_BAD_RESPONSE', false],
    [400, '400-context', 'MODEL_CONTEXT_OVERFLOW', false],
    [401, '401', 'MODEL_AUTH_FAILED', false],
    [403, '403', 'MODEL_AUTH_FAILED', false],
    [404, '404', 'MODEL_BAD_RESPONSE', false],
    [408, '500', 'MODEL_UNAVAILABLE', true],
    [409, '500', 'MODEL_UNAVAILABLE', true],
    [413, '413', 'MODEL_CONTEXT_OVERFLOW', false],
    [429, '429', 'MODEL_RATE_LIMITED', true],
    [500, '500', 'MODEL_UNAVAILABLE', true],
    [503, '500', 'MODEL_UNAVAILABLE', true],
    [529, '529', 'MODEL_UNAVAILABLE', true],
  ] as const)(
    'maps HTTP %i (%s body) to %s, retryable %s',
    async (status, body, code, retryable) => {
      const { model } = modelOver(errorResponse(status, body));
      const error = await expectBuddyRejection(model.generate({ messages: hi }));
      expect(error.code).toBe(code);
      expect(error.retryable).toBe(retryable);
      expect(error).not.toBeInstanceOf(Anthropic.APIError);
      expect(error.cause).toBeInstanceOf(Anthropic.APIError);
      expect(error.details).toMatchObject({
        provider: 'anthropic',
        status,
        requestId: `req_test_${body}`,
      });
      expect(error.message).toContain('Claude(claude-sonnet-5-5)');
      expect(error.message).toContain(`HTTP ${status}`);
    },
  );

  it.each([
    ['rate_limit_error', 'MODEL_RATE_LIMITED', true],
    ['authentication_error', 'MODEL_AUTH_FAILED', false],
    ['invalid_request_error', 'MODEL_BAD_RESPONSE', false],
    ['api_error', 'MODEL_UNAVAILABLE', true],
  ] as const)('maps an in-stream %s event to %s', async (type, code, retryable) => {
    const events = [
      ...eventFixture('anthropic-text').slice(0, 3),
      { type: 'error', error: { type, message: 'failed mid-stream' } },
    ];
    const { model } = modelOver(sseResponse(events, { dialect: 'anthropic' }));
    const error = await expectBuddyRejection(collectStream(model.stream({ messages: hi })));
    expect(error.code).toBe(code);
    expect(error.retryable).toBe(retryable);
    expect(error.details).toMatchObject({ providerType: type, status: null });
  });

  it('maps a connection failure to MODEL_UNAVAILABLE', async () => {
    const { model } = modelOver({ networkError: new TypeError('fetch failed') });
    const error = await expectBuddyRejection(model.generate({ messages: hi }));
    expect(error.code).toBe('MODEL_UNAVAILABLE');
    expect(error.retryable).toBe(true);
    expect(error.cause).toBeInstanceOf(Anthropic.APIConnectionError);
  });
});

describe('Claude API key and base URL', () => {
  describe('without ANTHROPIC_API_KEY', () => {
    useEnv({
      ANTHROPIC_API_KEY: undefined,
      ANTHROPIC_AUTH_TOKEN: undefined,
      ANTHROPIC_BASE_URL: undefined,
    });

    it('fails the first call (not construction) with MODEL_AUTH_FAILED naming the variable and option', async () => {
      const model = new Claude();
      const error = await expectBuddyRejection(model.generate({ messages: hi }));
      expect(error.code).toBe('MODEL_AUTH_FAILED');
      expect(error.retryable).toBe(false);
      expect(error.message).toContain('ANTHROPIC_API_KEY');
      expect(error.message).toContain('apiKey');
      const streamed = await expectBuddyRejection(collectStream(model.stream({ messages: hi })));
      expect(streamed.code).toBe('MODEL_AUTH_FAILED');
    });

    it('uses a given client as is', async () => {
      const { fetch } = modelOver(scenario('anthropic-text'));
      const client = new Anthropic({ apiKey: 'sk-ant-client', fetch, maxRetries: 0 });
      const response = await new Claude({ client }).generate({ messages: hi });
      expect(response.content).toBe('Hello! How can I help you today?');
      expect(JSON.stringify(fetch.lastRequest?.headers)).toContain('sk-ant-client');
    });
  });

  describe('with ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL pointing at a loopback server', () => {
    let server: FixtureServer;
    useEnv({
      ANTHROPIC_API_KEY: 'sk-ant-from-env',
      ANTHROPIC_AUTH_TOKEN: undefined,
      ANTHROPIC_BASE_URL: '',
    });
    beforeEach(async () => {
      server = await fixtures.startServer(scenario('anthropic-text'));
      process.env.ANTHROPIC_BASE_URL = server.url;
    });
    afterEach(() => server.close());

    it('finds the server and the key through the environment, for generate() and stream()', async () => {
      const model = new Claude({ maxRetries: 0 });
      const response = await model.generate({ messages: hi });
      expect(response.content).toBe('Hello! How can I help you today?');
      const parts = await collectStream(model.stream({ messages: hi }));
      expect(parts.at(-1)).toEqual({
        type: 'finish',
        usage: { inputTokens: 14, outputTokens: 12 },
        finishReason: 'stop',
      });
      expect(server.requests.map((request) => request.path)).toEqual([
        '/v1/messages',
        '/v1/messages',
      ]);
      expect(JSON.stringify(server.requests[0]?.headers)).toContain('sk-ant-from-env');
    });

    it('lets the baseURL option win over ANTHROPIC_BASE_URL', async () => {
      const other = await fixtures.startServer(scenario('anthropic-text'));
      try {
        await new Claude({ baseURL: other.url, maxRetries: 0 }).generate({ messages: hi });
        expect(other.requests).toHaveLength(1);
        expect(server.requests).toHaveLength(0);
      } finally {
        await other.close();
      }
    });
  });
});
