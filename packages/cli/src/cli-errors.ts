/**
 * The two ways a `buddy` run fails: a usage error (exit code 2: an unknown command or option, a
 * missing argument) and everything else (exit code 1: a bad URL, an unreachable server, a
 * malformed line, a conflict). Both are `BuddyError`s; a usage error says so in its details.
 */
import { BuddyError, type BuddyErrorCode } from '@buddy/core';

/** A usage error: exit code 2. */
export function usageError(message: string): BuddyError {
  return new BuddyError({ code: 'INVALID_ARGUMENT', message, details: { usage: true } });
}

/** Any other failure: exit code 1. */
export function cliFailure(code: BuddyErrorCode, message: string, cause?: unknown): BuddyError {
  return new BuddyError({ code, message, ...(cause === undefined ? {} : { cause }) });
}

/** Whether `error` is a usage error (exit code 2). */
export function isUsageError(error: unknown): boolean {
  return BuddyError.is(error) && error.details.usage === true;
}

/** The one line printed for a failure: the message on one line, with its code. */
export function failureLine(error: unknown): string {
  if (BuddyError.is(error)) {
    const message = error.message.replace(/\s*\n\s*/g, ' ');
    return isUsageError(error) ? message : `${message} (${error.code})`;
  }
  const text = error instanceof Error ? error.message : String(error);
  return `${text.replace(/\s*\n\s*/g, ' ')} (INTERNAL)`;
}
