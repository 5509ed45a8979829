/**
 * Test support: loads this folder's recorded Chat Completions responses and builds an
 * `OpenAIChat` over a fixture fetch. Not part of the published package.
 */
import {
  createFixtureFetch,
  type FixtureFetch,
  type FixtureResponse,
  type FixtureRoute,
  jsonResponse,
  loadChunksFixture,
  loadJsonFixture,
  type RecordedRequest,
  sseResponse,
} from '@buddy/testkit/fetch';
import { OpenAIChat, type OpenAIChatOptions } from '../openai-chat.ts';

/** A `chat.completion` body, from `<name>.json`. */
export function completionFixture(name: string): unknown {
  return loadJsonFixture(new URL(`./${name}.json`, import.meta.url));
}

/** The `chat.completion.chunk` events of `<name>.chunks.txt`. */
export function chunkFixture(name: string): unknown[] {
  return loadChunksFixture(new URL(`./${name}.chunks.txt`, import.meta.url));
}

/** Whether the recorded request asked for a stream. */
export function isStreamRequest(request: RecordedRequest): boolean {
  return (request.body as { stream?: unknown } | undefined)?.stream === true;
}

/** Answers `<name>.json` to `generate()` and `<name>.chunks.txt` as SSE to `stream()`. */
export function scenario(name: string): (request: RecordedRequest) => FixtureResponse {
  return (request) =>
    isStreamRequest(request)
      ? sseResponse(chunkFixture(name), { dialect: 'openai' })
      : jsonResponse(completionFixture(name));
}

/** An HTTP error with OpenAI's error body `openai-error-<name>.json` and a request id. */
export function errorResponse(status: number, name = String(status)): FixtureResponse {
  return jsonResponse(completionFixture(`openai-error-${name}`), {
    status,
    headers: { 'x-request-id': `req_test_${name}` },
  });
}

/** An `OpenAIChat` (key `sk-test`, no retries) whose requests go to a fixture fetch. */
export function modelOver(
  respond: FixtureRoute['respond'],
  options: OpenAIChatOptions = {},
): { model: OpenAIChat; fetch: FixtureFetch } {
  const fetch = createFixtureFetch({ match: 'POST /chat/completions', respond });
  const model = new OpenAIChat({ apiKey: 'sk-test', fetch, maxRetries: 0, ...options });
  return { model, fetch };
}
