/**
 * What a `buddy` run talks to: its output streams, input, environment and working directory,
 * and how it loads a storage package. `bin.ts` passes the process's; tests pass their own.
 */

/** A stream the CLI writes to (`process.stdout`, `process.stderr`, or a test's). */
export interface CliOutput {
  write(chunk: string, callback?: (error?: Error | null) => void): boolean;
  once(event: 'drain' | 'error' | 'close', listener: (...args: unknown[]) => void): unknown;
  removeListener(
    event: 'drain' | 'error' | 'close',
    listener: (...args: unknown[]) => void,
  ): unknown;
  /** True for a terminal: progress is drawn only then. */
  isTTY?: boolean;
  /** Terminal width, when a terminal. */
  columns?: number;
}

/** The world of one `buddy` run. */
export interface CliIo {
  stdout: CliOutput;
  stderr: CliOutput;
  /** Read by `buddy import` without a file. */
  stdin: NodeJS.ReadableStream;
  env: Readonly<Record<string, string | undefined>>;
  /** Where relative paths (`sqlite:agent.db`, `-o out.jsonl`, key files) start. */
  cwd: string;
  /**
   * Loads a storage package by name: `import(name)` by default. A seam for tests (a package that
   * is not installed).
   */
  importModule?: (name: string) => Promise<unknown>;
}

/** Writes and waits while the stream's buffer is full, so output never piles up in memory. */
export async function writeOut(output: CliOutput, text: string): Promise<void> {
  if (output.write(text)) return;
  await new Promise<void>((resolve, reject) => {
    const done = () => {
      output.removeListener('drain', done);
      output.removeListener('error', fail);
      output.removeListener('close', done);
      resolve();
    };
    const fail = (error: unknown) => {
      output.removeListener('drain', done);
      output.removeListener('close', done);
      reject(error);
    };
    output.once('drain', done);
    output.once('close', done);
    output.once('error', fail);
  });
}
