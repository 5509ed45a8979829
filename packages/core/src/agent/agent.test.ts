import { getEventListeners } from 'node:events';
import { MockModel } from '@buddy/testkit';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { BuddyError } from '../errors/buddy-error.ts';
import { InMemoryStorage } from '../in-memory/in-memory-storage.ts';
import { silentLogger } from '../logging/console-logger.ts';
import type { AssistantMessage, ToolMessage } from '../messages/message.ts';
import type { Model } from '../spec/model-v1.ts';
import { tool } from '../tools/tool.ts';
import { Agent } from './agent.ts';
import type { RunEvent } from './agent-types.ts';

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

/** A model that calls `add_to_cart` with the item named in the user's text, then confirms. */
function cartModel(options: { latencyMs?: number } = {}) {
  return new MockModel({
    ...options,
    respond: (request) => {
      const last = request.messages.at(-1);
      if (last?.role === 'tool') return `Done: ${last.content}`;
      const item = /add (\w+)/i.exec(last?.content ?? '')?.[1];
      return item === undefined
        ? 'Nothing to add.'
        : { toolCalls: [{ name: 'add_to_cart', arguments: { item } }] };
    },
  });
}

async function caught(promise: Promise<unknown>): Promise<BuddyError> {
  try {
    await promise;
  } catch (error) {
    if (BuddyError.is(error)) return error;
    throw error;
  }
  throw new Error('expected the promise to reject');
}

function caughtSync(fn: () => unknown): BuddyError {
  try {
    fn();
  } catch (error) {
    if (BuddyError.is(error)) return error;
    throw error;
  }
  throw new Error('expected a throw');
}

async function collect(events: AsyncIterable<RunEvent>): Promise<RunEvent[]> {
  const out: RunEvent[] = [];
  for await (const event of events) out.push(event);
  return out;
}

