/**
 * `OpenAIEmbedder`: the `Embedder` contract (SPEC §13.1) over OpenAI's embeddings endpoint
 * (`openai` SDK, v6, `client.embeddings.create`).
 *
 * Connection ownership: like `OpenAIChat`, the adapter creates its own SDK client lazily, on the
 * first call, unless one is passed as `client` (then the caller owns it). Construction never
 * needs a key. `OPENAI_API_KEY` / `OPENAI_BASE_URL` keep working, and so do OpenAI-compatible
 * servers (Ollama, vLLM, LiteLLM) through `baseURL`, given their model's `dimensions`.
 *
 * Sharp edges:
 * - one `embed()` call sends as many requests as its texts need (2,048 inputs and 300,000 tokens
 *   per request at most), one after the other; a failure fails the whole call (nothing partial);
 * - `dimensions` shortens text-embedding-3 vectors on the server; other models cannot be
 *   shortened, so for them it only declares their vector length, which is then checked;
 * - the API rejects empty strings, and so does `embed()` (`INVALID_ARGUMENT`), before any request;
 * - the SDK retries 408/409/429/5xx twice by default (`maxRetries`).
 */
import { BuddyError, describeValue, type Embedder } from '@buddy/core';
import {
  assertInteger,
  assertModelSettings,
  createLazyClient,
  raceAbort,
  readOptions,
} from '@buddy/core/adapter-utils';
import OpenAI, { type ClientOptions } from 'openai';
import { batchEmbeddingInputs, MAX_EMBEDDING_INPUTS } from './batch-embedding-inputs.ts';
import { mapOpenAIError } from './map-openai-error.ts';
import { fromEmbeddingResponse } from './openai-embedding-response.ts';

/** The model used when `id` is not given. */
export const DEFAULT_OPENAI_EMBEDDING_MODEL_ID = 'text-embedding-3-small';

/** The vector length of OpenAI's embedding models when `dimensions` is not given. */
export const OPENAI_EMBEDDING_DIMENSIONS: Readonly<Record<string, number>> = Object.freeze({
  'text-embedding-3-small': 1536,
  'text-embedding-3-large': 3072,
  'text-embedding-ada-002': 1536,
});

/** Options of `new OpenAIEmbedder(...)`; every one is optional. */
export interface OpenAIEmbedderOptions {
  /** Model id. Default `'text-embedding-3-small'`. */
  id?: string;
  /**
   * Vector length. text-embedding-3 models: 1 up to their native length (1536 small, 3072 large;
   * the default), sent as `dimensions` so the server shortens the vectors. Other models: their
   * fixed vector length, required for a model this adapter does not know (not sent).
   */
  dimensions?: number;
  /** API key. Default: the `OPENAI_API_KEY` environment variable. */
  apiKey?: string;
  /** API base URL, e.g. `'http://localhost:11434/v1'`. Default: `OPENAI_BASE_URL`, then OpenAI. */
  baseURL?: string;
  /** A configured SDK client; the adapter then uses it as is (no `apiKey`/`baseURL`/`fetch`/`maxRetries`). */
  client?: OpenAI;
  /** A custom `fetch` for the SDK (tests, proxies, instrumentation). */
  fetch?: ClientOptions['fetch'];
  /** How often the SDK retries 408/409/429/5xx and connection errors. Default: the SDK's (2). */
  maxRetries?: number;
  /** Inputs per request, at most 2,048 (the default, the API's limit); lower it for servers with a smaller one. */
  maxBatchSize?: number;
}

const OPTION_KEYS = [
  'id',
  'dimensions',
  'apiKey',
  'baseURL',
  'client',
  'fetch',
  'maxRetries',
  'maxBatchSize',
] as const satisfies readonly (keyof OpenAIEmbedderOptions)[];

/** Models whose vectors the server shortens to `dimensions`. */
function acceptsDimensions(id: string): boolean {
  return /^text-embedding-3-/.test(id);
}

function invalid(message: string): BuddyError {
  return new BuddyError({ code: 'INVALID_ARGUMENT', message: `OpenAIEmbedder: ${message}` });
}

/**
 * An OpenAI embedding model.
 *
 * @example
 * const embedder = new OpenAIEmbedder(); // text-embedding-3-small, 1536 dimensions
 * const [vector] = await embedder.embed(['The user drinks black coffee.']);
 *
 * const small = new OpenAIEmbedder({ id: 'text-embedding-3-large', dimensions: 256 });
 * const local = new OpenAIEmbedder({ id: 'nomic-embed-text', dimensions: 768, baseURL: 'http://localhost:11434/v1', apiKey: 'ollama' });
 */
