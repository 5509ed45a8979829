/**
 * OpenAI SDK errors → `BuddyError`. Vendor errors never cross the public API: they are kept as
 * `cause`, with the HTTP status, request id and OpenAI's error code/type in `details`.
 *
 * | what happened                                   | code                     | retryable |
 * | ----------------------------------------------- | ------------------------ | --------- |
 * | caller's signal fired                           | `ABORTED`                | no        |
 * | 401, 403                                        | `MODEL_AUTH_FAILED`      | no        |
 * | 429 (`insufficient_quota`: billing, not a rate) | `MODEL_RATE_LIMITED`     | yes (no)  |
 * | 408, 409, ≥ 500, connection error, timeout      | `MODEL_UNAVAILABLE`      | yes       |
 * | 400/413 about the context window                | `MODEL_CONTEXT_OVERFLOW` | no        |
 * | any other 4xx (bad request, unknown model, …)   | `MODEL_BAD_RESPONSE`     | no        |
 * | unparsable body or stream chunk                 | `MODEL_BAD_RESPONSE`     | no        |
 *
 * Errors sent inside a stream (`data: {"error": …}`) have no status; they are classified by their
 * `type` / `code` (`server_error` → unavailable, `rate_limit_exceeded` → rate limited).
 */
import { BuddyError, type BuddyErrorCode, isAbortError, toBuddyError } from '@buddy/core';
import { APIConnectionError, APIError, APIUserAbortError } from 'openai';

const CONTEXT_OVERFLOW =
  /context[_ ]length|context window|maximum context|too many tokens|reduce the length/i;

interface Classified {
  code: BuddyErrorCode;
  retryable: boolean;
  why: string;
}

function classifyStatus(status: number, error: APIError): Classified {
  if (status === 401 || status === 403) {
    return {
      code: 'MODEL_AUTH_FAILED',
      retryable: false,
      why: 'the API key was rejected or lacks access',
    };
  }
  if (status === 429) {
    // OpenAI answers 429 for an exhausted quota too; waiting does not help there.
    const quota = error.code === 'insufficient_quota';
    return {
      code: 'MODEL_RATE_LIMITED',
      retryable: !quota,
      why: quota ? 'the account has no quota left' : 'the request was rate-limited',
    };
  }
  if (status === 408 || status === 409 || status >= 500) {
    return { code: 'MODEL_UNAVAILABLE', retryable: true, why: 'the provider failed' };
  }
  if (
    (status === 400 || status === 413) &&
    (error.code === 'context_length_exceeded' || CONTEXT_OVERFLOW.test(error.message))
  ) {
    return {
      code: 'MODEL_CONTEXT_OVERFLOW',
      retryable: false,
      why: "the request does not fit the model's context window",
    };
  }
  return { code: 'MODEL_BAD_RESPONSE', retryable: false, why: 'the provider rejected the request' };
}

function classifyInStream(error: APIError): Classified {
  const kind = `${error.code ?? ''} ${error.type ?? ''}`;
  if (/rate_limit/.test(kind)) {
    return { code: 'MODEL_RATE_LIMITED', retryable: true, why: 'the stream was rate-limited' };
  }
  if (CONTEXT_OVERFLOW.test(kind) || CONTEXT_OVERFLOW.test(error.message)) {
    return {
      code: 'MODEL_CONTEXT_OVERFLOW',
      retryable: false,
      why: "the request does not fit the model's context window",
    };
  }
  if (/invalid_request|authentication|permission/.test(kind)) {
    return {
      code: 'MODEL_BAD_RESPONSE',
      retryable: false,
      why: 'the provider rejected the request',
    };
  }
  return { code: 'MODEL_UNAVAILABLE', retryable: true, why: 'the provider failed mid-stream' };
}

/**
 * Translates anything thrown by the SDK (or while reading its stream) into a `BuddyError`.
 * `label` names the model in messages, e.g. `OpenAIChat(gpt-4o)`.
 */
export function mapOpenAIError(
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
      details: { provider: 'openai' },
    });
  }
  if (error instanceof APIError) {
    const status = typeof error.status === 'number' ? error.status : undefined;
    const { code, retryable, why } =
      status === undefined ? classifyInStream(error) : classifyStatus(status, error);
    return new BuddyError({
      code,
      retryable,
      message: `${label}: ${why}${status === undefined ? '' : ` (HTTP ${status})`}: ${error.message}`,
      cause: error,
      details: {
        provider: 'openai',
        status: status ?? null,
        requestId: error.requestID ?? null,
        providerCode: error.code ?? null,
        providerType: error.type ?? null,
      },
    });
  }
  if (error instanceof SyntaxError) {
    return new BuddyError({
      code: 'MODEL_BAD_RESPONSE',
      message: `${label}: the provider sent a body that is not valid JSON: ${error.message}`,
      cause: error,
      details: { provider: 'openai' },
    });
  }
  return toBuddyError(error, 'MODEL_BAD_RESPONSE', label);
}
