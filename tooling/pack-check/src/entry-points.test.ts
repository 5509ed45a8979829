/**
 * Every entry point of the tarballs, used from the scratch project the way an app does: ESM
 * imports (including `@buddy/core/spec` and `@buddy/core/adapter-utils`), `require()` through
 * Node's require(esm), a real agent turn on SQLite, and a TypeScript check against the shipped
 * `.d.ts` files. Catches broken exports maps, missing files and leaked workspace-only conditions.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runChecked, runProcess, scratchDir, tsc } from './scratch.ts';

describe('entry points of the tarballs', () => {
  it('imports every entry point as ESM and runs an agent turn on SQLite', async () => {
    const scratch = scratchDir();
    writeFileSync(
      join(scratch, 'smoke.mjs'),
      `
import { Agent, BuddyError, InMemoryStorage, tool } from '@buddy/core';
import * as spec from '@buddy/core/spec';
import { assertId, normalizeSessionOptions, readOptions, storageClosedError } from '@buddy/core/adapter-utils';
import { MockEmbedder, MockModel } from '@buddy/testkit';
import { describeSessionStorageContract } from '@buddy/testkit/storage';
import { describeEmbedderContract, describeModelAdapterContract } from '@buddy/testkit/model';
import { describeCrossProcessContract } from '@buddy/testkit/cross-process';
import { PostgresStorage, PostgresMemoryDb } from '@buddy/db-postgres';
import { createFixtureFetch } from '@buddy/testkit/fetch';
import { SqliteStorage, SqliteMemoryDb } from '@buddy/db-sqlite';
import { RedisStorage, RedisMemoryDb } from '@buddy/db-redis';
import { OpenAIChat, OpenAIEmbedder } from '@buddy/model-openai';
import { Claude } from '@buddy/model-anthropic';
import { MemorySummarizer, SessionSummarySchema } from '@buddy/summarizer';
import { AgentMemory, MemoryClassifier, MemoryManager } from '@buddy/memory';
import { z } from 'zod';

for (const value of [describeSessionStorageContract, describeModelAdapterContract, describeEmbedderContract, describeCrossProcessContract, createFixtureFetch, RedisStorage, RedisMemoryDb, PostgresStorage, PostgresMemoryDb, OpenAIEmbedder, MemoryClassifier, MemoryManager, SessionSummarySchema, InMemoryStorage, normalizeSessionOptions, readOptions]) {
  if (typeof value !== 'function' && typeof value !== 'object') throw new Error('missing export');
}
let invalidId = '';
try { assertId('', 'sessionId'); } catch (error) { invalidId = error.code; }
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
new OpenAIEmbedder();
new Claude();
const vectors = await new MockEmbedder({ dimensions: 8 }).embed(['milk and eggs']);
if (vectors[0]?.length !== 8) throw new Error('MockEmbedder');
new MemorySummarizer({ model: new MockModel() });
const error = new BuddyError({ code: 'NOT_FOUND', message: 'x' });
console.log(JSON.stringify({
  content: response.content,
  cart: agent.sessionState.cart,
  runs: (await storage.getRuns({ sessionId: agent.sessionId })).length,
  isBuddyError: BuddyError.is(error),
  specExports: Object.keys(spec),
  closed: storageClosedError('MyStorage').code,
  invalidId,
}));
await storage.close();
`,
    );
    const output = await runChecked(process.execPath, ['smoke.mjs'], scratch);
    expect(JSON.parse(output.trim().split('\n').at(-1) ?? '{}')).toEqual({
      content: 'Added.',
      cart: ['milk'],
      runs: 1,
      isBuddyError: true,
      specExports: [], // types only
      closed: 'STORAGE_CLOSED',
      invalidId: 'INVALID_ARGUMENT',
    });
  });

  it('serves the Studio with its prebuilt UI from the tarball (no build step for users)', async () => {
    const scratch = scratchDir();
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
    const output = await runChecked(process.execPath, ['studio.mjs'], scratch);
    expect(JSON.parse(output.trim().split('\n').at(-1) ?? '{}')).toEqual({
      page: 200,
      asset: 200,
      info: { backend: 'memory', memories: false, chat: false },
    });
  });

  it('loads every entry point through require() (require(esm) on Node >= 20.19)', async () => {
    const scratch = scratchDir();
    writeFileSync(
      join(scratch, 'smoke.cjs'),
      `const { Agent } = require('@buddy/core');
const spec = require('@buddy/core/spec');
const { assertId, storageClosedError } = require('@buddy/core/adapter-utils');
const { SqliteStorage } = require('@buddy/db-sqlite');
const { RedisStorage } = require('@buddy/db-redis');
const { AgentMemory } = require('@buddy/memory');
console.log([typeof Agent, typeof spec, typeof assertId, typeof storageClosedError, typeof SqliteStorage, typeof RedisStorage, typeof AgentMemory].join(' '));`,
    );
    const output = await runChecked(process.execPath, ['--no-warnings', 'smoke.cjs'], scratch);
    expect(output.trim()).toBe('function object function function function function function');
  });

  it('type-checks a consumer and an adapter author against the shipped declarations', async () => {
    const scratch = scratchDir();
    writeFileSync(
      join(scratch, 'consumer.ts'),
      `import { Agent, tool, type RunResponse, type SessionStorage } from '@buddy/core';
import type { Model, ModelRequest, ModelResponse, ModelStreamPart, MemoryDb } from '@buddy/core/spec';
import { assertId, readOptions, storageClosedError } from '@buddy/core/adapter-utils';
import { SqliteStorage } from '@buddy/db-sqlite';
import { RedisStorage } from '@buddy/db-redis';
import { OpenAIChat } from '@buddy/model-openai';
import { Claude } from '@buddy/model-anthropic';
import { AgentMemory } from '@buddy/memory';
import { MockModel } from '@buddy/testkit';
import { createStudio, type Studio, type StudioRunPage } from '@buddy/studio';
import { z } from 'zod';

export const studio: Studio = createStudio({ storage: new SqliteStorage({ dbFile: 'x.db' }) });
export const runPage = (response: Response): Promise<StudioRunPage> => response.json() as Promise<StudioRunPage>;
const add = tool({ name: 'add', parameters: z.object({ item: z.string() }), execute: ({ item }) => item.toUpperCase() });
const storages: SessionStorage[] = [new SqliteStorage({ dbFile: 'x.db' }), new RedisStorage({ url: 'redis://localhost:6379' })];
const agent = new Agent({ model: Math.random() > 2 ? new OpenAIChat() : Math.random() > 2 ? new Claude() : new MockModel(), storage: storages[0], memory: new AgentMemory(), tools: [add] });
export const pending: Promise<RunResponse> = agent.run('hi');
// @ts-expect-error the tool's arguments are typed from the schema
tool({ name: 'bad', parameters: z.object({ item: z.string() }), execute: ({ nope }) => nope });

// An adapter author's model, written against the types-only entry point.
export class EchoModel implements Model {
  readonly specificationVersion = 'v1' as const;
  readonly provider = 'echo';
  readonly id = 'echo-1';
  async generate(request: ModelRequest): Promise<ModelResponse> {
    const text = String(request.messages.at(-1)?.content ?? '');
    return { content: text, toolCalls: [], usage: { inputTokens: 0, outputTokens: 0 }, finishReason: 'stop' };
  }
  async *stream(request: ModelRequest): AsyncIterable<ModelStreamPart> {
    const response = await this.generate(request);
    yield { type: 'text-delta', delta: response.content };
    yield { type: 'finish', usage: response.usage, finishReason: response.finishReason };
  }
}
export function checkId(value: unknown): string {
  assertId(value, 'memoryId');
  return value;
}
export const closedCode: 'STORAGE_CLOSED' | string = storageClosedError('MyDb').code;
export const options = readOptions;
export type Db = MemoryDb;
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
    const result = await runProcess(tsc, ['-p', 'tsconfig.json'], { cwd: scratch });
    const ownErrors = `${result.stdout}\n${result.stderr}`
      .split('\n')
      .filter((line) => line.includes('@buddy/') || line.startsWith('consumer.ts'));
    expect(ownErrors).toEqual([]);
  });
});