describe('Agent: tools and session state', () => {
  it('lets a tool push to agent.sessionState.cart and the next run sees the change', async () => {
    const model = cartModel();
    const agent = new Agent({ model, tools: [addToCart], sessionState: { cart: [] } });
    const first = await agent.run('Add milk');
    expect(first.content).toBe('Done: Cart now has 1 item(s).');
    expect(agent.sessionState.cart).toEqual(['milk']);

    await agent.run('Add eggs');
    expect(agent.sessionState.cart).toEqual(['milk', 'eggs']);
    const stored = await agent.getChatHistory();
    expect(stored.map((message) => message.content)).toEqual([
      'Add milk',
      'Done: Cart now has 1 item(s).',
      'Add eggs',
      'Done: Cart now has 2 item(s).',
    ]);
  });

  it('keeps agent.sessionState of concurrent runs apart in async tools, and the own state outside runs', async () => {
    const storage = new InMemoryStorage();
    const gate: { open?: () => void } = {};
    const opened = new Promise<void>((resolve) => {
      gate.open = resolve;
    });
    let agent: Agent;
    // The tools read the agent from the closure (not ctx) after awaiting: only the run scope
    // tells the two runs apart.
    const slow = tool({
      name: 'slow',
      execute: async () => {
        await opened;
        await new Promise((resolve) => setTimeout(resolve, 5));
        agent.sessionState.seen = `slow in ${String(agent.sessionState.name)}`;
        return 'slow done';
      },
    });
    const fast = tool({
      name: 'fast',
      execute: async () => {
        await Promise.resolve();
        agent.sessionState.seen = `fast in ${String(agent.sessionState.name)}`;
        gate.open?.();
        return 'fast done';
      },
    });
    const model = new MockModel({
      respond: (request) => {
        const last = request.messages.at(-1);
        if (last?.role === 'tool') return `ok ${last.content}`;
        return { toolCalls: [{ name: String(last?.content), arguments: {} }] };
      },
    });
    agent = new Agent({ model, storage, tools: [slow, fast], sessionState: { name: 'own' } });
    const first = agent.run('slow', { sessionId: 'session-a', sessionState: { name: 'a' } });
    const second = agent.run('fast', { sessionId: 'session-b', sessionState: { name: 'b' } });
    await Promise.all([first, second]);
    expect((await storage.getSession('session-a'))?.sessionState.seen).toBe('slow in a');
    expect((await storage.getSession('session-b'))?.sessionState.seen).toBe('fast in b');
    // Outside runs it is the agent's own session state, untouched by either run's tool.
    expect(agent.sessionState.name).toBe('own');
    expect(agent.sessionState.seen).toBeUndefined();
  });

  it('enters the run scope only for tool calls: the model call of a per-run session sees the own state', async () => {
    const seenByModel: unknown[] = [];
    const seenByTool: unknown[] = [];
    let agent: Agent;
    const probe = tool({
      name: 'probe',
      execute: () => {
        seenByTool.push(agent.sessionState.name);
        return 'ok';
      },
    });
    const model = new MockModel({
      respond: (request) => {
        // Not a tool: the whole model loop no longer runs inside the scope (on Node 20 an active
        // AsyncLocalStorage puts async hooks on every promise of the process).
        seenByModel.push(agent.sessionState.name);
        return request.messages.at(-1)?.role === 'tool'
          ? 'done'
          : { toolCalls: [{ name: 'probe', arguments: {} }] };
      },
    });
    agent = new Agent({ model, tools: [probe], sessionState: { name: 'own' } });
    await agent.run('go', { sessionId: 'other-session', sessionState: { name: 'per-run' } });
    expect(seenByTool).toEqual(['per-run']);
    expect(seenByModel).toEqual(['own', 'own']);
  });

  it('gives tools a ctx whose agent.sessionState is the same object as ctx.sessionState, also for a per-run sessionId', async () => {
    const seen: boolean[] = [];
    const probe = tool({
      name: 'probe',
      execute: (_args, context) => {
        seen.push(context.agent.sessionState === context.sessionState);
        context.sessionState.touched = context.sessionId;
        return 'ok';
      },
    });
    const model = new MockModel({
      respond: (request) =>
        request.messages.at(-1)?.role === 'tool'
          ? 'done'
          : { toolCalls: [{ name: 'probe', arguments: {} }] },
    });
    const agent = new Agent({ model, tools: [probe] });
    await agent.run('go');
    await agent.run('go', { sessionId: 'other-session' });
    expect(seen).toEqual([true, true]);
    expect(agent.sessionState.touched).toBe(agent.sessionId);
    // The per-run session did not change the agent's own session.
    expect(agent.sessionId).not.toBe('other-session');
  });

  it('deep-copies the default state per session and seeds current_session_id and current_user_id', async () => {
    const defaults = { cart: [] as string[] };
    const agent = new Agent({
      model: cartModel(),
      tools: [addToCart],
      sessionState: defaults,
      userId: 'dana',
    });
    await agent.run('Add milk');
    await agent.run('Add tea', { sessionId: 'second' });
    expect(defaults.cart).toEqual([]);
    expect(agent.sessionState).toEqual({
      cart: ['milk'],
      current_session_id: agent.sessionId,
      current_user_id: 'dana',
    });
    expect(agent.storage).toBeUndefined();
  });

  it('applies state precedence default <- stored <- per-run, and per-run state is persisted with that run', async () => {
    const storage = new InMemoryStorage();
    const model = new MockModel({ respond: () => 'ok' });
    const agent = new Agent({
      model,
      storage,
      sessionId: 's1',
      sessionState: { a: 'default', b: 'default', c: 'default' },
    });
    await agent.run('one', { sessionState: { b: 'run-1' } });
    expect((await storage.getSession('s1'))?.sessionState).toMatchObject({
      a: 'default',
      b: 'run-1',
      c: 'default',
    });
    await storage.upsertSession({ sessionId: 's1', sessionState: { a: 'stored', b: 'stored' } });
    const response = await agent.run('two', { sessionState: { c: 'run-2' } });
    expect(response.sessionId).toBe('s1');
    expect(agent.sessionState).toMatchObject({
      a: 'stored',
      b: 'stored',
      c: 'run-2',
      current_session_id: 's1',
    });
  });

  it('runs several tool calls of one turn in parallel and returns all results to the model', async () => {
    let running = 0;
    let maxRunning = 0;
    const slow = tool({
      name: 'slow',
      parameters: z.object({ n: z.number() }),
      execute: async ({ n }) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((resolve) => setTimeout(resolve, 20));
        running--;
        return { doubled: n * 2 };
      },
    });
    const model = new MockModel({
      replies: [
        {
          toolCalls: [
            { name: 'slow', arguments: { n: 1 } },
            { name: 'slow', arguments: { n: 2 } },
            { name: 'slow', arguments: { n: 3 } },
          ],
        },
        'all done',
      ],
    });
    const agent = new Agent({ model, tools: [slow] });
    const response = await agent.run('go');
    expect(maxRunning).toBe(3);
    const toolMessages = response.messages.filter(
      (message): message is ToolMessage & { id: string; createdAt: number; runId: string } =>
        message.role === 'tool',
    );
    expect(toolMessages.map((message) => message.content)).toEqual([
      '{"doubled":2}',
      '{"doubled":4}',
      '{"doubled":6}',
    ]);
    expect(toolMessages.map((message) => message.toolCallId)).toEqual([
      'call_1_1',
      'call_1_2',
      'call_1_3',
    ]);
    expect(response.messages.map((message) => message.role)).toEqual([
      'user',
      'assistant',
      'tool',
      'tool',
      'tool',
      'assistant',
    ]);
    expect(
      response.messages.every(
        (message) => message.runId === response.runId && typeof message.id === 'string',
      ),
    ).toBe(true);
  });

  it('returns bad tool arguments, unknown tools and tool errors to the model as Error results naming the bad value', async () => {
    const failing = tool({
      name: 'explode',
      execute: () => {
        throw new Error('the warehouse is closed');
      },
    });
    const model = new MockModel({
      replies: [
        {
          toolCalls: [
            { name: 'add_to_cart', arguments: { item: 42 } },
            { name: 'add_to_cart', arguments: '{"item": "milk"' },
            { name: 'teleport', arguments: {} },
            { name: 'explode', arguments: {} },
          ],
        },
        'recovered',
      ],
    });
    const agent = new Agent({ model, tools: [addToCart, failing], sessionState: { cart: [] } });
    const response = await agent.run('go');
    expect(response.content).toBe('recovered');
    const results = response.messages.filter((message) => message.role === 'tool') as ToolMessage[];
    expect(results.every((result) => result.isError === true)).toBe(true);
    expect(results[0]?.content).toMatch(
      /^Error: Invalid arguments for tool 'add_to_cart': item: .*expected string.*\(got 42\)/,
    );
    expect(results[1]?.content).toContain('not valid JSON: "{\\"item\\": \\"milk\\""');
    expect(results[2]?.content).toContain('Unknown tool "teleport"');
    expect(results[3]?.content).toBe('Error: the warehouse is closed');
    expect(agent.sessionState.cart).toEqual([]);
    // The model saw the errors.
    const followUp = model.requests[1]?.messages.filter((message) => message.role === 'tool') ?? [];
    expect(followUp).toHaveLength(4);
  });

  it('stops with MAX_TOOL_ROUNDS after 10 rounds of tool calls and stores nothing', async () => {
    const storage = new InMemoryStorage();
    const model = new MockModel({
      respond: () => ({ toolCalls: [{ name: 'add_to_cart', arguments: { item: 'x' } }] }),
    });
    const agent = new Agent({ model, tools: [addToCart], storage, sessionId: 'loop' });
    const error = await caught(agent.run('loop forever'));
    expect(error.code).toBe('MAX_TOOL_ROUNDS');
    expect(model.requests).toHaveLength(11);
    expect(await storage.getSession('loop')).toBeUndefined();
  });
});

