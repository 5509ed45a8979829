/**
 * The `BuddyError` for a model call the provider answered with an error, with the same message
 * shape and `details` keys across adapters, so logs and callers can rely on them.
 */
import { BuddyError, type BuddyErrorDetails } from '../errors/buddy-error.ts';
import {
  classifyHttpStatus,
  MODEL_ERROR_CLASSIFICATIONS,
  type ModelErrorClassification,
} from './classify-http-status.ts';

/** What `modelCallError` needs to classify a failed call. */
export interface ModelCallErrorOptions {
  /** Names the model in the message, e.g. `'OpenAIChat(gpt-4o)'`. */
  label: string;
  /** `Model.provider`, e.g. `'openai'`; becomes `details.provider`. */
  provider: string;
  /** The vendor error: kept as `cause`; its message ends the Buddy message. */
  error: unknown;
  /** The HTTP status; absent for an error event inside a stream. */
  status?: number | undefined;
  /** The provider's request id (from its response headers), for support tickets. */
  requestId?: string | null | undefined;
  /**
   * What the failure is. Default: `classifyHttpStatus(status)`, or `unavailable` without a
   * status. Pass your own when the body tells more (context overflow, quota, stream error types).
   */
  classification?: ModelErrorClassification;
  /** Vendor fields added to `details` (e.g. `providerCode`, `providerType`); JSON-safe, no secrets. */
  details?: BuddyErrorDetails;
}

/**
 * Builds the error for a failed model call: `<label>: <reason> (HTTP <status>): <vendor message>`,
 * with `details` `{ provider, status, requestId, ...details }` (`null` where unknown) and the
 * vendor error as `cause`.
 *
 * Helper for model adapter authors.
 *
 * @example
 * if (error instanceof APIError) {
 *   return modelCallError({ label, provider: 'acme', error, status: error.status, requestId: error.requestId });
 * }
 */
export function modelCallError(options: ModelCallErrorOptions): BuddyError {
  const { label, provider, error, status, requestId, details } = options;
  const classification =
    options.classification ??
    (status === undefined ? MODEL_ERROR_CLASSIFICATIONS.unavailable : classifyHttpStatus(status));
  const text = error instanceof Error ? error.message : String(error);
  return new BuddyError({
    code: classification.code,
    retryable: classification.retryable,
    message: `${label}: ${classification.reason}${status === undefined ? '' : ` (HTTP ${status})`}: ${text}`,
    cause: error,
    details: { provider, status: status ?? null, requestId: requestId ?? null, ...details },
  });
}
