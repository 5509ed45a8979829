/**
 * End to end: an `Agent` from `@buddy/core` over `OpenAIChat` over a scripted provider on a
 * loopback HTTP server (real sockets, the SDK's own fetch, recorded wire formats).
 */
import { Agent, type RunEvent, tool } from '@buddy/core';
import type { FixtureServer } from '@buddy/testkit/fetch';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { fixtures } from './__fixtures__/openai-fixtures.ts';
import { OpenAIChat } from './openai-chat.ts';

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
const CALL_ID = 'call_Vb6nM1zXc4As8Df2Gh5Jk9Lq';

describe('Agent over OpenAIChat (loopback provider)', () => {
  let server: FixtureServer;
  afterEach(() => server.close());

  async function agentOverScriptedProvider(): Promise<Agent> {
    // The provider first asks for add_to_cart, then answers once it has the tool result.
    server = await fixtures.startServer(
      fixtures.script(['openai-cart-tool-call', 'openai-cart-answer']),
    );
    const model = new OpenAIChat({ baseURL: `${server.url}/v1`, apiKey: 'sk-test', maxRetries: 0 });
    return new Agent({ model, tools: [addToCart], sessionState: { cart: [] } });
  }

  function expectToolRoundTrip(): void {
    expect(server.requests).toHaveLength(2);
    const [first, second] = server.requests.map(
      (request) => request.body as { messages: Record<string, unknown>[]; tools: unknown[] },
    );
    expect(first?.tools).toEqual([
      {
        type: 'function',
        function: {
          name: 'add_to_cart',
          description: "Add an item to the user's cart.",
          parameters: expect.objectContaining({ required: ['item'] }),
        },
      },
    ]);
    expect(second?.messages.slice(-2)).toEqual([
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: CALL_ID,
            type: 'function',
            function: { name: 'add_to_cart', arguments: '{"item":"milk"}' },
          },
        ],
      },
      { role: 'tool', tool_call_id: CALL_ID, content: 'Cart now has 1 item(s).' },
    ]);
  }

  it('run(): executes the tool round trip and sends the result back with its tool_call_id', async () => {
    const agent = await agentOverScriptedProvider();
    const response = await agent.run('Add milk to my cart');
    expect(response.content).toBe(ANSWER);
    expect(agent.sessionState.cart).toEqual(['milk']);
    expect(response.usage).toEqual({ inputTokens: 87 + 121, outputTokens: 15 + 14 });
    expect(response.model).toEqual({ provider: 'openai', id: 'gpt-4o' });
    expectToolRoundTrip();
    expect(server.requests[0]?.body).toMatchObject({ stream: false });
  });

  it('stream(): yields text deltas of the answer and ends with run-completed', async () => {
    const agent = await agentOverScriptedProvider();
    const events: RunEvent[] = [];
    for await (const event of agent.stream('Add milk to my cart')) events.push(event);
    const deltas = events.flatMap((event) => (event.type === 'text-delta' ? [event.delta] : []));
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join('')).toBe(ANSWER);
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
      fixtures.script(['openai-cart-tool-call', 'openai-cart-answer']),
    );
    const model = new OpenAIChat({ baseURL: `${server.url}/v1`, apiKey: 'sk-test', maxRetries: 0 });
    const agent = new Agent({
      model,
      tools: [addToCart],
      sessionState: { cart: [] },
      providerOptions: { openai: { seed: 7, parallel_tool_calls: false }, anthropic: { x: 1 } },
    });
    const response = await agent.run('Add milk to my cart');
    expect(response.content).toBe(ANSWER);
    expect(server.requests).toHaveLength(2);
    for (const request of server.requests) {
      expect(request.body).toMatchObject({ seed: 7, parallel_tool_calls: false });
      expect(request.body).not.toHaveProperty('x');
    }
    expect(response.warnings).toEqual([]);
  });

  it('run(): a reasoning model with a temperature answers and says it was not sent', async () => {
    server = await fixtures.startServer(
      fixtures.script(['openai-cart-tool-call', 'openai-cart-answer']),
    );
    const model = new OpenAIChat({
      id: 'o4-mini',
      temperature: 0.2,
      baseURL: `${server.url}/v1`,
      apiKey: 'sk-test',
      maxRetries: 0,
    });
    const agent = new Agent({ model, tools: [addToCart], sessionState: { cart: [] } });
    const response = await agent.run('Add milk to my cart');
    expect(response.content).toBe(ANSWER);
    for (const request of server.requests) expect(request.body).not.toHaveProperty('temperature');
    expect(response.warnings).toEqual([
      "Model openai/o4-mini does not support the setting 'temperature'; it was not sent (o4-mini is a reasoning model, which accepts no temperature; the value 0.2 was not sent).",
    ]);
  });
});
