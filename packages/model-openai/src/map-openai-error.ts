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
 *
 * The status rules, the message and `details` shape and the abort/connection/JSON handling are
 * `@buddy/core`'s (`classifyHttpStatus`, `modelCallError`, `toModelError`), shared with the other
 * adapters; this file holds what only OpenAI's errors tell (their classes, codes and types).
 */
import type { BuddyError } from '@buddy/core';
import {
  MODEL_ERROR_CLASSIFICATIONS as CLASSES,
  classifyHttpStatus,
  type ModelErrorClassification,
  modelCallError,
  toModelError,
} from '@buddy/core/adapter-utils';
import { APIConnectionError, APIError, APIUserAbortError } from 'openai';

const CONTEXT_OVERFLOW =
  /context[_ ]length|context window|maximum context|too many tokens|reduce the length/i;

function classifyStatus(status: number, error: APIError): ModelErrorClassification {
  return classifyHttpStatus(status, {
    // OpenAI answers 429 for an exhausted quota too; waiting does not help there.
    isQuotaExhausted: error.code === 'insufficient_quota',
    isContextOverflow:
      (status === 400 || status === 413) &&
      (error.code === 'context_length_exceeded' || CONTEXT_OVERFLOW.test(error.message)),
  });
}

function classifyInStream(error: APIError): ModelErrorClassification {
  const kind = `${error.code ?? ''} ${error.type ?? ''}`;
  if (/rate_limit/.test(kind))
    return { ...CLASSES.rateLimited, reason: 'the stream was rate-limited' };
  if (CONTEXT_OVERFLOW.test(kind) || CONTEXT_OVERFLOW.test(error.message)) {
    return CLASSES.contextOverflow;
  }
  if (/invalid_request|authentication|permission/.test(kind)) return CLASSES.rejected;
  return { ...CLASSES.unavailable, reason: 'the provider failed mid-stream' };
}

function fromAPIError(error: APIError, label: string): BuddyError {
  const status = typeof error.status === 'number' ? error.status : undefined;
  return modelCallError({
    label,
    provider: 'openai',
    error,
    status,
    requestId: error.requestID,
    classification: status === undefined ? classifyInStream(error) : classifyStatus(status, error),
    details: { providerCode: error.code ?? null, providerType: error.type ?? null },
  });
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
  return toModelError(error, {
    label,
    provider: 'openai',
    signal,
    isAbort: (thrown) => thrown instanceof APIUserAbortError,
    isConnectionError: (thrown) => thrown instanceof APIConnectionError,
    fromVendorError: (thrown) =>
      thrown instanceof APIError ? fromAPIError(thrown, label) : undefined,
  });
}
