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

/**
 * Settles with `promise`, or rejects with the signal's reason as soon as `signal` fires, whichever
 * comes first, so a call whose library misses an abort (it fired while the library was between
 * two awaits) still ends at once. The late outcome of `promise` is ignored.
 */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      promise.catch(() => {});
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
