/**
 * The root README's example, copied out of the README and run the way a newcomer runs it: in its
 * own process, in a project outside the workspace that installed the tarballs, against a fake
 * OpenAI-compatible (or Anthropic) server on loopback. Every variant must exit by itself with
 * code 0: the example closes what it opens. The variants are the README's own "Swapping
 * backends" edits, applied line by line, so the swap section cannot drift from the example.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { FixtureServer, RecordedRequest } from '@buddy/testkit/fetch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, startFakeOpenAI } from './fake-providers.ts';
import { type ProcessResult, runChecked, runProcess, scratchDir, tsc } from './scratch.ts';
import { isCi, root } from './workspace.ts';

const readme = readFileSync(join(root, 'README.md'), 'utf8');

/** The first ```ts block after a heading of the root README. */
function codeBlockAfter(heading: string): string {
  const at = readme.indexOf(`\n${heading}\n`);
  if (at === -1) throw new Error(`README.md has no "${heading}" section`);
  const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  if (block?.[1] === undefined) throw new Error(`README.md "${heading}" has no ts code block`);
  return block[1];
}

interface Swap {
  title: string;
  imports: string[];
  from: string;
  to: string;
}

/** The swap section: groups of `// title`, imports, then the line before and the line after. */
function parseSwaps(block: string): Swap[] {
  return block
    .trim()
    .split(/\n\s*\n/)
    .map((group) => {
      const lines = group.split('\n');
      const title = lines.find((line) => line.startsWith('//')) ?? '';
      const imports = lines.filter((line) => line.startsWith('import '));
      const code = lines.filter((line) => !line.startsWith('//') && !line.startsWith('import '));
      if (code.length !== 2) throw new Error(`swap "${title}" is not one line before, one after`);
      return { title, imports, from: code[0] as string, to: code[1] as string };
    });
}

/** Applies a swap to the example the way a reader would: add the import, change the line. */
function applySwap(source: string, swap: Swap): string {
  const lines = source.split('\n');
  const index = lines.findIndex((line) => line.trim() === swap.from.trim());
  if (index === -1)
    throw new Error(`swap "${swap.title}": "${swap.from.trim()}" is not in the example`);
  const indent = /^\s*/.exec(lines[index] as string)?.[0] ?? '';
  lines[index] = `${indent}${swap.to.trim()}`;
  const lastImport = lines.findLastIndex((line) => line.startsWith('import '));
  lines.splice(lastImport + 1, 0, ...swap.imports);
  return lines.join('\n');
}

function replaceOnce(source: string, search: string, replacement: string): string {
  if (!source.includes(search)) throw new Error(`the example has no "${search}"`);
  return source.replace(search, replacement);
}

const REDIS_URL = process.env.BUDDY_REDIS_URL || 'redis://127.0.0.1:6379';

/** Why Redis does not answer a PING, or `undefined` when it does. */
function redisProblem(url: string): Promise<string | undefined> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port || 6379) });
    socket.setTimeout(2_000);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG') ? undefined : `PING answered ${data}`);
    });
    socket.once('error', (error) => resolve(error.message));
    socket.once('timeout', () => {
      socket.destroy();
      resolve('no answer within 2 s');
    });
  });
}

const redisDown = await redisProblem(REDIS_URL);

/** Why nothing accepts a connection on the URL's host and port, or `undefined` when it does. */
function tcpProblem(url: string, defaultPort: number): Promise<string | undefined> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port || defaultPort) });
    socket.setTimeout(2_000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (error) => resolve(error.message));
    socket.once('timeout', () => {
      socket.destroy();
      resolve('no answer within 2 s');
    });
  });
}
// PostgreSQL: the same server the db-postgres tests use, in a schema of its own
const POSTGRES_URL = process.env.BUDDY_POSTGRES_URL || 'postgresql://postgres@127.0.0.1:5432/test';
const postgresSchema = `buddy_pack_check_${process.pid}_${Date.now()}`;
const postgresDown = await tcpProblem(POSTGRES_URL, 5432);
if (postgresDown !== undefined && !isCi()) {
  console.warn(
    `[pack-check] SKIPPING the README example on PostgreSQL: ${POSTGRES_URL} does not answer (${postgresDown}). Start PostgreSQL or set BUDDY_POSTGRES_URL.`,
  );
}
if (redisDown !== undefined && !isCi()) {
  console.warn(
    `[pack-check] SKIPPING the README example on Redis: ${REDIS_URL} does not answer (${redisDown}). Start redis-server or set BUDDY_REDIS_URL.`,
  );
}

