import { BuddyError, describeValue } from '@buddy/core';

/**
 * Checks a constructor's options object: `undefined` means `{}`, anything but a plain object or an
 * unknown key is `INVALID_ARGUMENT` naming `who` and the key (a misspelt option never passes
 * silently).
 *
 * @internal Shared by the helpers of `@buddy/summarizer` and `@buddy/memory`.
 */
export function checkOptions(
  who: string,
  value: unknown,
  knownKeys: readonly string[],
): Record<string, unknown> {
  if (value === undefined) return {};
  const prototype =
    typeof value === 'object' && value !== null ? Object.getPrototypeOf(value) : undefined;
  if (
    typeof value !== 'object' ||
    value === null ||
    Array.isArray(value) ||
    (prototype !== Object.prototype && prototype !== null)
  ) {
    throw new BuddyError({
      code: 'INVALID_ARGUMENT',
      message: `${who}: options must be an object, got ${describeValue(value)}`,
    });
  }
  for (const key of Object.keys(value)) {
    if (!knownKeys.includes(key)) {
      throw new BuddyError({
        code: 'INVALID_ARGUMENT',
        message: `${who}: unknown option '${key}' (known: ${knownKeys.join(', ')})`,
      });
    }
  }
  return value as Record<string, unknown>;
}
