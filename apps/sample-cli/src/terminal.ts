/** Small terminal helpers: colors (off for pipes and NO_COLOR), headings, errors, a spinner. */
import { BuddyError } from '@buddy/core';

const enabled = process.stdout.isTTY === true && process.env.NO_COLOR === undefined;
const paint = (code: number) => (text: string) =>
  enabled ? `\u001b[${code}m${text}\u001b[0m` : text;

/** ANSI colors for stdout, off when it is not a terminal or `NO_COLOR` is set. */
export const color = {
  bold: paint(1),
  dim: paint(2),
  red: paint(31),
  green: paint(32),
  yellow: paint(33),
  cyan: paint(36),
};

/** A section heading of the demo. */
export function heading(text: string): string {
  return color.cyan(color.bold(text));
}

/** Indents every line of `text`. */
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

/** Shortens a tool result (or any text) to one line of at most `max` characters. */
export function clip(text: string, max = 110): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** One line for a tool call: `⚙ add_to_cart({"item":"milk"})`. */
export function toolCallLine(name: string, argumentsJson: string): string {
  return color.dim(`⚙ ${name}(${clip(argumentsJson, 80)})`);
}

/** One line for a tool result: `↳ Added milk.` (red when the tool failed). */
export function toolResultLine(result: string, isError: boolean): string {
  const line = `↳ ${clip(result)}`;
  return isError ? color.red(line) : color.dim(line);
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/**
 * A one-line status with a spinner on stderr ("thinking…", "updating summary…"), redrawn in
 * place. Showing a label draws it at once (and then animates it); `clear()` erases the line.
 * Does nothing when stderr is not a terminal, so piped transcripts stay clean.
 */
export class StatusLine {
  readonly #stream: NodeJS.WriteStream;
  readonly #enabled: boolean;
  #label: string | undefined;
  #frame = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(stream: NodeJS.WriteStream = process.stderr) {
    this.#stream = stream;
    this.#enabled = stream.isTTY === true;
  }

  /** The label on screen, or `undefined`. */
  get label(): string | undefined {
    return this.#label;
  }

  show(label: string): void {
    if (!this.#enabled) return;
    this.#label = label;
    this.#draw();
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.#draw(), 80);
      this.#timer.unref();
    }
  }

  clear(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#label === undefined) return;
    this.#label = undefined;
    this.#stream.write('\r\u001b[2K');
  }

  #draw(): void {
    if (this.#label === undefined) return;
    const frame = FRAMES[this.#frame++ % FRAMES.length];
    this.#stream.write(`\r\u001b[2K${color.dim(`${frame} ${this.#label}…`)}`);
  }
}
