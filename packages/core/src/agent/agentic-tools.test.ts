/**
 * The agent's own tools of SPEC §16.1: `update_session_state` (a JSON merge patch, checked
 * against the schema) and `get_tool_call_history`.
 */
import { MockModel } from '@buddy/testkit';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { InMemoryStorage } from '../in-memory/in-memory-storage.ts';
import { silentLogger } from '../logging/console-logger.ts';
import { tool } from '../tools/tool.ts';
import { Agent } from './agent.ts';
import { applyMergePatch } from './agentic-tools.ts';

/** Calls `update_session_state` with each patch in turn (one per run), then answers. */
function patchingModel(patches: unknown[]) {
  let next = 0;
  return new MockModel({
    respond: (request) => {
      if (request.messages.at(-1)?.role === 'tool')
        return `result: ${request.messages.at(-1)?.content}`;
      return {
        toolCalls: [{ name: 'update_session_state', arguments: { patch: patches[next++] } }],
      };
    },
  });
}

describe('applyMergePatch (RFC 7396)', () => {
  it('sets, merges nested objects, removes keys set to null, and replaces arrays', () => {
    const target = { a: 1, nested: { x: 1, y: 2 }, list: [1, 2], gone: true };
    expect(
      applyMergePatch(target, {
        a: 2,
        nested: { y: null, z: 3 },
        list: [3],
        gone: null,
        added: { deep: 1 },
      }),
    ).toEqual({
      a: 2,
      nested: { x: 1, z: 3 },
      list: [3],
      added: { deep: 1 },
    });
    expect(target).toEqual({ a: 1, nested: { x: 1, y: 2 }, list: [1, 2], gone: true });
  });
});

describe('Agent: enableAgenticState', () => {
  it('applies the patch to the run state and stores it with the run', async () => {
    const storage = new InMemoryStorage();
    const agent = new Agent({
      model: patchingModel([
        { cart: ['milk'], profile: { name: 'Dana' } },
        { profile: { city: 'Porto' }, cart: null },
      ]),
      storage,
      enableAgenticState: true,
      logger: silentLogger,
    });
    await agent.run('remember milk');
    await agent.run('I live in Porto');
    const state = (await storage.getSession(agent.sessionId))?.sessionState;
    expect(state).toMatchObject({ profile: { name: 'Dana', city: 'Porto' } });
    expect(state).not.toHaveProperty('cart');
    expect(agent.sessionState.profile).toEqual({ name: 'Dana', city: 'Porto' });
  });

  it('rejects a patch the schema refuses as a tool error the model sees; the state is unchanged', async () => {
    const stateSchema = z.object({ plan: z.enum(['free', 'pro']).default('free') });
    const model = patchingModel([{ plan: 'platinum' }]);
    const storage = new InMemoryStorage();
    const agent = new Agent({
      model,
      stateSchema,
      storage,
      enableAgenticState: true,
      logger: silentLogger,
    });
    const response = await agent.run('upgrade me');
    expect(response.content).toMatch(/^result: Error: .*sessionState\.plan/);
    expect((await storage.getSession(agent.sessionId))?.sessionState.plan).toBe('free');
  });

  it('refuses patches to the seeded ids and non-JSON patches', async () => {
    const model = patchingModel([{ current_session_id: 'elsewhere' }]);
    const agent = new Agent({ model, enableAgenticState: true, logger: silentLogger });
    const response = await agent.run('move');
    expect(response.content).toMatch(/^result: Error: .*current_session_id/);
    expect(agent.sessionState.current_session_id).toBe(agent.sessionId);
  });
});

describe('Agent: readToolCallHistory', () => {
  it("returns this session's latest tool calls, newest first, with arguments and results", async () => {
    const storage = new InMemoryStorage();
    const add = tool({
      name: 'add',
      parameters: z.object({ item: z.string() }),
      execute: ({ item }) => `added ${item}`,
    });
    let history = '';
    const model = new MockModel({
      respond: (request) => {
        const last = request.messages.at(-1);
        if (last?.role === 'tool' && last.toolName === 'get_tool_call_history') {
          history = last.content;
          return 'listed';
        }
        if (last?.role === 'tool') return 'ok';
        if (last?.content === 'history')
          return { toolCalls: [{ name: 'get_tool_call_history', arguments: { num_calls: 2 } }] };
        return { toolCalls: [{ name: 'add', arguments: { item: last?.content ?? '' } }] };
      },
    });
    const agent = new Agent({
      model,
      storage,
      tools: [add],
      readToolCallHistory: true,
      logger: silentLogger,
    });
    for (const item of ['milk', 'eggs', 'bread']) await agent.run(item);
    await agent.run('history');
    const calls = JSON.parse(history) as { name: string; arguments: unknown; result: string }[];
    expect(calls.map((call) => [call.name, call.arguments, call.result])).toEqual([
      ['add', { item: 'bread' }, 'added bread'],
      ['add', { item: 'eggs' }, 'added eggs'],
    ]);
  });
});
