/**
 * The promises of SPEC §10 at the Agent's edges: each case is one way an adversarial review broke
 * them (issue "Every promise holds at the edges"), named after the behaviour it pins down.
 */
import { MockModel } from '@buddy/testkit';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { BuddyError } from '../errors/buddy-error.ts';
import { InMemoryStorage } from '../in-memory/in-memory-storage.ts';
import { silentLogger } from '../logging/console-logger.ts';
import type { Model } from '../spec/model-v1.ts';
import { tool } from '../tools/tool.ts';
import { Agent } from './agent.ts';

async function rejection(promise: Promise<unknown>): Promise<BuddyError> {
  try {
    await promise;
  } catch (error) {
    if (BuddyError.is(error)) return error;
    throw new Error(`expected a BuddyError, got ${String(error)}`);
  }
  throw new Error('expected the call to reject');
}

function thrown(fn: () => unknown): BuddyError {
  try {
    fn();
  } catch (error) {
    if (BuddyError.is(error)) return error;
    throw new Error(`expected a BuddyError, got ${String(error)}`);
  }
  throw new Error('expected a throw');
}

/** A tool that sets `sessionState[key]` to whatever `make()` returns. */
function setter(key: string, make: () => unknown) {
  return tool({
    name: `set_${key}`,
    execute: (_args, { sessionState }) => {
      sessionState[key] = make();
      return 'set';
    },
  });
}

/** A model that calls `toolName` once per run, then answers `answer`. */
function callsTool(toolName: string, answer = 'done') {
  return new MockModel({
    respond: (request) =>
      request.messages.at(-1)?.role === 'tool'
        ? answer
        : { toolCalls: [{ name: toolName, arguments: {} }] },
  });
}

const noteTool = tool({
  name: 'note',
  parameters: z.object({ text: z.string() }),
  execute: ({ text }, { sessionState }) => {
    const notes = (sessionState.notes ?? []) as string[];
    sessionState.notes = [...notes, text];
    return 'noted';
  },
});

/** Calls `note` with the user's text, then answers; the answer lists the history it saw. */
function notingModel() {
  return new MockModel({
    respond: (request) => {
      const last = request.messages.at(-1);
      if (last?.role === 'tool') {
        const seen = request.messages.filter((m) => m.role === 'user').map((m) => m.content);
        return `seen: ${seen.join(' | ')}`;
      }
      return { toolCalls: [{ name: 'note', arguments: { text: last?.content ?? '' } }] };
    },
  });
}

