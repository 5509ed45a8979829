import { describe, expect, it } from 'vitest';
import { BuddyError } from './buddy-error.ts';
import { BUDDY_ERROR_CODES } from './error-codes.ts';
import { toBuddyError } from './to-buddy-error.ts';

describe('BuddyError', () => {
  it('carries code, retryable (defaulted per code), details and cause', () => {
    const cause = new Error('socket hang up');
    const error = new BuddyError({
      code: 'MODEL_UNAVAILABLE',
      message: 'down',
      cause,
      details: { status: 503 },
    });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('BuddyError');
    expect(error.retryable).toBe(true);
    expect(error.cause).toBe(cause);
    expect(error.details).toEqual({ status: 503 });
    expect(new BuddyError({ code: 'INVALID_ARGUMENT', message: 'x' }).retryable).toBe(false);
    expect(
      new BuddyError({ code: 'MODEL_RATE_LIMITED', message: 'x', retryable: false }).retryable,
    ).toBe(false);
  });

  it('is recognized across copies of the package through a Symbol.for marker', () => {
    const foreign = Object.assign(Object.create(Error.prototype), {
      [Symbol.for('buddy.error')]: true,
      code: 'ABORTED',
    });
    expect(BuddyError.is(foreign)).toBe(true);
    expect(BuddyError.is(foreign, 'ABORTED')).toBe(true);
    expect(BuddyError.is(foreign, 'INTERNAL')).toBe(false);
    expect(BuddyError.is(new Error('plain'))).toBe(false);
    expect(BuddyError.is(null)).toBe(false);
  });

  it('has unique SCREAMING_SNAKE codes', () => {
    expect(new Set(BUDDY_ERROR_CODES).size).toBe(BUDDY_ERROR_CODES.length);
    for (const code of BUDDY_ERROR_CODES) expect(code).toMatch(/^[A-Z]+(_[A-Z]+)*$/);
  });
});

describe('toBuddyError', () => {
  it('passes Buddy errors through, maps aborts, wraps the rest with cause', () => {
    const original = new BuddyError({ code: 'NOT_FOUND', message: 'gone' });
    expect(toBuddyError(original)).toBe(original);
    const abort = new DOMException('stop', 'AbortError');
    expect(toBuddyError(abort).code).toBe('ABORTED');
    const wrapped = toBuddyError(
      new TypeError('bad'),
      'STORAGE_UNAVAILABLE',
      'SqliteStorage.getSession',
    );
    expect(wrapped.code).toBe('STORAGE_UNAVAILABLE');
    expect(wrapped.message).toBe('SqliteStorage.getSession: bad');
    expect(wrapped.cause).toBeInstanceOf(TypeError);
    expect(toBuddyError('a string').message).toBe('a string');
  });
});
