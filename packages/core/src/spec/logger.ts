/**
 * The logger contract: where Buddy reports problems it recovers from (post-answer failures, lease
 * renewals, a corrupt session skipped by listing). Types only.
 */

/** Structured context of a log line: ids, an `error`. Never secrets, never whole prompts. */
export type LogDetails = Record<string, unknown>;

/** Where Buddy reports what it recovered from. `consoleLogger` by default. */
export interface Logger {
  debug(message: string, details?: LogDetails): void;
  warn(message: string, details?: LogDetails): void;
  error(message: string, details?: LogDetails): void;
}
