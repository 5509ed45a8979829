/**
 * `pnpm chat`: an interactive REPL over a persistent Buddy agent.
 *
 *   pnpm chat [--user <id>] [--session <id>] [--db <file>] [--redis <url>] [--prefix <p>] [--model auto|offline|openai|anthropic]
 *
 * Environment: BUDDY_USER, BUDDY_SESSION, BUDDY_DB_FILE, BUDDY_REDIS_URL, BUDDY_REDIS_PREFIX,
 * BUDDY_MODEL, OPENAI_API_KEY / ANTHROPIC_API_KEY. Commands start with "/" (type /help).
 *
 * Ctrl-C during a turn aborts it (its AbortSignal) and returns to the prompt; Ctrl-C at the
 * prompt, Ctrl-D or /quit leave at once. Started by a package manager (`pnpm chat`), a bad flag
 * or a failed start prints its one line and exits 0, because pnpm adds lines of its own to any
 * other exit code; run directly (`node --import tsx src/chat.ts`) they exit 2 and 1.
 */
import { createInterface } from 'node:readline';
import { BuddyError, type Logger } from '@buddy/core';
import { chatTurn } from './chat-turn.ts';
import { type ChatSession, parseArguments, runCommand } from './commands.ts';
import { HELP_TEXT, OfflineModel } from './offline-model.ts';
import type { App } from './setup.ts';
import { color, describeError, StatusLine } from './terminal.ts';

/** Exit code for a reported problem (see the module header). */
function failureCode(code: number): number {
  return process.env.npm_lifecycle_event === 'chat' ? 0 : code;
}

/**
 * The REPL's logger: post-answer problems carry a `runId` and are printed from the run's
 * `warnings` after the answer, so only other problems (a lease that could not be renewed) are
 * printed here, one line each.
 */
const replLogger: Logger = {
  debug: () => {},
  warn: (message, details) => {
    if (details?.runId === undefined) console.error(color.yellow(`! ${message}`));
  },
  error: (message) => console.error(color.red(`! ${message}`)),
};

/** A line source over readline that knows whether anyone is waiting for input. */
function lineReader(input: ReturnType<typeof createInterface>) {
  const queued: string[] = [];
  let waiting: ((line: string | undefined) => void) | undefined;
  let closed = false;
  input.on('line', (line) => {
    if (waiting === undefined) queued.push(line);
    else {
      const resolve = waiting;
      waiting = undefined;
      resolve(line);
    }
  });
  input.on('close', () => {
    closed = true;
    const resolve = waiting;
    waiting = undefined;
    resolve?.(undefined);
  });
  return {
    next(): Promise<string | undefined> {
      if (queued.length > 0) return Promise.resolve(queued.shift());
      if (closed) return Promise.resolve(undefined);
      return new Promise((resolve) => {
        waiting = resolve;
      });
    },
  };
}

async function openSession(app: App, userId: string): Promise<ChatSession> {
  const record = await app.storage.getSession(app.agent.sessionId);
  if (record === undefined) return { app, stored: false, pendingName: undefined };
  if (record.userId !== userId) {
    throw new BuddyError({
      code: 'SESSION_OWNERSHIP',
      message: `Session ${record.sessionId} belongs to another user. Start with your own --session id, or none for a new one.`,
    });
  }
  await app.agent.loadSession();
  return { app, stored: true, pendingName: undefined };
}

async function main(): Promise<void> {
  const parsed = parseArguments(process.argv.slice(2), process.env);
  if (parsed.kind === 'help') {
    console.log(parsed.text);
    return;
  }
  if (parsed.kind === 'error') {
    console.error(color.red(parsed.message));
    process.exitCode = failureCode(2);
    return;
  }
  let app: App;
  let chat: ChatSession;
  try {
    const { createApp } = await import('./setup.ts');
    app = await createApp({ ...parsed.settings, logger: replLogger });
  } catch (error) {
    console.error(color.red(`cannot start: ${describeError(error)}`));
    process.exitCode = failureCode(1);
    return;
  }
  try {
    chat = await openSession(app, parsed.settings.userId);
  } catch (error) {
    console.error(color.red(`cannot start: ${describeError(error)}`));
    await app.close();
    process.exitCode = failureCode(1);
    return;
  }
  console.log(color.dim(app.description));
  if (app.model instanceof OfflineModel) console.log(color.dim(HELP_TEXT));
  const { agent } = app;
  console.log(
    `Session ${color.bold(agent.sessionId)}${agent.sessionName === undefined ? '' : ` (${agent.sessionName})`}${chat.stored ? '' : ' (new)'} for ${color.bold(parsed.settings.userId)}. Type /help for commands.`,
  );

  const interactive = process.stdin.isTTY === true;
  const input = createInterface({
    input: process.stdin,
    ...(interactive ? { output: process.stdout, terminal: true } : { terminal: false }),
  });
  const reader = lineReader(input);
  const status = new StatusLine();
  const promptText = `${color.bold('you   ›')} `;
  input.setPrompt(promptText);
  let atPrompt = false;
  // Interactive: readline draws the prompt. Piped: write it ourselves and echo the line, so a
  // scripted transcript reads like a conversation.
  const prompt = () => {
    atPrompt = true;
    if (interactive) input.prompt();
    else process.stdout.write(promptText);
  };

  let turn: AbortController | undefined;
  const interrupt = () => {
    if (turn !== undefined) {
      if (!turn.signal.aborted) {
        turn.abort(new BuddyError({ code: 'ABORTED', message: 'Interrupted with Ctrl-C' }));
        return;
      }
      // A second Ctrl-C while the first is still being honoured: leave now.
      process.stdout.write('\nbye\n');
      process.exit(failureCode(130));
    }
    // At the prompt: leave at once, on a fresh line.
    input.close();
  };
  input.on('SIGINT', interrupt);
  process.on('SIGINT', interrupt);

  prompt();
  try {
    for (;;) {
      const raw = await reader.next();
      if (raw === undefined) {
        if (atPrompt) process.stdout.write('\n');
        break;
      }
      atPrompt = false;
      const line = raw.trim();
      if (line === '') {
        prompt();
        continue;
      }
      if (!interactive) console.log(line);
      try {
        if (line.startsWith('/')) {
          const result = await runCommand(chat, line);
          if (result.output !== '') console.log(result.output);
          if (result.quit) break;
        } else {
          turn = new AbortController();
          const sessionId = agent.sessionId;
          const outcome = await chatTurn(app, line, { signal: turn.signal, status });
          if (outcome.kind === 'completed') {
            if (agent.sessionId === sessionId) chat.stored = true;
            if (chat.pendingName !== undefined) {
              await agent.renameSession(chat.pendingName);
              chat.pendingName = undefined;
            }
          }
        }
      } catch (error) {
        status.clear();
        console.log(color.red(`error: ${describeError(error)}`));
      } finally {
        turn = undefined;
      }
      prompt();
    }
  } finally {
    input.off('SIGINT', interrupt);
    process.off('SIGINT', interrupt);
    input.close();
    status.clear();
    await app.close();
  }
  console.log('bye');
}

main().catch((error: unknown) => {
  console.error(color.red(`error: ${describeError(error)}`));
  process.exitCode = failureCode(1);
});
