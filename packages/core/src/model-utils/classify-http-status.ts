/**
 * How a failed model call is reported: the error code, whether retrying may help, and the reason
 * the message gives. Shared by the model adapters so that a 429 from OpenAI and one from Anthropic
 * read and behave the same (the AI SDK's `APICallError` rule: 408, 409, 429 and >= 500 retry).
 */
import type { BuddyErrorCode } from '../errors/error-codes.ts';

/** What a failed model call is: the `BuddyError` code and retryability, and why, for the message. */
export interface ModelErrorClassification {
  readonly code: BuddyErrorCode;
  readonly retryable: boolean;
  /** The reason in the error message, e.g. `'the request was rate-limited'`. */
  readonly reason: string;
}

/**
 * The classifications every model adapter uses. Adapters pick one for errors that carry no HTTP
 * status (an error event inside a stream), and `classifyHttpStatus` picks one from a status.
 *
 * Helper for model adapter authors.
 */
export const MODEL_ERROR_CLASSIFICATIONS = Object.freeze({
  authFailed: {
    code: 'MODEL_AUTH_FAILED',
    retryable: false,
    reason: 'the API key was rejected or lacks access',
  },
  rateLimited: {
    code: 'MODEL_RATE_LIMITED',
    retryable: true,
    reason: 'the request was rate-limited',
  },
  /** A 429 for an exhausted quota or budget: waiting does not help. */
  quotaExhausted: {
    code: 'MODEL_RATE_LIMITED',
    retryable: false,
    reason: 'the account has no quota left',
  },
  unavailable: {
    code: 'MODEL_UNAVAILABLE',
    retryable: true,
    reason: 'the provider failed or is overloaded',
  },
  contextOverflow: {
    code: 'MODEL_CONTEXT_OVERFLOW',
    retryable: false,
    reason: "the request does not fit the model's context window",
  },
  rejected: {
    code: 'MODEL_BAD_RESPONSE',
    retryable: false,
    reason: 'the provider rejected the request',
  },
} as const satisfies Record<string, ModelErrorClassification>);

/** What only the adapter can tell from the provider's error body. */
export interface ClassifyHttpStatusOptions {
  /**
   * The error says the request is too long for the context window (each provider words it its
   * own way). Consulted for statuses that are not auth, rate-limit or server errors.
   */
  isContextOverflow?: boolean;
  /** A 429 for an exhausted quota (OpenAI's `insufficient_quota`): not retryable. */
  isQuotaExhausted?: boolean;
}

/**
 * Classifies the HTTP status of a failed model call.
 *
 * | status                     | code                     | retryable |
 * | -------------------------- | ------------------------ | --------- |
 * | 401, 403                   | `MODEL_AUTH_FAILED`      | no        |
 * | 429                        | `MODEL_RATE_LIMITED`     | yes (no for an exhausted quota) |
 * | 408, 409, >= 500           | `MODEL_UNAVAILABLE`      | yes       |
 * | other, `isContextOverflow` | `MODEL_CONTEXT_OVERFLOW` | no        |
 * | any other                  | `MODEL_BAD_RESPONSE`     | no        |
 *
 * Helper for model adapter authors.
 *
 * @example
 * const { code, retryable, reason } = classifyHttpStatus(error.status, {
 *   isContextOverflow: /context length/i.test(error.message),
 * });
 */
export function classifyHttpStatus(
  status: number,
  options: ClassifyHttpStatusOptions = {},
): ModelErrorClassification {
  const classes = MODEL_ERROR_CLASSIFICATIONS;
  if (status === 401 || status === 403) return classes.authFailed;
  if (status === 429)
    return options.isQuotaExhausted ? classes.quotaExhausted : classes.rateLimited;
  if (status === 408 || status === 409 || status >= 500) return classes.unavailable;
  return options.isContextOverflow ? classes.contextOverflow : classes.rejected;
}
