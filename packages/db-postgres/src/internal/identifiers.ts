/**
 * Schema and table names: the only parts of Buddy's SQL that cannot be bind parameters. Each one
 * is checked against a plain-identifier pattern when the object is built and is always used
 * double-quoted, so a name can neither inject SQL nor change meaning with case folding.
 */
import { BuddyError, describeValue } from '@buddy/core';

/** Letters, digits and `_`, not starting with a digit. */
export const IDENTIFIER_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** PostgreSQL truncates identifiers longer than this many bytes (NAMEDATALEN - 1). */
export const MAX_IDENTIFIER_LENGTH = 63;

/**
 * Checks an identifier option; `INVALID_ARGUMENT` naming the option otherwise. `maxLength` leaves
 * room for the suffixes derived from it (`<prefix>sessions_user_idx`).
 */
export function assertIdentifier(
  value: unknown,
  option: string,
  who: string,
  maxLength = MAX_IDENTIFIER_LENGTH,
): string {
  if (typeof value !== 'string' || !IDENTIFIER_PATTERN.test(value) || value.length > maxLength) {
    throw new BuddyError({
      code: 'INVALID_ARGUMENT',
      message: `${who}: option '${option}' must be 1-${maxLength} letters, digits or _ (not starting with a digit), got ${describeValue(value)}`,
    });
  }
  return value;
}

/** `"name"`: only ever called with names that passed `assertIdentifier`. */
export function quoteIdentifier(name: string): string {
  return `"${name}"`;
}

/** `"schema"."name"`. */
export function qualifiedName(schema: string, name: string): string {
  return `${quoteIdentifier(schema)}.${quoteIdentifier(name)}`;
}
