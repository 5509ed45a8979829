import { BuddyError, type Message, type ModelRequest } from '@buddy/core';
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
import { modelContract } from '@buddy/testkit/model';
import OpenAI from 'openai';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  chunkFixture,
  completionFixture,
  errorResponse,
  fixtures,
  modelOver,
  scenario,
} from './__fixtures__/openai-fixtures.ts';
import { OpenAIChat } from './openai-chat.ts';

const conversation: Message[] = [
  { role: 'system', content: 'You are a shopping assistant.' },
  { role: 'system', content: 'The cart is empty.' },
  { role: 'user', content: 'Add milk and eggs.' },
  {
    role: 'assistant',
    content: '',
    toolCalls: [
      { id: 'call_milk', name: 'add_to_cart', arguments: '{"item":"milk"}' },
      { id: 'call_eggs', name: 'add_to_cart', arguments: '{"item":"eggs"}' },
    ],
  },
  {
    role: 'tool',
    toolCallId: 'call_milk',
    toolName: 'add_to_cart',
    content: 'Cart now has 1 item(s).',
  },
  {
    role: 'tool',
    toolCallId: 'call_eggs',
    toolName: 'add_to_cart',
    content: 'Error: out of stock',
    isError: true,
  },
  { role: 'assistant', content: 'I added milk; eggs are out of stock.' },
  { role: 'user', content: 'Thanks!' },
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

describe('OpenAIChat construction', () => {
  it('defaults to gpt-4o and needs no key to construct', () => {
    const model = new OpenAIChat({ id: 'gpt-4o' });
    expect(model.id).toBe('gpt-4o');
    expect(new OpenAIChat().id).toBe('gpt-4o');
    expect(model.provider).toBe('openai');
    expect(model.specificationVersion).toBe('v1');
  });

  it.each([
    ['id', { id: '' }, 'id must be a non-empty string'],
    ['apiKey', { apiKey: '' }, 'apiKey must be a non-empty string'],
    ['baseURL', { baseURL: 'api.example.com/v1' }, 'baseURL must be an absolute URL'],
    ['temperature', { temperature: -1 }, 'temperature must be a number >= 0'],
    ['maxTokens', { maxTokens: 0 }, 'maxTokens must be an integer >= 1'],
    ['maxRetries', { maxRetries: 1.5 }, 'maxRetries must be an integer >= 0'],
    [
      'client with apiKey',
      { client: new OpenAI({ apiKey: 'sk-test' }), apiKey: 'sk-other' },
      'pass either client or apiKey',
    ],
  ])('rejects a bad %s with INVALID_ARGUMENT', (_label, options, message) => {
    const caught = expectBuddyThrow(
      () => new OpenAIChat(options as ConstructorParameters<typeof OpenAIChat>[0]),
    );
    expect(BuddyError.is(caught, 'INVALID_ARGUMENT')).toBe(true);
    expect(caught.message).toContain(message);
  });
});

describe('OpenAIChat request bodies', () => {
  it('maps system, user, assistant tool calls and tool results, and tool definitions', async () => {
    const { model, fetch } = modelOver(scenario('openai-text'));
    await model.generate({ messages: conversation, tools: [addToCart], toolChoice: 'required' });
    expect(fetch.lastRequest?.path).toBe('/v1/chat/completions');
    expect(bodyOf(fetch.lastRequest)).toMatchInlineSnapshot(`
      {
        "messages": [
          {
            "content": "You are a shopping assistant.",
            "role": "system",
          },
          {
            "content": "The cart is empty.",
            "role": "system",
          },
          {
            "content": "Add milk and eggs.",
            "role": "user",
          },
          {
            "content": null,
            "role": "assistant",
            "tool_calls": [
              {
                "function": {
                  "arguments": "{"item":"milk"}",
                  "name": "add_to_cart",
                },
                "id": "call_milk",
                "type": "function",
              },
              {
                "function": {
                  "arguments": "{"item":"eggs"}",
                  "name": "add_to_cart",
                },
                "id": "call_eggs",
                "type": "function",
              },
            ],
          },
          {
            "content": "Cart now has 1 item(s).",
            "role": "tool",
            "tool_call_id": "call_milk",
          },
          {
            "content": "Error: out of stock",
            "role": "tool",
            "tool_call_id": "call_eggs",
          },
          {
            "content": "I added milk; eggs are out of stock.",
            "role": "assistant",
          },
          {
            "content": "Thanks!",
            "role": "user",
          },
        ],
        "model": "gpt-4o",
        "stream": false,
        "tool_choice": "required",
        "tools": [
          {
            "function": {
              "description": "Add an item to the user's cart.",
              "name": "add_to_cart",
              "parameters": {
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
            },
            "type": "function",
          },
        ],
      }
    `);
  });

  it.each([
    ['auto', 'auto'],
    ['none', 'none'],
    ['required', 'required'],
    [
      { type: 'tool', name: 'add_to_cart' },
      { type: 'function', function: { name: 'add_to_cart' } },
    ],
  ] as const)('maps toolChoice %o', async (toolChoice, expected) => {
    const { model, fetch } = modelOver(scenario('openai-text'));
    await model.generate({ messages: conversation, tools: [addToCart], toolChoice });
    expect(bodyOf(fetch.lastRequest).tool_choice).toEqual(expected);
  });

  it('omits tools and tool_choice when the request has no tools', async () => {
    const { model, fetch } = modelOver(scenario('openai-text'));
    await model.generate({ messages: conversation, tools: [], toolChoice: 'auto' });
    expect(bodyOf(fetch.lastRequest)).not.toHaveProperty('tools');
    expect(bodyOf(fetch.lastRequest)).not.toHaveProperty('tool_choice');
  });

  it('sends structured output as response_format json_schema, strict when the schema allows', async () => {
    const { model, fetch } = modelOver(scenario('openai-structured'));
    const request: ModelRequest = {
      messages: [{ role: 'user', content: 'Summarize.' }],
      responseFormat: modelContract.requests.structured.responseFormat,
    };
    await model.generate(request);
    expect(bodyOf(fetch.lastRequest)).toMatchInlineSnapshot(`
      {
        "messages": [
          {
            "content": "Summarize.",
            "role": "user",
          },
        ],
        "model": "gpt-4o",
        "response_format": {
          "json_schema": {
            "description": "A summary of the conversation.",
            "name": "session_summary",
            "schema": {
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
            "strict": true,
          },
          "type": "json_schema",
        },
        "stream": false,
      }
    `);
  });

  it('sends strict: false for a schema with optional fields, without the $schema marker', async () => {
    const { model, fetch } = modelOver(scenario('openai-structured'));
    const schema = z.toJSONSchema(
      z.object({ summary: z.string(), topics: z.array(z.string()).optional() }),
    );
    await model.generate({
      messages: [{ role: 'user', content: 'Summarize.' }],
      responseFormat: { type: 'json', schema },
    });
    expect(bodyOf(fetch.lastRequest).response_format).toMatchInlineSnapshot(`
      {
        "json_schema": {
          "name": "response",
          "schema": {
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
            ],
            "type": "object",
          },
          "strict": false,
        },
        "type": "json_schema",
      }
    `);
  });

  it('asks for usage in streams and applies default and per-call sampling settings', async () => {
    const { model, fetch } = modelOver(scenario('openai-text'), {
      id: 'gpt-4o-mini',
      temperature: 0.2,
      maxTokens: 256,
    });
    await collectStream(model.stream({ messages: [{ role: 'user', content: 'Hi' }] }));
    expect(bodyOf(fetch.lastRequest)).toMatchObject({
      model: 'gpt-4o-mini',
      stream: true,
      stream_options: { include_usage: true },
      temperature: 0.2,
      max_completion_tokens: 256,
    });
    await model.generate({
      messages: [{ role: 'user', content: 'Hi' }],
      temperature: 0,
      maxTokens: 32,
    });
    expect(bodyOf(fetch.lastRequest)).toMatchObject({ temperature: 0, max_completion_tokens: 32 });
    expect(bodyOf(fetch.lastRequest)).not.toHaveProperty('max_tokens');
  });
});

describe('OpenAIChat responses', () => {
  const completion = (message: object, finish: string) => ({
    ...(completionFixture('openai-text') as object),
    choices: [{ index: 0, message: { role: 'assistant', ...message }, finish_reason: finish }],
  });

  it.each([
    ['length', 'length'],
    ['content_filter', 'content-filter'],
    ['something_new', 'other'],
  ])('maps finish_reason %s to %s', async (finish, expected) => {
    const { model } = modelOver(jsonResponse(completion({ content: 'Partial' }, finish)));
    const response = await model.generate({ messages: [{ role: 'user', content: 'Hi' }] });
    expect(response.finishReason).toBe(expected);
  });

  it('returns a refusal as content with finish reason content-filter', async () => {
    const refusal = "I'm sorry, I can't help with that.";
    const { model } = modelOver(jsonResponse(completion({ content: null, refusal }, 'stop')));
    const response = await model.generate({ messages: [{ role: 'user', content: 'Hi' }] });
    expect(response).toMatchObject({ content: refusal, finishReason: 'content-filter' });
  });

  it('rejects a completion without choices with MODEL_BAD_RESPONSE', async () => {
    const { model } = modelOver(jsonResponse({ id: 'chatcmpl-x', object: 'chat.completion' }));
    const error = await expectBuddyRejection(
      model.generate({ messages: [{ role: 'user', content: 'Hi' }] }),
    );
    expect(error.code).toBe('MODEL_BAD_RESPONSE');
    expect(error.message).toContain('no choices');
  });

  it('rejects a body that is not JSON with MODEL_BAD_RESPONSE', async () => {
    const { model } = modelOver(
      textResponse('{"id": "chatcmpl-x", "choices": [', { contentType: 'application/json' }),
    );
    const error = await expectBuddyRejection(
      model.generate({ messages: [{ role: 'user', content: 'Hi' }] }),
    );
    expect(error.code).toBe('MODEL_BAD_RESPONSE');
    expect(error.retryable).toBe(false);
  });

  it('rejects a stream chunk that is not JSON with MODEL_BAD_RESPONSE', async () => {
    const { model } = modelOver(
      textResponse('data: {"id": "chatcmpl-x", "choices": [\n\n', {
        contentType: 'text/event-stream',
      }),
    );
    const error = await expectBuddyRejection(
      collectStream(model.stream({ messages: [{ role: 'user', content: 'Hi' }] })),
    );
    expect(error.code).toBe('MODEL_BAD_RESPONSE');
  });

  it('rejects a stream that ends without a finish reason with MODEL_BAD_RESPONSE', async () => {
    const truncated = chunkFixture('openai-text').slice(0, 4);
    const { model } = modelOver(sseResponse(truncated, { dialect: 'openai' }));
    const error = await expectBuddyRejection(
      collectStream(model.stream({ messages: [{ role: 'user', content: 'Hi' }] })),
    );
    expect(error.code).toBe('MODEL_BAD_RESPONSE');
    expect(error.message).toContain('without a finish reason');
  });

  it('gives a streamed tool call without an id one, so its result can be paired', async () => {
    const chunks = chunkFixture('openai-tool-call').map((chunk) =>
      JSON.parse(JSON.stringify(chunk).replace(/"id":"call_[A-Za-z0-9]+",/, '')),
    );
    const { model } = modelOver(sseResponse(chunks, { dialect: 'openai' }));
    const parts = await collectStream(
      model.stream({ messages: [{ role: 'user', content: 'Hi' }] }),
    );
    const call = parts.find((part) => part.type === 'tool-call');
    expect(call?.type === 'tool-call' && call.toolCall.id).toMatch(/^call_[0-9a-f]{32}$/);
  });
});

describe('OpenAIChat errors', () => {
  it.each([
    [400, '400', 'MODEL_BAD_RESPONSE', false],
    [400, '400-context', 'MODEL_CONTEXT_OVERFLOW', false],
    [401, '401', 'MODEL_AUTH_FAILED', false],
    [403, '403', 'MODEL_AUTH_FAILED', false],
    [404, '404', 'MODEL_BAD_RESPONSE', false],
    [408, '500', 'MODEL_UNAVAILABLE', true],
    [409, '500', 'MODEL_UNAVAILABLE', true],
    [422, '400', 'MODEL_BAD_RESPONSE', false],
    [429, '429', 'MODEL_RATE_LIMITED', true],
    [429, '429-quota', 'MODEL_RATE_LIMITED', false],
    [500, '500', 'MODEL_UNAVAILABLE', true],
    [502, '500', 'MODEL_UNAVAILABLE', true],
    [503, '500', 'MODEL_UNAVAILABLE', true],
  ] as const)(
    'maps HTTP %i (%s body) to %s, retryable %s',
    async (status, body, code, retryable) => {
      const { model } = modelOver(errorResponse(status, body));
      const error = await expectBuddyRejection(
        model.generate({ messages: [{ role: 'user', content: 'Hi' }] }),
      );
      expect(error.code).toBe(code);
      expect(error.retryable).toBe(retryable);
      expect(error).not.toBeInstanceOf(OpenAI.APIError);
      expect(error.cause).toBeInstanceOf(OpenAI.APIError);
      expect(error.details).toMatchObject({
        provider: 'openai',
        status,
        requestId: `req_test_${body}`,
      });
      expect(error.message).toContain(`OpenAIChat(gpt-4o)`);
      expect(error.message).toContain(`HTTP ${status}`);
    },
  );

  it('maps a connection failure to MODEL_UNAVAILABLE', async () => {
    const { model } = modelOver({ networkError: new TypeError('fetch failed') });
    const error = await expectBuddyRejection(
      model.generate({ messages: [{ role: 'user', content: 'Hi' }] }),
    );
    expect(error.code).toBe('MODEL_UNAVAILABLE');
    expect(error.retryable).toBe(true);
    expect(error.cause).toBeInstanceOf(OpenAI.APIConnectionError);
  });

  it('retries retryable statuses itself when maxRetries allows', async () => {
    const { model, fetch } = modelOver(
      [
        // retry-after-ms keeps the SDK's back-off short in this test.
        jsonResponse(completionFixture('openai-error-500'), {
          status: 500,
          headers: { 'retry-after-ms': '1' },
        }),
        jsonResponse(completionFixture('openai-text')),
      ],
      { maxRetries: 1 },
    );
    const response = await model.generate({ messages: [{ role: 'user', content: 'Hi' }] });
    expect(response.content).toBe('Hello! How can I help you today?');
    expect(fetch.requests).toHaveLength(2);
  });
});

describe('OpenAIChat API key and base URL', () => {
  describe('without OPENAI_API_KEY', () => {
    useEnv({ OPENAI_API_KEY: undefined, OPENAI_BASE_URL: undefined });

    it('fails the first call (not construction) with MODEL_AUTH_FAILED naming the variable and option', async () => {
      const model = new OpenAIChat({ id: 'gpt-4o' });
      const error = await expectBuddyRejection(
        model.generate({ messages: [{ role: 'user', content: 'Hi' }] }),
      );
      expect(error.code).toBe('MODEL_AUTH_FAILED');
      expect(error.retryable).toBe(false);
      expect(error.message).toContain('OPENAI_API_KEY');
      expect(error.message).toContain('apiKey');
      const streamed = await expectBuddyRejection(collectStream(model.stream({ messages: [] })));
      expect(streamed.code).toBe('MODEL_AUTH_FAILED');
    });

    it('uses the apiKey option', async () => {
      const { model, fetch } = modelOver(scenario('openai-text'), { apiKey: 'sk-option' });
      await model.generate({ messages: [{ role: 'user', content: 'Hi' }] });
      expect(fetch.lastRequest?.headers.authorization).toBe('Bearer sk-option');
    });

    it('uses a given client as is', async () => {
      const { fetch } = modelOver(scenario('openai-text'));
      const client = new OpenAI({ apiKey: 'sk-client', fetch, maxRetries: 0 });
      const model = new OpenAIChat({ client });
      const response = await model.generate({ messages: [{ role: 'user', content: 'Hi' }] });
      expect(response.content).toBe('Hello! How can I help you today?');
      expect(fetch.lastRequest?.headers.authorization).toBe('Bearer sk-client');
    });
  });

  describe('with OPENAI_API_KEY and OPENAI_BASE_URL pointing at a loopback server', () => {
    let server: FixtureServer;
    const env = { OPENAI_API_KEY: 'sk-from-env', OPENAI_BASE_URL: '' };
    useEnv(env);
    beforeEach(async () => {
      server = await fixtures.startServer(scenario('openai-text'));
      process.env.OPENAI_BASE_URL = `${server.url}/v1`;
    });
    afterEach(() => server.close());

    it('finds the server and the key through the environment, for generate() and stream()', async () => {
      const model = new OpenAIChat({ maxRetries: 0 });
      const response = await model.generate({ messages: [{ role: 'user', content: 'Hi' }] });
      expect(response.content).toBe('Hello! How can I help you today?');
      const parts = await collectStream(
        model.stream({ messages: [{ role: 'user', content: 'Hi' }] }),
      );
      expect(parts.at(-1)).toEqual({
        type: 'finish',
        usage: { inputTokens: 19, outputTokens: 10 },
        finishReason: 'stop',
      });
      expect(server.requests.map((request) => request.path)).toEqual([
        '/v1/chat/completions',
        '/v1/chat/completions',
      ]);
      expect(server.requests[0]?.headers.authorization).toBe('Bearer sk-from-env');
    });

    it('lets the baseURL option win over OPENAI_BASE_URL', async () => {
      const other = await fixtures.startServer(scenario('openai-text'));
      try {
        const model = new OpenAIChat({ baseURL: `${other.url}/v1`, maxRetries: 0 });
        await model.generate({ messages: [{ role: 'user', content: 'Hi' }] });
        expect(other.requests).toHaveLength(1);
        expect(server.requests).toHaveLength(0);
      } finally {
        await other.close();
      }
    });
  });
});
