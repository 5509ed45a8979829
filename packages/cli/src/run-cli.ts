/**
 * `runCli(argv, io)`: one run of the `buddy` command. Parses the command and its options with
 * `node:util` `parseArgs` (strict: an unknown option is a usage error), runs it, and turns every
 * failure into one line on stderr (`buddy: <what went wrong> (<CODE>)`) and an exit code:
 * 0 done, 1 failed (or done only in part), 2 usage error.
 */
import { parseArgs } from 'node:util';
import { failureLine, isUsageError, usageError } from './cli-errors.ts';
import type { CliIo } from './cli-io.ts';
import { CliLogger, type Command, type OptionValues } from './command.ts';
import { exportCommand } from './commands/export-command.ts';
import { forgetCommand } from './commands/forget-command.ts';
import { importCommand } from './commands/import-command.ts';
import { migrateCommand } from './commands/migrate-command.ts';
import { pruneCommand } from './commands/prune-command.ts';
import { rekeyCommand } from './commands/rekey-command.ts';
import { sessionsCommand } from './commands/sessions-command.ts';
import { showCommand } from './commands/show-command.ts';

/** Every command, in the order `buddy --help` lists them. */
export const COMMANDS: readonly Command[] = [
  sessionsCommand,
  showCommand,
  exportCommand,
  importCommand,
  migrateCommand,
  forgetCommand,
  pruneCommand,
  rekeyCommand,
];

const URLS = `Storage URLs (one URL names both the sessions and the memories of a place):
  sqlite:<file>                                  needs @buddy/db-sqlite and better-sqlite3
  redis://host:port[/db][?prefix=…]              needs @buddy/db-redis and ioredis
  postgres://user@host:port/db[?schema=…]        needs @buddy/db-postgres and pg`;

function mainUsage(): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length));
  const list = COMMANDS.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`);
  return `Usage: buddy <command> [arguments] [options]

Commands:
${list.join('\n')}

${URLS}

Run 'buddy <command> --help' for a command's options. Exit codes: 0 done, 1 failed, 2 usage.
`;
}

function commandUsage(command: Command): string {
  return `Usage: ${command.usage}\n\n${command.summary}.\n${command.details === undefined ? '' : `\n${command.details}\n`}`;
}

/** The version of this package, for `buddy --version`. */
async function version(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const text = await readFile(new URL('../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

function parse(command: Command, args: string[]): { values: OptionValues; positionals: string[] } {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args,
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw usageError(`buddy ${command.name}: ${(error as Error).message.replace(/\.$/, '')}`);
  }
  return { values: parsed.values as OptionValues, positionals: parsed.positionals };
}

/**
 * Runs `buddy` with `argv` (the arguments after the program name) and resolves with the exit
 * code. Never rejects: every failure is printed to `io.stderr`.
 *
 * @example
 * process.exitCode = await runCli(process.argv.slice(2), {
 *   stdout: process.stdout, stderr: process.stderr, stdin: process.stdin,
 *   env: process.env, cwd: process.cwd(),
 * });
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...args] = argv;
  try {
    if (name === undefined) {
      io.stderr.write(mainUsage());
      return 2;
    }
    if (name === '--help' || name === '-h' || name === 'help') {
      io.stdout.write(mainUsage());
      return 0;
    }
    if (name === '--version' || name === '-v') {
      io.stdout.write(`${await version()}\n`);
      return 0;
    }
    const command = COMMANDS.find((candidate) => candidate.name === name);
    if (command === undefined) {
      throw usageError(
        `unknown command ${JSON.stringify(name)} (commands: ${COMMANDS.map((known) => known.name).join(', ')}; see buddy --help)`,
      );
    }
    const { values, positionals } = parse(command, [...args]);
    if (values.help === true) {
      io.stdout.write(commandUsage(command));
      return 0;
    }
    const required = command.positionals.length - (command.optionalPositionals ?? 0);
    if (positionals.length < required) {
      const missing = command.positionals
        .slice(positionals.length, required)
        .map((part) => `<${part}>`);
      throw usageError(
        `buddy ${command.name} needs ${missing.join(' ')} (usage: ${command.usage})`,
      );
    }
    if (positionals.length > command.positionals.length) {
      throw usageError(
        `buddy ${command.name}: unexpected argument ${JSON.stringify(positionals[command.positionals.length])} (usage: ${command.usage})`,
      );
    }
    return await command.run({ io, values, positionals, logger: new CliLogger(io) });
  } catch (error) {
    io.stderr.write(`buddy: ${failureLine(error)}\n`);
    return isUsageError(error) ? 2 : 1;
  }
}