describe('Agent: state in messages', () => {
  it('replaces {cart} in instructions and the user text; leaves {unknown} and JSON untouched', async () => {
    const model = new MockModel({ respond: () => 'ok' });
    const agent = new Agent({
      model,
      userId: 'dana',
      description: 'You help {user_id}.',
      instructions: [
        'The cart holds {cart}.',
        'Reply as JSON like {"a": 1} or {"cart":1}; ignore {unknown} and { cart }.',
      ],
      sessionState: { cart: ['milk', 'eggs'], note: 'plain text' },
      addStateInMessages: true,
    });
    await agent.run('Is {cart} complete? {note}. Also {unknown}, {"a": 1}, {current_user_id}.');
    const request = model.lastRequest;
    const system = request?.messages[0]?.content ?? '';
    expect(system).toContain('You help dana.');
    expect(system).toContain('The cart holds ["milk","eggs"].');
    expect(system).toContain(
      'Reply as JSON like {"a": 1} or {"cart":1}; ignore {unknown} and { cart }.',
    );
    expect(request?.messages.at(-1)?.content).toBe(
      'Is ["milk","eggs"] complete? plain text. Also {unknown}, {"a": 1}, dana.',
    );
  });

  it('templates a systemMessage function result with the state at the start of the run', async () => {
    const model = cartModel();
    const agent = new Agent({
      model,
      tools: [addToCart],
      sessionState: { cart: [] },
      addStateInMessages: true,
      systemMessage: ({ sessionState }) =>
        `Cart: {cart} (${(sessionState.cart as string[]).length})`,
    });
    await agent.run('Add milk');
    expect(model.requests[0]?.messages[0]).toEqual({ role: 'system', content: 'Cart: [] (0)' });
    // The second model call of the same run still uses the state from the start of the run.
    expect(model.requests[1]?.messages[0]?.content).toBe('Cart: [] (0)');
    await agent.run('Add eggs');
    expect(model.requests[2]?.messages[0]?.content).toBe('Cart: ["milk"] (1)');
  });

  it('does not template without addStateInMessages', async () => {
    const model = new MockModel({ respond: () => 'ok' });
    const agent = new Agent({ model, instructions: 'Cart {cart}', sessionState: { cart: [1] } });
    await agent.run('{cart}');
    expect(model.lastRequest?.messages.map((message) => message.content)).toEqual([
      '## Instructions\nCart {cart}',
      '{cart}',
    ]);
  });
});

describe('Agent: concurrency', () => {
  it('keeps separate states for two concurrent runs on different sessions', async () => {
    const model = cartModel({ latencyMs: 15 });
    const agent = new Agent({ model, tools: [addToCart], sessionState: { cart: [] } });
    const [a, b] = await Promise.all([
      agent.run('Add apples', { sessionId: 'session-a' }),
      agent.run('Add bread', { sessionId: 'session-b' }),
    ]);
    expect(a.content).toContain('1 item');
    expect(b.content).toContain('1 item');
    await agent.run('Add cheese', { sessionId: 'session-a' });
    const requestsForA = model.requests.filter((request) =>
      request.messages.some((message) => message.content === 'Add cheese'),
    );
    expect(requestsForA.at(-1)?.messages.at(-1)?.content).toBe('Cart now has 2 item(s).');
  });

  it('serializes two concurrent runs on the same session and keeps both runs', async () => {
    const storage = new InMemoryStorage();
    const model = cartModel({ latencyMs: 10 });
    const agent = new Agent({
      model,
      tools: [addToCart],
      storage,
      sessionId: 'shared',
      sessionState: { cart: [] },
    });
    const [first, second] = await Promise.all([agent.run('Add milk'), agent.run('Add eggs')]);
    const contents = [first.content, second.content].sort();
    expect(contents).toEqual(['Done: Cart now has 1 item(s).', 'Done: Cart now has 2 item(s).']);
    const runs = await storage.getRuns({ sessionId: 'shared' });
    expect(runs).toHaveLength(2);
    expect((await storage.getSession('shared'))?.sessionState.cart).toHaveLength(2);
  });

  it('serializes runs of two Agent instances sharing one storage (lease), losing no state change', async () => {
    const storage = new InMemoryStorage();
    const counter = tool({
      name: 'increment',
      execute: async (_args, { sessionState }) => {
        const value = Number(sessionState.counter ?? 0);
        await new Promise((resolve) => setTimeout(resolve, 2));
        sessionState.counter = value + 1;
        return String(value + 1);
      },
    });
    const makeAgent = (cacheSession: boolean) =>
      new Agent({
        model: new MockModel({
          respond: (request) =>
            request.messages.at(-1)?.role === 'tool'
              ? 'ok'
              : { toolCalls: [{ name: 'increment', arguments: {} }] },
        }),
        tools: [counter],
        storage,
        sessionId: 'counter',
        cacheSession,
      });
    const agents = [makeAgent(true), makeAgent(false)];
    await Promise.all(
      agents.map(async (agent) => {
        for (let index = 0; index < 10; index++) await agent.run('increment');
      }),
    );
    expect((await storage.getSession('counter'))?.sessionState.counter).toBe(20);
    expect(await storage.getRuns({ sessionId: 'counter' })).toHaveLength(20);
  });
});