describe('Agent: a cache never outlives its session', () => {
  it('never uses a stale cached session after another agent deleted and recreated it (same version)', async () => {
    const storage = new InMemoryStorage();
    const options = {
      sessionId: 'S',
      storage,
      tools: [noteTool],
      addHistoryToMessages: true,
      numHistoryRuns: 5,
      logger: silentLogger,
    };
    const modelA = notingModel();
    const agentA = new Agent({ ...options, model: modelA });
    for (const text of ['a1', 'a2', 'a3']) await agentA.run(text);
    const old = await storage.getSession('S');

    const agentB = new Agent({ ...options, model: notingModel() });
    expect(await agentB.deleteSession('S')).toBe(true);
    for (const text of ['b1', 'b2', 'b3']) await agentB.run(text);
    const recreated = await storage.getSession('S');
    expect(recreated?.version).toBe(old?.version);
    expect(recreated?.incarnation).not.toBe(old?.incarnation);

    const response = await agentA.run('a4');
    // A saw only the new incarnation's history, and kept B's state.
    expect(response.content).toBe('seen: b1 | b2 | b3 | a4');
    expect((await storage.getSession('S'))?.sessionState.notes).toEqual(['b1', 'b2', 'b3', 'a4']);
    expect(agentA.sessionState.notes).toEqual(['b1', 'b2', 'b3', 'a4']);
  });

  it('starts from the default state after deleteUserData of its own user, and never writes the old state back', async () => {
    const storage = new InMemoryStorage();
    const agent = new Agent({
      model: notingModel(),
      userId: 'dana',
      storage,
      tools: [noteTool],
      sessionState: { plan: 'free' },
      logger: silentLogger,
    });
    await agent.run('secret one');
    await agent.run('secret two');
    expect(agent.sessionState.notes).toEqual(['secret one', 'secret two']);
    expect(await agent.deleteUserData('dana')).toEqual({ sessions: 1, memories: 0 });
    expect(agent.sessionState).toEqual({
      plan: 'free',
      current_session_id: agent.sessionId,
      current_user_id: 'dana',
    });
    await agent.run('fresh start');
    const stored = await storage.getSession(agent.sessionId);
    expect(stored?.sessionState.notes).toEqual(['fresh start']);
    expect(stored?.runCount).toBe(1);
  });

  it('starts from the default state after deleteSession of its own session', async () => {
    const storage = new InMemoryStorage();
    const agent = new Agent({
      model: notingModel(),
      storage,
      tools: [noteTool],
      logger: silentLogger,
    });
    await agent.run('one');
    expect(await agent.deleteSession(agent.sessionId)).toBe(true);
    expect(agent.sessionState.notes).toBeUndefined();
    await agent.run('two');
    expect((await storage.getSession(agent.sessionId))?.sessionState.notes).toEqual(['two']);
  });

  it('gives the same results with cacheSession true and false, and always persists edits of agent.sessionState', async () => {
    const results: unknown[] = [];
    for (const cacheSession of [true, false]) {
      const storage = new InMemoryStorage();
      const agent = new Agent({
        model: notingModel(),
        sessionId: 'edited',
        storage,
        tools: [noteTool],
        cacheSession,
        addHistoryToMessages: true,
        sessionState: { plan: 'free' },
        logger: silentLogger,
      });
      // Edited before the first run, between runs, and a key removed.
      agent.sessionState.plan = 'pro';
      await agent.run('one');
      agent.sessionState.theme = 'dark';
      (agent.sessionState.notes as string[]).push('edited');
      await agent.run('two');
      delete agent.sessionState.theme;
      const last = await agent.run('three');
      const stored = await storage.getSession(agent.sessionId);
      results.push({
        state: stored?.sessionState,
        getter: agent.sessionState,
        content: last.content,
      });
    }
    expect(results[0]).toEqual(results[1]);
    expect(results[0]).toMatchObject({
      state: { plan: 'pro', notes: ['one', 'edited', 'two', 'three'] },
      content: 'seen: one | two | three',
    });
    expect((results[0] as { state: Record<string, unknown> }).state).not.toHaveProperty('theme');
  });

  it("keeps another process's changes to other keys when it persists the caller's edits", async () => {
    const storage = new InMemoryStorage();
    const mine = new Agent({
      model: notingModel(),
      sessionId: 'shared',
      storage,
      tools: [noteTool],
      logger: silentLogger,
    });
    await mine.run('mine');
    const theirs = new Agent({
      model: notingModel(),
      sessionId: 'shared',
      storage,
      tools: [noteTool],
      logger: silentLogger,
    });
    await theirs.run('theirs', { sessionState: { color: 'blue' } });
    mine.sessionState.size = 'L';
    await mine.run('again');
    expect((await storage.getSession('shared'))?.sessionState).toMatchObject({
      notes: ['mine', 'theirs', 'again'],
      color: 'blue',
      size: 'L',
    });
  });
});

describe('Agent: only JSON values in state (SPEC §10.1)', () => {
  const bad: [string, () => unknown, string][] = [
    ['a function', () => () => 1, 'sessionState.value'],
    ['a BigInt', () => 10n, 'sessionState.value'],
    [
      'a cycle',
      () => {
        const cycle: Record<string, unknown> = {};
        cycle.self = cycle;
        return cycle;
      },
      'sessionState.value.self',
    ],
    ['a Map', () => new Map([['a', 1]]), 'sessionState.value'],
    ['a Date', () => new Date(0), 'sessionState.value'],
    ['NaN', () => Number.NaN, 'sessionState.value'],
  ];

  for (const [what, make, path] of bad) {
    it(`fails the run of a tool leaving ${what} in the state, naming ${path}; nothing stored, later runs work`, async () => {
      const storage = new InMemoryStorage();
      let poison = false;
      const agent = new Agent({
        model: callsTool('set_value'),
        storage,
        tools: [setter('value', () => (poison ? make() : 'fine'))],
        logger: silentLogger,
      });
      await agent.run('first');
      const before = await storage.getSession(agent.sessionId);
      poison = true;
      const error = await rejection(agent.run('poison'));
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toContain(path);
      expect(await storage.getSession(agent.sessionId)).toEqual(before);
      expect(agent.sessionState.value).toBe('fine');
      poison = false;
      await agent.run('after');
      const runs = await storage.getRuns({ sessionId: agent.sessionId });
      expect(runs.map((run) => run.index)).toEqual([0, 1]);
    });
  }

  it('refuses non-JSON state at construction and per run, naming the path', async () => {
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    for (const [state, path] of [
      [{ big: 1n }, 'sessionState.big'],
      [{ nested: cycle }, 'sessionState.nested.self'],
      [{ when: new Date() }, 'sessionState.when'],
      [{ list: [1, undefined] }, 'sessionState.list[1]'],
    ] as const) {
      const error = thrown(
        () => new Agent({ model: new MockModel(), sessionState: state as never }),
      );
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toContain(path);
      const agent = new Agent({ model: new MockModel({ replies: ['x'] }), logger: silentLogger });
      const perRun = await rejection(agent.run('hi', { sessionState: state as never }));
      expect(perRun.code).toBe('INVALID_ARGUMENT');
      expect(perRun.message).toContain(path);
    }
  });

  it('refuses a function put into agent.sessionState between runs, naming it', async () => {
    const agent = new Agent({
      model: new MockModel({ replies: ['ok', 'ok'] }),
      logger: silentLogger,
    });
    await agent.run('one');
    agent.sessionState.callback = () => 1;
    const error = await rejection(agent.run('two'));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain('agent.sessionState.callback');
    delete agent.sessionState.callback;
    await expect(agent.run('three')).resolves.toMatchObject({ content: 'ok' });
  });
});

