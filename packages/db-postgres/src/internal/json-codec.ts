/**
 * JSON values in `jsonb` columns. `jsonb` cannot hold two things a JavaScript string can: the NUL
 * character (`\u0000`) and a lone UTF-16 surrogate (a string cut in the middle of an emoji). Both
 * are valid JSON values for Buddy (SPEC §10.1) and round-trip on every other backend, so a value
 * whose JSON text contains either is stored as `{"$buddy:json": "<its JSON text>"}` (the escapes
 * are then plain characters of a string) and unwrapped on read. Every other value is stored as
 * plain `jsonb` that SQL can query. The check is one regular expression over text that
 * `JSON.stringify` produced anyway.
 */
import { BuddyError, describeValue } from '@buddy/core';

/** The only key of a wrapped value. */
export const WRAPPED_KEY = '$buddy:json';

// An escape `\u0000` or `\udXXX` (JSON.stringify emits the latter only for lone surrogates) that
// is not itself an escaped backslash followed by "u…".
const UNSAFE_ESCAPE = /(?:^|[^\\])(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/;

function isWrapperShaped(value: unknown): value is Record<typeof WRAPPED_KEY, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return (
    keys.length === 1 &&
    keys[0] === WRAPPED_KEY &&
    typeof (value as Record<string, unknown>)[WRAPPED_KEY] === 'string'
  );
}

/**
 * The text to bind to a `$n::jsonb` parameter. Values were checked by core's validators, so this
 * only fails for something that slipped past them (then `INVALID_ARGUMENT` naming `what`).
 */
export function toJsonbText(value: unknown, what: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new BuddyError({
      code: 'INVALID_ARGUMENT',
      message: `${what} cannot be stored as JSON (${error instanceof Error ? error.message : String(error)})`,
      cause: error,
    });
  }
  if (text === undefined) {
    throw new BuddyError({
      code: 'INVALID_ARGUMENT',
      message: `${what} cannot be stored as JSON, got ${describeValue(value)}`,
    });
  }
  // A user value that looks like a wrapper is wrapped too, so reading it back is unambiguous.
  if (UNSAFE_ESCAPE.test(text) || isWrapperShaped(value)) {
    return JSON.stringify({ [WRAPPED_KEY]: text });
  }
  return text;
}

/** The value as written: unwraps a wrapped value. Anything unparsable is returned as is (zod rejects it). */
export function fromJsonb(value: unknown): unknown {
  if (!isWrapperShaped(value)) return value;
  try {
    return JSON.parse(value[WRAPPED_KEY]) as unknown;
  } catch {
    return value;
  }
}

/**
 * The JSON text of a value to compare with stored `jsonb` as it is (a listing's metadata filter),
 * or `undefined` when `jsonb` cannot hold it (NUL or a lone surrogate): then no plainly stored
 * value can equal it, only a wrapped one. Never wraps.
 */
export function plainJsonbText(value: unknown): string | undefined {
  const text = JSON.stringify(value);
  return UNSAFE_ESCAPE.test(text) ? undefined : text;
}
