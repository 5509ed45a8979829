/**
 * Reading a JSON Lines file line by line with line numbers, in constant memory whatever its size.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

/** One line and its 1-based number. */
export interface NumberedLine {
  text: string;
  lineNumber: number;
}

/** The lines of `file`, one at a time. */
export async function* readLines(file: string): AsyncGenerator<NumberedLine> {
  const stream = createReadStream(file, { encoding: 'utf8' });
  const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
  let lineNumber = 0;
  try {
    for await (const text of lines) {
      lineNumber++;
      yield { text, lineNumber };
    }
  } finally {
    lines.close();
    stream.destroy();
  }
}
