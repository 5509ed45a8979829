import { BuddyError } from './buddy-error.ts';
import type { BuddyErrorCode } from './error-codes.ts';

/**
 * Turns anything thrown into a `BuddyError`: Buddy errors pass through, an `AbortError` becomes
 * `ABORTED`, everything else becomes `fallbackCode` (default `INTERNAL`) with the original as
 * `cause`.
 */
export function toBuddyError(
  error: unknown,
  fallbackCode: BuddyErrorCode = 'INTERNAL',
  context?: string,
): BuddyError {
  if (BuddyError.is(error)) return error;
  if (isAbortError(error)) {
    return new BuddyError({ code: 'ABORTED', message: 'The operation was aborted.', cause: error });
  }
  const text = error instanceof Error ? error.message : String(error);
  return new BuddyError({
    code: fallbackCode,
    message: context === undefined ? text : `${context}: ${text}`,
    cause: error,
  });
}

/** True for DOM-style abort errors (`AbortSignal`, fetch, timers/promises). */
export function isAbortError(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    'name' in error &&
    ((error as { name: unknown }).name === 'AbortError' ||
      (error as { code?: unknown }).code === 'ABORT_ERR')
  );
}

/** Throws `ABORTED` when the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new BuddyError({
      code: 'ABORTED',
      message: 'The run was aborted.',
      cause: signal.reason,
    });
  }
}
