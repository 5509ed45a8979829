/**
 * `pnpm studio`: Buddy Studio on the sample app's database — the SQLite file `pnpm chat` uses
 * (`BUDDY_DB_FILE`, default `.buddy/buddy.db`) or Redis at `BUDDY_REDIS_URL` (keys under
 * `BUDDY_REDIS_PREFIX`) — with the offline model and the cart tools for chat, so it needs no key
 * and no network. Prints the URL.
 *
 *   pnpm studio [--db <file>] [--redis <url>] [--prefix <key prefix>] [--port <n>] [--host <host>]
 *
 * A host other than loopback needs a token: `BUDDY_STUDIO_TOKEN` (at least 16 characters); the
 * printed URL then carries it in its `#token=` fragment.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Agent, BuddyError, type MemoryDb, type SessionStorage } from '@buddy/core';
import { RedisMemoryDb, RedisStorage } from '@buddy/db-redis';
import { SqliteMemoryDb, SqliteStorage } from '@buddy/db-sqlite';
import { AgentMemory } from '@buddy/memory';
import { createStudio } from '@buddy/studio';
import { cartTools } from './cart-tools.ts';
import { OfflineModel } from './offline-model.ts';

/** The database `pnpm chat` opens when neither --db nor BUDDY_DB_FILE is given. */
const CHAT_DB_FILE = '.buddy/buddy.db';
const USAGE =
  'Usage: pnpm studio [--db <file>] [--redis <url>] [--prefix <key prefix>] [--port <n>] [--host <host>]\nEnvironment: BUDDY_DB_FILE, BUDDY_REDIS_URL, BUDDY_REDIS_PREFIX, BUDDY_STUDIO_PORT, BUDDY_STUDIO_HOST, BUDDY_STUDIO_TOKEN.';

function parseFlags(argv: readonly string[]): Record<string, string | undefined> {
  const values: Record<string, string | undefined> = {
    db: process.env.BUDDY_DB_FILE,
    redis: process.env.BUDDY_REDIS_URL,
    prefix: process.env.BUDDY_REDIS_PREFIX,
    port: process.env.BUDDY_STUDIO_PORT,
    host: process.env.BUDDY_STUDIO_HOST,
  };
  for (let index = 0; index < argv.length; index++) {
    const flag = argv[index] ?? '';
    if (flag === '--help' || flag === '-h') {
      console.log(USAGE);
      process.exit(0);
    }
    const match = /^--(db|redis|prefix|port|host)(?:=(.*))?$/.exec(flag);
    const value = match?.[2] ?? argv[index + 1];
    if (match === null || value === undefined || value === '' || value.startsWith('--')) {
      throw new BuddyError({
        code: 'INVALID_ARGUMENT',
        message: `${match === null ? `Unknown option ${flag}` : `Option ${flag} needs a value`}.\n${USAGE}`,
      });
    }
    if (match[2] === undefined) index++;
    values[match[1] as string] = value;
  }
  return values;
}

async function openStores(
  flags: Record<string, string | undefined>,
): Promise<{ storage: SessionStorage; memoryDb: MemoryDb; where: string }> {
  const url = flags.redis;
  if (url !== undefined && url !== '') {
    const prefix =
      flags.prefix === undefined || flags.prefix === '' ? {} : { prefix: flags.prefix };
    const storage = new RedisStorage({ url, ...prefix });
    const memoryDb = new RedisMemoryDb({ url, ...prefix });
    try {
      await storage.listSessions({ limit: 1 });
    } catch (error) {
      await storage.close();
      await memoryDb.close();
      throw new BuddyError({
        code: 'STORAGE_UNAVAILABLE',
        message: `Redis at ${url} does not answer (${BuddyError.is(error) ? error.message : String(error)}). Start Redis or unset BUDDY_REDIS_URL to use SQLite.`,
        cause: error,
      });
    }
    return { storage, memoryDb, where: `Redis at ${url}, keys under ${storage.prefix}` };
  }
  const file = resolve(flags.db ?? CHAT_DB_FILE);
  mkdirSync(dirname(file), { recursive: true });
  return {
    storage: new SqliteStorage({ dbFile: file }),
    memoryDb: new SqliteMemoryDb({ dbFile: file }),
    where: `SQLite file ${file}`,
  };
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const port = flags.port === undefined ? 4321 : Number(flags.port);
  const host = flags.host ?? '127.0.0.1';
  const token = process.env.BUDDY_STUDIO_TOKEN;
  const { storage, memoryDb, where } = await openStores(flags);
  const model = new OfflineModel();
  // The chat agent: the sample app's tools and memory, no default user (the Studio passes the
  // session's owner with every run).
  const agent = new Agent({
    model,
    name: 'Buddy',
    description: 'You are Buddy, a friendly shopping assistant. You are talking to {user_id}.',
    instructions: [
      "The user's cart holds: {cart}",
      'Use the cart tools to change the cart; never pretend to.',
      'Keep answers short.',
    ],
    sessionState: { cart: [] },
    tools: cartTools,
    storage,
    memory: new AgentMemory({ db: memoryDb, model }),
    addStateInMessages: true,
    addHistoryToMessages: true,
    numHistoryRuns: 3,
    enableSessionSummaries: true,
    enableUserMemories: true,
  });
  const studio = createStudio({
    storage,
    memoryDb,
    agent,
    ...(token === undefined || token === '' ? {} : { auth: { token } }),
  });
  const address = await studio.listen({ port, host });
  const { sessions } = await storage.listSessions({ limit: 1 });
  const link = token === undefined || token === '' ? address.url : `${address.url}#token=${token}`;
  console.log(`Buddy Studio: ${link}`);
  console.log(`Storage: ${where}. Chat uses the built-in offline model (no keys, no network).`);
  if (sessions.length === 0) console.log('No sessions yet: talk to Buddy with `pnpm chat` first.');
  console.log('The Studio shows every user of this database. Ctrl-C stops it.');

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await studio.close();
    await storage.close();
    await memoryDb.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

main().catch((error: unknown) => {
  console.error(`studio failed: ${BuddyError.is(error) ? error.message : String(error)}`);
  process.exit(1);
});
