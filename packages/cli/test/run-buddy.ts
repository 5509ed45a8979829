/**
 * Running `buddy` in tests: in this process through `runCli` (fast, with captured output), or as
 * a real child process of the `bin` (for exit codes, signals and memory).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { type CliIo, runCli } from '../src/index.ts';

/** What a run of `buddy` left. */
export interface BuddyResult {
  code: number;
  stdout: string;
  stderr: string;
}

class Capture extends Writable {
  text = '';
  isTTY: boolean;
  columns = 100;
  constructor(isTTY = false) {
    super();
    this.isTTY = isTTY;
  }
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

/** Options of `buddy()`. */
export interface BuddyOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  stdin?: string;
  /** Pretend stderr is a terminal (progress is drawn). */
  tty?: boolean;
  importModule?: CliIo['importModule'];
}

/** Runs `buddy <args>` in this process. */
export async function buddy(args: string[], options: BuddyOptions = {}): Promise<BuddyResult> {
  const stdout = new Capture();
  const stderr = new Capture(options.tty === true);
  const code = await runCli(args, {
    stdout,
    stderr,
    stdin: Readable.from(options.stdin === undefined ? [] : [options.stdin]),
    env: options.env ?? {},
    cwd: options.cwd ?? process.cwd(),
    ...(options.importModule === undefined ? {} : { importModule: options.importModule }),
  });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const tsxLoader = new URL('../node_modules/tsx/dist/loader.mjs', import.meta.url).href;

/** The command line of the real `buddy` bin, run from source. */
export function binCommand(script = '../src/bin.ts'): { command: string; args: string[] } {
  return {
    command: process.execPath,
    args: [
      '--conditions=@buddy/source',
      '--import',
      tsxLoader,
      fileURLToPath(new URL(script, import.meta.url)),
    ],
  };
}

/** Starts the real `buddy` bin as a child process. */
export function spawnBuddy(
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; script?: string } = {},
): ChildProcess {
  const { command, args: base } = binCommand(options.script);
  return spawn(command, [...base, ...args], {
    cwd: options.cwd ?? packageDir,
    env: { PATH: process.env.PATH ?? '', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Runs the real `buddy` bin to its end. */
export function runBuddy(
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; script?: string; stdin?: string } = {},
): Promise<BuddyResult & { signal: NodeJS.Signals | null }> {
  const child = spawnBuddy(args, options);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdin?.end(options.stdin ?? '');
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? -1, signal, stdout, stderr }));
  });
}
