/**
 * Test support: loads this folder's recorded Messages API responses and builds a `Claude` over a
 * fixture fetch. Not part of the published package.
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
import { Claude, type ClaudeOptions } from '../claude.ts';

/** A `message` body (or an error body), from `<name>.json`. */
export function messageFixture(name: string): unknown {
  return loadJsonFixture(new URL(`./${name}.json`, import.meta.url));
}

/** The stream events of `<name>.chunks.txt`. */
export function eventFixture(name: string): unknown[] {
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
      ? sseResponse(eventFixture(name), { dialect: 'anthropic' })
      : jsonResponse(messageFixture(name));
}

/** An HTTP error with Anthropic's error body `anthropic-error-<name>.json` and a request id. */
export function errorResponse(status: number, name = String(status)): FixtureResponse {
  return jsonResponse(messageFixture(`anthropic-error-${name}`), {
    status,
    headers: { 'request-id': `req_test_${name}` },
  });
}

/** A `Claude` (key `sk-ant-test`, no retries) whose requests go to a fixture fetch. */
export function modelOver(
  respond: FixtureRoute['respond'],
  options: ClaudeOptions = {},
): { model: Claude; fetch: FixtureFetch } {
  const fetch = createFixtureFetch({ match: 'POST /v1/messages', respond });
  const model = new Claude({ apiKey: 'sk-ant-test', fetch, maxRetries: 0, ...options });
  return { model, fetch };
}
