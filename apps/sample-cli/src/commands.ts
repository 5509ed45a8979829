/**
 * The REPL's command-line flags and slash commands, separate from the terminal loop so that
 * they can be tested directly.
 */
import type { AgentMemory } from '@buddy/memory';
import type { App } from './setup.ts';
import { type AppSettings, DEFAULT_DB_FILE } from './setup.ts';

export const USAGE = `Usage: pnpm chat [--user <id>] [--session <id>] [--db <file>] [--redis <url>] [--model auto|offline|openai|anthropic]

Environment: BUDDY_USER, BUDDY_SESSION, BUDDY_DB_FILE (default ${DEFAULT_DB_FILE}), BUDDY_REDIS_URL,
BUDDY_MODEL, OPENAI_API_KEY, ANTHROPIC_API_KEY.`;

export const COMMANDS_HELP = `Commands:
  /sessions          list your sessions (most recent first)
  /new               start a new session
  /switch <id>       continue one of your sessions
  /rename <name>     rename the current session
  /delete <id>       delete one of your sessions
  /state             show the session state
  /summary           show the session summary
  /memories          show what Buddy remembers about you
  /help              this list
  /quit              leave`;

export type ParsedArguments =
  | { kind: 'run'; settings: AppSettings }
  | { kind: 'help'; text: string }
  | { kind: 'error'; message: string };

const MODELS = new Set(['auto', 'offline', 'openai', 'anthropic']);

export function parseArguments(argv: readonly string[], env: NodeJS.ProcessEnv): ParsedArguments {
  const values: Record<string, string | undefined> = {
    user: env.BUDDY_USER,
    session: env.BUDDY_SESSION,
    db: env.BUDDY_DB_FILE,
    redis: env.BUDDY_REDIS_URL,
    model: env.BUDDY_MODEL,
  };
  for (let index = 0; index < argv.length; index++) {
    const flag = argv[index] ?? '';
    if (flag === '--help' || flag === '-h')
      return { kind: 'help', text: `${USAGE}\n\n${COMMANDS_HELP}` };
    const match = /^--(user|session|db|redis|model)(?:=(.*))?$/.exec(flag);
    if (match === null)
      return { kind: 'error', message: `Unknown option ${flag}. ${USAGE.split('\n')[0]}` };
    const name = match[1] as string;
    const value = match[2] ?? argv[++index];
    if (value === undefined || value === '' || value.startsWith('--')) {
      return { kind: 'error', message: `Option --${name} needs a value.` };
    }
    values[name] = value;
  }
  const model = values.model ?? 'auto';
  if (!MODELS.has(model))
    return {
      kind: 'error',
      message: `Unknown model "${model}": use auto, offline, openai or anthropic.`,
    };
  return {
    kind: 'run',
    settings: {
      userId: values.user ?? 'guest',
      ...(values.session === undefined ? {} : { sessionId: values.session }),
      dbFile: values.db ?? DEFAULT_DB_FILE,
      ...(values.redis === undefined || values.redis === '' ? {} : { redisUrl: values.redis }),
      model: model as AppSettings['model'],
    },
  };
}

export interface CommandResult {
  output: string;
  quit?: boolean;
}

function formatTime(epochMs: number): string {
  return new Date(epochMs).toISOString().replace('T', ' ').slice(0, 19);
}

/** Runs one slash command. Bad commands and arguments answer with one line; they never throw. */
export async function runCommand(app: App, line: string): Promise<CommandResult> {
  const [command = '', ...rest] = line.trim().split(/\s+/);
  const argument = rest.join(' ').trim();
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
      const { sessions } = await agent.listSessions({ limit: 50 });
      if (sessions.length === 0) return { output: 'No sessions yet.' };
      return {
        output: sessions
          .map(
            (session) =>
              `${session.sessionId === agent.sessionId ? '*' : ' '} ${session.sessionId}  ${formatTime(session.updatedAt)}  ${session.sessionName ?? '(unnamed)'}`,
          )
          .join('\n'),
      };
    }
    case '/new':
      return { output: `New session ${agent.newSession()}.` };
    case '/switch': {
      if (argument === '') return needs('a session id (see /sessions)');
      const record = await app.storage.getSession(argument);
      if (record === undefined || record.userId !== agent.userId) {
        return { output: `No session ${argument} of yours. /sessions lists them.` };
      }
      await agent.switchSession(argument);
      return {
        output: `Switched to ${argument}${agent.sessionName === undefined ? '' : ` (${agent.sessionName})`}.`,
      };
    }
    case '/rename':
      if (argument === '') return needs('a name');
      await agent.renameSession(argument);
      return { output: `Renamed to "${argument}".` };
    case '/delete': {
      if (argument === '') return needs('a session id (see /sessions)');
      const record = await app.storage.getSession(argument);
      if (record === undefined || record.userId !== agent.userId) {
        return { output: `No session ${argument} of yours. /sessions lists them.` };
      }
      await agent.deleteSession(argument);
      if (argument === agent.sessionId) {
        return { output: `Deleted ${argument}. Started a new session ${agent.newSession()}.` };
      }
      return { output: `Deleted ${argument}.` };
    }
    case '/state':
      return { output: JSON.stringify(agent.sessionState, null, 2) };
    case '/summary': {
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
      const memories = await (agent.memory as AgentMemory).readMemories({ userId });
      if (memories.length === 0)
        return { output: 'No memories yet: tell Buddy something about yourself.' };
      return { output: memories.map((memory) => `- ${memory.memory}`).join('\n') };
    }
    default:
      return { output: `Unknown command ${command}. Type /help for the list of commands.` };
  }
}