const example = codeBlockAfter('## Example');
const swaps = parseSwaps(codeBlockAfter('## Swapping backends'));
const swap = (to: string) => {
  const found = swaps.find((candidate) => candidate.to.includes(to));
  if (found === undefined) throw new Error(`README.md "Swapping backends" has no swap to ${to}`);
  return found;
};
const prefix = `buddy-pack-check:${process.pid}-${Date.now()}:`;
const claude = applySwap(example, swap('new Claude('));
const variants = {
  sqlite: example,
  redis: replaceOnce(
    applySwap(example, swap('new RedisStorage(')),
    "url: 'redis://127.0.0.1:6379'",
    // the shared test server: its URL, and a prefix no one else uses
    `url: ${JSON.stringify(REDIS_URL)}, prefix: ${JSON.stringify(prefix)}`,
  ),
  postgres: replaceOnce(
    applySwap(example, swap('new PostgresStorage(')),
    "connectionString: 'postgres://buddy@db:5432/app'",
    `connectionString: ${JSON.stringify(POSTGRES_URL)}, schema: ${JSON.stringify(postgresSchema)}`,
  ),
  // the cluster swap only type-checks here (the cluster tests run in @buddy/db-redis)
  'redis-cluster': applySwap(example, swap('new Cluster(')),
  claude,
  // the mistake the swap section warns about: memory left on the default (OpenAI) model
  'claude-default-memory': replaceOnce(
    claude,
    'new AgentMemory({ model, db:',
    'new AgentMemory({ db:',
  ),
};

let openai: FixtureServer;
let anthropic: FixtureServer;

beforeAll(async () => {
  const scratch = scratchDir();
  for (const [name, source] of Object.entries(variants)) {
    mkdirSync(join(scratch, `example-${name}`), { recursive: true });
    writeFileSync(join(scratch, `example-${name}`, 'index.ts'), source);
  }
  writeFileSync(
    join(scratch, 'tsconfig.examples.json'),
    JSON.stringify({
      compilerOptions: { module: 'nodenext', target: 'es2022', strict: true, skipLibCheck: true },
      include: ['example-*/index.ts'],
    }),
  );
  // The example must type-check as written; emitting it also gives Node plain JavaScript.
  await runChecked(tsc, ['-p', 'tsconfig.examples.json'], scratch);
  openai = await startFakeOpenAI();
  anthropic = await startFakeAnthropic();
});

afterAll(async () => {
  await openai?.close();
  await anthropic?.close();
});

/** Runs a variant in its own process, with only the keys it needs in the environment. */
function runExample(name: keyof typeof variants, provider: 'openai' | 'anthropic') {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) {
    if (/^(OPENAI|ANTHROPIC)_/.test(key) || key === 'BUDDY_LOG_LEVEL') delete env[key];
  }
  if (provider === 'openai') {
    env.OPENAI_API_KEY = 'sk-test';
    env.OPENAI_BASE_URL = `${openai.url}/v1`;
  } else {
    env.ANTHROPIC_API_KEY = 'sk-ant-test';
    env.ANTHROPIC_BASE_URL = anthropic.url;
  }
  return runProcess(process.execPath, ['index.js'], {
    cwd: join(scratchDir(), `example-${name}`),
    env,
    hangAfterMs: 30_000,
  });
}

function expectCleanExit(result: ProcessResult): void {
  expect(result.hung, `the example did not exit by itself:\n${result.stderr}`).toBe(false);
  expect(result.code, result.stderr).toBe(0);
  expect(result.stdout).toContain("Added milk to your cart. [ 'milk' ]");
}

/** The structured requests (summary, memory classifier) a fake server received. */
function structuredRequests(requests: readonly RecordedRequest[]): string[] {
  return requests.flatMap((request) => {
    const body = request.body as {
      response_format?: { json_schema?: { name?: string } };
      tool_choice?: { type?: string; name?: string };
    };
    const name =
      body.response_format?.json_schema?.name ??
      (body.tool_choice?.type === 'tool' ? body.tool_choice.name : undefined);
    return name === undefined ? [] : [name];
  });
}

