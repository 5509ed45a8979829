import { describe, expect, it } from 'vitest';
import { withFields } from './with-fields.ts';

describe('withFields', () => {
  it('gives what { ...source, ...fields } gives: keys, order, values', () => {
    const symbol = Symbol('s');
    const source = JSON.parse('{"a":1,"__proto__":{"x":1},"b":2}') as Record<string, unknown>;
    Object.defineProperty(source, 'hidden', { value: 1, enumerable: false });
    (source as Record<PropertyKey, unknown>)[symbol] = 's';
    const fields = { b: 3, c: undefined };
    const expected = { ...source, ...fields };
    const actual = withFields(source, fields);
    expect(Reflect.ownKeys(actual)).toEqual(Reflect.ownKeys(expected));
    expect(actual).toStrictEqual(expected);
    expect(Object.getPrototypeOf(actual)).toBe(Object.prototype);
    expect(actual).not.toBe(source);
  });
});
