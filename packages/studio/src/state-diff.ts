import type { StateChange } from './api-types.ts';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deep equality of JSON values (objects by keys regardless of order, arrays by position). */
function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, index) => jsonEqual(item, b[index]));
  }
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    if (keys.length !== Object.keys(b).length) return false;
    return keys.every((key) => Object.hasOwn(b, key) && jsonEqual(a[key], b[key]));
  }
  return false;
}

/**
 * What changed from one session state to the next. Objects are compared key by key (so a change
 * deep inside shows its path); arrays and other values are compared whole, so a cart that gained
 * an item is one `changed` entry with both lists. Keys come in sorted order.
 *
 * @example
 * diffState({ cart: [] }, { cart: ['milk'], mood: 'ok' });
 * // [{ path: ['cart'], kind: 'changed', before: [], after: ['milk'] },
 * //  { path: ['mood'], kind: 'added', after: 'ok' }]
 */
export function diffState(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
): StateChange[] {
  const changes: StateChange[] = [];
  const walk = (left: Record<string, unknown>, right: Record<string, unknown>, path: string[]) => {
    const keys = [...new Set([...Object.keys(left), ...Object.keys(right)])].sort();
    for (const key of keys) {
      const inLeft = Object.hasOwn(left, key);
      const inRight = Object.hasOwn(right, key);
      const here = [...path, key];
      if (!inLeft) changes.push({ path: here, kind: 'added', after: right[key] });
      else if (!inRight) changes.push({ path: here, kind: 'removed', before: left[key] });
      else if (isObject(left[key]) && isObject(right[key]))
        walk(left[key] as Record<string, unknown>, right[key] as Record<string, unknown>, here);
      else if (!jsonEqual(left[key], right[key]))
        changes.push({ path: here, kind: 'changed', before: left[key], after: right[key] });
    }
  };
  walk(before, after, []);
  return changes;
}
