/**
 * `OpenAIChat`: the `Model` contract over OpenAI's Chat Completions API (`openai` SDK, v6).
 *
 * Connection ownership: the adapter creates its own SDK client lazily, on the first call, unless
 * one is passed as `client` (then the caller owns it and its settings: key, base URL, retries).
 * Construction never needs a key, so `new OpenAIChat()` works as a default model on a machine
 * without credentials; the first call then fails with `MODEL_AUTH_FAILED`.
 *
 * The SDK reads `OPENAI_API_KEY` and `OPENAI_BASE_URL` from the environment; the adapter only
 * passes `apiKey` / `baseURL` when they were given, so both variables keep working, and so do
 * OpenAI-compatible servers (a proxy, vLLM, Ollama, LiteLLM) reached through `baseURL`.
 *
 * Sharp edges: the SDK retries 408/409/429/5xx twice by default (`maxRetries`), and stops an
 * aborted stream silently (the adapter turns that into `ABORTED`). `countTokens` needs the optional
 * peer `gpt-tokenizer`, loaded on its first call (so importing this package stays cheap).
 * Reasoning models (o-series, gpt-5) get no `temperature`: it is reported as a warning instead.
 */
import type {
  Model,
  ModelCallOptions,
  ModelRequest,
  ModelResponse,
  ModelStreamPart,
} from '@buddy/core';
import {
  assertModelSettings,
  checkedStream,
  checkModelResponse,
  createLazyClient,
  raceAbort,
  readOptions,
} from '@buddy/core/adapter-utils';
import OpenAI, { type ClientOptions } from 'openai';
import { mapOpenAIError } from './map-openai-error.ts';
import { type OpenAIRequest, toChatCompletionRequest } from './openai-request.ts';
import { fromChatCompletion } from './openai-response.ts';
import { toStreamParts } from './openai-stream.ts';
import { encodingForModel, loadTokenCounter, type TokenCounter } from './token-counter.ts';

/** The model used when `id` is not given (also Buddy's default model, SPEC §2.8). */
export const DEFAULT_OPENAI_MODEL_ID = 'gpt-4o';

/** Options of `new OpenAIChat(...)`; every one is optional. */
export interface OpenAIChatOptions {
  /** Model id, e.g. `'gpt-4o'`, `'gpt-4o-mini'`, or a compatible server's model name. */
  id?: string;
  /** API key. Default: the `OPENAI_API_KEY` environment variable. */
  apiKey?: string;
  /** API base URL, e.g. `'http://localhost:11434/v1'`. Default: `OPENAI_BASE_URL`, then OpenAI. */
  baseURL?: string;
  /** A configured SDK client; the adapter then uses it as is (no `apiKey`/`baseURL`/`fetch`/`maxRetries`). */
  client?: OpenAI;
  /** Sampling temperature for every call that does not set its own. */
  temperature?: number;
  /** Output token limit for every call that does not set its own (`max_completion_tokens`). */
  maxTokens?: number;
  /** A custom `fetch` for the SDK (tests, proxies, instrumentation). */
  fetch?: ClientOptions['fetch'];
  /** How often the SDK retries 408/409/429/5xx and connection errors. Default: the SDK's (2). */
  maxRetries?: number;
}

const OPTION_KEYS = [
  'id',
  'apiKey',
  'baseURL',
  'client',
  'temperature',
  'maxTokens',
  'fetch',
  'maxRetries',
] as const satisfies readonly (keyof OpenAIChatOptions)[];

/** Also said when the default model (SPEC §2.8) finds no key, so it names the other way out. */
const DEFAULT_MODEL_HINT =
  'OpenAIChat is also the default model: to use another one, pass `model` to the Agent / AgentMemory';

/**
 * An OpenAI chat model.
 *
 * @example
 * const agent = new Agent({ model: new OpenAIChat({ id: 'gpt-4o-mini' }), tools: [addToCart] });
 *
 * // an OpenAI-compatible server:
 * const local = new OpenAIChat({ id: 'llama3.1', baseURL: 'http://localhost:11434/v1', apiKey: 'ollama' });
 */
