/**
 * Helpers for the test files: the scratch project the global setup installed, and running
 * commands in it as real child processes.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { inject } from 'vitest';
import { root } from './workspace.ts';

/** The scratch project (outside the workspace) with every tarball installed. */
export function scratchDir(): string {
  return inject('scratch');
}

/** TypeScript 7's compiler from the workspace. */
export const tsc = join(root, 'node_modules/.bin/tsc');

/** How a child process ended and what it printed. */
export interface ProcessResult {
  /** `null` when the process was killed. */
  code: number | null;
  stdout: string;
  stderr: string;
  /** True when the process did not exit by itself within `hangAfterMs` and was killed. */
  hung: boolean;
}

/**
 * Runs a command and collects its output. A process still alive after `hangAfterMs` is killed
 * and reported with `hung: true` (a guard against a test that waits forever, not a timing
 * assertion: the checks look at `hung` and the exit code only).
 */
export function runProcess(
  command: string,
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; hangAfterMs?: number },
): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let hung = false;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, options.hangAfterMs ?? 60_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, hung });
    });
  });
}

/** Runs a command that must succeed; rejects with its output otherwise. */
export async function runChecked(
  command: string,
  args: readonly string[],
  cwd: string,
): Promise<string> {
  const result = await runProcess(command, args, { cwd });
  if (result.code !== 0) {
    throw new Error(
      `\`${command} ${args.join(' ')}\` exited with ${result.code}\n${result.stdout}\n${result.stderr}`,
    );
  }
  return result.stdout;
}
