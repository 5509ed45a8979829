/**
 * Comparing export files in tests. An import or a migration writes through the storage contract,
 * which lets the target assign a session's `createdAt` / `updatedAt` (its write time); every
 * other byte of every line must survive.
 */
import { readFileSync } from 'node:fs';

/** The lines of an export file. */
export function exportLines(file: string): string[] {
  return readFileSync(file, 'utf8').trimEnd().split('\n');
}

/**
 * The lines of an export with what a target legitimately assigns taken out: the header's
 * `exportedAt` and `source`, and each session line's `createdAt` / `updatedAt`. Everything else
 * (order included) is kept byte for byte.
 */
export function comparableLines(lines: string[]): string[] {
  return lines.map((line) => {
    const record = JSON.parse(line) as Record<string, unknown>;
    if (record.type === 'header') {
      const { exportedAt: _time, source: _source, ...rest } = record;
      return JSON.stringify(rest);
    }
    if (record.type === 'session') {
      const { createdAt: _created, updatedAt: _updated, ...rest } = record;
      return JSON.stringify(rest);
    }
    return line;
  });
}

/** Asserts two lists of lines are equal, showing only the first difference when not. */
export function firstDifference(actual: string[], expected: string[]): string | undefined {
  const length = Math.max(actual.length, expected.length);
  for (let index = 0; index < length; index++) {
    if (actual[index] !== expected[index]) {
      return `line ${index + 1} differs:\n  got      ${actual[index]}\n  expected ${expected[index]}`;
    }
  }
  return undefined;
}
