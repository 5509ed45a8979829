/**
 * Plain `text` columns (the session name) cannot hold NUL, and node-postgres silently turns a
 * lone UTF-16 surrogate into U+FFFD on the way to UTF-8. Both are refused before anything is
 * written, naming the value, instead of failing in the server or being stored altered.
 */
import { BuddyError } from '@buddy/core';

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Checks a string bound to a `text` column. */
export function assertStorableText(value: string | undefined, what: string): void {
  if (value === undefined) return;
  if (value.includes('\u0000') || LONE_SURROGATE.test(value)) {
    throw new BuddyError({
      code: 'INVALID_ARGUMENT',
      message: `${what} must not contain NUL (\\u0000) or a lone surrogate: PostgreSQL text cannot store them`,
      details: { path: what },
    });
  }
}
