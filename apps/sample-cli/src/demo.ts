/**
 * `pnpm demo`: a narrated, scripted showcase of Buddy that runs offline.
 *
 *   pnpm demo [--db <file>] [--postgres <url>] [--schema <name>]
 *
 * The story runs in two real processes on one database: the first visit creates a named
 * session, changes the cart through a tool, learns facts about the user and writes a summary; the
 * process exits; a second process resumes the same session, checks out (a tool that needs
 * approval: the run pauses, the demo approves it, the run resumes), starts a new session that
 * searches the previous one and uses the user's memories, and shows relevant memories: a user
 * with 30 memories asks about one topic and only the matching ones reach the system message.
 *
 * The database is a throwaway SQLite file, or with `--postgres` / `BUDDY_POSTGRES_URL` a
 * throwaway PostgreSQL schema, dropped at the end. `--db <file>` or `--schema <name>`
 * (`BUDDY_POSTGRES_SCHEMA`) name one to keep.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunEvent, RunOptions } from '@buddy/core';
import { MEMORIES_CLOSE_TAG, MEMORIES_OPEN_TAG } from '@buddy/core';
import type { StoreSettings } from './app-settings.ts';
import { approvalQuestion } from './approval-prompt.ts';
import { OfflineModel } from './offline-model.ts';
import { type App, createApp, RELEVANT_MEMORIES } from './setup.ts';
import { maskUrl } from './stores.ts';
import { color, describeError, heading, indent, toolCallLine, toolResultLine } from './terminal.ts';

const USER = 'dana@example.com';
const SESSION = 'groceries-2026-11';
/** The user of the relevance scene, and the topics of the 30 memories seeded for them. */
const SAM = 'sam@example.com';
const SAM_MEMORIES: Record<string, string[]> = {
  coffee: [
    'The user drinks a flat white coffee every morning.',
    "The user's favourite coffee shop is Café Lume on Rua Augusta.",
    'The user takes oat milk in coffee, never sugar.',
    'The user stops drinking coffee after 2 pm.',
    'The user grinds coffee beans at home with a hand grinder.',
  ],
  running: [
    'The user runs 5 km on Tuesday and Thursday mornings.',
    'The user is training for the Berlin half marathon in March.',
    'The user wears size 42 running shoes.',
    'The user prefers running along the river.',
    "The user's left knee hurts after long runs.",
  ],
  travel: [
    'The user is planning a trip to Lisbon in May.',
    'The user always books a window seat on flights.',
    "The user's passport expires next year.",
    'The user wants to visit Porto and Sintra.',
    'The user likes small hotels with a view.',
  ],
  garden: [
    'The user grows tomatoes and basil on the balcony.',
    "The user's balcony faces south.",
    'The user waters the plants every evening.',
    'The user wants to plant lavender this spring.',
    'The user composts kitchen scraps.',
  ],
  music: [
    'The user plays the piano on weekends.',
    'The user is learning a Chopin nocturne.',
    'The user listens to jazz while cooking.',
    "The user's favourite band is Radiohead.",
    'The user sings in a choir on Wednesdays.',
  ],
  family: [
    'The user works as a nurse on night shifts.',
    "The user's sister Mia lives in Hamburg.",
    'The user has a cat named Pixel.',
    "The user's birthday is on 14 June.",
    'The user is vegetarian.',
  ],
};

function say(text: string): void {
  console.log(text);
}

function step(title: string): void {
  say(`\n${heading(`▸ ${title}`)}`);
}

/**
 * Prints one streamed run (a new one or a resumed one): tool calls, the streamed answer, warnings.
 * Resolves with the run's response (`status: 'awaiting-approval'` when it paused).
 */
