/**
 * The REPL's command-line flags and slash commands, separate from the terminal loop so that
 * they can be tested directly.
 */
import type { SessionInfo } from '@buddy/core';
import { type AppSettings, DEFAULT_DB_FILE } from './app-settings.ts';
import { approvalQuestion } from './approval-prompt.ts';
import type { App } from './setup.ts';
import { storeSettings } from './store-flags.ts';

/** The usage line and the environment variables (`--help`, and the first line after a bad flag). */
export const USAGE = `Usage: pnpm chat [--user <id>] [--session <id>] [--db <file>] [--redis <url>] [--prefix <key prefix>] [--postgres <url>] [--schema <name>] [--model auto|offline|openai|anthropic]

Environment: BUDDY_USER, BUDDY_SESSION, BUDDY_DB_FILE (default ${DEFAULT_DB_FILE}), BUDDY_REDIS_URL,
BUDDY_REDIS_PREFIX, BUDDY_POSTGRES_URL, BUDDY_POSTGRES_SCHEMA, BUDDY_MODEL, OPENAI_API_KEY,
ANTHROPIC_API_KEY. A storage flag (--db, --redis, --postgres) wins over the environment; in the
environment PostgreSQL is checked before Redis, and either before SQLite.`;

/** The slash commands (`/help`). */
export const COMMANDS_HELP = `Commands (any case; a session id can be shortened to a unique prefix):
  /sessions          list your sessions (most recent first)
  /new               start a new session
  /switch <id>       continue one of your sessions
  /rename <name>     rename the current session
  /delete <id>       delete one of your sessions
  /state             show the session state
  /summary           show the session summary
  /memories          show what Buddy remembers about you (the newest 100)
  /help              this list
  /quit              leave (or Ctrl-C at the prompt; Ctrl-C during an answer stops it)`;

/** What the command line asks for: a run, the help text, or one line about what is wrong. */
export type ParsedArguments =
  | { kind: 'run'; settings: AppSettings }
  | { kind: 'help'; text: string }
  | { kind: 'error'; message: string };

const MODELS = new Set(['auto', 'offline', 'openai', 'anthropic']);
const FLAGS = ['user', 'session', 'db', 'redis', 'prefix', 'postgres', 'schema', 'model'] as const;

/** Reads the flags over the environment (`--user` over `BUDDY_USER`, …); never throws. */
export function parseArguments(argv: readonly string[], env: NodeJS.ProcessEnv): ParsedArguments {
  // An empty variable (`BUDDY_SESSION=`) counts as unset.
  const fromEnv = (name: string) => (env[name] === '' ? undefined : env[name]);
  const values: Record<string, string | undefined> = {
    user: fromEnv('BUDDY_USER'),
    session: fromEnv('BUDDY_SESSION'),
    db: fromEnv('BUDDY_DB_FILE'),
    redis: fromEnv('BUDDY_REDIS_URL'),
    prefix: fromEnv('BUDDY_REDIS_PREFIX'),
    postgres: fromEnv('BUDDY_POSTGRES_URL'),
    schema: fromEnv('BUDDY_POSTGRES_SCHEMA'),
    model: fromEnv('BUDDY_MODEL'),
  };
  const given = new Set<string>();
  for (let index = 0; index < argv.length; index++) {
    const flag = argv[index] ?? '';
    if (flag === '--help' || flag === '-h')
      return { kind: 'help', text: `${USAGE}\n\n${COMMANDS_HELP}` };
    const match = new RegExp(`^--(${FLAGS.join('|')})(?:=(.*))?$`).exec(flag);
    if (match === null)
      return { kind: 'error', message: `Unknown option ${flag}. ${USAGE.split('\n')[0]}` };
    const name = match[1] as string;
    const value = match[2] ?? argv[++index];
    if (value === undefined || value === '' || value.startsWith('--')) {
      return { kind: 'error', message: `Option --${name} needs a value.` };
    }
    values[name] = value;
    given.add(name);
  }
  const model = values.model ?? 'auto';
  if (!MODELS.has(model))
    return {
      kind: 'error',
      message: `Unknown model "${model}": use auto, offline, openai or anthropic.`,
    };
  const stores = storeSettings(values, given);
  if ('error' in stores) return { kind: 'error', message: stores.error };
  return {
    kind: 'run',
    settings: {
      userId: values.user ?? 'guest',
      ...(values.session === undefined ? {} : { sessionId: values.session }),
      ...stores,
      model: model as AppSettings['model'],
    },
  };
}

/**
 * The REPL's view of the agent's current session. A session is stored with its first run, not
 * before: starting the REPL, `/new` or a rename of a new session write nothing.
 */
export interface ChatSession {
  app: App;
  /** Whether the current session exists in storage. */
  stored: boolean;
  /** A name given before the first run; the REPL applies it right after that run. */
  pendingName: string | undefined;
}

/** What a slash command printed, and whether it ends the REPL. */
export interface CommandResult {
  output: string;
  quit?: boolean;
}

function formatTime(epochMs: number): string {
  return new Date(epochMs).toISOString().replace('T', ' ').slice(0, 19);
}

/** Every session of the agent's user, most recent first (at most 1,000). */
async function allSessions(app: App): Promise<SessionInfo[]> {
  const sessions: SessionInfo[] = [];
  let cursor: string | undefined;
  do {
    const page = await app.agent.listSessions({
      limit: 100,
      ...(cursor === undefined ? {} : { cursor }),
    });
    sessions.push(...page.sessions);
    cursor = page.nextCursor;
  } while (cursor !== undefined && sessions.length < 1_000);
  return sessions;
}

