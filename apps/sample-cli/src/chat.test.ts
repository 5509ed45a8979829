import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PostgresMemoryDb, PostgresStorage } from '@buddy/db-postgres';
import { SqliteStorage } from '@buddy/db-sqlite';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import {
  dropSchema,
  POSTGRES_URL,
  requirePostgres,
  schemaExists,
  skipPostgres,
} from '../test/postgres.ts';
import { runCli } from '../test/run-cli.ts';
import { parseArguments } from './commands.ts';
import { maskUrl } from './stores.ts';

const dir = mkdtempSync(join(tmpdir(), 'buddy-chat-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function sessionsIn(dbFile: string, userId: string) {
  const storage = new SqliteStorage({ dbFile });
  try {
    return (await storage.listSessions({ userId })).sessions;
  } finally {
    await storage.close();
  }
}

async function runsIn(dbFile: string, sessionId: string) {
  const storage = new SqliteStorage({ dbFile });
  try {
    return {
      runs: await storage.getRuns({ sessionId }),
      session: await storage.getSession(sessionId),
    };
  } finally {
    await storage.close();
  }
}

describe.concurrent('pnpm chat driven by a script on stdin', () => {
  it('lists, switches and renames sessions, and survives bad commands', async () => {
    const dbFile = join(dir, 'chat.db');
    const script = [
      'add milk and eggs to my cart',
      '/rename Groceries',
      '/new',
      'my name is Robin',
      '/SESSIONS',
      '/Switch first',
      '/state',
      '/bogus',
      '/switch',
      '/rename',
      '/switch no-such-session',
      '/delete no-such-session',
      '/summary',
      '/memories',
      'what is in my cart?',
      '/help',
      '/QUIT',
      'never read',
    ].join('\n');
    const result = await runCli(
      'chat',
      ['--user', 'robin', '--session', 'first-session', '--db', dbFile, '--model', 'offline'],
      { input: script },
    );
    const out = result.stdout;
    expect(result.code).toBe(0);
    expect(`${out}${result.stderr}`).not.toMatch(/\n\s+at /);
    expect(out).toContain('Model: the built-in offline model');
    expect(out).toContain('Session first-session (new) for robin');
    // one clean line per tool call and per result
    expect(out).toContain('  ⚙ add_to_cart({"item":"milk"})\n  ⚙ add_to_cart({"item":"eggs"})\n');
    expect(out).toContain('  ↳ Added milk. The cart now has 1 item(s): milk.\n');
    expect(out).not.toContain('[add_to_cart]');
    expect(out).toContain('Renamed to "Groceries".');
    expect(out).toMatch(/New session [0-9a-f-]{36}\./);
    // both sessions listed, the current one (the new one) marked, most recent first
    const listing = out.slice(out.indexOf('* '), out.indexOf('Switched to'));
    expect(listing).toMatch(/^\* [0-9a-f-]{36} .*\(unnamed\)\n {2}first-session .* Groceries/m);
    // a unique prefix is enough, and commands ignore case
    expect(out).toContain('Switched to first-session (Groceries).');
    expect(out).toContain('"cart": [\n    "milk",\n    "eggs"\n  ]');
    expect(out).toContain('Unknown command /bogus. Type /help for the list of commands.');
    expect(out).toContain('/switch needs a session id (see /sessions).');
    expect(out).toContain('/rename needs a name.');
    expect(out).toContain('No session no-such-session of yours. /sessions lists them.');
    expect(out).toMatch(/The user added milk, eggs to the cart\./);
    expect(out).toContain("- The user's name is Robin.");
    expect(out).toContain('Your cart holds: milk, eggs.');
    expect(out).toContain('/switch <id>');
    expect(out).toContain('bye');
    expect(out).not.toContain('never read');
  }, 60_000);

  it('asks before checkout and pays on y: the question, the resumed run, one stored run', async () => {
    const dbFile = join(dir, 'approve.db');
    const result = await runCli(
      'chat',
      ['--user', 'robin', '--session', 'shop', '--db', dbFile, '--model', 'offline'],
      { input: 'add milk and eggs to my cart\ncheck out\ny\n/state\n/quit\n' },
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const out = result.stdout;
    // the question is the prompt, the answer echoed after it (piped input)
    expect(out).toContain(
      '  ⚙ checkout({"total":4.4})\nAllow checkout({"total":4.4})? [y/N] y\n  ↳ Paid $4.40 for 2 item(s): milk, eggs. The cart is empty now.\n',
    );
    expect(out).toContain('"cart": []');
    const { runs, session } = await runsIn(dbFile, 'shop');
    expect(runs.map((run) => run.messages[0]?.content)).toEqual([
      'add milk and eggs to my cart',
      'check out',
    ]);
    expect(session?.pendingRun).toBeUndefined();
    expect(session?.sessionState.cart).toEqual([]);
  }, 60_000);

  it('denies checkout on N and on the end of the input, and the model hears why', async () => {
    const dbFile = join(dir, 'deny.db');
    const args = ['--user', 'robin', '--session', 'shop', '--db', dbFile, '--model', 'offline'];
    const denied = await runCli('chat', args, {
      input: 'add eggs to my cart\ncheckout\nN\n/state\n/quit\n',
    });
    expect(denied.code).toBe(0);
    expect(denied.stdout).toContain('Allow checkout({"total":3.2})? [y/N] N\n');
    expect(denied.stdout).toContain('↳ Error: denied: the user declined');
    expect(denied.stdout).toContain(
      'buddy › OK, I did not check out (the user declined). Your cart is unchanged.',
    );
    expect(denied.stdout).toContain('"cart": [\n    "eggs"\n  ]');
    // the input ends at the question: denied, and the session is not left waiting
    const ended = await runCli('chat', args, { input: 'check out\n' });
    expect(ended.code).toBe(0);
    expect(ended.stdout).toContain('Allow checkout({"total":3.2})? [y/N] \n');
    expect(ended.stdout).toContain('Error: denied: nobody answered (the input ended)');
    const { runs, session } = await runsIn(dbFile, 'shop');
    expect(runs).toHaveLength(3);
    expect(session?.pendingRun).toBeUndefined();
    expect(session?.sessionState.cart).toEqual(['eggs']);
  }, 60_000);

  it('stores a session only once it has a run (a name given before waits for it)', async () => {
    const dbFile = join(dir, 'lazy.db');
    const args = ['--user', 'sam', '--db', dbFile, '--model', 'offline'];
    const idle = await runCli('chat', args, { input: '/sessions\n/rename Ideas\n/new\n/quit\n' });
    expect(idle.code).toBe(0);
    expect(idle.stdout).toMatch(/\* [0-9a-f-]{36} {2}\(new: saved with its first message\)\n/);
    expect(idle.stdout).toContain('Renamed to "Ideas" (saved with the session\'s first message).');
    expect(await sessionsIn(dbFile, 'sam')).toEqual([]);

    const used = await runCli('chat', args, { input: '/rename Ideas\nI like jazz\n/quit\n' });
    expect(used.code).toBe(0);
    const sessions = await sessionsIn(dbFile, 'sam');
    expect(sessions.map((session) => session.sessionName)).toEqual(['Ideas']);
  }, 60_000);

  it('resolves /switch and /delete by a unique id prefix, and names the candidates otherwise', async () => {
    const dbFile = join(dir, 'prefix.db');
    const storage = new SqliteStorage({ dbFile });
    for (const sessionId of ['groceries-1', 'groceries-2', 'travel']) {
      await storage.upsertSession({ sessionId, userId: 'kim', sessionState: { cart: [] } });
    }
    await storage.close();
    const result = await runCli('chat', ['--user', 'kim', '--db', dbFile, '--model', 'offline'], {
      input:
        '/switch groc\n/switch tr\n/DELETE groceries-\n/delete groceries-2\n/sessions\n/quit\n',
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /"groc" matches 2 of your sessions \(groceries-[12], groceries-[12]\): type more of the id\./,
    );
    expect(result.stdout).toContain('Switched to travel.');
    expect(result.stdout).toContain('"groceries-" matches 2 of your sessions');
    expect(result.stdout).toContain('Deleted groceries-2.');
    expect((await sessionsIn(dbFile, 'kim')).map((session) => session.sessionId).sort()).toEqual([
      'groceries-1',
      'travel',
    ]);
  }, 60_000);

  it('explains an unreachable Redis in one line of its own, naming the URL, and exits with 1', async () => {
    const result = await runCli('chat', ['--user', 'robin', '--redis', 'redis://127.0.0.1:1'], {
      input: '/quit\n',
    });
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toBe(
      'cannot start: [STORAGE_UNAVAILABLE] Redis at redis://127.0.0.1:1 does not answer (connection refused). Start Redis there, point --redis or BUDDY_REDIS_URL at a running server, or leave both unset to use SQLite.',
    );
  }, 30_000);

  it('explains an unreachable PostgreSQL in one line, the password masked', async () => {
    const url = 'postgresql://buddy:s3cret@127.0.0.1:1/test';
    const fromEnv = await runCli('chat', ['--user', 'robin'], {
      input: '/quit\n',
      env: { BUDDY_POSTGRES_URL: url, BUDDY_REDIS_URL: 'redis://127.0.0.1:1' },
    });
    expect(fromEnv.code).toBe(1);
    expect(fromEnv.stderr.trim().split('\n')).toEqual([
      'cannot start: [STORAGE_UNAVAILABLE] PostgreSQL at postgresql://buddy:***@127.0.0.1:1/test does not answer (connection refused). Start PostgreSQL or unset BUDDY_POSTGRES_URL to use SQLite.',
    ]);
    expect(`${fromEnv.stdout}${fromEnv.stderr}`).not.toContain('s3cret');
    const fromFlag = await runCli('chat', ['--user', 'robin', '--postgres', url], {
      input: '/quit\n',
    });
    expect(fromFlag.code).toBe(1);
    expect(fromFlag.stderr.trim()).toBe(
      'cannot start: [STORAGE_UNAVAILABLE] PostgreSQL at postgresql://buddy:***@127.0.0.1:1/test does not answer (connection refused). Start PostgreSQL or leave out --postgres to use SQLite.',
    );
  }, 30_000);

  it('names the base URL of a model that is down', async () => {
    // a port that was just free: nothing listens there
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    const baseUrl = `http://127.0.0.1:${port}/v1`;
    const result = await runCli(
      'chat',
      ['--user', 'robin', '--db', join(dir, 'down.db'), '--model', 'openai'],
      {
        input: 'hello\n/quit\n',
        env: { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: baseUrl },
      },
    );
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(
      `error: The model at ${baseUrl} is not available (connection refused).`,
    );
    expect(`${result.stdout}${result.stderr}`).not.toMatch(/\n\s+at /);
    expect(await sessionsIn(join(dir, 'down.db'), 'robin')).toEqual([]);
  }, 60_000);

  it('explains bad flags in one line and exits with 2', async () => {
    const unknown = await runCli('chat', ['--colour', 'red']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim()).toBe(
      'Unknown option --colour. Usage: pnpm chat [--user <id>] [--session <id>] [--db <file>] [--redis <url>] [--prefix <key prefix>] [--postgres <url>] [--schema <name>] [--model auto|offline|openai|anthropic]',
    );
  }, 30_000);

  it('parses flags and environment, naming what is wrong', () => {
    expect(parseArguments(['--user'], {})).toEqual({
      kind: 'error',
      message: 'Option --user needs a value.',
    });
    expect(parseArguments(['--prefix', 'mine:'], {})).toEqual({
      kind: 'error',
      message: 'Option --prefix is for Redis: add --redis <url> (or set BUDDY_REDIS_URL).',
    });
    // empty variables count as unset; the prefix goes with Redis only
    expect(
      parseArguments(['--redis=redis://h:1'], { BUDDY_SESSION: '', BUDDY_REDIS_PREFIX: 'p:' }),
    ).toEqual({
      kind: 'run',
      settings: {
        userId: 'guest',
        dbFile: '.buddy/buddy.db',
        redisUrl: 'redis://h:1',
        redisPrefix: 'p:',
        urlSource: 'flag',
        model: 'auto',
      },
    });
    expect(parseArguments([], { BUDDY_REDIS_PREFIX: 'p:' })).toMatchObject({
      kind: 'run',
      settings: { dbFile: '.buddy/buddy.db' },
    });
    expect(parseArguments(['--model', 'gpt'], {})).toEqual({
      kind: 'error',
      message: 'Unknown model "gpt": use auto, offline, openai or anthropic.',
    });
  });

  it('picks PostgreSQL before Redis from the environment, and a storage flag over both', () => {
    const env = {
      BUDDY_POSTGRES_URL: 'postgresql://pg/app',
      BUDDY_POSTGRES_SCHEMA: 'shop',
      BUDDY_REDIS_URL: 'redis://r:1',
      BUDDY_REDIS_PREFIX: 'p:',
    };
    const settings = (argv: string[], from: NodeJS.ProcessEnv = env) => {
      const parsed = parseArguments(argv, from);
      return parsed.kind === 'run' ? parsed.settings : parsed;
    };
    expect(settings([])).toEqual({
      userId: 'guest',
      dbFile: '.buddy/buddy.db',
      postgresUrl: 'postgresql://pg/app',
      postgresSchema: 'shop',
      urlSource: 'env',
      model: 'auto',
    });
    expect(settings(['--redis', 'redis://mine:2'])).toMatchObject({
      redisUrl: 'redis://mine:2',
      redisPrefix: 'p:',
      urlSource: 'flag',
    });
    expect(settings(['--redis', 'redis://mine:2'])).not.toHaveProperty('postgresUrl');
    expect(settings(['--db', 'mine.db'])).toEqual({
      userId: 'guest',
      dbFile: 'mine.db',
      model: 'auto',
    });
    expect(settings(['--postgres', 'postgresql://other/db'], {})).toEqual({
      userId: 'guest',
      dbFile: '.buddy/buddy.db',
      postgresUrl: 'postgresql://other/db',
      urlSource: 'flag',
      model: 'auto',
    });
    expect(settings(['--postgres', 'postgresql://x/y', '--redis', 'redis://r:1'])).toEqual({
      kind: 'error',
      message: 'Options --postgres and --redis both choose the storage: give one of them.',
    });
    expect(settings(['--schema', 'shop'], {})).toEqual({
      kind: 'error',
      message:
        'Option --schema is for PostgreSQL: add --postgres <url> (or set BUDDY_POSTGRES_URL).',
    });
    expect(settings(['--prefix', 'p:'], env)).toEqual({
      kind: 'error',
      message: 'Option --prefix is for Redis: add --redis <url> (or set BUDDY_REDIS_URL).',
    });
    expect(settings([], { ...env, BUDDY_POSTGRES_URL: '' })).toMatchObject({
      redisUrl: 'redis://r:1',
      urlSource: 'env',
    });
  });

  it('masks passwords in the URLs it prints', () => {
    expect(maskUrl('postgresql://dana:s3cret@db:5432/app')).toBe(
      'postgresql://dana:***@db:5432/app',
    );
    expect(maskUrl('postgres://db/app?sslmode=require&password=s3cret')).toBe(
      'postgres://db/app?sslmode=require&password=***',
    );
    expect(maskUrl('postgresql://dana@db/app')).toBe('postgresql://dana@db/app');
    expect(maskUrl('host=db password=s3cret dbname=app')).toBe('host=db password=*** dbname=app');
  });

  it('prints a bad flag through `pnpm chat` without pnpm lifecycle noise', async () => {
    const root = fileURLToPath(new URL('../../..', import.meta.url));
    const result = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = spawn('pnpm', ['chat', '--colour', 'red'], {
        cwd: root,
        env: { ...process.env, NO_COLOR: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      child.stderr.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      child.on('close', (code) => resolve({ code, output }));
    });
    expect(result.output).not.toMatch(/ELIFECYCLE|ERR_PNPM|failed/);
    const lines = result.output.trim().split('\n');
    // pnpm echoes the root script's command; the app adds exactly one line
    expect(lines.filter((line) => !line.startsWith('$ '))).toEqual([
      expect.stringMatching(/^Unknown option --colour\. Usage: pnpm chat /),
    ]);
    expect(result.code).toBe(0);
  }, 30_000);
});

const REDIS_URL = process.env.BUDDY_REDIS_URL || 'redis://127.0.0.1:6379';
const redisProblem = await (async () => {
  const client = new Redis(REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    client.disconnect();
  }
})();
const inCi = !['', '0', 'false', undefined].includes(process.env.CI);
if (redisProblem !== undefined && !inCi)
  console.warn(
    `[@buddy/sample-cli] SKIPPING the Redis chat test: ${REDIS_URL} does not answer (${redisProblem}).`,
  );

describe.skipIf(redisProblem !== undefined && !inCi)('pnpm chat on Redis', () => {
  it('keeps sessions and memories under --prefix', async () => {
    if (redisProblem !== undefined)
      throw new Error(`Redis is required in CI: ${REDIS_URL} does not answer (${redisProblem})`);
    const prefix = `buddy-chat-test:${randomUUID()}:`;
    const client = new Redis(REDIS_URL);
    try {
      const result = await runCli(
        'chat',
        ['--user', 'robin', '--redis', REDIS_URL, '--prefix', prefix, '--model', 'offline'],
        { input: 'my name is Robin\n/quit\n' },
      );
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`Storage: Redis at ${REDIS_URL}, keys under ${prefix}.`);
      const keys = await client.keys(`${prefix}*`);
      expect(keys.some((key) => key.startsWith(`${prefix}s:`))).toBe(true);
      expect(keys.some((key) => key.startsWith(`${prefix}m:`))).toBe(true);
    } finally {
      const keys = await client.keys(`${prefix}*`);
      if (keys.length > 0) await client.del(...keys);
      await client.quit();
    }
  }, 60_000);
});

describe.skipIf(skipPostgres)('pnpm chat on PostgreSQL', () => {
  it('keeps sessions and memories in the schema BUDDY_POSTGRES_SCHEMA names', async () => {
    requirePostgres();
    const schema = `buddy_chat_test_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    try {
      const result = await runCli('chat', ['--user', 'robin', '--model', 'offline'], {
        input: 'my name is Robin\n/quit\n',
        env: { BUDDY_POSTGRES_URL: POSTGRES_URL, BUDDY_POSTGRES_SCHEMA: schema },
      });
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(
        `Storage: PostgreSQL at ${maskUrl(POSTGRES_URL)} (schema ${schema}).`,
      );
      const options = { connectionString: POSTGRES_URL, schema };
      const storage = new PostgresStorage(options);
      const memoryDb = new PostgresMemoryDb(options);
      try {
        const { sessions } = await storage.listSessions({ userId: 'robin' });
        expect(sessions).toHaveLength(1);
        expect(await storage.getRuns({ sessionId: sessions[0]?.sessionId ?? '' })).toHaveLength(1);
        const memories = await memoryDb.readMemories({ userId: 'robin' });
        expect(memories.map((memory) => memory.memory)).toEqual(["The user's name is Robin."]);
      } finally {
        await storage.close();
        await memoryDb.close();
      }
    } finally {
      await dropSchema(schema);
    }
    expect(await schemaExists(schema)).toBe(false);
  }, 60_000);
});
