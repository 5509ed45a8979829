/**
 * `createFixtureFetch(routes)`: a `fetch` that answers from fixtures and records every request.
 *
 * Both official SDKs accept it (`new OpenAI({ fetch, maxRetries: 0 })`,
 * `new Anthropic({ fetch, maxRetries: 0 })`), so adapters are tested offline against the
 * providers' real wire formats without patching globals. It behaves like a real fetch where the
 * SDKs can tell: an aborted signal rejects with an `AbortError`, and aborting a stalled SSE body
 * errors the body stream. Set `maxRetries: 0` on the SDK so 429/5xx fixtures are not retried.
 */
import {
  type FixtureResponse,
  formatSseEvent,
  type SseDialect,
  sseTerminator,
} from './fixture-response.ts';

/** A request as the fixture fetch saw it. */
export interface RecordedRequest {
  method: string;
  url: string;
  /** The URL's path, e.g. `/v1/chat/completions`. */
  path: string;
  /** Header names lowercased. */
  headers: Record<string, string>;
  /** The parsed JSON body, the raw text when it is not JSON, or `undefined` without a body. */
  body: unknown;
}

/** Computes the answer to one request; `index` counts the requests this route matched, from 0. */
export type FixtureResponder = (
  request: RecordedRequest,
  index: number,
) => FixtureResponse | Promise<FixtureResponse>;

/** One recorded answer the fixture fetch serves. */
export interface FixtureRoute {
  /**
   * Which requests this route answers: `'POST /v1/messages'` (method and path suffix), a path
   * suffix (`'/chat/completions'`), or a predicate. Every request when absent.
   */
  match?: string | ((request: RecordedRequest) => boolean);
  /**
   * The answer: one response for every matching request, a list answered in order (one entry per
   * request; running out is an error), or a function.
   */
  respond: FixtureResponse | readonly FixtureResponse[] | FixtureResponder;
}

/** A `fetch` with the requests it received. */
export interface FixtureFetch {
  (input: string | URL | Request, init?: RequestInit): Promise<Response>;
  /** Every request received, in order (matched or not). */
  readonly requests: RecordedRequest[];
  /** The last request received. */
  readonly lastRequest: RecordedRequest | undefined;
}

function abortError(): DOMException {
  return new DOMException('This operation was aborted', 'AbortError');
}

function matches(route: FixtureRoute, request: RecordedRequest): boolean {
  const { match } = route;
  if (match === undefined) return true;
  if (typeof match === 'function') return match(request);
  const space = match.indexOf(' ');
  if (space > 0) {
    const method = match.slice(0, space).toUpperCase();
    return request.method === method && request.path.endsWith(match.slice(space + 1));
  }
  return request.path.endsWith(match);
}

function describeRoute(route: FixtureRoute, position: number): string {
  if (typeof route.match === 'string') return `'${route.match}'`;
  return `#${position + 1}`;
}

function parseBody(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(abortError());
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError());
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function sseBody(
  events: readonly unknown[],
  dialect: SseDialect,
  stallAfter: number | undefined,
  signal: AbortSignal,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const sent = stallAfter === undefined ? events : events.slice(0, stallAfter);
  return new ReadableStream<Uint8Array>({
    start(controller) {
      // One enqueue per frame, so the SDKs' decoders see the frames arrive separately.
      for (const event of sent) controller.enqueue(encoder.encode(formatSseEvent(event, dialect)));
      if (stallAfter === undefined) {
        const end = sseTerminator(dialect);
        if (end !== '') controller.enqueue(encoder.encode(end));
        controller.close();
        return;
      }
      if (signal.aborted) {
        controller.error(abortError());
        return;
      }
      signal.addEventListener('abort', () => controller.error(abortError()), { once: true });
    },
  });
}

async function toResponse(fixture: FixtureResponse, signal: AbortSignal): Promise<Response> {
  if (fixture.delayMs !== undefined && fixture.delayMs > 0) await sleep(fixture.delayMs, signal);
  if (signal.aborted) throw abortError();
  if (fixture.networkError !== undefined) throw fixture.networkError;
  const headers = new Headers(fixture.headers);
  const status = fixture.status ?? 200;
  const { body } = fixture;
  let payload: ConstructorParameters<typeof Response>[0] = null;
  if (body?.kind === 'json') {
    payload = JSON.stringify(body.value);
    if (!headers.has('content-type')) headers.set('content-type', 'application/json');
  } else if (body?.kind === 'sse') {
    payload = sseBody(body.events, body.dialect, fixture.stallAfter, signal);
    if (!headers.has('content-type')) headers.set('content-type', 'text/event-stream');
  } else if (body?.kind === 'text') {
    payload = body.text;
    if (!headers.has('content-type')) headers.set('content-type', body.contentType ?? 'text/plain');
  }
  return new Response(payload, { status, headers });
}

/**
 * Creates a `fetch` that answers from fixtures.
 *
 * @example
 * const fetch = createFixtureFetch({
 *   match: 'POST /chat/completions',
 *   respond: [jsonResponse(toolCallCompletion), jsonResponse(textCompletion)],
 * });
 * const model = new OpenAIChat({ apiKey: 'test', fetch, maxRetries: 0 });
 * await agent.run('Add milk');
 * expect(fetch.requests[1].body).toMatchObject({ messages: [..., { role: 'tool' }] });
 */
export function createFixtureFetch(routes: FixtureRoute | readonly FixtureRoute[]): FixtureFetch {
  const list: readonly FixtureRoute[] = Array.isArray(routes)
    ? (routes as readonly FixtureRoute[])
    : [routes as FixtureRoute];
  const counts = new Map<FixtureRoute, number>();
  const requests: RecordedRequest[] = [];

  const fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    const headers: Record<string, string> = {};
    request.headers.forEach((value, key) => {
      headers[key] = value;
    });
    const recorded: RecordedRequest = {
      method: request.method,
      url: request.url,
      path: url.pathname,
      headers,
      body: parseBody(await request.text()),
    };
    requests.push(recorded);
    const signal = request.signal;
    if (signal.aborted) throw abortError();

    const position = list.findIndex((route) => matches(route, recorded));
    const route = list[position];
    if (route === undefined) {
      throw new Error(
        `createFixtureFetch: no route matches ${recorded.method} ${recorded.url} (routes: ${list
          .map(describeRoute)
          .join(', ')})`,
      );
    }
    const index = counts.get(route) ?? 0;
    counts.set(route, index + 1);
    const { respond } = route;
    let fixture: FixtureResponse;
    if (typeof respond === 'function') {
      fixture = await respond(recorded, index);
    } else if (Array.isArray(respond)) {
      const answers = respond as readonly FixtureResponse[];
      const next = answers[index];
      if (next === undefined) {
        throw new Error(
          `createFixtureFetch: route ${describeRoute(route, position)} has no response left for its request #${index + 1} (${answers.length} given)`,
        );
      }
      fixture = next;
    } else {
      fixture = respond as FixtureResponse;
    }
    return toResponse(fixture, signal);
  };

  Object.defineProperty(fetch, 'requests', { value: requests, enumerable: true });
  Object.defineProperty(fetch, 'lastRequest', { get: () => requests.at(-1), enumerable: true });
  return fetch as FixtureFetch;
}
