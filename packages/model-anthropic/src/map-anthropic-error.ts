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
 */
import { APIConnectionError, APIError, APIUserAbortError } from '@anthropic-ai/sdk';
import { BuddyError, type BuddyErrorCode, isAbortError, toBuddyError } from '@buddy/core';

const CONTEXT_OVERFLOW = /prompt is too long|context (window|limit|length)|too many tokens/i;

interface Classified {
  code: BuddyErrorCode;
  retryable: boolean;
  why: string;
}

const AUTH: Classified = {
  code: 'MODEL_AUTH_FAILED',
  retryable: false,
  why: 'the API key was rejected or lacks access',
};
const RATE_LIMITED: Classified = {
  code: 'MODEL_RATE_LIMITED',
  retryable: true,
  why: 'the request was rate-limited',
};
const UNAVAILABLE: Classified = {
  code: 'MODEL_UNAVAILABLE',
  retryable: true,
  why: 'the provider failed or is overloaded',
};
const OVERFLOW: Classified = {
  code: 'MODEL_CONTEXT_OVERFLOW',
  retryable: false,
  why: "the request does not fit the model's context window",
};
const REJECTED: Classified = {
  code: 'MODEL_BAD_RESPONSE',
  retryable: false,
  why: 'the provider rejected the request',
};

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
): Classified {
  if (status === 401 || status === 403) return AUTH;
  if (status === 429) return RATE_LIMITED;
  if (status === 408 || status === 409 || (status !== undefined && status >= 500)) {
    return UNAVAILABLE;
  }
  if (status === 413 || type === 'request_too_large') return OVERFLOW;
  if (status !== undefined) return CONTEXT_OVERFLOW.test(message) ? OVERFLOW : REJECTED;
  // No status: an error event inside a stream.
  switch (type) {
    case 'authentication_error':
    case 'permission_error':
      return AUTH;
    case 'rate_limit_error':
      return RATE_LIMITED;
    case 'invalid_request_error':
    case 'not_found_error':
      return CONTEXT_OVERFLOW.test(message) ? OVERFLOW : REJECTED;
    default:
      return UNAVAILABLE;
  }
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
  if (BuddyError.is(error)) return error;
  if (signal?.aborted || error instanceof APIUserAbortError || isAbortError(error)) {
    return new BuddyError({
      code: 'ABORTED',
      message: `${label}: the call was aborted`,
      cause: error,
    });
  }
  if (error instanceof APIConnectionError) {
    return new BuddyError({
      code: 'MODEL_UNAVAILABLE',
      retryable: true,
      message: `${label}: could not reach the provider: ${error.message}`,
      cause: error,
      details: { provider: 'anthropic' },
    });
  }
  if (error instanceof APIError) {
    const status = typeof error.status === 'number' ? error.status : undefined;
    const type = errorType(error);
    const { code, retryable, why } = classify(status, type, error.message);
    return new BuddyError({
      code,
      retryable,
      message: `${label}: ${why}${status === undefined ? '' : ` (HTTP ${status})`}: ${error.message}`,
      cause: error,
      details: {
        provider: 'anthropic',
        status: status ?? null,
        requestId: error.requestID ?? null,
        providerType: type ?? null,
      },
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
  if (error instanceof SyntaxError) {
    return new BuddyError({
      code: 'MODEL_BAD_RESPONSE',
      message: `${label}: the provider sent a body that is not valid JSON: ${error.message}`,
      cause: error,
      details: { provider: 'anthropic' },
    });
  }
  return toBuddyError(error, 'MODEL_BAD_RESPONSE', label);
}
