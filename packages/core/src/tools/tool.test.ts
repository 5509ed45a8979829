import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { BuddyError } from '../errors/buddy-error.ts';
import { isTool, toModelToolDefinition, tool } from './tool.ts';

function thrown(fn: () => unknown): BuddyError {
  try {
    fn();
  } catch (error) {
    if (BuddyError.is(error)) return error;
    throw error;
  }
  throw new Error('expected a throw');
}

describe('tool()', () => {
  it('derives the JSON schema sent to the model from the zod schema', () => {
    const search = tool({
      name: 'search_products',
      description: 'Search the catalogue.',
      parameters: z.object({
        query: z.string().describe('What to look for'),
        limit: z.number().int().min(1).max(50).optional(),
        sort: z.enum(['price', 'name']).default('name'),
      }),
      execute: ({ query }) => query,
    });
    expect(isTool(search)).toBe(true);
    expect(toModelToolDefinition(search)).toEqual({
      name: 'search_products',
      description: 'Search the catalogue.',
      parameters: {
        type: 'object',
        properties: {
          query: { type: 'string', description: 'What to look for' },
          limit: { type: 'integer', minimum: 1, maximum: 50 },
          sort: { type: 'string', enum: ['price', 'name'], default: 'name' },
        },
        required: ['query'],
      },
    });
  });

  it('defaults to an empty object schema', () => {
    const ping = tool({ name: 'ping', execute: () => 'pong' });
    expect(ping.jsonSchema).toEqual({ type: 'object', properties: {} });
    expect(toModelToolDefinition(ping)).not.toHaveProperty('description');
  });

  it('rejects bad definitions naming the bad value', () => {
    expect(thrown(() => tool({ name: 'has space', execute: () => '' })).message).toContain(
      '"has space"',
    );
    expect(thrown(() => tool({ name: 'x'.repeat(65), execute: () => '' })).code).toBe(
      'INVALID_ARGUMENT',
    );
    expect(thrown(() => tool({ name: 'ok', execute: 'nope' as never })).message).toContain(
      'execute must be a function, got "nope"',
    );
    expect(
      thrown(() => tool({ name: 'ok', parameters: z.string() as never, execute: () => '' }))
        .message,
    ).toContain('parameters must be a zod object schema');
    expect(
      thrown(() => tool({ name: 'ok', description: 5 as never, execute: () => '' })).message,
    ).toContain('got 5');
    expect(thrown(() => tool(null as never)).message).toContain('got null');
  });
});
