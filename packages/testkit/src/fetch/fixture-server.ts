/**
 * `startFixtureServer(routes)`: the fixtures of `createFixtureFetch` served over real HTTP on a
 * loopback port, for tests that must go through the SDK's own `fetch` (the `baseURL` option, or
 * `OPENAI_BASE_URL` / `ANTHROPIC_BASE_URL` in the environment).
 *
 * It listens on `127.0.0.1` only, on a port the OS picks, and serves until `close()`. A route that
 * answers with `networkError` destroys the socket, which the client sees as a connection error.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createFixtureFetch, type FixtureRoute, type RecordedRequest } from './fixture-fetch.ts';

/** A loopback HTTP server serving recorded answers. */
export interface FixtureServer {
  /** `http://127.0.0.1:<port>`, without a trailing slash. */
  readonly url: string;
  /** Every request received, in order. */
  readonly requests: RecordedRequest[];
  readonly lastRequest: RecordedRequest | undefined;
  /** Stops listening and drops open connections. Idempotent. */
  close(): Promise<void>;
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function writeBody(
  body: ReadableStream<Uint8Array>,
  response: ServerResponse,
): Promise<void> {
  const reader = body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      response.write(value);
    }
    response.end();
  } catch {
    // The fixture body errored (a stalled stream whose client went away): drop the connection.
    response.destroy();
  }
}

/**
 * Starts a loopback HTTP server answering from fixtures.
 *
 * @example
 * const server = await startFixtureServer({ match: '/v1/messages', respond: jsonResponse(message) });
 * process.env.ANTHROPIC_BASE_URL = server.url;
 * // ... new Claude() now talks to the server
 * await server.close();
 */
export async function startFixtureServer(
  routes: FixtureRoute | readonly FixtureRoute[],
): Promise<FixtureServer> {
  const fetch = createFixtureFetch(routes);
  let origin = '';
  const server = createServer((request, response) => {
    const controller = new AbortController();
    response.on('close', () => {
      if (!response.writableFinished) controller.abort();
    });
    void (async () => {
      const body = await readBody(request);
      const headers = new Headers();
      for (const [key, value] of Object.entries(request.headers)) {
        if (typeof value === 'string') headers.set(key, value);
        else if (Array.isArray(value)) for (const item of value) headers.append(key, item);
      }
      let answer: Response;
      try {
        answer = await fetch(`${origin}${request.url ?? '/'}`, {
          method: request.method ?? 'GET',
          headers,
          signal: controller.signal,
          ...(body === '' ? {} : { body }),
        });
      } catch {
        response.destroy();
        return;
      }
      const outgoing: Record<string, string> = {};
      answer.headers.forEach((value, key) => {
        outgoing[key] = value;
      });
      response.writeHead(answer.status, outgoing);
      if (answer.body === null) response.end();
      else await writeBody(answer.body, response);
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let closed: Promise<void> | undefined;
  return {
    url: origin,
    requests: fetch.requests,
    get lastRequest() {
      return fetch.lastRequest;
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
