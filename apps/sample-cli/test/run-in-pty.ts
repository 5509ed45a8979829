/**
 * Runs one of the app's scripts in a real pseudo-terminal, through `script` from util-linux
 * (no native module needed): the app sees a TTY on stdin, stdout and stderr, readline runs in raw
 * mode, and a `\x03` written to the terminal is a real Ctrl-C keypress.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const appDir = fileURLToPath(new URL('..', import.meta.url));

/** Whether `script` (util-linux) is installed. */
export function hasScriptCommand(): boolean {
  const result = spawnSync('script', ['--version'], { encoding: 'utf8' });
  return result.status === 0 && result.stdout.includes('util-linux');
}

function quote(argument: string): string {
  return `'${argument.replace(/'/g, `'\\''`)}'`;
}

/** A process running in a pseudo-terminal. */
export interface PtySession {
  /** Everything the terminal showed so far (escape sequences included). */
  readonly output: string;
  /** Types into the terminal. */
  write(text: string): void;
  /**
   * Resolves once `test` holds for the output (checked whenever output arrives); rejects with
   * the output so far if the process exits first or nothing matches within `withinMs` (a guard
   * against waiting forever, not a timing check).
   */
  waitFor(test: RegExp | ((output: string) => boolean), withinMs?: number): Promise<void>;
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Promise<number | null>;
  /** Kills the process if it is still running. */
  kill(): void;
}

/** Starts `src/<script>.ts` in a pseudo-terminal with `args`, over the current environment plus `env`. */
export function runInPty(
  script: 'chat' | 'demo',
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): PtySession {
  const command = [
    process.execPath,
    '--conditions=@buddy/source',
    '--import',
    'tsx',
    `src/${script}.ts`,
    ...args,
  ]
    .map(quote)
    .join(' ');
  const child: ChildProcess = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], {
    cwd: appDir,
    env: { ...process.env, TERM: 'xterm', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    for (const listener of listeners) listener();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  let done = false;
  const exited = new Promise<number | null>((resolve) => {
    child.on('close', (code) => {
      done = true;
      for (const listener of listeners) listener();
      resolve(code);
    });
  });
  return {
    get output() {
      return output;
    },
    write: (text) => {
      child.stdin?.write(text);
    },
    waitFor: (test, withinMs = 30_000) =>
      new Promise<void>((resolve, reject) => {
        const matches = () => (typeof test === 'function' ? test(output) : test.test(output));
        const finish = (error?: Error) => {
          listeners.delete(check);
          clearTimeout(timer);
          if (error === undefined) resolve();
          else reject(error);
        };
        const check = () => {
          if (matches()) finish();
          else if (done) finish(new Error(`exited before ${String(test)} appeared:\n${output}`));
        };
        const timer = setTimeout(
          () => finish(new Error(`${String(test)} did not appear:\n${output}`)),
          withinMs,
        );
        listeners.add(check);
        check();
      }),
    exited,
    kill: () => {
      if (!done) child.kill('SIGKILL');
    },
  };
}