/** Finds one of the user's sessions by its id or a unique prefix of it (like git). */
export async function resolveSessionId(
  app: App,
  text: string,
): Promise<{ sessionId: string } | { problem: string }> {
  const sessions = await allSessions(app);
  if (sessions.some((session) => session.sessionId === text)) return { sessionId: text };
  const matches = sessions.filter((session) => session.sessionId.startsWith(text));
  const [only] = matches;
  if (matches.length === 1 && only !== undefined) return { sessionId: only.sessionId };
  if (matches.length === 0)
    return { problem: `No session ${text} of yours. /sessions lists them.` };
  const shown = matches.slice(0, 5).map((session) => session.sessionId);
  return {
    problem: `"${text}" matches ${matches.length} of your sessions (${shown.join(', ')}${matches.length > 5 ? ', …' : ''}): type more of the id.`,
  };
}

/**
 * One line about the run the agent's session waits with for a decision (a `checkout` asked
 * about when the REPL stopped), or `undefined` when it waits for nothing.
 */
export async function waitingNotice(app: App): Promise<string | undefined> {
  const pending = (await app.storage.getSession(app.agent.sessionId))?.pendingRun;
  if (pending === undefined) return undefined;
  const calls = pending.approvals.map((call) => approvalQuestion(call).trim()).join(' ');
  return `This session waits for your decision (${calls}): you are asked with your next message.`;
}

/** Runs one slash command. Bad commands and arguments answer with one line; they never throw. */
export async function runCommand(chat: ChatSession, line: string): Promise<CommandResult> {
  const [typed = '', ...rest] = line.trim().split(/\s+/);
  const command = typed.toLowerCase();
  const argument = rest.join(' ').trim();
  const { app } = chat;
  const { agent } = app;
  const needs = (what: string): CommandResult => ({
    output: `${command} needs ${what}. Type /help for the list of commands.`,
  });
  switch (command) {
    case '/help':
      return { output: COMMANDS_HELP };
    case '/quit':
    case '/exit':
      return { output: '', quit: true };
    case '/sessions': {
      const sessions = await allSessions(app);
      const lines = sessions.map(
        (session) =>
          `${session.sessionId === agent.sessionId ? '*' : ' '} ${session.sessionId}  ${formatTime(session.updatedAt)}  ${session.sessionName ?? '(unnamed)'}`,
      );
      if (!chat.stored) {
        lines.unshift(
          `* ${agent.sessionId}  (new: saved with its first message)${chat.pendingName === undefined ? '' : `  ${chat.pendingName}`}`,
        );
      }
      return { output: lines.length === 0 ? 'No sessions yet.' : lines.join('\n') };
    }
    case '/new':
      chat.stored = false;
      chat.pendingName = undefined;
      return { output: `New session ${agent.newSession()}.` };
    case '/switch': {
      if (argument === '') return needs('a session id (see /sessions)');
      const found = await resolveSessionId(app, argument);
      if ('problem' in found) return { output: found.problem };
      await agent.switchSession(found.sessionId);
      chat.stored = true;
      chat.pendingName = undefined;
      const waiting = await waitingNotice(app);
      return {
        output: `Switched to ${found.sessionId}${agent.sessionName === undefined ? '' : ` (${agent.sessionName})`}.${waiting === undefined ? '' : `\n${waiting}`}`,
      };
    }
    case '/rename':
      if (argument === '') return needs('a name');
      if (!chat.stored) {
        chat.pendingName = argument;
        return { output: `Renamed to "${argument}" (saved with the session's first message).` };
      }
      await agent.renameSession(argument);
      return { output: `Renamed to "${argument}".` };
    case '/delete': {
      if (argument === '') return needs('a session id (see /sessions)');
      const found = await resolveSessionId(app, argument);
      if ('problem' in found) return { output: found.problem };
      await agent.deleteSession(found.sessionId);
      if (found.sessionId === agent.sessionId) {
        chat.stored = false;
        chat.pendingName = undefined;
        return {
          output: `Deleted ${found.sessionId}. Started a new session ${agent.newSession()}.`,
        };
      }
      return { output: `Deleted ${found.sessionId}.` };
    }
    case '/state':
      return { output: JSON.stringify(agent.sessionState, null, 2) };
    case '/summary': {
      if (!chat.stored) return { output: 'No summary yet: it is written after each answer.' };
      const summary = await agent.getSessionSummary();
      if (summary === undefined)
        return { output: 'No summary yet: it is written after each answer.' };
      return {
        output: `${summary.summary}${summary.topics?.length ? `\nTopics: ${summary.topics.join(', ')}` : ''}\n(covers ${summary.runsCovered} run(s))`,
      };
    }
    case '/memories': {
      const userId = agent.userId;
      if (userId === undefined) return { output: 'No user id: start with --user <id>.' };
      // From the db: the agent's memory would pick the few relevant to a message.
      const memories = await app.memoryDb.readMemories({ userId, sort: 'newest', limit: 100 });
      if (memories.length === 0)
        return { output: 'No memories yet: tell Buddy something about yourself.' };
      return { output: memories.map((memory) => `- ${memory.memory}`).join('\n') };
    }
    default:
      return { output: `Unknown command ${typed}. Type /help for the list of commands.` };
  }
}