async function show(events: AsyncIterable<RunEvent>) {
  let answering = false;
  let response: Extract<RunEvent, { type: 'run-completed' }>['response'] | undefined;
  for await (const event of events) {
    if (event.type === 'text-delta') {
      if (!answering) process.stdout.write(`${color.bold('  buddy ›')} `);
      answering = true;
      process.stdout.write(event.delta.replace(/\n/g, '\n          '));
    } else if (event.type === 'tool-call') {
      say(`          ${toolCallLine(event.toolCall.name, event.toolCall.arguments)}`);
    } else if (event.type === 'tool-result') {
      say(`          ${toolResultLine(event.result, event.isError)}`);
    } else if (event.type === 'run-completed') {
      response = event.response;
    } else if (event.type === 'run-error') {
      throw event.error;
    }
  }
  if (answering) say('');
  if (response === undefined) throw new Error('the run ended without run-completed');
  if (response.status === 'completed')
    for (const warning of response.warnings) say(color.yellow(`  ! ${warning}`));
  return response;
}

/** Runs one turn with `stream()`, printing tool calls and the streamed answer. */
async function turn(app: App, text: string, options: RunOptions = {}) {
  say(`${color.bold('  you   ›')} ${text}`);
  return show(app.agent.stream(text, options));
}

/** The memories section of the last system message the offline model received. */
function memoriesSent(app: App): string[] {
  const sent = app.model instanceof OfflineModel ? app.model.lastChatRequest : undefined;
  const system = sent?.messages[0]?.content ?? '';
  const start = system.indexOf(MEMORIES_OPEN_TAG);
  const end = system.indexOf(MEMORIES_CLOSE_TAG);
  if (start === -1 || end === -1) return [];
  return system
    .slice(start + MEMORIES_OPEN_TAG.length, end)
    .split('\n')
    .map((line) => line.replace(/^- /, '').trim())
    .filter((line) => line !== '');
}

async function firstVisit(stores: StoreSettings): Promise<void> {
  const app = await createApp({ ...stores, userId: USER, sessionId: SESSION, model: 'offline' });
  try {
    say(color.dim(app.description));
    step(`Process 1 (pid ${process.pid}): a new session for ${USER}`);
    await app.agent.renameSession('Weekly groceries');
    say(
      indent(
        `session id:    ${app.agent.sessionId}\nsession name:  ${app.agent.sessionName}\nstate:         ${JSON.stringify(app.agent.sessionState)}`,
      ),
    );

    step('A tool changes the session state (two tool calls in one turn, run in parallel)');
    await turn(app, 'Add oat milk and eggs to my cart');
    say(indent(`state.cart is now ${JSON.stringify(app.agent.sessionState.cart)}`));

    step('The state is templated into the prompt: "{cart}" in the instructions');
    await turn(app, 'What is in my cart?');
    const sent = app.model instanceof OfflineModel ? app.model.lastChatRequest : undefined;
    const line = sent?.messages[0]?.content.split('\n').find((text) => text.includes('cart holds'));
    say(
      indent(
        color.dim(`the system message the model received says: "${line ?? '(not recorded)'}"`),
      ),
    );

    step('Durable facts about the user become memories (classifier → memory manager)');
    await turn(app, 'My name is Dana and I am allergic to peanuts.');
    const memories = await app.memory.readMemories({ userId: USER });
    say(indent(memories.map((memory) => `memory: ${memory.memory}`).join('\n')));

    step('After each run the session summary is updated incrementally');
    const summary = await app.agent.getSessionSummary();
    say(
      indent(
        `summary: ${summary?.summary}\ntopics:  ${summary?.topics?.join(', ')}\ncovers:  ${summary?.runsCovered} run(s)`,
      ),
    );
    say(color.dim(`\n  Process 1 exits now; everything above is in the database.`));
  } finally {
    await app.close();
  }
}

