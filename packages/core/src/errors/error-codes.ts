/**
 * Every code a `BuddyError` can carry. Adding a code is a minor release; renaming or removing one
 * is a major release, because callers branch on these strings.
 */
export const BUDDY_ERROR_CODES = [
  /** A caller passed a bad option, argument or input. The message names the bad value. */
  'INVALID_ARGUMENT',
  /** A record that must exist does not. */
  'NOT_FOUND',
  /** A write lost a race it cannot safely win (e.g. a session lease was lost mid-run). */
  'CONFLICT',
  /** The caller's `AbortSignal` fired. */
  'ABORTED',
  /** The session belongs to another user; nothing was read or written. */
  'SESSION_OWNERSHIP',
  /** Another run holds the session's lease and did not release it in time. Retryable. */
  'SESSION_BUSY',
  /** A memory row belongs to another user; nothing was written. */
  'MEMORY_OWNERSHIP',
  /** The model kept asking for tools past the round limit. */
  'MAX_TOOL_ROUNDS',
  /** Tool arguments did not match the tool's schema (reported to the model, not thrown by runs). */
  'TOOL_INPUT_INVALID',
  /** A tool threw (reported to the model, not thrown by runs). */
  'TOOL_EXECUTION_FAILED',
  /** The storage backend cannot be reached or failed. Retryable. */
  'STORAGE_UNAVAILABLE',
  /** The storage backend is locked or overloaded (e.g. SQLITE_BUSY). Retryable. */
  'STORAGE_BUSY',
  /** A stored record failed validation on read. The message names the session or row. */
  'STORAGE_CORRUPT',
  /** The storage (or the agent that owns it) was closed; open a new one. Not retryable. */
  'STORAGE_CLOSED',
  /**
   * A write was sent but its reply never came (a stalled server, a lost connection): it may or
   * may not have been stored. `details.runId` names the run; `getRuns` tells the truth once the
   * backend answers again. Not retryable as is: read first, or the run could be stored twice.
   */
  'STORAGE_OUTCOME_UNKNOWN',
  /** A stored record could not be decrypted (wrong key, or moved to another session). */
  'DECRYPTION_FAILED',
  /** No model was given and the default model cannot be loaded (package missing). */
  'MODEL_NOT_CONFIGURED',
  /** The provider rejected the credentials (401/403) or no API key was found. */
  'MODEL_AUTH_FAILED',
  /** The provider rate-limited the call (429). Retryable. */
  'MODEL_RATE_LIMITED',
  /** The provider failed or could not be reached (5xx, connection errors, timeouts). Retryable. */
  'MODEL_UNAVAILABLE',
  /** The provider answered with something Buddy cannot use (malformed body, bad JSON). */
  'MODEL_BAD_RESPONSE',
  /** The request does not fit the model's context window. */
  'MODEL_CONTEXT_OVERFLOW',
  /**
   * The part of a request that is never trimmed (system instructions and the current input)
   * exceeds the agent's `contextBudget`; no model call was made.
   */
  'CONTEXT_TOO_LARGE',
  /** A plugged-in adapter implements a contract version this core does not know. */
  'UNSUPPORTED_SPEC_VERSION',
  /** A bug or an unexpected non-Buddy error; `cause` holds the original. */
  'INTERNAL',
] as const;

/** One of `BUDDY_ERROR_CODES`. */
export type BuddyErrorCode = (typeof BUDDY_ERROR_CODES)[number];

const RETRYABLE_BY_DEFAULT: ReadonlySet<BuddyErrorCode> = new Set<BuddyErrorCode>([
  'SESSION_BUSY',
  'STORAGE_UNAVAILABLE',
  'STORAGE_BUSY',
  'MODEL_RATE_LIMITED',
  'MODEL_UNAVAILABLE',
]);

/** Whether a code is retryable when the thrower does not say otherwise. */
export function isRetryableByDefault(code: BuddyErrorCode): boolean {
  return RETRYABLE_BY_DEFAULT.has(code);
}
