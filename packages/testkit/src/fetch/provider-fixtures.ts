/**
 * `createProviderFixtures(options)`: one model adapter's recorded responses in its
 * `src/__fixtures__/` folder, and the models, fetches and loopback servers its tests build over
 * them, so that every adapter's tests load and serve fixtures the same way.
 *
 * File names follow the AI SDK's convention: `<provider>-<scenario>.json` (the non-streaming
 * body), `<provider>-<scenario>.chunks.txt` (the stream events, one JSON per line) and
 * `<provider>-error-<name>.json` (an error body).
 */
import type { Model, Usage } from '@buddy/core';
import type { ModelScenario } from '../model/model-adapter-contract.ts';
import type {
  FixtureFetch,
  FixtureResponder,
  FixtureRoute,
  RecordedRequest,
} from './fixture-fetch.ts';
import { createFixtureFetch } from './fixture-fetch.ts';
import { loadChunksFixture, loadJsonFixture } from './fixture-files.ts';
import {
  type FixtureResponse,
  jsonResponse,
  type SseDialect,
  sseResponse,
} from './fixture-response.ts';
import { type FixtureServer, startFixtureServer } from './fixture-server.ts';

/** Whether a recorded request asked for a stream (`"stream": true` in its JSON body). */
export function isStreamRequest(request: RecordedRequest): boolean {
  return (request.body as { stream?: unknown } | undefined)?.stream === true;
}

/** The JSON body of a recorded request, for assertions (`undefined` without a request). */
export function bodyOf(request: RecordedRequest | undefined): Record<string, unknown> {
  return request?.body as Record<string, unknown>;
}

/** Options of `createProviderFixtures`. */
export interface ProviderFixturesOptions<TModel extends Model, TOptions> {
  /** The fixture folder, e.g. `new URL('./', import.meta.url)` from a file inside it. */
  folder: URL;
  /** The file name prefix of error bodies: `<provider>-error-<name>.json`. */
  provider: string;
  /** How the provider frames its stream. */
  dialect: SseDialect;
  /**
   * The requests the model sends, as a `FixtureRoute` match: `'POST /chat/completions'`. A path
   * suffix, so it also matches behind a base path (`/v1/...`) on a loopback server.
   */
  route: string;
  /** The response header with the request id: `'x-request-id'` (OpenAI), `'request-id'` (Anthropic). */
  requestIdHeader: string;
  /** Builds the model under test over a fixture fetch; usually a test key and `maxRetries: 0`. */
  createModel: (fetch: FixtureFetch, options: TOptions | undefined) => TModel;
}

/** What `createProviderFixtures` returns. */
export interface ProviderFixtures<TModel extends Model, TOptions> {
  /** The body in `<name>.json`. */
  json(name: string): unknown;
  /** The stream events in `<name>.chunks.txt`. */
  chunks(name: string): unknown[];
  /** Answers `<name>.json` to a non-streaming request and `<name>.chunks.txt` as SSE to a stream. */
  scenario(name: string): (request: RecordedRequest) => FixtureResponse;
  /** Answers request #i of the route with `scenario(names[i])`: a scripted conversation. */
  script(names: readonly string[]): FixtureResponder;
  /** An HTTP error: `<provider>-error-<name>.json` with the status and request id `req_test_<name>`. */
  errorResponse(status: number, name?: string): FixtureResponse;
  /** A model whose requests go to a fixture fetch answering `respond`. */
  modelOver(
    respond: FixtureRoute['respond'],
    options?: TOptions,
  ): { model: TModel; fetch: FixtureFetch };
  /** `modelOver` as a `describeModelAdapterContract` scenario. */
  modelScenario(respond: FixtureRoute['respond'], usage?: Usage): ModelScenario;
  /** A loopback server answering the route with `respond`; `close()` it after the test. */
  startServer(respond: FixtureRoute['respond']): Promise<FixtureServer>;
}

/**
 * Loads and serves one provider's fixtures.
 *
 * @example
 * // src/__fixtures__/openai-fixtures.ts
 * export const fixtures = createProviderFixtures({
 *   folder: new URL('./', import.meta.url),
 *   provider: 'openai',
 *   dialect: 'openai',
 *   route: 'POST /chat/completions',
 *   requestIdHeader: 'x-request-id',
 *   createModel: (fetch, options) => new OpenAIChat({ apiKey: 'sk-test', fetch, maxRetries: 0, ...options }),
 * });
 * // a test
 * const { model, fetch } = fixtures.modelOver(fixtures.scenario('openai-text'));
 */
export function createProviderFixtures<TModel extends Model, TOptions = never>(
  options: ProviderFixturesOptions<TModel, TOptions>,
): ProviderFixtures<TModel, TOptions> {
  const { folder, provider, dialect, route, requestIdHeader, createModel } = options;
  const json = (name: string) => loadJsonFixture(new URL(`./${name}.json`, folder));
  const chunks = (name: string) => loadChunksFixture(new URL(`./${name}.chunks.txt`, folder));
  const scenario = (name: string) => (request: RecordedRequest) =>
    isStreamRequest(request) ? sseResponse(chunks(name), { dialect }) : jsonResponse(json(name));
  const modelOver = (respond: FixtureRoute['respond'], settings?: TOptions) => {
    const fetch = createFixtureFetch({ match: route, respond });
    return { model: createModel(fetch, settings), fetch };
  };
  return {
    json,
    chunks,
    scenario,
    script: (names) => (request, index) => {
      const name = names[index];
      if (name === undefined) {
        throw new Error(
          `script: request #${index + 1} to ${route} has no scenario left (${names.length} given: ${names.join(', ')})`,
        );
      }
      return scenario(name)(request);
    },
    errorResponse: (status, name = String(status)) =>
      jsonResponse(json(`${provider}-error-${name}`), {
        status,
        headers: { [requestIdHeader]: `req_test_${name}` },
      }),
    modelOver,
    modelScenario: (respond, usage) => {
      const { model, fetch } = modelOver(respond);
      return {
        model,
        requests: () => fetch.requests,
        bodies: () => fetch.requests.map((request) => request.body),
        ...(usage === undefined ? {} : { usage }),
      };
    },
    startServer: (respond) => startFixtureServer({ match: route, respond }),
  };
}