/** Checks out: the run pauses for approval, the demo approves it, and the run resumes. */
async function checkoutScene(app: App): Promise<void> {
  step('A tool that needs approval: checkout pauses the run until a person decides');
  const { sessionId } = app.agent;
  const runsBefore = (await app.storage.getSession(sessionId))?.runCount ?? 0;
  const paused = await turn(app, 'Check out');
  if (paused.status !== 'awaiting-approval') throw new Error('the checkout did not ask');
  const waiting = (await app.storage.getSession(sessionId))?.pendingRun;
  say(
    indent(
      color.dim(
        `the run is paused and stored with the session (pendingRun ${waiting?.runId}); any process could resume it`,
      ),
    ),
  );
  const approvals: Record<string, { approved: boolean }> = {};
  for (const pending of paused.pendingApprovals ?? []) {
    say(`          ${approvalQuestion(pending)}y`);
    approvals[pending.approvalId] = { approved: true };
  }
  say(
    indent(
      color.dim(
        'the demo answers y itself (it is a script); pnpm chat asks you, and n, Enter or Ctrl-C deny',
      ),
    ),
  );
  await show(app.agent.resumeStream({ approvals }));
  const after = await app.storage.getSession(sessionId);
  say(
    indent(
      `state.cart is now ${JSON.stringify(app.agent.sessionState.cart)}; runs stored: ${runsBefore} → ${after?.runCount} (the paused and resumed turn is one run)`,
    ),
  );
}

/** A user with 30 memories asks about one topic: only the matching memories reach the prompt. */
async function relevanceScene(app: App): Promise<void> {
  const topics = Object.keys(SAM_MEMORIES);
  const all = Object.entries(SAM_MEMORIES).flatMap(([topic, memories]) =>
    memories.map((memory) => ({ memory, topic })),
  );
  step(
    `Relevant memories: ${SAM} has ${all.length} memories; a question about one topic gets the matching ones`,
  );
  // Written straight to the memory db, without embeddings: the first run embeds them, in the
  // same embedder call as its input.
  for (const { memory, topic } of all)
    await app.memoryDb.upsertMemory({ userId: SAM, memory, topics: [topic] });
  say(
    indent(
      `${all.length} memories seeded, ${all.length / topics.length} each about ${topics.join(', ')} (retrieval: 'relevant', numMemories: ${RELEVANT_MEMORIES}, the offline MockEmbedder)`,
    ),
  );
  await turn(app, 'What do you remember about my coffee habits?', {
    userId: SAM,
    sessionId: 'sam-questions',
  });
  const sent = memoriesSent(app);
  say(
    indent(
      `the system message held ${sent.length} of ${SAM}'s ${all.length} memories, closest first:\n${sent.map((memory) => `  ${memory}`).join('\n')}`,
    ),
  );
  const left = all.length - sent.length;
  say(indent(color.dim(`the other ${left} (${topics.slice(1).join(', ')}) stayed out`)));
}

async function returnVisit(stores: StoreSettings): Promise<void> {
  const app = await createApp({ ...stores, userId: USER, sessionId: SESSION, model: 'offline' });
  try {
    step(`Process 2 (pid ${process.pid}): the same session id, resumed from the database`);
    await app.agent.loadSession();
    say(
      indent(
        `session name:  ${app.agent.sessionName}\nstate.cart:    ${JSON.stringify(app.agent.sessionState.cart)}`,
      ),
    );
    const history = await app.agent.getChatHistory();
    say(indent(`history:       ${history.length} messages, first: "${history[0]?.content}"`));

    step('Picking up where we left off (history and summary are in the prompt)');
    await turn(app, 'Add bread');
    await turn(app, 'Summarize what we did so far');

    await checkoutScene(app);

    step('A new session: previous-session search and user memories carry over');
    const previousId = app.agent.sessionId;
    app.agent.newSession();
    say(indent(`new session id: ${app.agent.sessionId} (previous: ${previousId})`));
    await turn(app, 'What did we talk about last time?');
    await turn(app, 'What do you know about me?');
    await turn(app, 'I like jazz');

    step('The model names the new session (autoRenameSession)');
    const name = await app.agent.autoRenameSession();
    say(indent(`new name: ${name}`));

    step(`All sessions of ${USER}, most recent first`);
    const { sessions } = await app.agent.listSessions();
    say(
      indent(
        sessions
          .map((session) => `${session.sessionId}  ${session.sessionName ?? '(unnamed)'}`)
          .join('\n'),
      ),
    );

    await relevanceScene(app);
    say(`\n${heading('Done.')} Try it yourself: ${color.bold('pnpm chat')} (type /help).`);
  } finally {
    await app.close();
  }
}

