/**
 * AgentMemory without a model: its helpers fall back to `new OpenAIChat({ id: 'gpt-4o' })` from
 * `@buddy/model-openai`, loaded lazily. These tests drive the real adapter (and the real OpenAI
 * SDK) either without a key or against a loopback server that speaks chat completions.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, InMemoryStorage, silentLogger, tool } from '@buddy/core';
import { MockModel } from '@buddy/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AgentMemory } from './agent-memory.ts';

const ENV_KEYS = ['OPENAI_API_KEY', 'OPENAI_BASE_URL'] as const;
let savedEnv: Record<string, string | undefined> = {};

beforeEach(() => {
  savedEnv = Object.fromEntries(ENV_KEYS.map((key) => [key, process.env[key]]));
  for (const key of ENV_KEYS) delete process.env[key];
});

afterEach(() => {
  for (const key of ENV_KEYS) {
    const value = savedEnv[key];
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
});

const addToCart = tool({
  name: 'add_to_cart',
  parameters: z.object({ item: z.string() }),
  execute: ({ item }, { agent }) => {
    const cart = (agent.sessionState.cart ??= []) as string[];
    cart.push(item);
    return `Cart now has ${cart.length} item(s).`;
  },
});

describe('AgentMemory with the default model', () => {
  it('without OPENAI_API_KEY the run resolves, its state is persisted and the warnings say which key to set', async () => {
    const storage = new InMemoryStorage();
    const agent = new Agent({
      model: new MockModel({
        replies: [{ toolCalls: [{ name: 'add_to_cart', arguments: { item: 'milk' } }] }, 'Added.'],
      }),
      userId: 'dana',
      sessionState: { cart: [] },
      storage,
      tools: [addToCart],
      memory: new AgentMemory(),
      enableSessionSummaries: true,
      enableUserMemories: true,
      logger: silentLogger,
    });

    const response = await agent.run('Add milk to my cart');
    expect(response.content).toBe('Added.');
    expect(response.warnings).toHaveLength(2);
    expect(response.warnings).toEqual([
      expect.stringMatching(/^Session summary was not updated.*OPENAI_API_KEY/),
      expect.stringMatching(/^User memories were not updated.*OPENAI_API_KEY/),
    ]);

    const stored = await storage.getSession(agent.sessionId);
    expect(stored?.sessionState.cart).toEqual(['milk']);
    expect(stored?.runCount).toBe(1);
    expect(stored?.summary).toBeUndefined();
  });

  describe('against a loopback OpenAI-compatible server', () => {
    let server: Server;
    const received: {
      method: string | undefined;
      url: string | undefined;
      headers: IncomingHttpHeaders;
      body: unknown;
    }[] = [];
    const summary = { summary: 'The user asked for a tea recommendation.', topics: ['tea'] };

    beforeEach(async () => {
      received.length = 0;
      server = createServer((request, response) => {
        const chunks: Buffer[] = [];
        request.on('data', (chunk: Buffer) => chunks.push(chunk));
        request.on('end', () => {
          received.push({
            method: request.method,
            url: request.url,
            headers: request.headers,
            body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
          });
          response.writeHead(200, { 'content-type': 'application/json' });
          response.end(
            JSON.stringify({
              id: 'chatcmpl-loopback-1',
              object: 'chat.completion',
              created: 1_750_000_000,
              model: 'gpt-4o-2024-08-06',
              choices: [
                {
                  index: 0,
                  message: { role: 'assistant', content: JSON.stringify(summary), refusal: null },
                  logprobs: null,
                  finish_reason: 'stop',
                },
              ],
              usage: { prompt_tokens: 120, completion_tokens: 20, total_tokens: 140 },
            }),
          );
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    });

    afterEach(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    it("sends the summarizer's request to OPENAI_BASE_URL as gpt-4o and stores the answer", async () => {
      const { port } = server.address() as AddressInfo;
      process.env.OPENAI_API_KEY = 'test';
      process.env.OPENAI_BASE_URL = `http://127.0.0.1:${port}/v1`;
      const memory = new AgentMemory();
      const agent = new Agent({
        model: new MockModel({ replies: ['Try rooibos.'] }),
        memory,
        enableSessionSummaries: true,
        logger: silentLogger,
      });

      const response = await agent.run('Which tea should I drink tonight?');
      expect(response.warnings).toEqual([]);
      expect(received).toHaveLength(1);
      const [call] = received;
      expect(call?.method).toBe('POST');
      expect(call?.url).toBe('/v1/chat/completions');
      expect(call?.headers.authorization).toBe('Bearer test');
      const body = call?.body as {
        model: string;
        messages: { role: string; content: string }[];
        response_format: { type: string; json_schema: { name: string } };
      };
      expect(body.model).toBe('gpt-4o');
      expect(body.response_format.type).toBe('json_schema');
      expect(body.response_format.json_schema.name).toBe('session_summary');
      expect(body.messages.at(-1)?.content).toContain(
        'User: Which tea should I drink tonight?\nAssistant: Try rooibos.',
      );

      expect(memory.summary).toEqual(summary);
      expect(await agent.getSessionSummary()).toMatchObject({ ...summary, runsCovered: 1 });
    });
  });
});
