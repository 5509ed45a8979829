export { BuddyError, type BuddyErrorDetails, type BuddyErrorOptions } from './buddy-error.ts';
export { BUDDY_ERROR_CODES, type BuddyErrorCode, isRetryableByDefault } from './error-codes.ts';
export { isAbortError, throwIfAborted, toBuddyError } from './to-buddy-error.ts';
