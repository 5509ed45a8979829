/**
 * Identifiers (SPEC §10.1): `sessionId`, `userId`, `agentId` and memory ids are 1–256
 * characters of well-formed Unicode without control characters, and not only spaces. One rule,
 * checked here by every writer and reader, so that no backend ever turns two ids into one key (a
 * lone surrogate becomes U+FFFD in UTF-8) or stores an id that it cannot give back.
 */
import { BuddyError } from '../errors/buddy-error.ts';
import { describeValue } from '../errors/describe-value.ts';

/** The longest id, in characters (code points). */
export const MAX_ID_LENGTH = 256;

/** Lone surrogates (`\p{Cs}` under the `u` flag) and control characters (`\p{Cc}`). */
const FORBIDDEN = /[\p{Cc}\p{Cs}]/u;

function codePointLength(value: string): number {
  let length = 0;
  for (const _ of value) length++;
  return length;
}

/** Why `value` is not a valid id, or `undefined` when it is. */
export function idProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  if (value.trim() === '') return 'must be a non-empty string';
  if (value.length > MAX_ID_LENGTH * 2 || codePointLength(value) > MAX_ID_LENGTH) {
    return `must be at most ${MAX_ID_LENGTH} characters`;
  }
  const bad = FORBIDDEN.exec(value);
  if (bad !== null) {
    const code = bad[0].codePointAt(0)?.toString(16).toUpperCase().padStart(4, '0');
    return /\p{Cs}/u.test(bad[0])
      ? `must be well-formed Unicode (it holds a lone surrogate U+${code})`
      : `must not hold control characters (it holds U+${code})`;
  }
  return undefined;
}

/** Checks an id; `what` names it in the error (`'sessionId'`, `'Agent: option userId'`). */
export function assertId(value: unknown, what: string): asserts value is string {
  const problem = idProblem(value);
  if (problem !== undefined) {
    throw new BuddyError({
      code: 'INVALID_ARGUMENT',
      message: `${what} ${problem}, got ${describeValue(value)}`,
    });
  }
}

/** Checks an optional id (`undefined` passes). */
export function assertOptionalId(
  value: unknown,
  what: string,
): asserts value is string | undefined {
  if (value !== undefined) assertId(value, what);
}
