/**
 * `pnpm chat`: an interactive REPL over a persistent Buddy agent.
 *
 *   pnpm chat [--user <id>] [--session <id>] [--db <file>] [--redis <url>] [--prefix <p>]
 *             [--postgres <url>] [--schema <name>] [--model auto|offline|openai|anthropic]
 *
 * Environment: BUDDY_USER, BUDDY_SESSION, BUDDY_DB_FILE, BUDDY_REDIS_URL, BUDDY_REDIS_PREFIX,
 * BUDDY_POSTGRES_URL, BUDDY_POSTGRES_SCHEMA, BUDDY_MODEL, OPENAI_API_KEY / ANTHROPIC_API_KEY.
 * Commands start with "/" (type /help).
 *
 * Ctrl-C during a turn aborts it (its AbortSignal) and returns to the prompt; Ctrl-C at the
 * prompt, Ctrl-D or /quit leave at once. A tool call that needs approval (`checkout`) is asked
 * about (`Allow checkout({"total":8.1})? [y/N]`); Ctrl-C at that question denies it. Started by a package manager (`pnpm chat`), a bad flag
 * or a failed start prints its one line and exits 0, because pnpm adds lines of its own to any
 * other exit code; run directly (`node --import tsx src/chat.ts`) they exit 2 and 1.
 */
import { createInterface } from 'node:readline';
import { BuddyError, type Logger } from '@buddy/core';
import type { Ask, PromptAnswer } from './approval-prompt.ts';
import { chatTurn } from './chat-turn.ts';
import { type ChatSession, parseArguments, runCommand, waitingNotice } from './commands.ts';
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

/**
 * A line source over readline that knows whether anyone is waiting for input; `interrupt()` ends
 * the wait of the one waiting (Ctrl-C at a question).
 */
function lineReader(input: ReturnType<typeof createInterface>) {
  const queued: string[] = [];
  let waiting: ((answer: PromptAnswer) => void) | undefined;
  let closed = false;
  const settle = (answer: PromptAnswer) => {
    const resolve = waiting;
    waiting = undefined;
    resolve?.(answer);
  };
  input.on('line', (text) => {
    if (waiting === undefined) queued.push(text);
    else settle({ kind: 'line', text });
  });
  input.on('close', () => {
    closed = true;
    settle({ kind: 'closed' });
  });
  return {
    next(): Promise<PromptAnswer> {
      const text = queued.shift();
      if (text !== undefined) return Promise.resolve({ kind: 'line', text });
      if (closed) return Promise.resolve({ kind: 'closed' });
      return new Promise((resolve) => {
        waiting = resolve;
      });
    },
    /** Whether someone waits for a line. */
    get isWaiting(): boolean {
      return waiting !== undefined;
    },
    interrupt(): void {
      settle({ kind: 'interrupted' });
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
  const waiting = chat.stored ? await waitingNotice(app) : undefined;
  if (waiting !== undefined) console.log(color.yellow(waiting));

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

  // Asking about a tool call: readline draws the question as its prompt (piped: written, and the
  // answer echoed). Ctrl-C ends the wait with `interrupted`.
  let asking = false;
  const ask: Ask = async (question) => {
    status.clear();
    asking = true;
    try {
      if (interactive) {
        input.setPrompt(question);
        input.prompt();
      } else process.stdout.write(question);
      const answer = await reader.next();
      if (answer.kind === 'line') {
        if (!interactive) console.log(answer.text);
      } else {
        // Drop what was typed before Ctrl-C, and leave the question's line.
        if (interactive && answer.kind === 'interrupted')
          input.write('', { ctrl: true, name: 'u' });
        process.stdout.write('\n');
      }
      return answer;
    } finally {
      asking = false;
      input.setPrompt(promptText);
    }
  };

  let turn: AbortController | undefined;
  const interrupt = () => {
    if (asking) {
      reader.interrupt();
      return;
    }
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
      const next = await reader.next();
      if (next.kind !== 'line') {
        if (atPrompt) process.stdout.write('\n');
        break;
      }
      atPrompt = false;
      const line = next.text.trim();
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
          const outcome = await chatTurn(app, line, { signal: turn.signal, status, ask });
          // A run paused for approval stored the session, even when its resume was interrupted.
          if (outcome.kind === 'aborted' && outcome.waiting && agent.sessionId === sessionId)
            chat.stored = true;
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
