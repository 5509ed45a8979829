/**
 * Options objects (SPEC §10.1): every one rejects what it does not know, so a typo such as
 * `listSessions({ usrId })` is an error instead of a query that quietly widens to everyone.
 */
import { BuddyError } from '../errors/buddy-error.ts';
import { describeValue } from '../errors/describe-value.ts';

/** True for `{}`-style objects (not arrays, class instances, `null`). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * Checks that `value` is an options object (or `undefined`, read as `{}`) whose keys are all in
 * `keys`, and returns it. `what` names the call in the error: `'listSessions'`,
 * `'Agent.run: options'`.
 *
 * @example
 * const options = readOptions(input, 'listSessions', ['userId', 'agentId', 'limit', 'cursor']);
 */
export function readOptions<T extends object = Record<string, unknown>>(
  value: unknown,
  what: string,
  keys: readonly string[],
): Partial<T> {
  if (value === undefined) return {};
  if (!isPlainObject(value)) {
    throw new BuddyError({
      code: 'INVALID_ARGUMENT',
      message: `${what} must be an object, got ${describeValue(value)}`,
    });
  }
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) {
      throw new BuddyError({
        code: 'INVALID_ARGUMENT',
        message: `${what}: unknown option '${key}' (known: ${keys.join(', ')})`,
      });
    }
  }
  return value as Partial<T>;
}
