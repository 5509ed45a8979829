/**
 * End to end: an `Agent` from `@buddy/core` over `Claude` over a scripted provider on a loopback
 * HTTP server (real sockets, the SDK's own fetch, recorded wire formats).
 */
import { Agent, type RunEvent, tool } from '@buddy/core';
import type { FixtureServer } from '@buddy/testkit/fetch';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { fixtures } from './__fixtures__/anthropic-fixtures.ts';
import { Claude } from './claude.ts';

const addToCart = tool({
  name: 'add_to_cart',
  description: "Add an item to the user's cart.",
  parameters: z.object({ item: z.string() }),
  execute: ({ item }, { agent }) => {
    const cart = (agent.sessionState.cart ??= []) as string[];
    cart.push(item);
    return `Cart now has ${cart.length} item(s).`;
  },
});

const ANSWER = 'I added milk to your cart. It now has 1 item.';
const PREAMBLE = "I'll add milk to your cart.";
const TOOL_USE_ID = 'toolu_01CaRtMiLk5Gh7Jk9Lm1Np3Q';

describe('Agent over Claude (loopback provider)', () => {
  let server: FixtureServer;
  afterEach(() => server.close());

  async function agentOverScriptedProvider(): Promise<Agent> {
    // The provider first asks for add_to_cart, then answers once it has the tool result.
    server = await fixtures.startServer(
      fixtures.script(['anthropic-cart-tool-call', 'anthropic-cart-answer']),
    );
    const model = new Claude({ baseURL: server.url, apiKey: 'sk-ant-test', maxRetries: 0 });
    return new Agent({
      model,
      instructions: 'Keep the cart up to date.',
      tools: [addToCart],
      sessionState: { cart: [] },
    });
  }

  function expectToolRoundTrip(): void {
    expect(server.requests).toHaveLength(2);
    const [first, second] = server.requests.map(
      (request) =>
        request.body as { system?: string; messages: Record<string, unknown>[]; tools: unknown[] },
    );
    expect(first?.system).toContain('Keep the cart up to date.');
    expect(first?.tools).toEqual([
      {
        name: 'add_to_cart',
        description: "Add an item to the user's cart.",
        input_schema: expect.objectContaining({ type: 'object', required: ['item'] }),
      },
    ]);
    expect(second?.messages.slice(-2)).toEqual([
      {
        role: 'assistant',
        content: [
          { type: 'text', text: PREAMBLE },
          { type: 'tool_use', id: TOOL_USE_ID, name: 'add_to_cart', input: { item: 'milk' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: TOOL_USE_ID, content: 'Cart now has 1 item(s).' },
        ],
      },
    ]);
  }

  it('run(): executes the tool round trip and sends the result back with its tool_use_id', async () => {
    const agent = await agentOverScriptedProvider();
    const response = await agent.run('Add milk to my cart');
    expect(response.content).toBe(ANSWER);
    expect(agent.sessionState.cart).toEqual(['milk']);
    expect(response.usage).toEqual({ inputTokens: 402 + 497, outputTokens: 58 + 16 });
    expect(response.model).toEqual({ provider: 'anthropic', id: 'claude-sonnet-5-5' });
    expectToolRoundTrip();
  });

  it('stream(): yields text deltas of the answer and ends with run-completed', async () => {
    const agent = await agentOverScriptedProvider();
    const events: RunEvent[] = [];
    for await (const event of agent.stream('Add milk to my cart')) events.push(event);
    const deltas = events.flatMap((event) => (event.type === 'text-delta' ? [event.delta] : []));
    // The preamble of the tool-calling turn streams too; the answer follows it.
    expect(deltas.join('')).toBe(PREAMBLE + ANSWER);
    expect(deltas.length).toBeGreaterThan(2);
    expect(events.map((event) => event.type)).toContain('tool-result');
    const last = events.at(-1);
    expect(last?.type).toBe('run-completed');
    expect(last?.type === 'run-completed' && last.response.content).toBe(ANSWER);
    expect(agent.sessionState.cart).toEqual(['milk']);
    expectToolRoundTrip();
    expect(server.requests[1]?.body).toMatchObject({ stream: true });
  });

  it('run(): sends the agent providerOptions of its own namespace, on every round', async () => {
    server = await fixtures.startServer(
      fixtures.script(['anthropic-cart-tool-call', 'anthropic-cart-answer']),
    );
    const model = new Claude({ baseURL: server.url, apiKey: 'sk-ant-test', maxRetries: 0 });
    const agent = new Agent({
      model,
      tools: [addToCart],
      sessionState: { cart: [] },
      providerOptions: { anthropic: { metadata: { user_id: 'user-42' } }, openai: { seed: 7 } },
    });
    const response = await agent.run('Add milk to my cart');
    expect(response.content).toBe(ANSWER);
    expect(server.requests).toHaveLength(2);
    for (const request of server.requests) {
      expect(request.body).toMatchObject({ metadata: { user_id: 'user-42' } });
      expect(request.body).not.toHaveProperty('seed');
    }
  });

  describe('temperature, which the API no longer accepts', () => {
    const WARNING =
      "Model anthropic/claude-sonnet-5-5 does not support the setting 'temperature'; it was not sent";

    async function agentWithTemperature(): Promise<Agent> {
      server = await fixtures.startServer(
        fixtures.script(['anthropic-cart-tool-call', 'anthropic-cart-answer']),
      );
      const model = new Claude({
        baseURL: server.url,
        apiKey: 'sk-ant-test',
        maxRetries: 0,
        temperature: 0.2,
      });
      return new Agent({ model, tools: [addToCart], sessionState: { cart: [] } });
    }

    it('run(): answers, sends no temperature and reports an unsupported-setting warning', async () => {
      const agent = await agentWithTemperature();
      const response = await agent.run('Add milk to my cart');
      expect(response.content).toBe(ANSWER);
      for (const request of server.requests) expect(request.body).not.toHaveProperty('temperature');
      // Two model calls (tool round trip), one warning line: the loop removes duplicates.
      const lines = response.warnings.filter((line) => line.includes("'temperature'"));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(WARNING);
      expect(lines[0]).toContain('API version 2026-10-21');
    });

    it('stream(): the run-completed response carries the same warning', async () => {
      const agent = await agentWithTemperature();
      let completed: RunEvent | undefined;
      for await (const event of agent.stream('Add milk to my cart')) {
        if (event.type === 'run-completed') completed = event;
      }
      expect(completed?.type === 'run-completed' && completed.response.content).toBe(ANSWER);
      const warnings = completed?.type === 'run-completed' ? completed.response.warnings : [];
      expect(warnings.some((line) => line.includes(WARNING))).toBe(true);
    });

    it('run() without a temperature has no such warning', async () => {
      const agent = await agentOverScriptedProvider();
      const response = await agent.run('Add milk to my cart');
      expect(response.warnings.filter((line) => line.includes("'temperature'"))).toEqual([]);
    });
  });
});