/** The phase's storage, from the arguments the parent passes (`--db` or `--postgres --schema`). */
function phaseStores(args: readonly string[]): StoreSettings {
  const value = (flag: string) => {
    const index = args.indexOf(flag);
    return index === -1 ? undefined : args[index + 1];
  };
  const postgresUrl = value('--postgres');
  const postgresSchema = value('--schema');
  return {
    dbFile: value('--db') ?? '',
    ...(postgresUrl === undefined ? {} : { postgresUrl }),
    ...(postgresSchema === undefined ? {} : { postgresSchema }),
  };
}

function runPhase(phase: string, stores: StoreSettings): void {
  const script = fileURLToPath(import.meta.url);
  const storeArgs =
    stores.postgresUrl === undefined
      ? ['--db', stores.dbFile]
      : ['--postgres', stores.postgresUrl, '--schema', stores.postgresSchema ?? 'public'];
  const result = spawnSync(
    process.execPath,
    [...process.execArgv, script, '--phase', phase, ...storeArgs],
    { stdio: 'inherit', env: process.env },
  );
  if (result.status !== 0) {
    throw new Error(`the ${phase} process exited with code ${result.status ?? result.signal}`);
  }
}

/** Drops the demo's throwaway PostgreSQL schema (with every table in it). */
async function dropSchema(url: string, schema: string): Promise<void> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema.replace(/"/g, '""')}" CASCADE`);
  } finally {
    await client.end();
  }
}

/** Reads `--flag value` / `--flag=value` and the environment: which database the demo uses. */
function demoStores(args: readonly string[]): { stores: StoreSettings; throwaway: boolean } {
  const flag = (name: string) => {
    const inline = args.find((arg) => arg.startsWith(`--${name}=`));
    if (inline !== undefined) return inline.slice(name.length + 3);
    const index = args.indexOf(`--${name}`);
    return index === -1 ? undefined : args[index + 1];
  };
  const env = (name: string) => (process.env[name] === '' ? undefined : process.env[name]);
  const dbFile = flag('db');
  const postgresUrl =
    dbFile === undefined ? (flag('postgres') ?? env('BUDDY_POSTGRES_URL')) : undefined;
  if (postgresUrl !== undefined) {
    const named = flag('schema') ?? env('BUDDY_POSTGRES_SCHEMA');
    const postgresSchema = named ?? `buddy_demo_${randomBytes(4).toString('hex')}`;
    return { stores: { dbFile: '', postgresUrl, postgresSchema }, throwaway: named === undefined };
  }
  return { stores: { dbFile: dbFile ?? '' }, throwaway: dbFile === undefined };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--phase')) {
    const phase = args[args.indexOf('--phase') + 1];
    const stores = phaseStores(args);
    if (phase === 'first-visit') await firstVisit(stores);
    else if (phase === 'return-visit') await returnVisit(stores);
    else throw new Error(`unknown phase ${phase}`);
    return;
  }
  say(heading('Buddy demo: an agent that remembers (offline, no API keys)'));
  const { stores, throwaway } = demoStores(args);
  const dir = mkdtempSync(join(tmpdir(), 'buddy-demo-'));
  if (stores.postgresUrl === undefined && throwaway) stores.dbFile = join(dir, 'demo.db');
  if (stores.postgresUrl !== undefined) {
    say(
      color.dim(
        `PostgreSQL at ${maskUrl(stores.postgresUrl)}, schema ${stores.postgresSchema}${throwaway ? ' (a throwaway schema, dropped at the end)' : ''}.`,
      ),
    );
  }
  try {
    runPhase('first-visit', stores);
    runPhase('return-visit', stores);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    if (stores.postgresUrl !== undefined && throwaway) {
      await dropSchema(stores.postgresUrl, stores.postgresSchema ?? '').catch((error: unknown) =>
        console.error(
          color.yellow(`could not drop schema ${stores.postgresSchema}: ${describeError(error)}`),
        ),
      );
    }
  }
}

main().catch((error: unknown) => {
  console.error(color.red(`demo failed: ${describeError(error)}`));
  process.exit(1);
});
