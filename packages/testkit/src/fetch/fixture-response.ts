/**
 * What a fixture route answers, and the builders for the providers' wire formats.
 *
 * SSE bodies follow the two dialects the official SDKs parse:
 * - `openai`: `data: <json>\n\n` per chunk, then `data: [DONE]\n\n`;
 * - `anthropic`: `event: <chunk.type>\ndata: <json>\n\n` per event. The Anthropic SDK dispatches
 *   on the `event:` name and skips frames without one, so the name is required.
 */

/** The dialect of a server-sent-events body. */
export type SseDialect = 'openai' | 'anthropic';

/** One answer of a fixture route. Build it with `jsonResponse`, `sseResponse` or `textResponse`. */
export interface FixtureResponse {
  /** HTTP status. Default 200. */
  status?: number;
  /** Extra response headers (e.g. `x-request-id`). `content-type` is set from the body kind. */
  headers?: Record<string, string>;
  /** The body: JSON (serialized), SSE events, or raw text. No body when absent. */
  body?:
    | { kind: 'json'; value: unknown }
    | { kind: 'sse'; events: readonly unknown[]; dialect: SseDialect }
    | { kind: 'text'; text: string; contentType?: string };
  /** Wait this long before answering. Aborting the request rejects the wait, like a real fetch. */
  delayMs?: number;
  /**
   * SSE only: after this many events, keep the body open until the request is aborted (then the
   * body errors with an `AbortError`, as a real fetch body does). Models a stalled stream.
   */
  stallAfter?: number;
  /** Reject the fetch with this error instead of answering: a network failure. */
  networkError?: Error;
}

/** Extra response settings for the builders. */
export interface FixtureResponseInit {
  status?: number;
  headers?: Record<string, string>;
  delayMs?: number;
}

function withInit(
  response: FixtureResponse,
  init: FixtureResponseInit | undefined,
): FixtureResponse {
  if (init?.status !== undefined) response.status = init.status;
  if (init?.headers !== undefined) response.headers = init.headers;
  if (init?.delayMs !== undefined) response.delayMs = init.delayMs;
  return response;
}

/**
 * A JSON body (a provider's `chat.completion` / `message`, or an error body with a status).
 *
 * @example
 * jsonResponse({ error: { message: 'Incorrect API key' } }, { status: 401 })
 */
export function jsonResponse(value: unknown, init?: FixtureResponseInit): FixtureResponse {
  return withInit({ body: { kind: 'json', value } }, init);
}

/**
 * A server-sent-events body in the given dialect.
 *
 * @example
 * sseResponse(loadChunks(new URL('./__fixtures__/openai-text.chunks.txt', import.meta.url)), {
 *   dialect: 'openai',
 * })
 */
export function sseResponse(
  events: readonly unknown[],
  options: FixtureResponseInit & { dialect: SseDialect; stallAfter?: number },
): FixtureResponse {
  const response = withInit({ body: { kind: 'sse', events, dialect: options.dialect } }, options);
  if (options.stallAfter !== undefined) response.stallAfter = options.stallAfter;
  return response;
}

/** A raw text body, e.g. a malformed JSON body or an HTML error page from a proxy. */
export function textResponse(
  text: string,
  init?: FixtureResponseInit & { contentType?: string },
): FixtureResponse {
  const body: FixtureResponse['body'] = { kind: 'text', text };
  if (init?.contentType !== undefined) body.contentType = init.contentType;
  return withInit({ body }, init);
}

/** Formats one SSE frame of a dialect. */
export function formatSseEvent(event: unknown, dialect: SseDialect): string {
  const data = JSON.stringify(event);
  if (dialect === 'openai') return `data: ${data}\n\n`;
  const name = (event as { type?: unknown } | null)?.type;
  if (typeof name !== 'string') {
    throw new TypeError(
      `anthropic SSE events need a string "type" (it becomes the event name), got ${data}`,
    );
  }
  return `event: ${name}\ndata: ${data}\n\n`;
}

/** The frame that closes a stream of a dialect (`data: [DONE]` for OpenAI), or `''`. */
export function sseTerminator(dialect: SseDialect): string {
  return dialect === 'openai' ? 'data: [DONE]\n\n' : '';
}
