/**
 * `expectBuddyRejection(promise)` and `expectBuddyThrow(fn)`: run a call that must fail with a
 * `BuddyError` and return the error, so a test can assert its code, message and details.
 */
import { BuddyError, type BuddyErrorCode } from '@buddy/core';
import { expect } from 'vitest';

function checked(error: unknown): BuddyError {
  expect(BuddyError.is(error), `expected a BuddyError, got ${String(error)}`).toBe(true);
  return error as BuddyError;
}

/**
 * Fails the test when `promise` resolves or rejects with anything but a `BuddyError`.
 *
 * @example
 * const error = await expectBuddyRejection(model.generate({ messages }));
 * expect(error.code).toBe('MODEL_RATE_LIMITED');
 */
export async function expectBuddyRejection(promise: Promise<unknown>): Promise<BuddyError> {
  try {
    await promise;
  } catch (error) {
    return checked(error);
  }
  throw new Error('expected the call to fail');
}

/**
 * Fails the test when `fn` returns or throws anything but a `BuddyError`.
 *
 * @example
 * const error = expectBuddyThrow(() => new OpenAIChat({ id: '' }));
 * expect(error.code).toBe('INVALID_ARGUMENT');
 */
export function expectBuddyThrow(fn: () => unknown): BuddyError {
  try {
    fn();
  } catch (error) {
    return checked(error);
  }
  throw new Error('expected the call to throw');
}

/**
 * Fails the test unless `promise` rejects with a `BuddyError` of `code` (and, when given, a
 * message containing `messageIncludes`). `label` names the call in the failure message.
 *
 * @example
 * await expectBuddyError(storage.listSessions({ usrId: 'bob' }), 'INVALID_ARGUMENT', 'usrId');
 */
export async function expectBuddyError(
  promise: Promise<unknown>,
  code: BuddyErrorCode,
  messageIncludes?: string,
  label?: string,
): Promise<BuddyError> {
  let caught: unknown;
  let resolved = false;
  try {
    await promise;
    resolved = true;
  } catch (error) {
    caught = error;
  }
  const what = label === undefined ? 'the call' : label;
  expect(resolved, `${what} resolved; expected a BuddyError ${code}`).toBe(false);
  expect(
    BuddyError.is(caught),
    `${what}: expected a BuddyError ${code}, got ${String(caught)}`,
  ).toBe(true);
  const error = caught as BuddyError;
  expect(error.code, `${what}: ${error.message}`).toBe(code);
  if (messageIncludes !== undefined) expect(error.message).toContain(messageIncludes);
  return error;
}
