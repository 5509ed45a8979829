// Type-level tests, checked by `pnpm typecheck` (tsconfig.test.json includes *.test-d.ts).
import { expectTypeOf } from 'vitest';
import { z } from 'zod';
import { type Tool, tool } from './tool.ts';

const addToCart = tool({
  name: 'add_to_cart',
  parameters: z.object({ item: z.string(), quantity: z.number().optional() }),
  execute: (args, context) => {
    expectTypeOf(args).toEqualTypeOf<{ item: string; quantity?: number | undefined }>();
    expectTypeOf(context.sessionState).toEqualTypeOf<Record<string, unknown>>();
    expectTypeOf(context.userId).toEqualTypeOf<string | undefined>();
    return args.quantity ?? 1;
  },
});
expectTypeOf(addToCart).toEqualTypeOf<
  Tool<{ item: string; quantity?: number | undefined }, number>
>();

tool({
  name: 'typed',
  parameters: z.object({ item: z.string() }),
  // @ts-expect-error `count` is not an argument of this tool
  execute: ({ count }) => count,
});

// Tools of different argument types fit one list.
const tools: Tool[] = [addToCart, tool({ name: 'ping', execute: () => 'pong' })];
void tools;
