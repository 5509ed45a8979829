import { type BuddyErrorCode, isRetryableByDefault } from './error-codes.ts';

/** A `Symbol.for` marker survives two copies of `@buddy/core` in one process, `instanceof` does not. */
const marker = Symbol.for('buddy.error');

/** JSON-safe context for logs. Never secrets, never whole prompts. */
export type BuddyErrorDetails = Readonly<Record<string, string | number | boolean | null>>;

/** What a `BuddyError` is made of. */
export interface BuddyErrorOptions {
  code: BuddyErrorCode;
  message: string;
  cause?: unknown;
  /** Defaults to the code's usual retryability (see `isRetryableByDefault`). */
  retryable?: boolean;
  details?: BuddyErrorDetails;
}

/**
 * The one error type Buddy's public API throws. Branch on `code`; retry when `retryable`.
 * Vendor errors (OpenAI, Anthropic, SQLite, Redis) are translated at the adapter boundary and kept
 * as `cause`.
 *
 * @example
 * try { await agent.run('hi') } catch (error) {
 *   if (BuddyError.is(error, 'MODEL_RATE_LIMITED')) await sleep(1000);
 * }
 */
export class BuddyError extends Error {
  readonly [marker] = true;
  readonly code: BuddyErrorCode;
  /** True when retrying the same call may succeed (429, 5xx, busy storage, lost connection). */
  readonly retryable: boolean;
  readonly details: BuddyErrorDetails;

  constructor(options: BuddyErrorOptions) {
    super(options.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BuddyError';
    this.code = options.code;
    this.retryable = options.retryable ?? isRetryableByDefault(options.code);
    this.details = options.details ?? {};
  }

  /** True for any `BuddyError` (from any copy of core), optionally with the given code. */
  static is(error: unknown, code?: BuddyErrorCode): error is BuddyError {
    return (
      typeof error === 'object' &&
      error !== null &&
      marker in error &&
      (code === undefined || (error as unknown as BuddyError).code === code)
    );
  }
}
