import { BuddyError } from '@buddy/core';
import { describe, expect, it } from 'vitest';
import { expectBuddyRejection, expectBuddyThrow } from './expect-buddy-error.ts';

const notFound = () => new BuddyError({ code: 'NOT_FOUND', message: 'gone' });

describe('expectBuddyRejection and expectBuddyThrow', () => {
  it('return the BuddyError of a failed call', async () => {
    const error = notFound();
    expect(await expectBuddyRejection(Promise.reject(error))).toBe(error);
    expect(
      expectBuddyThrow(() => {
        throw error;
      }),
    ).toBe(error);
  });

  it('fail when the call succeeds or fails with another error', async () => {
    await expect(expectBuddyRejection(Promise.resolve(1))).rejects.toThrow(
      'expected the call to fail',
    );
    expect(() => expectBuddyThrow(() => 1)).toThrow('expected the call to throw');
    await expect(expectBuddyRejection(Promise.reject(new Error('plain')))).rejects.toThrow(
      /expected a BuddyError, got Error: plain/,
    );
    expect(() =>
      expectBuddyThrow(() => {
        throw new TypeError('plain');
      }),
    ).toThrow(/expected a BuddyError, got TypeError: plain/);
  });
});