export class OpenAIChat implements Model {
  readonly specificationVersion = 'v1' as const;
  readonly provider = 'openai';
  readonly id: string;
  readonly #options: OpenAIChatOptions;
  /** The SDK client, created on first use so that construction never needs a key. */
  readonly #getClient: () => OpenAI;
  #counter: TokenCounter | undefined;

  constructor(options: OpenAIChatOptions = {}) {
    readOptions(options, 'OpenAIChat: options', OPTION_KEYS);
    assertModelSettings('OpenAIChat', options, { clientDescription: 'an OpenAI client' });
    this.#options = { ...options };
    this.id = options.id ?? DEFAULT_OPENAI_MODEL_ID;
    this.#getClient = createLazyClient({
      // Only the settings given reach the SDK: an explicit `undefined` would not hide the
      // environment defaults in every SDK version, and leaving them out keeps OPENAI_BASE_URL working.
      options: this.#options,
      apiKeyEnvVars: ['OPENAI_API_KEY'],
      create: (settings) => new OpenAI(settings),
      missingKey: {
        who: this.#label,
        provider: this.provider,
        adapter: 'OpenAIChat',
        hint: DEFAULT_MODEL_HINT,
      },
    });
  }

  get #label(): string {
    return `OpenAIChat(${this.id})`;
  }

  /**
   * The tokens `text` counts for this model: o200k_base for gpt-4o, gpt-4.1, gpt-4.5, gpt-5 and the
   * o-series (and for ids it does not know, e.g. a compatible server's model), cl100k_base for
   * gpt-4, gpt-3.5 and the embedding models. Special-token text such as `<|endoftext|>` counts as
   * plain text, as the API treats it in messages. Needs the optional peer `gpt-tokenizer`, loaded
   * on the first call; without it this throws `MODEL_NOT_CONFIGURED` naming the package.
   *
   * @example
   * new OpenAIChat({ id: 'gpt-4o' }).countTokens('Hello, world!'); // 4
   */
  countTokens(text: string): number {
    this.#counter ??= loadTokenCounter(encodingForModel(this.id), this.#label);
    return this.#counter(text);
  }

  #body(request: ModelRequest): OpenAIRequest {
    return toChatCompletionRequest(request, {
      model: this.id,
      ...(this.#options.temperature === undefined
        ? {}
        : { temperature: this.#options.temperature }),
      ...(this.#options.maxTokens === undefined ? {} : { maxTokens: this.#options.maxTokens }),
    });
  }

  async generate(request: ModelRequest, options: ModelCallOptions = {}): Promise<ModelResponse> {
    const { signal } = options;
    try {
      if (signal?.aborted) throw signal.reason;
      const { body, warnings } = this.#body(request);
      const completion = await raceAbort(
        this.#getClient().chat.completions.create(
          { ...body, stream: false },
          signal === undefined ? {} : { signal },
        ),
        signal,
      );
      const response = fromChatCompletion(completion, this.#label);
      return checkModelResponse(
        warnings.length === 0 ? response : { ...response, warnings },
        this.#label,
      );
    } catch (error) {
      throw mapOpenAIError(error, this.#label, signal);
    }
  }

  async *stream(
    request: ModelRequest,
    options: ModelCallOptions = {},
  ): AsyncIterable<ModelStreamPart> {
    const { signal } = options;
    const label = this.#label;
    try {
      if (signal?.aborted) throw signal.reason;
      const { body, warnings } = this.#body(request);
      const chunks = await this.#getClient().chat.completions.create(
        { ...body, stream: true, stream_options: { include_usage: true } },
        signal === undefined ? {} : { signal },
      );
      const parts = toStreamParts(chunks, {
        label,
        signal,
        warnings,
        onAbort: () => mapOpenAIError(signal?.reason, label, signal),
      });
      yield* checkedStream(parts, label);
    } catch (error) {
      throw mapOpenAIError(error, label, signal);
    }
  }
}
