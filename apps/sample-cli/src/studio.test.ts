/**
 * `pnpm studio` as a real process: it picks its database the way `pnpm chat` does (PostgreSQL at
 * BUDDY_POSTGRES_URL in BUDDY_POSTGRES_SCHEMA here), serves the API, and explains a server that
 * does not answer in one line.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  dropSchema,
  POSTGRES_URL,
  requirePostgres,
  schemaExists,
  skipPostgres,
} from '../test/postgres.ts';
import { maskUrl } from './stores.ts';

const appDir = fileURLToPath(new URL('..', import.meta.url));
const running: ChildProcess[] = [];
afterEach(() => {
  for (const child of running.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

/** Starts `src/studio.ts` on a free port; resolves with its output once it listens, or exits. */
function startStudio(env: NodeJS.ProcessEnv): Promise<{ output: string; code: number | null }> {
  const child = spawn(
    process.execPath,
    ['--conditions=@buddy/source', '--import', 'tsx', 'src/studio.ts', '--port', '0'],
    {
      cwd: appDir,
      env: {
        ...process.env,
        BUDDY_POSTGRES_URL: '',
        BUDDY_POSTGRES_SCHEMA: '',
        BUDDY_REDIS_URL: '',
        BUDDY_DB_FILE: '',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  running.push(child);
  let output = '';
  return new Promise((resolve) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ctrl-C stops it.')) resolve({ output, code: null });
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('close', (code) => resolve({ output, code }));
  });
}

describe('pnpm studio', () => {
  it('explains an unreachable PostgreSQL in one line, the password masked', async () => {
    const { output, code } = await startStudio({
      BUDDY_POSTGRES_URL: 'postgresql://buddy:s3cret@127.0.0.1:1/test',
    });
    expect(code).toBe(1);
    expect(output.trim()).toBe(
      'studio failed: PostgreSQL at postgresql://buddy:***@127.0.0.1:1/test does not answer (connection refused). Start PostgreSQL or unset BUDDY_POSTGRES_URL to use SQLite.',
    );
  }, 30_000);
});

/** The `data:` of every Server-Sent Event in `text`. */
function events(text: string): { type: string; [key: string]: unknown }[] {
  return text
    .split('\n\n')
    .map((block) => block.split('\n').find((line) => line.startsWith('data: ')))
    .filter((line) => line !== undefined)
    .map((line) => JSON.parse(line.slice(6)));
}

describe('pnpm studio chat', () => {
  it('pauses a checkout for approval and runs it once approved in the Studio', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'buddy-sample-studio-'));
    try {
      const { output, code } = await startStudio({ BUDDY_DB_FILE: join(dir, 'buddy.db') });
      expect(code, output).toBeNull();
      const url = /Buddy Studio: (http:\/\/\S+)/.exec(output)?.[1] ?? '';
      const chat = async (body: unknown) => {
        const response = await fetch(new URL('api/sessions/shop-1/chat', url), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        return events(await response.text());
      };
      expect((await chat({ message: 'add 2 apples', userId: 'dana' })).at(-1)?.type).toBe(
        'run-completed',
      );
      const paused = await chat({ message: 'check out', userId: 'dana' });
      const requested = paused.find((event) => event.type === 'approval-requested') as
        | { pendingApprovals: { approvalId: string; toolName: string }[] }
        | undefined;
      expect(requested?.pendingApprovals.map((approval) => approval.toolName)).toEqual([
        'checkout',
      ]);
      const approvalId = requested?.pendingApprovals[0]?.approvalId as string;
      const resumed = await chat({ approvals: { [approvalId]: { approved: true } } });
      expect(resumed.filter((event) => event.type === 'tool-result')).toHaveLength(1);
      expect(resumed.at(-1)).toMatchObject({
        type: 'run-completed',
        response: { status: 'completed' },
      });
      const session = (await (await fetch(new URL('api/sessions/shop-1', url))).json()) as {
        session: { pendingApprovals?: unknown; runCount: number };
      };
      expect(session.session.pendingApprovals).toBeUndefined();
      expect(session.session.runCount).toBe(2);
    } finally {
      for (const child of running.splice(0)) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

describe.skipIf(skipPostgres)('pnpm studio on PostgreSQL', () => {
  it('serves the sessions of the schema BUDDY_POSTGRES_SCHEMA names', async () => {
    requirePostgres();
    const schema = `buddy_studio_test_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    try {
      const { output, code } = await startStudio({
        BUDDY_POSTGRES_URL: POSTGRES_URL,
        BUDDY_POSTGRES_SCHEMA: schema,
      });
      expect(code).toBeNull();
      expect(output).toContain(
        `Storage: PostgreSQL at ${maskUrl(POSTGRES_URL)} (schema ${schema}).`,
      );
      const url = /Buddy Studio: (http:\/\/\S+)/.exec(output)?.[1] ?? '';
      const response = await fetch(new URL('api/sessions?limit=1', url));
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ sessions: [] });
      expect(await schemaExists(schema)).toBe(true);
    } finally {
      for (const child of running.splice(0)) child.kill('SIGKILL');
      await dropSchema(schema);
    }
  }, 30_000);
});
