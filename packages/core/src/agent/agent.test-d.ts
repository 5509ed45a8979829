// Type-level tests of typed state (SPEC §10.2), checked by `pnpm typecheck`.
import { expectTypeOf } from 'vitest';
import { z } from 'zod';
import type { AgentMemoryContract } from '../spec/agent-memory-v1.ts';
import { type ToolContext, tool } from '../tools/tool.ts';
import { Agent } from './agent.ts';

const stateSchema = z.object({
  cart: z.array(z.string()).default([]),
  plan: z.enum(['free', 'pro']).default('free'),
});
type CartState = z.infer<typeof stateSchema>;

// A tool linked to the schema sees the typed state, without casts.
const addToCart = tool({
  name: 'add_to_cart',
  parameters: z.object({ item: z.string() }),
  stateSchema,
  execute: ({ item }, context) => {
    expectTypeOf(context.sessionState).toEqualTypeOf<CartState>();
    expectTypeOf(context.agent.sessionState).toEqualTypeOf<CartState>();
    context.sessionState.cart.push(item);
    return context.sessionState.cart.length;
  },
});
// A tool without a schema still fits a typed agent.
const ping = tool({ name: 'ping', execute: () => 'pong' });

const agent = new Agent({ stateSchema, tools: [addToCart, ping], sessionState: { plan: 'pro' } });
expectTypeOf(agent.sessionState).toEqualTypeOf<CartState>();
expectTypeOf(agent.sessionState.cart).toEqualTypeOf<string[]>();
// @ts-expect-error `color` is not part of the state
agent.sessionState.color;
// @ts-expect-error the default state must match the schema
new Agent({ stateSchema, sessionState: { plan: 'platinum' } });

// Per-run state is checked against the schema's type.
void agent.run('hi', { sessionState: { cart: ['milk'] } });
// @ts-expect-error `cart` holds strings
void agent.run('hi', { sessionState: { cart: [1] } });

// Without a schema the state is a plain JSON object.
const plain = new Agent({});
expectTypeOf(plain.sessionState).toEqualTypeOf<Record<string, unknown>>();

// The memory keeps its own type, so its methods need no cast.
class MyMemory implements AgentMemoryContract {
  readonly specificationVersion = 'v1' as const;
  attach(): void {}
  async readMemories() {
    return [];
  }
  async updateSessionSummary() {
    return undefined;
  }
  async deleteUserData() {
    return 0;
  }
  async updateUserMemories() {}
  hello(): string {
    return 'hi';
  }
}
const withMemory = new Agent({ memory: new MyMemory() });
expectTypeOf(withMemory.memory.hello()).toEqualTypeOf<string>();
const withoutMemory = new Agent({});
expectTypeOf(withoutMemory.memory).toEqualTypeOf<AgentMemoryContract | undefined>();

// A context type can be named too.
function handler(context: ToolContext<CartState>): number {
  return context.sessionState.cart.length;
}
void handler;
