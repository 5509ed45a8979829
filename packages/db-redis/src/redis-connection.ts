/**
 * The connection half shared by `RedisStorage` and `RedisMemoryDb`: option validation, who owns
 * the ioredis client (standalone, Sentinel or Cluster), Lua script registration, batches that
 * respect Cluster slots, and the translation of ioredis errors into `BuddyError`s.
 */
import { createHash } from 'node:crypto';
import { BuddyError, describeValue } from '@buddy/core';
import { storageClosedError } from '@buddy/core/adapter-utils';
import { type ChainableCommander, type Cluster, Redis } from 'ioredis';

/** The default server of an owned client. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** A Lua script run with `EVALSHA` (falling back to `EVAL` on `NOSCRIPT`). */
export interface LuaScript {
  readonly name: string;
  /** Registered on the client as `buddy_<name>_<sha prefix>`, so two versions never clash. */
  readonly command: string;
  readonly lua: string;
  /** How many of a call's leading values are keys; `'variable'`: every key given (`callScript`). */
  readonly numberOfKeys: number | 'variable';
}

/** Declares a script; the command name embeds its hash. */
export function luaScript(name: string, numberOfKeys: number | 'variable', lua: string): LuaScript {
  const sha = createHash('sha1').update(lua).digest('hex');
  return { name, command: `buddy_${name}_${sha.slice(0, 10)}`, lua, numberOfKeys };
}

type ScriptArgument = string | number | Buffer;
type ScriptCaller = (...args: ScriptArgument[]) => unknown;

/** A client this package works with: standalone / Sentinel `Redis`, or a `Cluster`. */
export type RedisClient = Redis | Cluster;

/** Something commands and scripts can be sent or queued on: a client or one of its pipelines. */
export type ScriptTarget = RedisClient | ChainableCommander;

/** One command of a batch: sends (or queues) itself on the target it is given. */
export type BatchCall = (target: ScriptTarget) => unknown;

/** The outcome of one command of a batch. */
export interface Settled {
  value: unknown;
  error: unknown;
}

/**
 * Calls a registered script. On a client it resolves to the reply; on a pipeline it queues the
 * call (ioredis sends `EVAL` the first time a socket sees a script, `EVALSHA` after that, and
 * retries with `EVAL` on `NOSCRIPT`).
 */
export function callScript(
  target: ScriptTarget,
  script: LuaScript,
  keys: readonly string[],
  args: readonly ScriptArgument[],
): Promise<unknown> {
  const caller = (target as unknown as Record<string, ScriptCaller>)[script.command];
  if (typeof caller !== 'function') {
    throw new BuddyError({
      code: 'INTERNAL',
      message: `Script ${script.command} is not registered on this client`,
    });
  }
  if (script.numberOfKeys === 'variable') {
    return caller.call(target, keys.length, ...keys, ...args) as Promise<unknown>;
  }
  return caller.call(target, ...keys, ...args) as Promise<unknown>;
}

/** Options every Redis-backed class accepts. */
export interface RedisConnectionOptions {
  /** `redis://` or `rediss://` URL of the server. Default `redis://127.0.0.1:6379`. */
  url?: string;
  /**
   * A client you created and own: a standalone or Sentinel `Redis`, or a `Cluster`. Never closed
   * by `close()`.
   */
  client?: RedisClient;
  /** Key prefix. */
  prefix?: string;
}

function invalid(message: string): BuddyError {
  return new BuddyError({ code: 'INVALID_ARGUMENT', message });
}

/**
 * Validates the constructor options shared by both classes, eagerly, naming the bad option.
 * `allowed` lists every key the class accepts (unknown keys are rejected: a typo such as
 * `ttlSecond` must not silently do nothing).
 */
export function validateConnectionOptions(
  who: string,
  options: unknown,
  allowed: readonly string[],
): asserts options is RedisConnectionOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalid(`${who}: options must be an object, got ${describeValue(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) {
      throw invalid(
        `${who}: unknown option ${describeValue(key)} (allowed: ${allowed.join(', ')})`,
      );
    }
  }
  const { url, client, prefix } = options as Record<string, unknown>;
  if (url !== undefined && client !== undefined) {
    throw invalid(`${who}: pass either option 'url' or option 'client', not both`);
  }
  if (url !== undefined) {
    if (typeof url !== 'string' || url.trim() === '') {
      throw invalid(`${who}: option 'url' must be a non-empty string, got ${describeValue(url)}`);
    }
    let protocol: string | undefined;
    try {
      protocol = new URL(url).protocol;
    } catch {
      protocol = undefined;
    }
    if (protocol !== 'redis:' && protocol !== 'rediss:') {
      throw invalid(
        `${who}: option 'url' must be a redis:// or rediss:// URL, got ${describeValue(url)}`,
      );
    }
  }
  if (client !== undefined) {
    const candidate = client as Record<string, unknown> | null;
    if (
      typeof candidate !== 'object' ||
      candidate === null ||
      typeof candidate.defineCommand !== 'function' ||
      typeof candidate.pipeline !== 'function'
    ) {
      throw invalid(`${who}: option 'client' must be an ioredis Redis or Cluster client`);
    }
  }
  if (prefix !== undefined) {
    if (typeof prefix !== 'string' || prefix === '') {
      throw invalid(
        `${who}: option 'prefix' must be a non-empty string, got ${describeValue(prefix)}`,
      );
    }
    if (/[{}]/.test(prefix)) {
      throw invalid(
        `${who}: option 'prefix' must not contain '{' or '}' (they would break the keys' hash tags), got ${describeValue(prefix)}`,
      );
    }
  }
}

