/**
 * `OwnSession.edits`: a top-level key is an edit exactly when its JSON changed since the state was
 * handed out (primitives are compared as themselves, objects by their JSON).
 */
import { describe, expect, it } from 'vitest';
import { OwnSession } from './own-session.ts';

function session(state: Record<string, unknown>): OwnSession<Record<string, unknown>> {
  const own = new OwnSession({ sessionId: 's', sessionName: undefined, defaults: () => ({}) });
  own.adopt({ state });
  return own;
}

describe('OwnSession.edits', () => {
  it('reports nothing for an untouched state', () => {
    const own = session({ a: 'x'.repeat(900), n: 1, b: true, z: null, o: { k: [1] } });
    expect(own.edits()).toEqual({ set: {}, removed: [] });
  });

  it.each<[string, unknown, unknown, boolean]>([
    ['a string changed', 'a', 'b', true],
    ['a string set to an equal one', 'ab', ['a', 'b'].join(''), false],
    ['a number changed', 1, 2, true],
    ['0 to -0 (same JSON)', 0, -0, false],
    ['a number to its string', 1, '1', true],
    ['null to false', null, false, true],
    ['null to NaN (same JSON)', null, Number.NaN, false],
    ['NaN to null (same JSON)', Number.NaN, null, false],
    ['a string to a Date with that JSON', '1970-01-01T00:00:00.000Z', new Date(0), false],
    ['a Date to its JSON string', new Date(0), '1970-01-01T00:00:00.000Z', false],
    ['an object to an equal copy', { k: [1] }, { k: [1] }, false],
    ['an object to a primitive', { k: 1 }, 1, true],
    ['a primitive to an object', 1, { k: 1 }, true],
    ['undefined kept', undefined, undefined, true],
    ['a function kept', () => 1, () => 1, true],
  ])('%s', (_name, before, after, edited) => {
    const own = session({ key: before });
    own.state.key = after;
    expect(Object.keys(own.edits().set)).toEqual(edited ? ['key'] : []);
  });

  it('reports an object changed in place, a new key and a removed key', () => {
    const own = session({ o: { k: [1] }, gone: 1 });
    (own.state.o as { k: number[] }).k.push(2);
    own.state.added = 'x';
    delete own.state.gone;
    expect(own.edits()).toEqual({ set: { o: { k: [1, 2] }, added: 'x' }, removed: ['gone'] });
  });
});
