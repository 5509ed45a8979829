/**
 * Release hygiene: builds and packs every published package with `pnpm pack` (which rewrites
 * `workspace:` ranges), installs the tarballs into a scratch project OUTSIDE the workspace, and
 * uses them there: ESM imports of every entry point, `require()` through Node's require(esm),
 * a real agent turn on SQLite, and a TypeScript check against the shipped `.d.ts` files. Catches
 * broken exports maps, missing files and leaked workspace-only conditions.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const PACKAGES = [
  'core',
  'testkit',
  'summarizer',
  'memory',
  'db-sqlite',
  'db-redis',
  'model-openai',
  'model-anthropic',
  'studio',
];
const work = mkdtempSync(join(tmpdir(), 'buddy-pack-'));
const env = { ...process.env, npm_config_nodedir: process.env.npm_config_nodedir ?? '/usr' };

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, {
    cwd,
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function installedVersion(packageDir: string, dependency: string): string {
  const manifest = JSON.parse(readFileSync(join(root, packageDir, 'package.json'), 'utf8')) as {
    devDependencies?: Record<string, string>;
  };
  const version = manifest.devDependencies?.[dependency];
  if (version === undefined) throw new Error(`${packageDir} pins no ${dependency}`);
  return version;
}

const scratch = join(work, 'scratch');
const tarballs = new Map<string, string>();

beforeAll(() => {
  run(
    join(root, 'node_modules/.bin/tsc'),
    ['-b', ...PACKAGES.map((name) => `packages/${name}`)],
    root,
  );
  // The Studio ships its web UI prebuilt in dist/ui.
  run('pnpm', ['--filter', '@buddy/studio', 'build:ui'], root);
  const packed = join(work, 'tarballs');
  mkdirSync(packed);
  for (const name of PACKAGES) {
    run('pnpm', ['pack', '--pack-destination', packed], join(root, 'packages', name));
  }
  for (const file of readdirSync(packed)) {
    const match = /^buddy-(.+)-\d+\.\d+\.\d+\.tgz$/.exec(file);
    if (match?.[1] !== undefined) tarballs.set(match[1], join(packed, file));
  }
  mkdirSync(scratch);
  const dependencies: Record<string, string> = {
    zod: installedVersion('packages/core', 'zod'),
    'better-sqlite3': installedVersion('packages/db-sqlite', 'better-sqlite3'),
    // what TypeScript users of @buddy/db-sqlite add (its README's install line says so)
    '@types/better-sqlite3': installedVersion('packages/db-sqlite', '@types/better-sqlite3'),
    ioredis: installedVersion('packages/db-redis', 'ioredis'),
    openai: installedVersion('packages/model-openai', 'openai'),
    '@anthropic-ai/sdk': installedVersion('packages/model-anthropic', '@anthropic-ai/sdk'),
    vitest: '^4.1.0',
  };
  for (const [name, file] of tarballs) dependencies[`@buddy/${name}`] = `file:${file}`;
  writeFileSync(
    join(scratch, 'package.json'),
    JSON.stringify({ name: 'scratch', private: true, type: 'module', dependencies }, null, 2),
  );
  writeFileSync(
    join(scratch, 'pnpm-workspace.yaml'),
    'allowBuilds:\n  better-sqlite3: true\n  esbuild: false\n',
  );
  run('pnpm', ['install', '--prefer-offline'], scratch);
}, 600_000);

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('published packages, installed from their tarballs outside the workspace', () => {
  it('packs every package with its dist, its README and real dependency ranges', () => {
    expect([...tarballs.keys()].sort()).toEqual([...PACKAGES].sort());
    for (const name of PACKAGES) {
      const manifest = JSON.parse(
        readFileSync(join(scratch, 'node_modules/@buddy', name, 'package.json'), 'utf8'),
      ) as {
        peerDependencies?: Record<string, string>;
        dependencies?: Record<string, string>;
      };
      const ranges = JSON.stringify({ ...manifest.peerDependencies, ...manifest.dependencies });
      expect(ranges, `${name} leaks a workspace: range`).not.toContain('workspace:');
      const files = readdirSync(join(scratch, 'node_modules/@buddy', name));
      expect(files, name).toEqual(expect.arrayContaining(['dist', 'README.md', 'package.json']));
      const dist = readdirSync(join(scratch, 'node_modules/@buddy', name, 'dist'));
      expect(dist, name).toEqual(expect.arrayContaining(['index.js', 'index.d.ts']));
      expect(
        dist.some((file) => file.endsWith('.test.js')),
        `${name} ships tests`,
      ).toBe(false);
    }
  });

  it('imports every entry point as ESM and runs an agent turn on SQLite', () => {
    writeFileSync(
      join(scratch, 'smoke.mjs'),
      `
import { Agent, BuddyError, InMemoryStorage, tool } from '@buddy/core';
import { MockModel } from '@buddy/testkit';
import { describeSessionStorageContract } from '@buddy/testkit/storage';
import { describeModelAdapterContract } from '@buddy/testkit/model';
import { createFixtureFetch } from '@buddy/testkit/fetch';
import { SqliteStorage, SqliteMemoryDb } from '@buddy/db-sqlite';
import { RedisStorage, RedisMemoryDb } from '@buddy/db-redis';
import { OpenAIChat } from '@buddy/model-openai';
import { Claude } from '@buddy/model-anthropic';
import { MemorySummarizer, SessionSummarySchema } from '@buddy/summarizer';
import { AgentMemory, MemoryClassifier, MemoryManager } from '@buddy/memory';
import { z } from 'zod';

for (const value of [describeSessionStorageContract, describeModelAdapterContract, createFixtureFetch, RedisStorage, RedisMemoryDb, MemoryClassifier, MemoryManager, SessionSummarySchema, InMemoryStorage]) {
  if (value === undefined) throw new Error('missing export');
}
const addToCart = tool({
  name: 'add_to_cart',
  parameters: z.object({ item: z.string() }),
  execute: ({ item }, { agent }) => { (agent.sessionState.cart ??= []).push(item); return 'ok'; },
});
const storage = new SqliteStorage();
const agent = new Agent({
  model: new MockModel({ replies: [{ toolCalls: [{ name: 'add_to_cart', arguments: { item: 'milk' } }] }, 'Added.'] }),
  storage,
  memory: new AgentMemory({ db: new SqliteMemoryDb(), model: new MockModel({ respond: () => '{"summary":"s"}' }) }),
  tools: [addToCart],
  sessionState: { cart: [] },
});
const response = await agent.run('Add milk');
new OpenAIChat({ id: 'gpt-4o' });
new Claude();
new MemorySummarizer({ model: new MockModel() });
const error = new BuddyError({ code: 'NOT_FOUND', message: 'x' });
console.log(JSON.stringify({ content: response.content, cart: agent.sessionState.cart, runs: (await storage.getRuns({ sessionId: agent.sessionId })).length, isBuddyError: BuddyError.is(error) }));
await storage.close();
`,
    );
    const output = JSON.parse(
      run(process.execPath, ['smoke.mjs'], scratch).trim().split('\n').at(-1) ?? '{}',
    ) as unknown;
    expect(output).toEqual({ content: 'Added.', cart: ['milk'], runs: 1, isBuddyError: true });
  });

  it('serves the Studio with its prebuilt UI from the tarball (no build step for users)', () => {
    writeFileSync(
      join(scratch, 'studio.mjs'),
      `
import { InMemoryStorage } from '@buddy/core';
import { createStudio } from '@buddy/studio';
const studio = createStudio({ storage: new InMemoryStorage() });
const { url } = await studio.listen({ port: 0 });
const page = await fetch(url);
const html = await page.text();
const script = /src="\\.\\/(assets\\/[^"]+\\.js)"/.exec(html)?.[1];
const asset = await fetch(new URL(script, url));
const info = await (await fetch(new URL('api/info', url))).json();
await studio.close();
console.log(JSON.stringify({ page: page.status, asset: asset.status, info }));
`,
    );
    const output = JSON.parse(
      run(process.execPath, ['studio.mjs'], scratch).trim().split('\n').at(-1) ?? '{}',
    ) as unknown;
    expect(output).toEqual({
      page: 200,
      asset: 200,
      info: { backend: 'memory', memories: false, chat: false },
    });
  });

  it('loads through require() (require(esm) on Node >= 20.19)', () => {
    writeFileSync(
      join(scratch, 'smoke.cjs'),
      `const { Agent } = require('@buddy/core'); const { SqliteStorage } = require('@buddy/db-sqlite');
console.log(typeof Agent, typeof SqliteStorage);`,
    );
    expect(run(process.execPath, ['--no-warnings', 'smoke.cjs'], scratch).trim()).toBe(
      'function function',
    );
  });

  it('type-checks a consumer against the shipped declarations', () => {
    writeFileSync(
      join(scratch, 'consumer.ts'),
      `import { Agent, tool, type RunResponse, type SessionStorage } from '@buddy/core';
import { SqliteStorage } from '@buddy/db-sqlite';
import { RedisStorage } from '@buddy/db-redis';
import { OpenAIChat } from '@buddy/model-openai';
import { Claude } from '@buddy/model-anthropic';
import { AgentMemory } from '@buddy/memory';
import { MockModel } from '@buddy/testkit';
import { createStudio, type Studio, type StudioRunPage } from '@buddy/studio';
import { z } from 'zod';

export const studio: Studio = createStudio({ storage: new SqliteStorage({ dbFile: 'x.db' }) });
export const page: Promise<StudioRunPage> = studio.fetch(new Request('http://127.0.0.1/api/sessions/x/runs')).then((response) => response.json() as Promise<StudioRunPage>);
const add = tool({ name: 'add', parameters: z.object({ item: z.string() }), execute: ({ item }) => item.toUpperCase() });
const storages: SessionStorage[] = [new SqliteStorage({ dbFile: 'x.db' }), new RedisStorage({ url: 'redis://localhost:6379' })];
const agent = new Agent({ model: Math.random() > 2 ? new OpenAIChat() : Math.random() > 2 ? new Claude() : new MockModel(), storage: storages[0], memory: new AgentMemory(), tools: [add] });
export const pending: Promise<RunResponse> = agent.run('hi');
// @ts-expect-error the tool's arguments are typed from the schema
tool({ name: 'bad', parameters: z.object({ item: z.string() }), execute: ({ nope }) => nope });
`,
    );
    writeFileSync(
      join(scratch, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          target: 'es2022',
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: [],
        },
        files: ['consumer.ts'],
      }),
    );
    // skipLibCheck is off on purpose: our own .d.ts files must be valid. Third-party ones are
    // checked too, so a failure names the file; only Buddy's are expected to matter here.
    let output = '';
    try {
      output = run(join(root, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json'], scratch);
    } catch (error) {
      output = String((error as { stdout?: string }).stdout ?? error);
    }
    const ownErrors = output
      .split('\n')
      .filter((line) => line.includes('@buddy/') || line.startsWith('consumer.ts'));
    expect(ownErrors).toEqual([]);
  });
});