describe("the root README's example, in its own process", () => {
  it('runs on SQLite, writes a summary with the same model, and exits by itself', async () => {
    const before = openai.requests.length;
    const result = await runExample('sqlite', 'openai');
    expectCleanExit(result);
    expect(result.stderr).toBe('');
    expect(structuredRequests(openai.requests.slice(before)).sort()).toEqual([
      'memory_classification',
      'session_summary',
    ]);
  });

  it.skipIf(redisDown !== undefined && !isCi())(
    'runs with the Redis swap from the README and exits by itself',
    async () => {
      if (redisDown !== undefined)
        throw new Error(`Redis is required in CI: ${REDIS_URL} does not answer (${redisDown})`);
      const scratch = scratchDir();
      writeFileSync(
        join(scratch, 'redis-keys.mjs'),
        `import { Redis } from 'ioredis';
const [url, prefix] = process.argv.slice(2);
const client = new Redis(url);
const keys = [];
let cursor = '0';
do {
  const [next, found] = await client.scan(cursor, 'MATCH', prefix + '*', 'COUNT', 500);
  cursor = next;
  keys.push(...found);
} while (cursor !== '0');
if (keys.length > 0) await client.del(...keys);
await client.quit();
console.log(keys.length);
`,
      );
      let result: ProcessResult;
      try {
        result = await runExample('redis', 'openai');
      } finally {
        const deleted = await runChecked(
          process.execPath,
          ['redis-keys.mjs', REDIS_URL, prefix],
          scratch,
        );
        // the session lived in Redis (and is gone again)
        expect(Number(deleted.trim())).toBeGreaterThan(0);
      }
      expectCleanExit(result);
      expect(result.stderr).toBe('');
    },
  );

  it.skipIf(postgresDown !== undefined && !isCi())(
    'runs with the PostgreSQL swap from the README and exits by itself',
    async () => {
      if (postgresDown !== undefined)
        throw new Error(
          `PostgreSQL is required in CI: ${POSTGRES_URL} does not answer (${postgresDown})`,
        );
      const scratch = scratchDir();
      writeFileSync(
        join(scratch, 'postgres-schema.mjs'),
        `import pg from 'pg';
const [url, schema] = process.argv.slice(2);
const client = new pg.Client({ connectionString: url });
await client.connect();
const { rows } = await client.query('SELECT count(*)::int AS n FROM ' + schema + '.buddy_sessions');
await client.query('DROP SCHEMA IF EXISTS ' + schema + ' CASCADE');
await client.end();
console.log(rows[0].n);
`,
      );
      let result: ProcessResult;
      try {
        result = await runExample('postgres', 'openai');
      } finally {
        const sessions = await runChecked(
          process.execPath,
          ['postgres-schema.mjs', POSTGRES_URL, postgresSchema],
          scratch,
        );
        // the session lived in PostgreSQL (and its schema is gone again)
        expect(Number(sessions.trim())).toBe(1);
      }
      expectCleanExit(result);
      expect(result.stderr).toBe('');
    },
  );

  it('runs with the Claude swap: summaries and memories go to Claude too', async () => {
    const before = anthropic.requests.length;
    const result = await runExample('claude', 'anthropic');
    expectCleanExit(result);
    expect(result.stderr).toBe('');
    expect(structuredRequests(anthropic.requests.slice(before)).sort()).toEqual([
      'memory_classification',
      'session_summary',
    ]);
  });

  it('warns in one line per problem when memory is left on the default OpenAI model', async () => {
    const result = await runExample('claude-default-memory', 'anthropic');
    expectCleanExit(result);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines, result.stderr).toHaveLength(2);
    for (const line of lines) {
      expect(line).toMatch(/^\[buddy\] /);
      expect(line).toContain('OPENAI_API_KEY');
    }
    expect(lines.some((line) => line.includes('Session summary was not updated'))).toBe(true);
    expect(lines.some((line) => line.includes('User memories were not updated'))).toBe(true);
  });
});
