/**
 * `pnpm studio`: Buddy Studio on the sample app's database — the SQLite file `pnpm chat` uses
 * (`BUDDY_DB_FILE`, default `.buddy/buddy.db`), PostgreSQL at `BUDDY_POSTGRES_URL` (tables in
 * `BUDDY_POSTGRES_SCHEMA`) or Redis at `BUDDY_REDIS_URL` (keys under `BUDDY_REDIS_PREFIX`), picked
 * as `pnpm chat` picks it — with the offline model and the cart tools for chat, so it needs no key
 * and no network. Prints the URL. Its chat has the `checkout` that needs approval, as `pnpm chat`
 * does: the Studio shows Approve / Deny for it, also for a checkout left waiting in the REPL.
 *
 *   pnpm studio [--db <file>] [--redis <url>] [--prefix <key prefix>] [--postgres <url>]
 *               [--schema <name>] [--port <n>] [--host <host>]
 *
 * A host other than loopback needs a token: `BUDDY_STUDIO_TOKEN` (at least 16 characters); the
 * printed URL then carries it in its `#token=` fragment.
 */
import { Agent, BuddyError } from '@buddy/core';
import { AgentMemory } from '@buddy/memory';
import { createStudio } from '@buddy/studio';
import type { StoreSettings } from './app-settings.ts';
import { cartTools } from './cart-tools.ts';
import { checkout, PRICE_LIST } from './checkout-tool.ts';
import { OfflineModel } from './offline-model.ts';
import { storeSettings } from './store-flags.ts';
import { openStores } from './stores.ts';

const USAGE =
  'Usage: pnpm studio [--db <file>] [--redis <url>] [--prefix <key prefix>] [--postgres <url>] [--schema <name>] [--port <n>] [--host <host>]\nEnvironment: BUDDY_DB_FILE, BUDDY_REDIS_URL, BUDDY_REDIS_PREFIX, BUDDY_POSTGRES_URL, BUDDY_POSTGRES_SCHEMA, BUDDY_STUDIO_PORT, BUDDY_STUDIO_HOST, BUDDY_STUDIO_TOKEN.';

function parseFlags(argv: readonly string[]): {
  stores: StoreSettings;
  port: string | undefined;
  host: string | undefined;
} {
  // An empty variable counts as unset, as in `pnpm chat`.
  const fromEnv = (name: string) => (process.env[name] === '' ? undefined : process.env[name]);
  const values: Record<string, string | undefined> = {
    db: fromEnv('BUDDY_DB_FILE'),
    redis: fromEnv('BUDDY_REDIS_URL'),
    prefix: fromEnv('BUDDY_REDIS_PREFIX'),
    postgres: fromEnv('BUDDY_POSTGRES_URL'),
    schema: fromEnv('BUDDY_POSTGRES_SCHEMA'),
    port: fromEnv('BUDDY_STUDIO_PORT'),
    host: fromEnv('BUDDY_STUDIO_HOST'),
  };
  const given = new Set<string>();
  for (let index = 0; index < argv.length; index++) {
    const flag = argv[index] ?? '';
    if (flag === '--help' || flag === '-h') {
      console.log(USAGE);
      process.exit(0);
    }
    const match = /^--(db|redis|prefix|postgres|schema|port|host)(?:=(.*))?$/.exec(flag);
    const value = match?.[2] ?? argv[index + 1];
    if (match === null || value === undefined || value === '' || value.startsWith('--')) {
      throw new BuddyError({
        code: 'INVALID_ARGUMENT',
        message: `${match === null ? `Unknown option ${flag}` : `Option ${flag} needs a value`}.\n${USAGE}`,
      });
    }
    if (match[2] === undefined) index++;
    values[match[1] as string] = value;
    given.add(match[1] as string);
  }
  const stores = storeSettings(values, given);
  if ('error' in stores)
    throw new BuddyError({ code: 'INVALID_ARGUMENT', message: `${stores.error}\n${USAGE}` });
  return { stores, port: values.port, host: values.host };
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const port = flags.port === undefined ? 4321 : Number(flags.port);
  const host = flags.host ?? '127.0.0.1';
  const token = process.env.BUDDY_STUDIO_TOKEN;
  const { storage, memoryDb, where } = await openStores(flags.stores);
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
      PRICE_LIST,
      'To pay, call checkout with the cart total; the user approves every payment.',
      'Keep answers short.',
    ],
    sessionState: { cart: [] },
    tools: [...cartTools, checkout],
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
