/**
 * Test support for `OpenAIEmbedder`: embeddings responses in the API's wire format (a `list` of
 * `embedding` objects whose vectors are base64 little-endian float32, as the SDK asks for), served
 * to the real SDK through a fixture fetch. `openai-embeddings.json` is a fixed two-input answer of
 * text-embedding-3-small (1536 values each); `openai-embeddings-float.json` is an
 * OpenAI-compatible server that ignores `encoding_format` and answers float lists (all-minilm,
 * 384). `answerEmbeddings` computes an answer for whatever a request holds, so batching and
 * determinism can be tested: its vectors are `MockEmbedder`'s for each input text, in float32.
 * Not part of the published package.
 */
import {
  createFixtureFetch,
  type FixtureFetch,
  type FixtureResponse,
  type FixtureRoute,
  jsonResponse,
  loadJsonFixture,
  type RecordedRequest,
} from '@buddy/testkit/fetch';
import { embedText } from '@buddy/testkit';
import { OpenAIEmbedder, type OpenAIEmbedderOptions } from '../openai-embedder.ts';

/** The body in `<name>.json` of this folder. */
export function embeddingFixture(name: string): unknown {
  return loadJsonFixture(new URL(`./${name}.json`, import.meta.url));
}

/** float32 little-endian base64, as the API sends embeddings for `encoding_format: 'base64'`. */
export function toBase64Floats(values: readonly number[]): string {
  const bytes = Buffer.alloc(values.length * 4);
  values.forEach((value, index) => bytes.writeFloatLE(value, index * 4));
  return bytes.toString('base64');
}

/** What the embeddings endpoint received: the body the SDK sent. */
export interface EmbeddingsBody {
  model: string;
  input: string[];
  encoding_format?: string;
  dimensions?: number;
}

/**
 * Answers an embeddings request with one vector per input (`MockEmbedder`'s, so that the same
 * text always gets the same vector), `dimensions` long (default 1536). `reversed` lists the data
 * in reverse index order, as the API is free to.
 */
export function answerEmbeddings(
  request: RecordedRequest,
  options: { reversed?: boolean } = {},
): FixtureResponse {
  const body = request.body as EmbeddingsBody;
  const dimensions = body.dimensions ?? 1536;
  const data = body.input.map((text, index) => ({
    object: 'embedding',
    index,
    embedding: toBase64Floats(embedText(text, dimensions)),
  }));
  if (options.reversed === true) data.reverse();
  const tokens = body.input.reduce((sum, text) => sum + text.split(/\s+/).length, 0);
  return jsonResponse(
    {
      object: 'list',
      data,
      model: body.model,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    },
    { headers: { 'x-request-id': `req_test_embeddings_${body.input.length}` } },
  );
}

/** An `OpenAIEmbedder` (key `sk-test`, no retries) whose requests go to a fixture fetch. */
export function embedderOver(
  respond: FixtureRoute['respond'],
  options: OpenAIEmbedderOptions = {},
): { embedder: OpenAIEmbedder; fetch: FixtureFetch } {
  const fetch = createFixtureFetch({ match: 'POST /embeddings', respond });
  return { embedder: new OpenAIEmbedder({ apiKey: 'sk-test', fetch, maxRetries: 0, ...options }), fetch };
}

/** The bodies the embeddings endpoint received. */
export function embeddingBodies(fetch: FixtureFetch): EmbeddingsBody[] {
  return fetch.requests.map((request) => request.body as EmbeddingsBody);
}
