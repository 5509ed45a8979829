/**
 * Comparing export files in tests. Imports, migrations and `rekey` keep every byte of every line
 * (session times included, on targets that declare `restoresTimes`, as every Buddy backend does);
 * only the header says when and from where the file was made.
 */
import { readFileSync } from 'node:fs';

/** The lines of an export file. */
export function exportLines(file: string): string[] {
  return readFileSync(file, 'utf8').trimEnd().split('\n');
}

/**
 * The lines of an export with the header's `exportedAt` and `source` taken out. Everything else
 * (session times and order included) is kept byte for byte.
 */
export function comparableLines(lines: string[]): string[] {
  return lines.map((line) => {
    const record = JSON.parse(line) as Record<string, unknown>;
    if (record.type === 'header') {
      const { exportedAt: _time, source: _source, ...rest } = record;
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
