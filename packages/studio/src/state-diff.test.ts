import { describe, expect, it } from 'vitest';
import { diffState } from './state-diff.ts';

describe('diffState', () => {
  it('is empty for equal states, whatever the key order', () => {
    expect(diffState({ a: 1, b: { c: [1, { d: 2 }] } }, { b: { c: [1, { d: 2 }] }, a: 1 })).toEqual(
      [],
    );
  });

  it('reports added, removed and changed keys, sorted by key', () => {
    expect(
      diffState({ cart: [], mood: 'ok', old: true }, { cart: ['milk'], mood: 'ok', new: 1 }),
    ).toEqual([
      { path: ['cart'], kind: 'changed', before: [], after: ['milk'] },
      { path: ['new'], kind: 'added', after: 1 },
      { path: ['old'], kind: 'removed', before: true },
    ]);
  });

  it('walks into objects and names the path', () => {
    expect(
      diffState(
        { user: { name: 'Dana', prefs: { milk: 'oat' } } },
        { user: { name: 'Dana', prefs: { milk: 'soy' } } },
      ),
    ).toEqual([{ path: ['user', 'prefs', 'milk'], kind: 'changed', before: 'oat', after: 'soy' }]);
  });

  it('compares arrays and type changes as whole values', () => {
    expect(diffState({ list: [1, 2] }, { list: [2, 1] })).toEqual([
      { path: ['list'], kind: 'changed', before: [1, 2], after: [2, 1] },
    ]);
    expect(diffState({ x: { a: 1 } }, { x: [1] })).toEqual([
      { path: ['x'], kind: 'changed', before: { a: 1 }, after: [1] },
    ]);
    expect(diffState({ x: null }, { x: {} })).toEqual([
      { path: ['x'], kind: 'changed', before: null, after: {} },
    ]);
  });

  it('treats keys like __proto__ as plain data', () => {
    const after = JSON.parse('{"__proto__": {"polluted": true}}') as Record<string, unknown>;
    expect(diffState({}, after)).toEqual([
      { path: ['__proto__'], kind: 'added', after: { polluted: true } },
    ]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
