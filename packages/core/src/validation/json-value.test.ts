/** `copyCheckedJson` gives what `cloneJson` (a JSON round trip) gives for checked JSON values. */
import { describe, expect, it } from 'vitest';
import { assertJsonValue, cloneJson, copyCheckedJson } from './json-value.ts';

const values: [string, unknown][] = [
  ['a state', { counter: 1, lastTopic: 'alpha', notes: 'x'.repeat(900) }],
  ['nested', { a: [1, 'b', null, true, { c: [[], {}] }], d: { e: { f: -1.5 } } }],
  ['undefined properties', { a: undefined, b: 1, c: { d: undefined } }],
  ['-0', { a: -0, b: [-0] }],
  ['integer-like keys', { b: 1, 2: 'two', a: 3, 1: 'one' }],
  ['a __proto__ key', JSON.parse('{"a":1,"__proto__":{"polluted":true},"b":2}')],
  ['a null-prototype object', Object.assign(Object.create(null), { a: 1 })],
  ['primitives', 'text'],
  ['null', null],
  ['an array', [1, [2, [3]]]],
];

describe('copyCheckedJson', () => {
  it.each(values)('%s', (_name, value) => {
    assertJsonValue(value, 'value');
    const expected = cloneJson(value);
    const copy = copyCheckedJson(value);
    expect(copy).toStrictEqual(expected);
    expect(JSON.stringify(copy)).toBe(JSON.stringify(expected));
    if (typeof copy === 'object' && copy !== null) {
      expect(Reflect.ownKeys(copy)).toEqual(Reflect.ownKeys(expected as object));
      expect(Object.getPrototypeOf(copy)).toBe(Object.getPrototypeOf(expected));
      expect(copy).not.toBe(value);
    }
  });

  it('writes -0 as 0, as JSON does', () => {
    expect(Object.is(copyCheckedJson({ a: -0 }).a, 0)).toBe(true);
    expect(Object.is(copyCheckedJson([-0])[0], 0)).toBe(true);
  });

  it('shares nothing with its input', () => {
    const value = { a: { b: [{ c: 1 }] } };
    const copy = copyCheckedJson(value);
    value.a.b[0] = { c: 2 };
    expect(copy).toEqual({ a: { b: [{ c: 1 }] } });
  });
});