describe('Agent: session lease', () => {
  it('fails with SESSION_BUSY when another agent holds the session longer than waitMs, and stores nothing for it', async () => {
    const storage = new InMemoryStorage();
    const slow = new Agent({
      model: new MockModel({ replies: ['slow answer'], latencyMs: 300 }),
      storage,
      sessionId: 'busy',
    });
    const impatient = new Agent({
      model: new MockModel({ replies: ['never'] }),
      storage,
      sessionId: 'busy',
      sessionLease: { waitMs: 50 },
    });
    const first = slow.run('take your time');
    await new Promise((resolve) => setTimeout(resolve, 20));
    const error = await caught(impatient.run('me too'));
    expect(error.code).toBe('SESSION_BUSY');
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('"busy"');
    expect((await first).content).toBe('slow answer');
    expect(
      (await storage.getRuns({ sessionId: 'busy' })).map((run) => run.messages[0]?.content),
    ).toEqual(['take your time']);
  });

  it('renews the lease while a long run is alive, so a waiting agent does not take over', async () => {
    const storage = new InMemoryStorage();
    const long = new Agent({
      model: new MockModel({ replies: ['done'], latencyMs: 450 }),
      storage,
      sessionId: 'renewed',
      sessionLease: { ttlMs: 150 },
    });
    const waiting = new Agent({
      model: new MockModel({ replies: ['second'] }),
      storage,
      sessionId: 'renewed',
    });
    const first = long.run('long');
    await new Promise((resolve) => setTimeout(resolve, 20));
    const second = waiting.run('short');
    await Promise.all([first, second]);
    const runs = await storage.getRuns({ sessionId: 'renewed' });
    // Without renewal the 150 ms lease would expire mid-run, the second run would go first, and
    // the long run's fenced append would fail with CONFLICT.
    expect(runs.map((run) => run.messages[0]?.content)).toEqual(['long', 'short']);
  });
});

describe('Agent: ownership', () => {
  it('fails a run with a different userId than the session owner with SESSION_OWNERSHIP and writes nothing', async () => {
    const storage = new InMemoryStorage();
    const model = new MockModel({ respond: () => 'ok' });
    const agent = new Agent({
      model,
      storage,
      sessionId: 'owned',
      userId: 'alice',
      sessionState: { secret: 's' },
    });
    await agent.run('hello');
    const error = await caught(agent.run('let me in', { userId: 'mallory' }));
    expect(error.code).toBe('SESSION_OWNERSHIP');
    expect(error.message).toContain('"mallory"');
    expect(error.message).toContain('"owned"');
    expect(model.requests).toHaveLength(1);
    expect(await storage.getRuns({ sessionId: 'owned' })).toHaveLength(1);

    const intruder = new Agent({ model, storage, sessionId: 'owned', userId: 'mallory' });
    expect((await caught(intruder.loadSession())).code).toBe('SESSION_OWNERSHIP');
    expect((await caught(intruder.deleteSession('owned'))).code).toBe('SESSION_OWNERSHIP');
    expect((await caught(intruder.getChatHistory())).code).toBe('SESSION_OWNERSHIP');
    expect((await intruder.listSessions()).sessions).toEqual([]);
    const anonymous = new Agent({ model, storage, sessionId: 'owned' });
    expect((await caught(anonymous.run('hi'))).code).toBe('SESSION_OWNERSHIP');
    expect(await storage.getSession('owned')).toBeDefined();
  });
});

describe('Agent: stream()', () => {
  it('yields run-started, text deltas, tool events and ends with run-completed carrying the RunResponse', async () => {
    const model = new MockModel({
      replies: [
        { toolCalls: [{ name: 'add_to_cart', arguments: { item: 'milk' } }] },
        'Milk is in your cart now.',
        'Nothing to add.',
      ],
    });
    const agent = new Agent({ model, tools: [addToCart], sessionState: { cart: [] } });
    const events = await collect(agent.stream('Add milk'));
    const types = events.map((event) => event.type);
    expect(types[0]).toBe('run-started');
    expect(types.at(-1)).toBe('run-completed');
    expect(types).toContain('tool-call');
    expect(types).toContain('tool-result');
    const deltas = events
      .filter((event) => event.type === 'text-delta')
      .map((event) => event.delta);
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join('')).toBe('Milk is in your cart now.');
    const completed = events.at(-1);
    if (completed?.type !== 'run-completed') throw new Error('no run-completed');
    const response = completed.response;
    expect(Object.keys(response).sort()).toEqual([
      'content',
      'messages',
      'model',
      'runId',
      'sessionId',
      'status',
      'usage',
      'warnings',
    ]);
    expect(response.status).toBe('completed');
    expect(response.content).toBe('Milk is in your cart now.');
    expect(response.model).toEqual({ provider: 'mock', id: 'mock-model' });
    expect(response.usage.outputTokens).toBeGreaterThan(0);
    expect(agent.sessionState.cart).toEqual(['milk']);

    // run() on the same agent returns the same shape.
    const viaRun = await agent.run('Nothing to add', {});
    expect(Object.keys(viaRun).sort()).toEqual(Object.keys(response).sort());
  });

  it('reports failures as a run-error event and bad input without throwing from stream()', async () => {
    const model = new MockModel({ replies: [] });
    const agent = new Agent({ model });
    const events = await collect(agent.stream('hi'));
    expect(events.map((event) => event.type)).toEqual(['run-started', 'run-error']);
    const last = events.at(-1);
    expect(last?.type === 'run-error' && last.error.code).toBe('MODEL_BAD_RESPONSE');
    const bad = await collect(agent.stream(''));
    expect(bad).toHaveLength(1);
    expect(bad[0]?.type === 'run-error' && bad[0].error.code).toBe('INVALID_ARGUMENT');
  });

  it('aborts the run when the consumer stops reading, and nothing is stored', async () => {
    const storage = new InMemoryStorage();
    const model = new MockModel({ replies: ['one two three four five six seven'], latencyMs: 5 });
    const agent = new Agent({ model, storage, sessionId: 'early-exit' });
    for await (const event of agent.stream('hi')) {
      if (event.type === 'text-delta') break;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await storage.getRuns({ sessionId: 'early-exit' })).toEqual([]);
  });
});

