/**
 * Hooks for fault tests, not part of the public API (not exported from the package entry).
 * `storage[afterIndexStep] = (sessionId) => { throw ... }` makes every session write stop after
 * its index step and before its session script, as a process crash between the two would; an
 * async hook delays the script instead (a write that reaches the server late).
 */

/** Called with the session id between a write's index step and its session script. */
export const afterIndexStep: unique symbol = Symbol('buddy.redis.afterIndexStep');

/** The hook's signature: throw to crash the write there, or wait to delay its session script. */
export type IndexStepHook = (sessionId: string) => void | Promise<void>;
