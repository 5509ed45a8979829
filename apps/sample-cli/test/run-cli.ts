import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const appDir = fileURLToPath(new URL('..', import.meta.url));

/** A finished process: exit code and everything it printed. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs one of the app's scripts as a real process (the way `pnpm demo` / `pnpm chat` do). */
export function runCli(
  script: 'demo' | 'chat',
  args: string[],
  options: { input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--conditions=@buddy/source', '--import', 'tsx', `src/${script}.ts`, ...args],
      {
        cwd: appDir,
        env: {
          ...process.env,
          NO_COLOR: '1',
          OPENAI_API_KEY: '',
          ANTHROPIC_API_KEY: '',
          // `.ci/run` exports BUDDY_POSTGRES_URL and BUDDY_REDIS_URL: a test names its backend.
          BUDDY_REDIS_URL: '',
          BUDDY_REDIS_PREFIX: '',
          BUDDY_POSTGRES_URL: '',
          BUDDY_POSTGRES_SCHEMA: '',
          BUDDY_DB_FILE: '',
          BUDDY_USER: '',
          BUDDY_SESSION: '',
          BUDDY_MODEL: '',
          // as when run directly with node, not as a package script
          npm_lifecycle_event: '',
          ...options.env,
        },
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}
