import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { isStrictJsonSchema } from './strict-json-schema.ts';

const closed = (properties: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  type: 'object',
  properties,
  required: Object.keys(properties),
  additionalProperties: false,
  ...extra,
});

describe('isStrictJsonSchema', () => {
  it('accepts closed objects with every property required, nested and in arrays', () => {
    expect(
      isStrictJsonSchema(
        closed({
          name: { type: 'string' },
          tags: { type: 'array', items: closed({ label: { type: ['string', 'null'] } }) },
          choice: { anyOf: [{ type: 'string' }, closed({ n: { type: 'number' } })] },
        }),
      ),
    ).toBe(true);
    expect(isStrictJsonSchema(z.toJSONSchema(z.object({ a: z.string(), b: z.number() })))).toBe(
      true,
    );
  });

  it.each([
    ['a non-object root', { type: 'array', items: { type: 'string' } }],
    ['an open object', { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] }],
    ['an optional property', { ...closed({ a: { type: 'string' } }), required: [] }],
    ['an open nested object', closed({ inner: { type: 'object', properties: {} } })],
    ['allOf', closed({ a: { allOf: [{ type: 'string' }] } })],
    ['oneOf', closed({ a: { oneOf: [{ type: 'string' }, { type: 'number' }] } })],
    ['an optional zod field', z.toJSONSchema(z.object({ a: z.string().optional() }))],
  ])('rejects %s', (_label, schema) => {
    expect(isStrictJsonSchema(schema as Record<string, unknown>)).toBe(false);
  });
});