describe('Agent: abort', () => {
  it('rejects with ABORTED and does not persist an aborted run', async () => {
    const storage = new InMemoryStorage();
    const model = new MockModel({ replies: ['late'], latencyMs: 200 });
    const agent = new Agent({ model, storage, sessionId: 'abort-me' });
    const controller = new AbortController();
    const pending = agent.run('hi', { signal: controller.signal });
    setTimeout(() => controller.abort(), 10);
    expect((await caught(pending)).code).toBe('ABORTED');
    expect(await storage.getSession('abort-me')).toBeUndefined();
    // The session is usable afterwards (queue and lease were released).
    const next = new Agent({
      model: new MockModel({ replies: ['fine'] }),
      storage,
      sessionId: 'abort-me',
    });
    expect((await next.run('again')).content).toBe('fine');
  });

  it('passes the signal to tools', async () => {
    let toolSignal: AbortSignal | undefined;
    const controller = new AbortController();
    const waits = tool({
      name: 'waits',
      execute: async (_args, { signal }) => {
        toolSignal = signal;
        controller.abort();
        await new Promise((resolve) => setTimeout(resolve, 5));
        return 'late';
      },
    });
    const model = new MockModel({
      replies: [{ toolCalls: [{ name: 'waits', arguments: {} }] }, 'never'],
    });
    const agent = new Agent({ model, tools: [waits] });
    expect((await caught(agent.run('go', { signal: controller.signal }))).code).toBe('ABORTED');
    expect(toolSignal?.aborted).toBe(true);
    expect(model.requests).toHaveLength(1);
  });

  it('gives a run without a signal none to pass on, and tools a signal that never fires', async () => {
    const seen: { model: (AbortSignal | undefined)[]; tool: AbortSignal[] } = {
      model: [],
      tool: [],
    };
    const reads = tool({
      name: 'reads',
      execute: (_args, ctx) => {
        seen.tool.push(ctx.signal, ctx.signal);
        return 'read';
      },
    });
    const mock = new MockModel({
      replies: [{ toolCalls: [{ name: 'reads', arguments: {} }] }, 'done', 'plain'],
    });
    const model: Model = {
      specificationVersion: mock.specificationVersion,
      provider: mock.provider,
      id: mock.id,
      generate: (request, options) => {
        seen.model.push(options?.signal);
        return mock.generate(request, options);
      },
      stream: (request, options) => mock.stream(request, options),
    };
    const agent = new Agent({ model, tools: [reads] });
    expect((await agent.run('go')).content).toBe('done');
    expect((await agent.run('again')).content).toBe('plain');
    // Nothing can abort these runs: the model gets no signal (none is made for it).
    expect(seen.model).toEqual([undefined, undefined, undefined]);
    // A tool that reads ctx.signal gets one AbortSignal per run, which never fires.
    const [first, second] = seen.tool;
    expect(first).toBeInstanceOf(AbortSignal);
    expect(second).toBe(first);
    expect(first?.aborted).toBe(false);
    // With the caller's signal, the model and the tools get that signal itself.
    const controller = new AbortController();
    seen.model.length = 0;
    seen.tool.length = 0;
    const next = new MockModel({
      replies: [{ toolCalls: [{ name: 'reads', arguments: {} }] }, 'done'],
    });
    const again = new Agent({
      model: {
        ...model,
        generate: (request, options) => {
          seen.model.push(options?.signal);
          return next.generate(request, options);
        },
      },
      tools: [reads],
    });
    expect((await again.run('go', { signal: controller.signal })).content).toBe('done');
    expect(seen.model[0]).toBe(controller.signal);
    expect(seen.tool[0]).toBe(controller.signal);
  });

  it("aborts a stream from the caller's signal and leaves no listener on it when streams end", async () => {
    const storage = new InMemoryStorage();
    const shutdown = new AbortController();
    const agent = new Agent({
      model: new MockModel({ replies: ['one', 'two', 'three'] }),
      storage,
    });
    // One long-lived signal (a server's shutdown signal, say) passed to every stream.
    for (let index = 0; index < 3; index++) {
      const events = await collect(agent.stream('hi', { signal: shutdown.signal }));
      expect(events.at(-1)?.type).toBe('run-completed');
    }
    // A resumed stream whose turn fails (nothing is paused) lets go of the signal too.
    const failed = agent.resumeStream({
      approvals: { 'no-such-approval': { approved: true } },
      signal: shutdown.signal,
    });
    expect((await collect(failed)).at(-1)?.type).toBe('run-error');
    expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(0);

    const slow = new Agent({ model: new MockModel({ replies: ['late'], latencyMs: 200 }) });
    const pending = collect(slow.stream('hi', { signal: shutdown.signal }));
    setTimeout(() => shutdown.abort(), 10);
    const last = (await pending).at(-1);
    expect(last?.type === 'run-error' && last.error.code).toBe('ABORTED');
  });
});