/** Command timeout of a client this package creates, and the write budget of one without any. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 15_000;

/**
 * Settings of a client this package creates. An unreachable server must fail a call within a
 * few hundred milliseconds (one reconnect attempt), not queue it for minutes.
 */
const OWNED_CLIENT_OPTIONS = {
  lazyConnect: true,
  maxRetriesPerRequest: 1,
  connectTimeout: 5_000,
  commandTimeout: DEFAULT_COMMAND_TIMEOUT_MS,
  retryStrategy: (attempt: number) => Math.min(attempt * 100, 2_000),
} as const;

/**
 * Owns (or borrows) one ioredis client for one storage object and translates its errors.
 */
export class RedisConnection {
  readonly client: RedisClient;
  /** True when the client was created here: only then does `close()` disconnect it. */
  readonly isOwned: boolean;
  /** True for a Cluster client: batches are then sent command by command (one slot each). */
  readonly isCluster: boolean;
  /**
   * How long a command may wait for its reply: the client's `commandTimeout`, or
   * `DEFAULT_COMMAND_TIMEOUT_MS` when it has none (writes then time out here).
   */
  readonly commandTimeoutMs: number;
  /**
   * True when the client has a `commandTimeout` of its own (every client this package creates
   * does): ioredis then rejects a command whose reply takes longer than `commandTimeoutMs`, and a
   * call needs no timer of its own.
   */
  readonly timesOutCommands: boolean;
  readonly #who: string;
  #closed = false;
  #closing: Promise<void> | undefined;
  /** Counts `ready` events, so a failed command can tell whether it could have been written. */
  #readyEvents = 0;

