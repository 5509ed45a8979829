/**
 * `pnpm demo`: a narrated, scripted showcase of Buddy that runs offline.
 *
 * The story runs in two real processes on one SQLite file: the first visit creates a named
 * session, changes the cart through a tool, learns facts about the user and writes a summary; the
 * process exits; a second process resumes the same session from SQLite, then starts a new
 * session that searches the previous one and uses the user's memories.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunEvent } from '@buddy/core';
import { OfflineModel } from './offline-model.ts';
import { type App, createApp } from './setup.ts';
import { color, describeError, heading, indent, toolCallLine, toolResultLine } from './terminal.ts';

const USER = 'dana@example.com';
const SESSION = 'groceries-2026-11';

function say(text: string): void {
  console.log(text);
}

function step(title: string): void {
  say(`\n${heading(`▸ ${title}`)}`);
}

/** Runs one turn with `stream()`, printing tool calls and the streamed answer. */
async function turn(app: App, text: string): Promise<void> {
  say(`${color.bold('  you   ›')} ${text}`);
  let answering = false;
  let warnings: string[] = [];
  for await (const event of app.agent.stream(text) as AsyncIterable<RunEvent>) {
    if (event.type === 'text-delta') {
      if (!answering) process.stdout.write(`${color.bold('  buddy ›')} `);
      answering = true;
      process.stdout.write(event.delta.replace(/\n/g, '\n          '));
    } else if (event.type === 'tool-call') {
      say(`          ${toolCallLine(event.toolCall.name, event.toolCall.arguments)}`);
    } else if (event.type === 'tool-result') {
      say(`          ${toolResultLine(event.result, event.isError)}`);
    } else if (event.type === 'run-completed') {
      warnings = event.response.warnings;
    } else if (event.type === 'run-error') {
      throw event.error;
    }
  }
  say('');
  for (const warning of warnings) say(color.yellow(`  ! ${warning}`));
}

async function firstVisit(dbFile: string): Promise<void> {
  const app = await createApp({ userId: USER, sessionId: SESSION, dbFile, model: 'offline' });
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
    say(color.dim('\n  Process 1 exits now; everything above is in SQLite.'));
  } finally {
    await app.close();
  }
}

async function returnVisit(dbFile: string): Promise<void> {
  const app = await createApp({ userId: USER, sessionId: SESSION, dbFile, model: 'offline' });
  try {
    step(`Process 2 (pid ${process.pid}): the same session id, resumed from SQLite`);
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
    say(`\n${heading('Done.')} Try it yourself: ${color.bold('pnpm chat')} (type /help).`);
  } finally {
    await app.close();
  }
}

function runPhase(phase: string, dbFile: string): void {
  const script = fileURLToPath(import.meta.url);
  const result = spawnSync(
    process.execPath,
    [...process.execArgv, script, '--phase', phase, '--db', dbFile],
    {
      stdio: 'inherit',
      env: process.env,
    },
  );
  if (result.status !== 0) {
    throw new Error(`the ${phase} process exited with code ${result.status ?? result.signal}`);
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const phase = args[args.indexOf('--phase') + 1];
  const dbArg = args.indexOf('--db');
  if (args.includes('--phase')) {
    const dbFile = args[dbArg + 1] ?? '';
    if (phase === 'first-visit') await firstVisit(dbFile);
    else if (phase === 'return-visit') await returnVisit(dbFile);
    else throw new Error(`unknown phase ${phase}`);
    return;
  }
  say(heading('Buddy demo: an agent that remembers (offline, no API keys)'));
  const dir = mkdtempSync(join(tmpdir(), 'buddy-demo-'));
  const dbFile = dbArg === -1 ? join(dir, 'demo.db') : (args[dbArg + 1] ?? join(dir, 'demo.db'));
  try {
    runPhase('first-visit', dbFile);
    runPhase('return-visit', dbFile);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(color.red(`demo failed: ${describeError(error)}`));
  process.exit(1);
});
