/**
 * Turns anything a model call threw (the SDK's errors, a fetch abort, a body that is not JSON)
 * into a `BuddyError`, in the order every adapter needs: the caller's abort wins over whatever the
 * SDK made of it, connection failures before other API errors (SDKs derive them from their API
 * error class), vendor errors next, and the rest as `MODEL_BAD_RESPONSE`.
 */
import { BuddyError } from '../errors/buddy-error.ts';
import { isAbortError, toBuddyError } from '../errors/to-buddy-error.ts';

/** What `toModelError` needs to translate a vendor error. */
export interface ToModelErrorOptions {
  /** Names the model in messages, e.g. `'Claude(claude-sonnet-5-5)'`. */
  label: string;
  /** `Model.provider`; becomes `details.provider`. */
  provider: string;
  /** The call's signal: once it fired, any error is reported as `ABORTED`. */
  signal?: AbortSignal | undefined;
  /** The SDK's own abort error, e.g. `(error) => error instanceof APIUserAbortError`. */
  isAbort?: (error: unknown) => boolean;
  /** The SDK's connection error (refused, reset, DNS, timeout): `MODEL_UNAVAILABLE`, retryable. */
  isConnectionError?: (error: unknown) => boolean;
  /**
   * Maps the SDK's other errors (usually with `modelCallError`); returns `undefined` for errors
   * it does not know, which then get the generic handling.
   */
  fromVendorError?: (error: unknown) => BuddyError | undefined;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Translates an error thrown by a model call or while reading its stream.
 *
 * | what was thrown                          | code                 |
 * | ---------------------------------------- | -------------------- |
 * | a `BuddyError`                           | unchanged            |
 * | anything once `signal` fired, an abort   | `ABORTED`            |
 * | `isConnectionError`                      | `MODEL_UNAVAILABLE`  |
 * | what `fromVendorError` maps              | its code             |
 * | a `SyntaxError` (a body that is not JSON) | `MODEL_BAD_RESPONSE` |
 * | anything else                            | `MODEL_BAD_RESPONSE` |
 *
 * Helper for model adapter authors.
 *
 * @example
 * catch (error) {
 *   throw toModelError(error, {
 *     label, provider: 'acme', signal,
 *     isConnectionError: (error) => error instanceof AcmeConnectionError,
 *     fromVendorError: (error) => error instanceof AcmeAPIError ? modelCallError({ ... }) : undefined,
 *   });
 * }
 */
export function toModelError(error: unknown, options: ToModelErrorOptions): BuddyError {
  const { label, provider } = options;
  if (BuddyError.is(error)) return error;
  if (options.signal?.aborted || options.isAbort?.(error) || isAbortError(error)) {
    return new BuddyError({
      code: 'ABORTED',
      message: `${label}: the call was aborted`,
      cause: error,
    });
  }
  if (options.isConnectionError?.(error)) {
    return new BuddyError({
      code: 'MODEL_UNAVAILABLE',
      retryable: true,
      message: `${label}: could not reach the provider: ${message(error)}`,
      cause: error,
      details: { provider },
    });
  }
  const mapped = options.fromVendorError?.(error);
  if (mapped !== undefined) return mapped;
  if (error instanceof SyntaxError) {
    return new BuddyError({
      code: 'MODEL_BAD_RESPONSE',
      message: `${label}: the provider sent a body that is not valid JSON: ${error.message}`,
      cause: error,
      details: { provider },
    });
  }
  return toBuddyError(error, 'MODEL_BAD_RESPONSE', label);
}
