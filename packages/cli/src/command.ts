/**
 * What every `buddy` command is made of, and what it gets to run: its parsed arguments, the IO
 * of the run, and the logger the backends report to.
 */
import type { ParseArgsConfig } from 'node:util';
import type { LogDetails, Logger } from '@buddy/core';
import type { CliIo } from './cli-io.ts';

/** Parsed option values (strings, booleans, or arrays of strings for repeatable options). */
export type OptionValues = Record<string, string | boolean | string[] | undefined>;

/** What a command's `run` receives. */
export interface CommandContext {
  io: CliIo;
  values: OptionValues;
  positionals: string[];
  logger: CliLogger;
}

/** One `buddy` command. */
export interface Command {
  name: string;
  /** One line for `buddy --help`. */
  summary: string;
  /** The synopsis: `buddy export <url> [--user U] [-o file.jsonl]`. */
  usage: string;
  /** More lines for `buddy <command> --help`. */
  details?: string;
  options: NonNullable<ParseArgsConfig['options']>;
  /** Names of the positional arguments, required first; `optional` of them may be left out. */
  positionals: string[];
  optionalPositionals?: number;
  /** Resolves with the exit code (0, or 1 when the work was done only in part). */
  run(context: CommandContext): Promise<number>;
}

/**
 * The logger the backends get: warnings (a corrupt session skipped by listing) go to stderr as
 * `buddy: warning: …` lines and are counted; debug lines are dropped.
 */
export class CliLogger implements Logger {
  readonly #io: CliIo;
  warnings = 0;
  /** Sessions a warning named (listing skipped them as corrupt, or the command did). */
  readonly sessionsWarnedAbout = new Set<string>();

  constructor(io: CliIo) {
    this.#io = io;
  }

  #print(level: string, message: string, details?: LogDetails): void {
    const sessionId = details?.sessionId;
    const suffix =
      typeof sessionId === 'string' && !message.includes(sessionId)
        ? ` (session ${JSON.stringify(sessionId)})`
        : '';
    const clear = this.#io.stderr.isTTY === true ? '\r\x1b[2K' : '';
    this.#io.stderr.write(
      `${clear}buddy: ${level}: ${message.replace(/\s*\n\s*/g, ' ')}${suffix}\n`,
    );
  }

  debug(): void {}

  warn(message: string, details?: LogDetails): void {
    this.warnings++;
    if (typeof details?.sessionId === 'string') this.sessionsWarnedAbout.add(details.sessionId);
    this.#print('warning', message, details);
  }

  error(message: string, details?: LogDetails): void {
    this.warnings++;
    this.#print('error', message, details);
  }
}

/** Options every command that opens a URL takes: the encryption keys. */
export const KEY_OPTIONS = {
  'key-file': { type: 'string' },
  'previous-key-file': { type: 'string', multiple: true },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

/** Help lines of `KEY_OPTIONS`. */
export const KEY_HELP = `Encryption (data written with encryptedStorage / encryptedMemoryDb):
  --key-file <path>            the key: base64 of 32 bytes (default: $BUDDY_ENCRYPTION_KEY)
  --previous-key-file <path>   an older key, for reading only; repeatable
                               (also: $BUDDY_PREVIOUS_ENCRYPTION_KEYS, comma-separated)`;

/** A string option's value, or `undefined`. */
export function stringOption(values: OptionValues, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

/** A repeatable string option's values. */
export function stringsOption(values: OptionValues, name: string): string[] {
  const value = values[name];
  return Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
}
