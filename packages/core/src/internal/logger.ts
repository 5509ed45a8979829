/** Where Buddy reports problems it recovers from (post-answer failures, lease renewals). */
export interface Logger {
  debug(message: string, details?: Record<string, unknown>): void;
  warn(message: string, details?: Record<string, unknown>): void;
  error(message: string, details?: Record<string, unknown>): void;
}

/** Writes warnings and errors to `console.warn` / `console.error`; drops debug output. */
export const consoleLogger: Logger = {
  debug: () => {},
  // biome-ignore lint/suspicious/noConsole: the default logger's whole job is the console
  warn: (message, details) => console.warn(`[buddy] ${message}`, details ?? ''),
  // biome-ignore lint/suspicious/noConsole: the default logger's whole job is the console
  error: (message, details) => console.error(`[buddy] ${message}`, details ?? ''),
};

/** Drops everything. Handy in tests. */
export const silentLogger: Logger = { debug: () => {}, warn: () => {}, error: () => {} };
