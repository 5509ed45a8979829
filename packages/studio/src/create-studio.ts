/**
 * `createStudio`: Buddy Studio, a local web app and JSON API to look inside an agent's memory.
 *
 * Server: a Hono app (`studio.fetch`, usable from tests or mounted in another server) that
 * `listen()` serves with `@hono/node-server` (Node's `http` module; the global `Request` and
 * `Response` are left alone). The web UI is prebuilt into this package's `dist/ui`.
 *
 * Ownership of resources: the Studio never closes the `storage`, `memoryDb` or `agent` it is
 * given; `close()` stops its HTTP server and aborts chats still running.
 *
 * Sharp edges:
 * - The Studio reads and deletes every user's data: it is a developer / admin tool. It binds
 *   `127.0.0.1` by default; any other host needs `auth.token` (a bearer header, compared in
 *   constant time). There are no cookies and no CORS.
 * - Requests without `userId` are trusted, administrative access (the storage contract's rule);
 *   with `userId` they are checked against the session's owner (403 otherwise).
 */
import type { Server } from 'node:http';
import {
  type Agent,
  BuddyError,
  consoleLogger,
  describeValue,
  type Logger,
  type MemoryDb,
  type SessionStorage,
} from '@buddy/core';
import { createAdaptorServer } from '@hono/node-server';
import { guardApiRequest, isLoopbackHost } from './access-guard.ts';
import { createApiRoutes } from './api-routes.ts';
import { errorResponse } from './http-errors.ts';
import { UiAssets } from './ui-assets.ts';

/** Shortest accepted `auth.token`. */
export const MIN_TOKEN_LENGTH = 16;
/** Port `listen()` uses when none is given. */
export const DEFAULT_STUDIO_PORT = 4321;
/** Host `listen()` binds when none is given. */
export const DEFAULT_STUDIO_HOST = '127.0.0.1';

/** Options of `createStudio`. */
export interface StudioOptions {
  /** Where sessions live. Required. */
  storage: SessionStorage;
  /** The user memories; without it the memories panel is hidden and forgetting skips memories. */
  memoryDb?: MemoryDb;
  /** Enables chat. Its `storage` must be this `storage`, so that chats show in the timeline. */
  agent?: Agent;
  /**
   * Require `Authorization: Bearer <token>` on every API request (at least 16 characters).
   * Needed to listen on anything but loopback.
   */
  auth?: { token: string };
  /** Where unexpected errors are reported. `consoleLogger` by default. */
  logger?: Logger;
}

/** Options of `studio.listen`. */
export interface StudioListenOptions {
  /** Default 4321; 0 picks a free port. */
  port?: number;
  /** Default `'127.0.0.1'`. Anything but a loopback address needs `auth.token`. */
  host?: string;
}

/** Where a listening Studio answers. */
export interface StudioAddress {
  host: string;
  port: number;
  /** e.g. `http://127.0.0.1:4321/`. */
  url: string;
}

/** A Studio: an HTTP handler, a server around it, and its shutdown. */
export interface Studio {
  /** Answers one request (API under `/api`, the web UI elsewhere). */
  fetch(request: Request): Promise<Response>;
  /** Starts the HTTP server; resolves once it listens. */
  listen(options?: StudioListenOptions): Promise<StudioAddress>;
  /** Stops the server and aborts running chats. Idempotent. Never closes storage or agent. */
  close(): Promise<void>;
  /** The same as `close()`, for `await using studio = createStudio(...)`. */
  [Symbol.asyncDispose](): Promise<void>;
}

const OPTION_KEYS = new Set(['storage', 'memoryDb', 'agent', 'auth', 'logger']);

function invalid(message: string): BuddyError {
  return new BuddyError({ code: 'INVALID_ARGUMENT', message: `createStudio: ${message}` });
}

function hasMethods(value: unknown, methods: readonly string[]): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    methods.every((name) => typeof (value as Record<string, unknown>)[name] === 'function')
  );
}

