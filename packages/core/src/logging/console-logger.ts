/**
 * The default logger: one line per problem on stderr (`[buddy] <message> (sessionId=…)`), the
 * stack of the underlying error only at level `debug`. `BUDDY_LOG_LEVEL` (`debug`, `warn`,
 * `error`, `silent`) sets the level of the default `consoleLogger`.
 */
import { describeValue } from '../errors/describe-value.ts';
import type { LogDetails, Logger } from '../spec/logger.ts';

/** From most to least talkative. */
export type LogLevel = 'debug' | 'warn' | 'error' | 'silent';

const LEVELS: readonly LogLevel[] = ['debug', 'warn', 'error', 'silent'];

/** Options of `createConsoleLogger`. */
export interface ConsoleLoggerOptions {
  /** The lowest level printed. Default `'warn'`. */
  level?: LogLevel;
}

function formatDetails(details: LogDetails | undefined): string {
  if (details === undefined) return '';
  const parts: string[] = [];
  for (const [key, value] of Object.entries(details)) {
    if (key === 'error' || value === undefined) continue;
    parts.push(`${key}=${typeof value === 'string' ? value : describeValue(value)}`);
  }
  return parts.length === 0 ? '' : ` (${parts.join(', ')})`;
}

function stackOf(details: LogDetails | undefined): string | undefined {
  const error = details?.error;
  if (!(error instanceof Error)) return undefined;
  let text = error.stack ?? String(error);
  let cause: unknown = error.cause;
  for (let depth = 0; cause instanceof Error && depth < 5; depth++) {
    text += `\nCaused by: ${cause.stack ?? String(cause)}`;
    cause = cause.cause;
  }
  return text;
}

/**
 * A logger writing to `console.warn` / `console.error`, one line per message.
 *
 * @example
 * new Agent({ model, logger: createConsoleLogger({ level: 'debug' }) });
 */
export function createConsoleLogger(options: ConsoleLoggerOptions = {}): Logger {
  const level = options.level ?? 'warn';
  const rank = LEVELS.indexOf(level);
  const enabled = (at: LogLevel) => rank <= LEVELS.indexOf(at);
  const write = (at: 'debug' | 'warn' | 'error', message: string, details?: LogDetails) => {
    if (!enabled(at)) return;
    const line = `[buddy] ${message}${formatDetails(details)}`;
    const stack = level === 'debug' ? stackOf(details) : undefined;
    const text = stack === undefined ? line : `${line}\n${stack}`;
    // biome-ignore lint/suspicious/noConsole: the default logger's whole job is the console
    if (at === 'error') console.error(text);
    // biome-ignore lint/suspicious/noConsole: the default logger's whole job is the console
    else console.warn(text);
  };
  return {
    debug: (message, details) => write('debug', message, details),
    warn: (message, details) => write('warn', message, details),
    error: (message, details) => write('error', message, details),
  };
}

function levelFromEnvironment(): LogLevel {
  const value = typeof process === 'undefined' ? undefined : process.env.BUDDY_LOG_LEVEL;
  return LEVELS.includes(value as LogLevel) ? (value as LogLevel) : 'warn';
}

/** The default logger: warnings and errors, one line each (`BUDDY_LOG_LEVEL` changes the level). */
export const consoleLogger: Logger = createConsoleLogger({ level: levelFromEnvironment() });

/** Drops everything. Handy in tests. */
export const silentLogger: Logger = { debug: () => {}, warn: () => {}, error: () => {} };