describe('Agent: options validation', () => {
  it.each([
    [{ sessionId: '' }, 'option \'sessionId\' must be a non-empty string, got ""'],
    [{ numHistoryRuns: -1 }, "option 'numHistoryRuns' must be an integer >= 0, got -1"],
    [{ numHistorySessions: 1.5 }, "option 'numHistorySessions' must be an integer >= 0, got 1.5"],
    [{ cacheSession: 'yes' }, 'option \'cacheSession\' must be true or false, got "yes"'],
    [{ tools: [{ name: 'x' }] }, "option 'tools[0]' is not a tool made with tool()"],
    [{ sessionState: [] }, "option 'sessionState' must be a plain object, got []"],
    [{ instructions: 42 }, "option 'instructions' must be a string or an array of strings, got 42"],
    [{ sesionId: 'typo' }, "unknown option 'sesionId'"],
    [{ model: { generate: () => {} } }, 'model specification undefined'],
    [{ storage: {} }, "option 'storage' implements storage specification undefined"],
    [{ enableSessionSummaries: true }, 'pass memory: new AgentMemory(...)'],
    [{ enableUserMemories: true }, 'pass memory: new AgentMemory(...)'],
    [{ sessionLease: { ttlMs: 10 } }, "option 'sessionLease.ttlMs' must be at least 100"],
  ])('rejects %j', (options, message) => {
    const error = caughtSync(() => new Agent(options as never));
    expect(['INVALID_ARGUMENT', 'UNSUPPORTED_SPEC_VERSION']).toContain(error.code);
    expect(error.message).toContain(message);
  });

  it('rejects two tools with one name and a tool named like a built-in', () => {
    expect(caughtSync(() => new Agent({ tools: [addToCart, addToCart] })).message).toContain(
      "two tools named 'add_to_cart'",
    );
    const clash = tool({ name: 'get_chat_history', execute: () => '' });
    expect(
      caughtSync(() => new Agent({ tools: [clash], readChatHistory: true })).message,
    ).toContain('reserved');
  });

  it('rejects bad run input and options naming the value', async () => {
    const agent = new Agent({ model: new MockModel() });
    expect((await caught(agent.run(''))).message).toContain('input must be a non-empty string');
    expect(
      (await caught(agent.run({ role: 'assistant', content: 'x' } as never))).message,
    ).toContain('"role":"assistant"');
    expect((await caught(agent.run('hi', { sessionId: '  ' }))).message).toContain('sessionId');
    expect((await caught(agent.run('hi', { userId: 7 } as never))).message).toContain('got 7');
    expect((await caught(agent.run('hi', { sessionState: 'x' } as never))).message).toContain(
      "option 'sessionState'",
    );
    expect((await caught(agent.run('hi', { session: 'x' } as never))).message).toContain(
      "unknown option 'session'",
    );
  });

  it('applies the documented defaults', () => {
    const agent = new Agent();
    expect(agent.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(agent.agentId).toMatch(/^[0-9a-f-]{36}$/);
    expect(agent.agentId).not.toBe(agent.sessionId);
    expect(agent.sessionState).toEqual({ current_session_id: agent.sessionId });
    expect(agent.tools).toEqual([]);
    expect(agent.userId).toBeUndefined();
    expect(
      new Agent({ readChatHistory: true, searchPreviousSessionsHistory: true }).tools.map(
        (entry) => entry.name,
      ),
    ).toEqual(['get_chat_history', 'get_previous_session_messages']);
  });
});

describe('Agent: default model', () => {
  it('falls back to OpenAIChat gpt-4o, loaded lazily, and names the missing key instead of crashing', async () => {
    const saved = process.env.OPENAI_API_KEY;
    delete process.env.OPENAI_API_KEY;
    try {
      const agent = new Agent({ logger: silentLogger }); // constructing needs no key
      const error = await caught(agent.run('hello'));
      expect(error.code).toBe('MODEL_AUTH_FAILED');
      expect(error.message).toContain('OPENAI_API_KEY');
    } finally {
      if (saved !== undefined) process.env.OPENAI_API_KEY = saved;
    }
  });
});

describe('Agent: history', () => {
  it('replays the last numHistoryRuns whole runs (tool pairs never split) before the new message', async () => {
    const model = cartModel();
    const agent = new Agent({
      model,
      tools: [addToCart],
      addHistoryToMessages: true,
      numHistoryRuns: 2,
    });
    await agent.run('Add milk');
    await agent.run('Add eggs');
    await agent.run('Add tea');
    await agent.run('Nothing here');
    const request = model.lastRequest;
    const roles = request?.messages.map((message) => message.role);
    // two whole runs (user, assistant+toolCalls, tool, assistant) each, then the new user message
    expect(roles).toEqual([
      'user',
      'assistant',
      'tool',
      'assistant',
      'user',
      'assistant',
      'tool',
      'assistant',
      'user',
    ]);
    expect(request?.messages[0]?.content).toBe('Add eggs');
    const assistant = request?.messages[1] as AssistantMessage;
    expect(assistant.toolCalls?.[0]?.name).toBe('add_to_cart');
    // History copies are never stored again.
    const history = await agent.getChatHistory();
    expect(history).toHaveLength(8);
  });

  it('sends no history with numHistoryRuns: 0 and reads it from storage when not cached', async () => {
    const storage = new InMemoryStorage();
    const writer = new Agent({
      model: new MockModel({ respond: () => 'ok' }),
      storage,
      sessionId: 'h',
    });
    await writer.run('first');
    await writer.run('second');
    const model = new MockModel({ respond: () => 'ok' });
    const reader = new Agent({
      model,
      storage,
      sessionId: 'h',
      addHistoryToMessages: true,
      numHistoryRuns: 1,
      cacheSession: false,
    });
    await reader.run('third');
    expect(model.lastRequest?.messages.map((message) => message.content)).toEqual([
      'second',
      'ok',
      'third',
    ]);
    const none = new MockModel({ respond: () => 'ok' });
    await new Agent({
      model: none,
      storage,
      sessionId: 'h',
      addHistoryToMessages: true,
      numHistoryRuns: 0,
    }).run('fourth');
    expect(none.lastRequest?.messages.map((message) => message.content)).toEqual(['fourth']);
  });

  it('notices another writer through the stored version and reloads history', async () => {
    const storage = new InMemoryStorage();
    const model = new MockModel({ respond: () => 'ok' });
    const cached = new Agent({
      model,
      storage,
      sessionId: 'v',
      addHistoryToMessages: true,
      numHistoryRuns: 5,
    });
    await cached.run('from cached agent');
    const other = new Agent({
      model: new MockModel({ respond: () => 'other' }),
      storage,
      sessionId: 'v',
    });
    await other.run('from other agent');
    await cached.run('again');
    expect(model.lastRequest?.messages.map((message) => message.content)).toEqual([
      'from cached agent',
      'ok',
      'from other agent',
      'other',
      'again',
    ]);
  });

  it('offers get_chat_history returning the last pairs as JSON', async () => {
    const model = new MockModel({
      respond: (request, index) => {
        const last = request.messages.at(-1);
        if (last?.role === 'tool') return `history: ${last.content}`;
        if (index === 2)
          return { toolCalls: [{ name: 'get_chat_history', arguments: { num_chats: 1 } }] };
        return `answer ${index}`;
      },
    });
    const agent = new Agent({ model, readChatHistory: true });
    await agent.run('first');
    await agent.run('second');
    const response = await agent.run('what did I say?');
    expect(response.content).toBe(
      'history: [{"role":"user","content":"second"},{"role":"assistant","content":"answer 1"}]',
    );
  });
});

describe('Agent: previous sessions', () => {
  function searchingModel() {
    return new MockModel({
      respond: (request) => {
        const last = request.messages.at(-1);
        if (last?.role === 'tool') return last.content;
        if (last?.content === 'search')
          return { toolCalls: [{ name: 'get_previous_session_messages', arguments: {} }] };
        return `re: ${last?.content}`;
      },
    });
  }

  it("returns this user's most recent other sessions only, never another user's or the current one", async () => {
    const storage = new InMemoryStorage();
    const model = searchingModel();
    const dana = (sessionId: string) =>
      new Agent({
        model,
        storage,
        userId: 'dana',
        sessionId,
        searchPreviousSessionsHistory: true,
        numHistorySessions: 2,
      });
    await dana('old').run('oldest topic');
    await new Promise((resolve) => setTimeout(resolve, 3));
    await dana('mid').run('middle topic');
    await new Promise((resolve) => setTimeout(resolve, 3));
    await dana('new').run('newest topic');
    await new Agent({ model, storage, userId: 'eve', sessionId: 'eve-1' }).run('eve secret');
    await new Promise((resolve) => setTimeout(resolve, 3));
    const current = dana('current');
    await current.run('hello');
    const response = await current.run('search');
    const result = JSON.parse(response.content) as {
      sessionId: string;
      messages: { content: string }[];
    }[];
    expect(result.map((session) => session.sessionId)).toEqual(['new', 'mid']);
    expect(result[0]?.messages).toEqual([
      { role: 'user', content: 'newest topic' },
      { role: 'assistant', content: 're: newest topic' },
    ]);
    expect(response.content).not.toContain('eve secret');
    expect(response.content).not.toContain('hello');
  });

  it('explains when there is no storage, no userId or no previous session', async () => {
    const noStorage = new Agent({
      model: searchingModel(),
      userId: 'dana',
      searchPreviousSessionsHistory: true,
    });
    expect((await noStorage.run('search')).content).toContain('no storage configured');
    const noUser = new Agent({
      model: searchingModel(),
      storage: new InMemoryStorage(),
      searchPreviousSessionsHistory: true,
    });
    expect((await noUser.run('search')).content).toContain('no userId');
    const first = new Agent({
      model: searchingModel(),
      storage: new InMemoryStorage(),
      userId: 'x',
      searchPreviousSessionsHistory: true,
    });
    expect((await first.run('search')).content).toBe('No previous sessions');
  });
});

describe('Agent: session methods', () => {
  it('loads, renames, lists, switches and deletes sessions', async () => {
    const storage = new InMemoryStorage();
    const model = new MockModel({ respond: () => 'ok' });
    const agent = new Agent({
      model,
      storage,
      userId: 'dana',
      sessionId: 'one',
      sessionName: 'First',
      sessionState: { cart: [] },
    });
    expect(await agent.loadSession()).toBe('one');
    expect(await storage.getSession('one')).toMatchObject({
      sessionName: 'First',
      userId: 'dana',
      sessionState: { cart: [] },
    });
    await agent.renameSession('Groceries');
    expect(agent.sessionName).toBe('Groceries');
    await agent.run('hi');
    await new Promise((resolve) => setTimeout(resolve, 5)); // distinct updatedAt for the listing order

    const second = agent.newSession();
    expect(second).not.toBe('one');
    expect(agent.sessionId).toBe(second);
    expect(agent.sessionName).toBeUndefined();
    expect(agent.sessionState).toEqual({
      cart: [],
      current_session_id: second,
      current_user_id: 'dana',
    });
    await agent.run('in the second session');

    const listed = await agent.listSessions();
    expect(listed.sessions.map((session) => session.sessionId)).toEqual([second, 'one']);
    expect(listed.sessions[1]).toMatchObject({ sessionName: 'Groceries', userId: 'dana' });
    const paged = await agent.listSessions({ limit: 1 });
    expect(paged.sessions).toHaveLength(1);
    const next = await agent.listSessions({
      limit: 1,
      ...(paged.nextCursor === undefined ? {} : { cursor: paged.nextCursor }),
    });
    expect(next.sessions[0]?.sessionId).toBe('one');

    await agent.switchSession('one');
    expect(agent.sessionName).toBe('Groceries');
    expect(agent.sessionState.current_session_id).toBe('one');

    expect(await agent.deleteSession(second)).toBe(true);
    expect(await agent.deleteSession(second)).toBe(false);
    expect((await agent.listSessions()).sessions.map((session) => session.sessionId)).toEqual([
      'one',
    ]);
  });

  it('rejects an empty name and names the bad value', async () => {
    const agent = new Agent({ model: new MockModel() });
    const error = await caught(agent.renameSession('   '));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain('"   "');
  });

  it('lets the model name the session in at most five words', async () => {
    const model = new MockModel({
      respond: (request) =>
        request.messages[0]?.role === 'system' &&
        request.messages[0].content.includes('You name conversations')
          ? '"Planning the Weekly Grocery Shopping Trip Today."'
          : 'Sure, milk it is.',
    });
    const agent = new Agent({ model, storage: new InMemoryStorage() });
    await expect(agent.autoRenameSession()).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await agent.run('I need milk');
    const name = await agent.autoRenameSession();
    expect(name).toBe('Planning the Weekly Grocery Shopping');
    expect(agent.sessionName).toBe(name);
    expect(model.lastRequest?.messages[1]?.content).toContain(
      'User: I need milk\nAssistant: Sure, milk it is.',
    );
    expect((await agent.listSessions()).sessions[0]?.sessionName).toBe(name);
  });

  it('deleteUserData removes every session of that user only', async () => {
    const storage = new InMemoryStorage();
    const model = new MockModel({ respond: () => 'ok' });
    await new Agent({ model, storage, userId: 'a', sessionId: 'a1' }).run('x');
    await new Agent({ model, storage, userId: 'a', sessionId: 'a2' }).run('x');
    await new Agent({ model, storage, userId: 'b', sessionId: 'b1' }).run('x');
    const agent = new Agent({ model, storage, userId: 'a' });
    expect(await agent.deleteUserData('a')).toEqual({ sessions: 2, memories: 0 });
    expect(await storage.getSession('a1')).toBeUndefined();
    expect(await storage.getSession('b1')).toBeDefined();
  });

  it('keeps nothing in process between runs with cacheSession: false but still resumes from storage', async () => {
    const storage = new InMemoryStorage();
    const model = cartModel();
    const agent = new Agent({
      model,
      storage,
      tools: [addToCart],
      cacheSession: false,
      sessionId: 'nc',
      addHistoryToMessages: true,
    });
    await agent.run('Add milk');
    await agent.run('Add eggs');
    expect((await storage.getSession('nc'))?.sessionState.cart).toEqual(['milk', 'eggs']);
    expect(
      model.lastRequest?.messages
        .filter((message) => message.role === 'user')
        .map((message) => message.content),
    ).toEqual(['Add milk', 'Add eggs']);
  });
});

describe('Agent: storage calls per turn', () => {
  /** Counts storage calls; `plain` hides the optional lease capabilities. */
  function counting(plain: boolean) {
    const inner = new InMemoryStorage();
    const calls: string[] = [];
    const storage = new Proxy(inner, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          calls.push(String(property));
          if (plain && property === 'acquireLease') {
            const { readSession: _dropped, ...rest } = args[0] as Record<string, unknown>;
            const lease = await inner.acquireLease(rest as never);
            return {
              sessionId: lease.sessionId,
              token: lease.token,
              renew: () => lease.renew(),
              release: () => {
                calls.push('release');
                return lease.release();
              },
            };
          }
          if (plain && property === 'appendRun') {
            const { releaseLease: _dropped, ...rest } = args[0] as Record<string, unknown>;
            return inner.appendRun(rest as never);
          }
          if (property === 'acquireLease') {
            const lease = await inner.acquireLease(args[0] as never);
            return {
              ...lease,
              release: () => {
                calls.push('release');
                return lease.release();
              },
            };
          }
          return (value as (...input: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    return { storage, calls, inner };
  }

  it('uses two storage calls per turn when the storage reads the session with the lease and releases it with the append', async () => {
    const { storage, calls } = counting(false);
    const agent = new Agent({
      model: new MockModel({ respond: () => 'ok' }),
      storage,
      sessionId: 's',
    });
    await agent.run('one');
    await agent.run('two');
    expect(calls).toEqual(['acquireLease', 'appendRun', 'acquireLease', 'appendRun']);
  });

  it('falls back to getSession and release() with a storage without those capabilities', async () => {
    const { storage, calls, inner } = counting(true);
    const agent = new Agent({
      model: new MockModel({ respond: () => 'ok' }),
      storage,
      sessionId: 's',
      userId: 'u',
    });
    await agent.run('one');
    await agent.run('two');
    expect(calls).toEqual([
      'acquireLease',
      'getSession',
      'appendRun',
      'release',
      'acquireLease',
      'getSession',
      'appendRun',
      'release',
    ]);
    expect(inner.backing.leases.size).toBe(0);
    expect((await inner.getSession('s'))?.runCount).toBe(2);
  });
});
