/**
 * A progress line on stderr, drawn only when stderr is a terminal (never into a log file or a
 * pipe): `import ███████░░░░░░░  48%  1200/2500 sessions  30411 runs  0:12`, redrawn at most
 * ten times a second, cleared when done.
 */
import type { CliOutput } from './cli-io.ts';

const WIDTH = 20;
const INTERVAL_MS = 100;

function clock(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  const minutes = Math.floor(seconds / 60);
  return `${minutes}:${String(seconds % 60).padStart(2, '0')}`;
}

/** One task's progress line. */
export class Progress {
  readonly #output: CliOutput;
  readonly #label: string;
  readonly #started = Date.now();
  readonly #enabled: boolean;
  #lastDraw = 0;
  #drawn = false;

  constructor(output: CliOutput, label: string) {
    this.#output = output;
    this.#label = label;
    this.#enabled = output.isTTY === true;
  }

  /**
   * Redraws (throttled) with `done` of `total` units (`total` 0 when unknown) and a free-form
   * tail such as `"1234 runs"`.
   */
  update(done: number, total: number, unit: string, tail = '', force = false): void {
    if (!this.#enabled) return;
    const now = Date.now();
    if (!force && now - this.#lastDraw < INTERVAL_MS) return;
    this.#lastDraw = now;
    let bar = '';
    if (total > 0) {
      const share = Math.min(1, done / total);
      const filled = Math.round(share * WIDTH);
      bar = ` ${'█'.repeat(filled)}${'░'.repeat(WIDTH - filled)} ${String(Math.floor(share * 100)).padStart(3)}%  ${done}/${total} ${unit}`;
    } else {
      bar = `  ${done} ${unit}`;
    }
    let text = `${this.#label}${bar}${tail === '' ? '' : `  ${tail}`}  ${clock(now - this.#started)}`;
    const columns = this.#output.columns;
    if (columns !== undefined && columns > 10 && text.length > columns - 1) {
      text = text.slice(0, columns - 1);
    }
    this.#output.write(`\r\x1b[2K${text}`);
    this.#drawn = true;
  }

  /** Clears the line. */
  done(): void {
    if (this.#drawn) this.#output.write('\r\x1b[2K');
    this.#drawn = false;
  }
}
