import { describe, expect, it } from 'vitest';
import { templateState } from './template-state.ts';

describe('templateState', () => {
  const state = {
    cart: ['milk', 'eggs'],
    name: 'Dana',
    count: 3,
    flag: false,
    nothing: null,
    'a.b': 'dotted key',
    nested: { deep: 1 },
  };

  it('inserts strings as they are and other values as JSON', () => {
    expect(templateState('Hi {name}, cart {cart}, {count} items, {flag}, {nothing}', state)).toBe(
      'Hi Dana, cart ["milk","eggs"], 3 items, false, null',
    );
    expect(templateState('{nested}', state)).toBe('{"deep":1}');
  });

  it('leaves unknown placeholders, spaced placeholders, nested paths and JSON untouched', () => {
    expect(templateState('{unknown} { name } {nested.deep} {"a": 1} {}', state)).toBe(
      '{unknown} { name } {nested.deep} {"a": 1} {}',
    );
    expect(templateState('{"name":1}', state)).toBe('{"name":1}');
  });

  it('replaces placeholders inside JSON and keeps the JSON around them', () => {
    expect(templateState('{"items": {cart}, "who": "{name}"}', state)).toBe(
      '{"items": ["milk","eggs"], "who": "Dana"}',
    );
    expect(templateState('{{name}}', state)).toBe('{Dana}');
  });

  it('replaces a key that is literally dotted', () => {
    expect(templateState('{a.b}', state)).toBe('dotted key');
  });

  it('never throws: values that cannot be JSON-encoded keep their placeholder', () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const odd = { circular, big: 10n, missing: undefined, fn: () => 1 };
    expect(templateState('{circular} {big} {missing} {fn}', odd)).toBe(
      '{circular} {big} {missing} {fn}',
    );
  });

  it('does not treat prototype keys as state', () => {
    expect(templateState('{toString} {constructor} {__proto__}', {})).toBe(
      '{toString} {constructor} {__proto__}',
    );
  });

  it('has no escape rules: backslashes and dollar signs stay literal', () => {
    expect(templateState('\\{name} $& {name}', { name: '$1 $&' })).toBe('\\$1 $& $& $1 $&');
  });
});
