/**
 * A small HTTP client for the API tests: real requests over loopback, with Node's `http` module
 * where the test needs control over headers fetch() will not send (Host) or over the socket
 * (disconnecting mid-stream).
 */
import { request as httpRequest } from 'node:http';

export interface Reply {
  status: number;
  headers: Headers;
  /** The parsed JSON body (`undefined` when the body is not JSON). */
  json: unknown;
  text: string;
}

/** Every `set-cookie` header seen by `call`: the Studio must never set one. */
export const cookiesSeen: string[] = [];

export async function call(
  base: string,
  method: string,
  path: string,
  options: { body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const hasBody = options.body !== undefined || options.rawBody !== undefined;
  const response = await fetch(new URL(path, base), {
    method,
    headers: {
      ...(hasBody ? { 'content-type': 'application/json' } : {}),
      ...options.headers,
    },
    ...(hasBody ? { body: options.rawBody ?? JSON.stringify(options.body) } : {}),
  });
  const cookie = response.headers.get('set-cookie');
  if (cookie !== null) cookiesSeen.push(cookie);
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, json, text };
}

/** One parsed Server-Sent Event. */
export interface ServerSentEvent {
  event: string;
  data: { type: string; [key: string]: unknown };
}

/** Splits an SSE body into events (`event:` and `data:` lines, blank-line separated). */
export function parseServerSentEvents(text: string): ServerSentEvent[] {
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const lines = block.split('\n');
      const event = lines.find((line) => line.startsWith('event: '))?.slice(7) ?? '';
      const data = lines
        .filter((line) => line.startsWith('data: '))
        .map((line) => line.slice(6))
        .join('\n');
      return { event, data: JSON.parse(data) as ServerSentEvent['data'] };
    });
}

/** A raw request through `node:http` (any Host header); resolves with status and body. */
export function rawRequest(
  port: number,
  options: { method: string; path: string; headers?: Record<string, string>; body?: string },
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: options.method,
        path: options.path,
        headers: options.headers,
      },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          body += chunk;
        });
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, body, headers: response.headers }),
        );
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}

/**
 * Starts a chat over `node:http`, reads the stream until `until` appears in it, then destroys the
 * socket (the client goes away mid-answer). Resolves with what was read.
 */
export function chatThenDisconnect(
  port: number,
  path: string,
  body: unknown,
  until: string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = '';
    const request = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path,
        headers: { 'content-type': 'application/json' },
      },
      (response) => {
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          received += chunk;
          if (received.includes(until)) {
            request.destroy();
            resolve(received);
          }
        });
        response.on('end', () => reject(new Error(`stream ended before ${until}: ${received}`)));
      },
    );
    request.on('error', (error) => {
      if (!received.includes(until)) reject(error);
    });
    request.end(JSON.stringify(body));
  });
}