export class OpenAIEmbedder implements Embedder {
  readonly specificationVersion = 'v1' as const;
  readonly provider = 'openai';
  readonly id: string;
  readonly dimensions: number;
  readonly #sendDimensions: boolean;
  readonly #maxBatchSize: number;
  readonly #getClient: () => OpenAI;

  constructor(options: OpenAIEmbedderOptions = {}) {
    readOptions(options, 'OpenAIEmbedder: options', OPTION_KEYS);
    const { dimensions, maxBatchSize, ...settings } = options;
    assertModelSettings('OpenAIEmbedder', settings, { clientDescription: 'an OpenAI client' });
    this.id = options.id ?? DEFAULT_OPENAI_EMBEDDING_MODEL_ID;
    const native = OPENAI_EMBEDDING_DIMENSIONS[this.id];
    if (dimensions !== undefined) {
      assertInteger(dimensions, 'OpenAIEmbedder: dimensions', { min: 1 });
      if (native !== undefined && dimensions > native) {
        throw invalid(`dimensions of ${this.id} must be at most ${native}, got ${dimensions}`);
      }
      if (native !== undefined && !acceptsDimensions(this.id) && dimensions !== native) {
        throw invalid(
          `${this.id} cannot shorten its vectors: dimensions must be ${native} (or absent), got ${dimensions}`,
        );
      }
    } else if (native === undefined) {
      throw invalid(
        `dimensions is required for a model it does not know (${describeValue(this.id)}): pass the length of its vectors`,
      );
    }
    this.dimensions = dimensions ?? (native as number);
    this.#sendDimensions = dimensions !== undefined && acceptsDimensions(this.id);
    if (maxBatchSize !== undefined) {
      assertInteger(maxBatchSize, 'OpenAIEmbedder: maxBatchSize', {
        min: 1,
        max: MAX_EMBEDDING_INPUTS,
      });
    }
    this.#maxBatchSize = maxBatchSize ?? MAX_EMBEDDING_INPUTS;
    this.#getClient = createLazyClient({
      options: { ...settings },
      apiKeyEnvVars: ['OPENAI_API_KEY'],
      create: (clientSettings) => new OpenAI(clientSettings),
      missingKey: { who: this.#label, provider: this.provider, adapter: 'OpenAIEmbedder' },
    });
  }

  get #label(): string {
    return `OpenAIEmbedder(${this.id})`;
  }

  /**
   * One vector per text, in order, each of `dimensions` plain numbers. Sends one request per
   * batch (see the module comment), one after the other; `[]` sends nothing.
   */
  async embed(texts: string[], options?: { signal?: AbortSignal }): Promise<number[][]> {
    const { signal } = readOptions<{ signal: AbortSignal }>(
      options,
      'OpenAIEmbedder.embed: options',
      ['signal'],
    );
    if (!Array.isArray(texts)) {
      throw invalid(`embed(texts) needs an array of strings, got ${describeValue(texts)}`);
    }
    texts.forEach((text: unknown, index) => {
      if (typeof text !== 'string' || text === '') {
        throw invalid(`texts[${index}] must be a non-empty string, got ${describeValue(text)}`);
      }
    });
    const label = this.#label;
    try {
      if (signal?.aborted) throw signal.reason;
      if (texts.length === 0) return [];
      const client = this.#getClient();
      const vectors: number[][] = [];
      for (const batch of batchEmbeddingInputs(texts, { maxInputs: this.#maxBatchSize })) {
        if (signal?.aborted) throw signal.reason;
        const response = await raceAbort(
          client.embeddings.create(
            {
              model: this.id,
              input: batch,
              // Asked for explicitly, so the SDK returns the wire format as is and the adapter
              // decodes it (and accepts float lists from servers that ignore the format).
              encoding_format: 'base64',
              ...(this.#sendDimensions ? { dimensions: this.dimensions } : {}),
            },
            signal === undefined ? {} : { signal },
          ),
          signal,
        );
        vectors.push(...fromEmbeddingResponse(response, batch.length, this.dimensions, label));
      }
      return vectors;
    } catch (error) {
      throw mapOpenAIError(error, label, signal);
    }
  }
}