  constructor(who: string, options: RedisConnectionOptions, scripts: readonly LuaScript[]) {
    this.#who = who;
    if (options.client !== undefined) {
      this.client = options.client;
      this.isOwned = false;
    } else {
      this.client = new Redis(options.url ?? DEFAULT_REDIS_URL, OWNED_CLIENT_OPTIONS);
      this.isOwned = true;
      // Connection errors surface on the calls that hit them (as STORAGE_UNAVAILABLE); without a
      // listener ioredis would also print every reconnect failure to the console.
      this.client.on('error', () => {});
    }
    this.isCluster = (this.client as { isCluster?: boolean }).isCluster === true;
    const timeout = this.isCluster
      ? (this.client as Cluster).options.redisOptions?.commandTimeout
      : (this.client as Redis).options.commandTimeout;
    this.timesOutCommands = typeof timeout === 'number' && timeout > 0;
    this.commandTimeoutMs = this.timesOutCommands
      ? (timeout as number)
      : DEFAULT_COMMAND_TIMEOUT_MS;
    this.client.on('ready', () => {
      this.#readyEvents++;
    });
    for (const script of scripts) {
      const existing = (this.client as unknown as Record<string, unknown>)[script.command];
      if (typeof existing !== 'function') {
        this.client.defineCommand(
          script.command,
          // Without `numberOfKeys` ioredis takes the key count as the call's first value.
          script.numberOfKeys === 'variable'
            ? { lua: script.lua }
            : { lua: script.lua, numberOfKeys: script.numberOfKeys },
        );
      }
    }
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  /** Rejects calls after `close()` with `STORAGE_CLOSED`, like every other storage. */
  assertOpen(): void {
    if (this.#closed) throw storageClosedError(this.#who);
  }

  /**
   * A mark taken right before a write is sent. `neverSent(mark)` is true when the client was not
   * connected then and has not connected since: the command waited in the offline queue and was
   * rejected there, so the server never saw it.
   */
  sendMark(): { ready: boolean; readyEvents: number } {
    return { ready: this.client.status === 'ready', readyEvents: this.#readyEvents };
  }

  neverSent(mark: { ready: boolean; readyEvents: number }): boolean {
    return !mark.ready && !this.isCluster && this.#readyEvents === mark.readyEvents;
  }

  /** Runs one operation, translating whatever ioredis throws. */
  async run<T>(
    operation: string,
    work: (client: RedisClient) => Promise<T>,
    sessionId?: string,
  ): Promise<T> {
    this.assertOpen();
    try {
      return await work(this.client);
    } catch (error) {
      throw this.translate(error, operation, sessionId);
    }
  }

  /** Translates an error of this connection (see `toRedisStorageError`). */
  translate(error: unknown, operation: string, sessionId?: string): BuddyError {
    return toRedisStorageError(error, { who: this.#who, operation, sessionId });
  }

  /**
   * Sends commands that may live in different slots, in one round trip: a pipeline on a
   * standalone server, one command per slot in parallel on a Cluster. Each reply or error comes
   * back in order; nothing is thrown for a single command's error.
   */
  async batch(
    calls: readonly BatchCall[],
    operation: string,
    sessionId?: string,
  ): Promise<Settled[]> {
    this.assertOpen();
    if (calls.length === 0) return [];
    if (!this.isCluster) {
      const pipeline = this.client.pipeline();
      for (const call of calls) void call(pipeline);
      return this.execSettled(pipeline, operation, sessionId);
    }
    return Promise.all(
      calls.map(async (call) => {
        try {
          return { value: await (call(this.client) as Promise<unknown>), error: undefined };
        } catch (error) {
          return { value: undefined, error };
        }
      }),
    );
  }

  /** `batch`, then every reply in order, or the first error (translated). */
  async batchValues(
    calls: readonly BatchCall[],
    operation: string,
    sessionId?: string,
  ): Promise<unknown[]> {
    const results = await this.batch(calls, operation, sessionId);
    return results.map((result) => {
      if (result.error !== undefined) throw this.translate(result.error, operation, sessionId);
      return result.value;
    });
  }

  /** Executes a pipeline and returns each reply or error, so callers can judge them one by one. */
  async execSettled(
    pipeline: ChainableCommander,
    operation: string,
    sessionId?: string,
  ): Promise<Settled[]> {
    this.assertOpen();
    let replies: [error: Error | null, result: unknown][] | null;
    try {
      replies = await pipeline.exec();
    } catch (error) {
      throw this.translate(error, operation, sessionId);
    }
    if (replies === null) {
      throw this.translate(new Error('the pipeline was discarded'), operation, sessionId);
    }
    return replies.map(([error, value]) => ({ value, error: error ?? undefined }));
  }

  /** Idempotent. Disconnects an owned client (after pending replies); never a borrowed one. */
  close(): Promise<void> {
    this.#closed = true;
    if (!this.isOwned) return Promise.resolve();
    this.#closing ??= (async () => {
      const client = this.client as Redis;
      if (client.status === 'ready') {
        try {
          await client.quit();
          return;
        } catch {
          // fall through: the connection is already gone
        }
      }
      client.disconnect();
    })();
    return this.#closing;
  }
}

const UNAVAILABLE_REPLIES = /^(LOADING|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|READONLY|OOM|MISCONF)\b/;

/**
 * Translates an ioredis error into a `BuddyError`:
 * - `BUSY` (a long script blocks the server) → `STORAGE_BUSY`, retryable;
 * - a key of the wrong type or a non-numeric counter inside a session → `STORAGE_CORRUPT`
 *   naming the session;
 * - server states that pass (`LOADING`, `OOM`, failover) and every connection-level failure
 *   (refused, closed, timed out, retries exhausted) → `STORAGE_UNAVAILABLE`, retryable;
 * - any other server reply → `STORAGE_UNAVAILABLE`, not retryable (the same call fails again).
 */
export function toRedisStorageError(
  error: unknown,
  context: { who: string; operation: string; sessionId?: string | undefined },
): BuddyError {
  if (BuddyError.is(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  const name = error instanceof Error ? error.name : '';
  const details = {
    backend: 'redis',
    operation: context.operation,
    ...(context.sessionId === undefined ? {} : { sessionId: context.sessionId }),
  };
  const text = `${context.who}.${context.operation} failed: ${message}`;
  const isReply = name === 'ReplyError';
  if (isReply && /\bBUSY\b/.test(message) && !/BUSYKEY/.test(message)) {
    return new BuddyError({ code: 'STORAGE_BUSY', message: text, cause: error, details });
  }
  if (
    isReply &&
    context.sessionId !== undefined &&
    /WRONGTYPE|not an integer|not a valid float/.test(message)
  ) {
    return new BuddyError({
      code: 'STORAGE_CORRUPT',
      message: `Session ${describeValue(context.sessionId)} is corrupt: ${message}`,
      cause: error,
      details,
    });
  }
  if (isReply) {
    const passing = UNAVAILABLE_REPLIES.test(message.replace(/^ERR Error running script.*?: /, ''));
    return new BuddyError({
      code: 'STORAGE_UNAVAILABLE',
      message: text,
      cause: error,
      retryable: passing,
      details,
    });
  }
  return new BuddyError({
    code: 'STORAGE_UNAVAILABLE',
    message: text,
    cause: error,
    retryable: true,
    details,
  });
}
