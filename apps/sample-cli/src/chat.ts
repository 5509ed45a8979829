/**
 * `pnpm chat`: an interactive REPL over a persistent Buddy agent.
 *
 *   pnpm chat [--user <id>] [--session <id>] [--db <file>] [--redis <url>] [--model auto|offline|openai|anthropic]
 *
 * Environment: BUDDY_USER, BUDDY_SESSION, BUDDY_DB_FILE, BUDDY_REDIS_URL, BUDDY_MODEL,
 * OPENAI_API_KEY / ANTHROPIC_API_KEY. Commands start with "/" (type /help).
 */
import { createInterface } from 'node:readline';
import type { RunEvent } from '@buddy/core';
import { parseArguments, runCommand } from './commands.ts';
import { HELP_TEXT, OfflineModel } from './offline-model.ts';
import { type App, createApp } from './setup.ts';
import { color, describeError, startSpinner } from './terminal.ts';

async function chatTurn(app: App, text: string): Promise<void> {
  // The spinner owns the line until the first event; then the answer line starts.
  const stopSpinner = startSpinner();
  let started = false;
  const start = () => {
    if (started) return;
    started = true;
    stopSpinner();
    process.stdout.write(`${color.bold('buddy ›')} `);
  };
  try {
    for await (const event of app.agent.stream(text) as AsyncIterable<RunEvent>) {
      if (event.type === 'text-delta') {
        start();
        process.stdout.write(event.delta);
      } else if (event.type === 'tool-call') {
        start();
        process.stdout.write(color.dim(`[${event.toolCall.name}] `));
      } else if (event.type === 'run-completed') {
        start();
        process.stdout.write('\n');
        for (const warning of event.response.warnings) console.log(color.yellow(`! ${warning}`));
      } else if (event.type === 'run-error') {
        start();
        process.stdout.write('\n');
        console.log(color.red(`error: ${describeError(event.error)}`));
      }
    }
  } finally {
    start();
  }
}

async function main(): Promise<void> {
  const parsed = parseArguments(process.argv.slice(2), process.env);
  if (parsed.kind === 'help') {
    console.log(parsed.text);
    return;
  }
  if (parsed.kind === 'error') {
    console.error(color.red(parsed.message));
    process.exitCode = 2;
    return;
  }
  let app: App;
  try {
    app = await createApp(parsed.settings);
    await app.agent.loadSession();
  } catch (error) {
    console.error(color.red(`cannot start: ${describeError(error)}`));
    process.exitCode = 1;
    return;
  }
  console.log(color.dim(app.description));
  if (app.model instanceof OfflineModel) console.log(color.dim(HELP_TEXT));
  console.log(
    `Session ${color.bold(app.agent.sessionId)}${app.agent.sessionName === undefined ? '' : ` (${app.agent.sessionName})`} for ${color.bold(parsed.settings.userId)}. Type /help for commands.`,
  );

  const interactive = process.stdin.isTTY === true;
  const input = createInterface({
    input: process.stdin,
    ...(interactive ? { output: process.stdout, terminal: true } : { terminal: false }),
  });
  const promptText = `${color.bold('you   ›')} `;
  input.setPrompt(promptText);
  // Interactive: readline draws the prompt. Piped: write it ourselves and echo the line, so a
  // scripted transcript reads like a conversation.
  const prompt = () => (interactive ? input.prompt() : process.stdout.write(promptText));
  prompt();
  try {
    for await (const raw of input) {
      const line = raw.trim();
      if (line === '') {
        prompt();
        continue;
      }
      if (!interactive) console.log(line);
      try {
        if (line.startsWith('/')) {
          const result = await runCommand(app, line);
          if (result.output !== '') console.log(result.output);
          if (result.quit) break;
        } else {
          await chatTurn(app, line);
        }
      } catch (error) {
        console.log(color.red(`error: ${describeError(error)}`));
      }
      prompt();
    }
  } finally {
    input.close();
    await app.close();
  }
  console.log('bye');
}

main().catch((error: unknown) => {
  console.error(color.red(`error: ${describeError(error)}`));
  process.exitCode = 1;
});