describe('Agent: typed state (stateSchema)', () => {
  const stateSchema = z.object({
    cart: z.array(z.string()).default([]),
    plan: z.enum(['free', 'pro']).default('free'),
  });
  const addToCart = tool({
    name: 'add_to_cart',
    parameters: z.object({ item: z.string() }),
    stateSchema,
    execute: ({ item }, { sessionState }) => {
      sessionState.cart.push(item);
      return `${sessionState.cart.length} item(s)`;
    },
  });
  const cartModel = () =>
    new MockModel({
      respond: (request) =>
        request.messages.at(-1)?.role === 'tool'
          ? 'added'
          : { toolCalls: [{ name: 'add_to_cart', arguments: { item: 'milk' } }] },
    });

  it('fills defaults for a new session and keeps the stored state typed', async () => {
    const storage = new InMemoryStorage();
    const agent = new Agent({
      model: cartModel(),
      stateSchema,
      storage,
      tools: [addToCart],
      logger: silentLogger,
    });
    expect(agent.sessionState.cart).toEqual([]);
    expect(agent.sessionState.plan).toBe('free');
    await agent.run('add milk');
    const cart: string[] = agent.sessionState.cart;
    expect(cart).toEqual(['milk']);
    expect((await storage.getSession(agent.sessionId))?.sessionState).toMatchObject({
      cart: ['milk'],
      plan: 'free',
    });
  });

  it('fails a run whose tool leaves an invalid state with INVALID_ARGUMENT naming the path; nothing stored', async () => {
    const storage = new InMemoryStorage();
    const agent = new Agent({
      model: callsTool('set_plan'),
      stateSchema,
      storage,
      tools: [setter('plan', () => 'platinum')],
      logger: silentLogger,
    });
    const error = await rejection(agent.run('upgrade me'));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain('sessionState.plan');
    expect(await storage.getSession(agent.sessionId)).toBeUndefined();
  });

  it('reports a stored state that no longer matches the schema as STORAGE_CORRUPT for that session only', async () => {
    const storage = new InMemoryStorage();
    await storage.upsertSession({ sessionId: 'old', sessionState: { cart: 'not a list' } });
    const agent = new Agent({
      model: new MockModel({ replies: ['hi', 'hi'] }),
      stateSchema,
      storage,
      logger: silentLogger,
    });
    const error = await rejection(agent.run('hello', { sessionId: 'old' }));
    expect(error.code).toBe('STORAGE_CORRUPT');
    expect(error.message).toContain('old');
    await expect(agent.run('hello', { sessionId: 'other' })).resolves.toMatchObject({
      content: 'hi',
    });
  });
});