function checkOptions(options: StudioOptions): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalid(`options must be an object, got ${describeValue(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) {
      throw invalid(`unknown option ${describeValue(key)} (known: ${[...OPTION_KEYS].join(', ')})`);
    }
  }
  const storageMethods = ['getSession', 'upsertSession', 'getRuns', 'listSessions'] as const;
  if (!hasMethods(options.storage, [...storageMethods, 'deleteSession', 'deleteUserData'])) {
    throw invalid(
      `option 'storage' must be a SessionStorage, got ${describeValue(options.storage)}`,
    );
  }
  if (
    options.memoryDb !== undefined &&
    !hasMethods(options.memoryDb, ['readMemories', 'deleteUserData'])
  ) {
    throw invalid(`option 'memoryDb' must be a MemoryDb, got ${describeValue(options.memoryDb)}`);
  }
  if (options.agent !== undefined) {
    if (!hasMethods(options.agent, ['stream'])) {
      throw invalid(`option 'agent' must be an Agent, got ${describeValue(options.agent)}`);
    }
    if (options.agent.storage !== options.storage) {
      throw invalid(
        "option 'agent' must use the Studio's storage (new Agent({ storage }) with the same instance), so that its chats appear in the timeline",
      );
    }
  }
  if (options.auth !== undefined) {
    const token = (options.auth as { token?: unknown } | null)?.token;
    if (typeof token !== 'string' || token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
      throw invalid(
        `option 'auth.token' must be a string of at least ${MIN_TOKEN_LENGTH} characters without spaces, got ${typeof token === 'string' ? `${token.length} characters` : describeValue(token)}`,
      );
    }
  }
  if (options.logger !== undefined && !hasMethods(options.logger, ['warn', 'error'])) {
    throw invalid(`option 'logger' must be a Logger, got ${describeValue(options.logger)}`);
  }
}

function formatUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;
}

/**
 * Creates a Studio over your storage (and memory db, and agent for chat).
 *
 * @example
 * const storage = new SqliteStorage({ dbFile: 'agent.db' });
 * const studio = createStudio({ storage, memoryDb: new SqliteMemoryDb({ dbFile: 'agent.db' }) });
 * const { url } = await studio.listen({ port: 4321 });
 * console.log(`Buddy Studio on ${url}`);
 */
export function createStudio(options: StudioOptions): Studio {
  checkOptions(options);
  const { storage, memoryDb, agent } = options;
  const token = options.auth?.token;
  const logger = options.logger ?? consoleLogger;
  const chats = new Set<() => void>();
  const api = createApiRoutes({
    storage,
    memoryDb,
    agent,
    logger,
    trackChat: (abort) => {
      chats.add(abort);
      return () => chats.delete(abort);
    },
  });
  const ui = new UiAssets();
  let server: Server | undefined;
  let closed = false;

  const fetch = async (request: Request): Promise<Response> => {
    if (closed) return errorResponse(503, 'STORAGE_CLOSED', 'This Studio was closed.');
    const url = new URL(request.url);
    if (url.pathname === '/api' || url.pathname.startsWith('/api/')) {
      const refusal = guardApiRequest(request, token);
      if (refusal !== undefined) return refusal;
      return api.fetch(request);
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return errorResponse(404, 'NOT_FOUND', `No route ${request.method} ${url.pathname}`);
    }
    return ui.serve(url.pathname, request.method);
  };

  const listen = async (listenOptions: StudioListenOptions = {}): Promise<StudioAddress> => {
    const { port = DEFAULT_STUDIO_PORT, host = DEFAULT_STUDIO_HOST } = listenOptions;
    for (const key of Object.keys(listenOptions)) {
      if (key !== 'port' && key !== 'host') {
        throw new BuddyError({
          code: 'INVALID_ARGUMENT',
          message: `Studio.listen: unknown option ${describeValue(key)} (known: port, host)`,
        });
      }
    }
    if (!Number.isInteger(port) || port < 0 || port > 65_535) {
      throw new BuddyError({
        code: 'INVALID_ARGUMENT',
        message: `Studio.listen: port must be an integer from 0 to 65535, got ${describeValue(port)}`,
      });
    }
    if (typeof host !== 'string' || host.trim() === '') {
      throw new BuddyError({
        code: 'INVALID_ARGUMENT',
        message: `Studio.listen: host must be a non-empty string, got ${describeValue(host)}`,
      });
    }
    if (!isLoopbackHost(host) && token === undefined) {
      throw new BuddyError({
        code: 'INVALID_ARGUMENT',
        message: `Studio.listen: host ${describeValue(host)} is not loopback; the Studio shows every user's data, so listening there needs createStudio({ auth: { token } })`,
      });
    }
    if (closed) {
      throw new BuddyError({
        code: 'STORAGE_CLOSED',
        message: 'Studio.listen: the Studio was closed',
      });
    }
    if (server !== undefined) {
      throw new BuddyError({ code: 'CONFLICT', message: 'Studio.listen: already listening' });
    }
    const created = createAdaptorServer({ fetch, overrideGlobalObjects: false }) as Server;
    server = created;
    await new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) => {
        server = undefined;
        reject(
          new BuddyError({
            code: 'INVALID_ARGUMENT',
            message: `Studio.listen: cannot listen on ${host}:${port} (${error.code ?? error.message})`,
            cause: error,
          }),
        );
      };
      created.once('error', onError);
      created.listen(port, host, () => {
        created.off('error', onError);
        resolve();
      });
    });
    const address = created.address();
    const boundPort = typeof address === 'object' && address !== null ? address.port : port;
    return { host, port: boundPort, url: formatUrl(host, boundPort) };
  };

  const close = async (): Promise<void> => {
    closed = true;
    for (const abort of [...chats]) abort();
    const running = server;
    server = undefined;
    if (running === undefined) return;
    await new Promise<void>((resolve) => {
      running.close(() => resolve());
      running.closeAllConnections();
    });
  };

  return { fetch, listen, close, [Symbol.asyncDispose]: close };
}
