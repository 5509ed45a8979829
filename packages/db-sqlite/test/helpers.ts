/**
 * Helpers shared by this package's tests: temporary directories under `os.tmpdir()` that are
 * removed after the run, and a matcher for `BuddyError` codes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuddyError, type BuddyErrorCode } from '@buddy/core';
import { afterAll, expect } from 'vitest';

const created: string[] = [];

afterAll(() => {
  for (const directory of created.splice(0)) rmSync(directory, { recursive: true, force: true });
});

/** A fresh directory under the OS temp dir, removed after the test file. */
export function makeTempDir(): string {
  const directory = mkdtempSync(join(tmpdir(), 'buddy-db-sqlite-'));
  created.push(directory);
  return directory;
}

/** A path for a new database file in a fresh temp directory. */
export function tempDbFile(name = 'buddy.db'): string {
  return join(makeTempDir(), name);
}

/** Awaits `work` (a promise or a function that may throw) and returns the BuddyError it raised. */
export async function expectBuddyError(
  work: Promise<unknown> | (() => unknown),
  code: BuddyErrorCode,
  messageIncludes?: string,
): Promise<BuddyError> {
  let caught: unknown;
  try {
    await (typeof work === 'function' ? work() : work);
  } catch (error) {
    caught = error;
  }
  expect(BuddyError.is(caught), `expected BuddyError ${code}, got ${String(caught)}`).toBe(true);
  const error = caught as BuddyError;
  expect(error.code, error.message).toBe(code);
  if (messageIncludes !== undefined) expect(error.message).toContain(messageIncludes);
  return error;
}
