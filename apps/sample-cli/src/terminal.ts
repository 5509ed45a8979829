/** Small terminal helpers: colors (off for pipes and NO_COLOR), headings, errors, a spinner. */
import { BuddyError } from '@buddy/core';

const enabled = process.stdout.isTTY === true && process.env.NO_COLOR === undefined;
const paint = (code: number) => (text: string) =>
  enabled ? `\u001b[${code}m${text}\u001b[0m` : text;

export const color = {
  bold: paint(1),
  dim: paint(2),
  red: paint(31),
  green: paint(32),
  yellow: paint(33),
  cyan: paint(36),
};

export function heading(text: string): string {
  return color.cyan(color.bold(text));
}

export function indent(text: string, by = '    '): string {
  return text
    .split('\n')
    .map((line) => `${by}${line}`)
    .join('\n');
}

/** One line for any error: `[CODE] message` for Buddy errors, the message otherwise. */
export function describeError(error: unknown): string {
  if (BuddyError.is(error)) return `[${error.code}] ${error.message}`;
  if (error instanceof Error) return error.message;
  return String(error);
}

/** A spinner on stderr while waiting for the first token; a no-op when stderr is not a TTY. */
export function startSpinner(label = 'thinking'): () => void {
  if (process.stderr.isTTY !== true) return () => {};
  const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
  let index = 0;
  const timer = setInterval(() => {
    process.stderr.write(`\r${frames[index++ % frames.length]} ${label}`);
  }, 80);
  return () => {
    clearInterval(timer);
    process.stderr.write(`\r${' '.repeat(label.length + 2)}\r`);
  };
}
