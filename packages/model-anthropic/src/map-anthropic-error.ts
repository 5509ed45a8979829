/**
 * Anthropic SDK errors → `BuddyError`. Vendor errors never cross the public API: they are kept as
 * `cause`, with the HTTP status, request id and Anthropic's error type in `details`.
 *
 * | what happened                                          | code                     | retryable |
 * | ------------------------------------------------------ | ------------------------ | --------- |
 * | caller's signal fired                                  | `ABORTED`                | no        |
 * | 401, 403                                               | `MODEL_AUTH_FAILED`      | no        |
 * | 429                                                    | `MODEL_RATE_LIMITED`     | yes       |
 * | 408, 409, ≥ 500 (529 overloaded), connection, timeout  | `MODEL_UNAVAILABLE`      | yes       |
 * | 413 `request_too_large`, 400 "prompt is too long"      | `MODEL_CONTEXT_OVERFLOW` | no        |
 * | any other 4xx (invalid request, unknown model, …)      | `MODEL_BAD_RESPONSE`     | no        |
 * | unparsable body or stream event                        | `MODEL_BAD_RESPONSE`     | no        |
 *
 * An `event: error` inside a stream has no status; it is classified by its error `type`
 * (`overloaded_error` → unavailable, `rate_limit_error` → rate limited, …).
 *
 * The status rules, the message and `details` shape and the abort/connection/JSON handling are
 * `@buddy/core`'s (`classifyHttpStatus`, `modelCallError`, `toModelError`), shared with the other
 * adapters; this file holds what only Anthropic's errors tell (their classes and types).
 */
import { APIConnectionError, APIError, APIUserAbortError } from '@anthropic-ai/sdk';
import { BuddyError } from '@buddy/core';
import {
  MODEL_ERROR_CLASSIFICATIONS as CLASSES,
  classifyHttpStatus,
  type ModelErrorClassification,
  modelCallError,
  toModelError,
} from '@buddy/core/adapter-utils';

const CONTEXT_OVERFLOW = /prompt is too long|context (window|limit|length)|too many tokens/i;

/** Anthropic's error `type` (`overloaded_error`, …): a field in newer SDKs, else from the body. */
function errorType(error: APIError): string | undefined {
  const direct = (error as { type?: unknown }).type;
  if (typeof direct === 'string') return direct;
  const nested = (error.error as { error?: { type?: unknown } } | undefined)?.error?.type;
  return typeof nested === 'string' ? nested : undefined;
}

function classify(
  status: number | undefined,
  type: string | undefined,
  message: string,
): ModelErrorClassification {
  if (status !== undefined) {
    return classifyHttpStatus(status, {
      isContextOverflow:
        status === 413 || type === 'request_too_large' || CONTEXT_OVERFLOW.test(message),
    });
  }
  // No status: an error event inside a stream.
  switch (type) {
    case 'request_too_large':
      return CLASSES.contextOverflow;
    case 'authentication_error':
    case 'permission_error':
      return CLASSES.authFailed;
    case 'rate_limit_error':
      return CLASSES.rateLimited;
    case 'invalid_request_error':
    case 'not_found_error':
      return CONTEXT_OVERFLOW.test(message) ? CLASSES.contextOverflow : CLASSES.rejected;
    default:
      return CLASSES.unavailable;
  }
}

function fromVendorError(error: unknown, label: string): BuddyError | undefined {
  if (error instanceof APIError) {
    const status = typeof error.status === 'number' ? error.status : undefined;
    const type = errorType(error);
    return modelCallError({
      label,
      provider: 'anthropic',
      error,
      status,
      requestId: error.requestID,
      classification: classify(status, type, error.message),
      details: { providerType: type ?? null },
    });
  }
  if (error instanceof Error && /authentication method|api.?key/i.test(error.message)) {
    // A passed-in client without credentials fails before sending anything.
    return new BuddyError({
      code: 'MODEL_AUTH_FAILED',
      message: `${label}: ${error.message}`,
      cause: error,
      details: { provider: 'anthropic' },
    });
  }
  return undefined;
}

/**
 * Translates anything thrown by the SDK (or while reading its stream) into a `BuddyError`.
 * `label` names the model in messages, e.g. `Claude(claude-sonnet-5-5)`.
 */
export function mapAnthropicError(
  error: unknown,
  label: string,
  signal: AbortSignal | undefined,
): BuddyError {
  return toModelError(error, {
    label,
    provider: 'anthropic',
    signal,
    isAbort: (thrown) => thrown instanceof APIUserAbortError,
    isConnectionError: (thrown) => thrown instanceof APIConnectionError,
    fromVendorError: (thrown) => fromVendorError(thrown, label),
  });
}
