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
 * aborted stream silently (the adapter turns that into `ABORTED`).
 */
import type {
  Model,
  ModelCallOptions,
  ModelRequest,
  ModelResponse,
  ModelStreamPart,
} from '@buddy/core';
import { assertModelSettings, createLazyClient } from '@buddy/core/adapter-utils';
import OpenAI, { type ClientOptions } from 'openai';
import { mapOpenAIError } from './map-openai-error.ts';
import { toChatCompletionRequest } from './openai-request.ts';
import { fromChatCompletion } from './openai-response.ts';
import { toStreamParts } from './openai-stream.ts';

/** The model used when `id` is not given (also Buddy's default model, SPEC §2.8). */
export const DEFAULT_OPENAI_MODEL_ID = 'gpt-4o';

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

  constructor(options: OpenAIChatOptions = {}) {
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

  #body(request: ModelRequest) {
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
      const completion = await this.#getClient().chat.completions.create(
        { ...this.#body(request), stream: false },
        signal === undefined ? {} : { signal },
      );
      return fromChatCompletion(completion, this.#label);
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
      const chunks = await this.#getClient().chat.completions.create(
        { ...this.#body(request), stream: true, stream_options: { include_usage: true } },
        signal === undefined ? {} : { signal },
      );
      yield* toStreamParts(chunks, {
        label,
        signal,
        onAbort: () => mapOpenAIError(signal?.reason, label, signal),
      });
    } catch (error) {
      throw mapOpenAIError(error, label, signal);
    }
  }
}
