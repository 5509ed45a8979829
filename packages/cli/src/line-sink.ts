/**
 * Where an export's lines go: a file (written under a temporary name in the same directory, with
 * mode 0600 since it holds personal data in clear, and renamed into place only when complete, so
 * a failed export leaves no file behind), or standard output. Lines are batched into chunks and
 * each chunk waits for the destination, so memory stays flat however much is written.
 */
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type CliOutput, writeOut } from './cli-io.ts';

const CHUNK = 256 * 1024;

/** A destination of lines. */
export interface LineSink {
  /** Adds one line (without its newline). */
  write(line: string): Promise<void>;
  /** Flushes; for a file, moves it into place. */
  commit(): Promise<void>;
  /** Gives up: for a file, removes what was written. */
  abort(): Promise<void>;
}

/** Lines batched into chunks of about `CHUNK` characters, each handed to `send` and awaited. */
class ChunkedLines {
  readonly #send: (text: string) => Promise<unknown>;
  #pending: string[] = [];
  #size = 0;

  constructor(send: (text: string) => Promise<unknown>) {
    this.#send = send;
  }

  async add(line: string): Promise<void> {
    this.#pending.push(line);
    this.#size += line.length + 1;
    if (this.#size >= CHUNK) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.#pending.length === 0) return;
    const text = `${this.#pending.join('\n')}\n`;
    this.discard();
    await this.#send(text);
  }

  discard(): void {
    this.#pending = [];
    this.#size = 0;
  }
}

class OutputSink implements LineSink {
  readonly #lines: ChunkedLines;

  constructor(output: CliOutput) {
    this.#lines = new ChunkedLines((text) => writeOut(output, text));
  }

  write(line: string): Promise<void> {
    return this.#lines.add(line);
  }

  commit(): Promise<void> {
    return this.#lines.flush();
  }

  async abort(): Promise<void> {
    this.#lines.discard();
  }
}

class FileSink implements LineSink {
  readonly #target: string;
  readonly #temporary: string;
  readonly #handle: FileHandle;
  readonly #lines: ChunkedLines;

  constructor(target: string, temporary: string, handle: FileHandle) {
    this.#target = target;
    this.#temporary = temporary;
    this.#handle = handle;
    this.#lines = new ChunkedLines((text) => handle.write(text));
  }

  write(line: string): Promise<void> {
    return this.#lines.add(line);
  }

  async commit(): Promise<void> {
    await this.#lines.flush();
    await this.#handle.sync();
    await this.#handle.close();
    await rename(this.#temporary, this.#target);
  }

  async abort(): Promise<void> {
    this.#lines.discard();
    await this.#handle.close().catch(() => {});
    await rm(this.#temporary, { force: true });
  }
}

/** Lines into standard output. */
export function outputSink(output: CliOutput): LineSink {
  return new OutputSink(output);
}

/** Lines into `file`, which appears only on `commit()`. */
export async function fileSink(file: string): Promise<LineSink> {
  const temporary = join(dirname(file), `.${basename(file)}.${process.pid}.partial`);
  const handle = await open(temporary, 'w', 0o600);
  return new FileSink(file, temporary, handle);
}
