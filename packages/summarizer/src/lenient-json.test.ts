import { BuddyError } from '@buddy/core';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { extractJson, parseModelJson } from './lenient-json.ts';

describe('extractJson', () => {
  it('parses a plain JSON answer', () => {
    expect(extractJson('{"summary":"s","topics":["a"]}')).toEqual({ summary: 's', topics: ['a'] });
    expect(extractJson('  \n {"a": 1}\n ')).toEqual({ a: 1 });
  });

  it('parses a ```json fenced answer, with or without a language tag', () => {
    expect(extractJson('Here you go:\n```json\n{"a": 1}\n```\nAnything else?')).toEqual({ a: 1 });
    expect(extractJson('```\n{"a": 2}\n```')).toEqual({ a: 2 });
    expect(extractJson('```JSON {"a": 3}```')).toEqual({ a: 3 });
  });

  it('finds the first balanced object in prose, with braces inside strings and nesting', () => {
    expect(
      extractJson('Sure! The result is {"summary": "uses {curly} braces", "n": {"x": 1}}. Bye'),
    ).toEqual({ summary: 'uses {curly} braces', n: { x: 1 } });
    expect(extractJson('{"quote": "a \\"}\\" b"} trailing')).toEqual({ quote: 'a "}" b' });
  });

  it('skips balanced candidates that are not JSON and takes the next one', () => {
    expect(extractJson('I think {maybe} this: {"remember": true}')).toEqual({ remember: true });
  });

  it('returns undefined when there is no JSON at all', () => {
    expect(extractJson('')).toBeUndefined();
    expect(extractJson('I cannot summarize this.')).toBeUndefined();
    expect(extractJson('{"unterminated": ')).toBeUndefined();
  });
});

describe('parseModelJson', () => {
  const schema = z.object({ remember: z.boolean() });

  it('validates the extracted value', () => {
    expect(parseModelJson('```json\n{"remember": false}\n```', schema, 'Test')).toEqual({
      remember: false,
    });
  });

  it('rejects prose without JSON with MODEL_BAD_RESPONSE showing an excerpt', () => {
    let caught: unknown;
    try {
      parseModelJson('Sorry, I am not able to do that today.', schema, 'Test');
    } catch (error) {
      caught = error;
    }
    expect(BuddyError.is(caught, 'MODEL_BAD_RESPONSE')).toBe(true);
    expect((caught as Error).message).toMatch(/^Test: /);
    expect((caught as Error).message).toContain('Sorry, I am not able');
  });

  it('rejects JSON of the wrong shape, naming the field', () => {
    expect(() => parseModelJson('{"remember": "yes"}', schema, 'Test')).toThrow(
      expect.objectContaining({
        code: 'MODEL_BAD_RESPONSE',
        message: expect.stringContaining('remember:'),
      }),
    );
  });
});