describe('Agent: ids, options and templating at the edges', () => {
  it('refuses ids with lone surrogates or control characters', async () => {
    for (const id of ['dana\ud800', 'a\u0007b']) {
      expect(thrown(() => new Agent({ model: new MockModel(), userId: id })).code).toBe(
        'INVALID_ARGUMENT',
      );
      expect(thrown(() => new Agent({ model: new MockModel(), sessionId: id })).code).toBe(
        'INVALID_ARGUMENT',
      );
    }
    const agent = new Agent({ model: new MockModel({ replies: ['x'] }) });
    expect((await rejection(agent.run('hi', { sessionId: '\udc00' }))).code).toBe(
      'INVALID_ARGUMENT',
    );
  });

  it('answers null options, misspelt options and a malformed model reply with BuddyErrors, never TypeErrors', async () => {
    const agent = new Agent({ model: new MockModel({ replies: ['x'] }), logger: silentLogger });
    expect((await rejection(agent.run('hi', null as never))).code).toBe('INVALID_ARGUMENT');
    expect((await rejection(agent.run('hi', { sessionState: { f() {} } } as never))).code).toBe(
      'INVALID_ARGUMENT',
    );
    const typo = await rejection(agent.listSessions({ usrId: 'bob' } as never));
    expect(typo.code).toBe('INVALID_ARGUMENT');
    expect(typo.message).toContain('usrId');
    for (const toolCalls of ['x', [null], [{ id: 'c', name: 'n', arguments: { a: 1 } }]]) {
      const broken: Model = {
        specificationVersion: 'v1',
        provider: 'broken',
        id: 'b',
        generate: async () =>
          ({
            content: '',
            toolCalls,
            usage: { inputTokens: 1, outputTokens: 1 },
            finishReason: 'stop',
          }) as never,
        stream: () => {
          throw new Error('unused');
        },
      };
      const storage = new InMemoryStorage();
      const victim = new Agent({ model: broken, storage, logger: silentLogger });
      const error = await rejection(victim.run('hi'));
      expect(error.code).toBe('MODEL_BAD_RESPONSE');
      expect(error.message).toContain('broken/b');
      expect(await storage.getSession(victim.sessionId)).toBeUndefined();
    }
  });

  it('templates {user_id}, {current_user_id} and {current_session_id} with the real values, whatever the state holds', async () => {
    const model = new MockModel({ replies: ['one', 'two'] });
    const agent = new Agent({
      model,
      userId: 'dana',
      sessionId: 'real-session',
      addStateInMessages: true,
      instructions: 'user={user_id} current={current_user_id} session={current_session_id}',
      tools: [],
      logger: silentLogger,
    });
    await agent.run('hi', {
      sessionState: { user_id: 'mallory', current_user_id: 'mallory', current_session_id: 'fake' },
    });
    await agent.run('again');
    for (const request of model.requests) {
      expect(request.messages[0]?.content).toContain('user=dana current=dana session=real-session');
    }
  });

  it('acts for its own user only: listing or deleting another user is SESSION_OWNERSHIP; an agent without userId may', async () => {
    const storage = new InMemoryStorage();
    const bob = new Agent({
      model: new MockModel({ replies: ['hi'] }),
      userId: 'bob',
      storage,
      logger: silentLogger,
    });
    await bob.run('bob was here');
    const alice = new Agent({
      model: new MockModel(),
      userId: 'alice',
      storage,
      logger: silentLogger,
    });
    expect((await rejection(alice.listSessions({ userId: 'bob' }))).code).toBe('SESSION_OWNERSHIP');
    expect((await rejection(alice.deleteUserData('bob'))).code).toBe('SESSION_OWNERSHIP');
    expect((await storage.listSessions({ userId: 'bob' })).sessions).toHaveLength(1);
    const server = new Agent({ model: new MockModel(), storage, logger: silentLogger });
    expect((await server.listSessions({ userId: 'bob' })).sessions).toHaveLength(1);
    expect(await server.deleteUserData('bob')).toEqual({ sessions: 1, memories: 0 });
  });
});

describe('Agent: resources (close, await using)', () => {
  it('closes the storage and the model it was given, idempotently; later runs are STORAGE_CLOSED', async () => {
    const storage = new InMemoryStorage();
    let closedModel = 0;
    const model = new MockModel({ replies: ['hi'] });
    Object.assign(model, { close: async () => void closedModel++ });
    const agent = new Agent({ model, storage, logger: silentLogger });
    await agent.run('hello');
    await agent.close();
    await agent.close();
    expect(closedModel).toBe(1);
    expect((await rejection(storage.listSessions())).code).toBe('STORAGE_CLOSED');
    expect((await rejection(agent.run('again'))).code).toBe('STORAGE_CLOSED');
  });

  it('supports await using', async () => {
    const storage = new InMemoryStorage();
    {
      await using agent = new Agent({
        model: new MockModel({ replies: ['hi'] }),
        storage,
        logger: silentLogger,
      });
      await agent.run('hello');
    }
    expect((await rejection(storage.getSession('x'))).code).toBe('STORAGE_CLOSED');
  });
});
