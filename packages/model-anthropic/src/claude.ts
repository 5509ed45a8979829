/**
 * `Claude`: the `Model` contract over Anthropic's Messages API (`@anthropic-ai/sdk`, v1).
 *
 * Connection ownership: the adapter creates its own SDK client lazily, on the first call, unless
 * one is passed as `client` (then the caller owns it and its settings). Construction never needs a
 * key; the first call without one fails with `MODEL_AUTH_FAILED`.
 *
 * The SDK reads `ANTHROPIC_API_KEY` (or `ANTHROPIC_AUTH_TOKEN`) and `ANTHROPIC_BASE_URL` from the
 * environment; the adapter only passes `apiKey` / `baseURL` when they were given, so both keep
 * working, and so do Anthropic-compatible gateways reached through `baseURL`.
 *
 * Sharp edges:
 * - the API requires `max_tokens`; the adapter sends `DEFAULT_MAX_TOKENS` (4096) unless the model
 *   or the call sets it;
 * - the SDK refuses non-streaming calls whose `max_tokens` could run past ten minutes;
 *   `generate()` then streams the same request and assembles the answer itself;
 * - the SDK retries 408/409/429/5xx twice by default (`maxRetries`), and ends an aborted stream
 *   silently (the adapter turns that into `ABORTED`);
 * - `temperature` (on the model or the request) is never sent: the API version the SDK speaks
 *   rejects sampling parameters. Every answer then carries an `unsupported-setting` warning,
 *   which an `Agent` turns into a line of `RunResponse.warnings`.
 */
import Anthropic, { AnthropicError, type ClientOptions } from '@anthropic-ai/sdk';
import {
  BuddyError,
  type Model,
  type ModelCallOptions,
  type ModelRequest,
  type ModelResponse,
  type ModelStreamPart,
  type ToolCall,
} from '@buddy/core';
import {
  assertModelSettings,
  checkedStream,
  checkModelResponse,
  createLazyClient,
  raceAbort,
  readOptions,
} from '@buddy/core/adapter-utils';
import { type AnthropicRequest, toAnthropicRequest } from './anthropic-request.ts';
import { fromMessage } from './anthropic-response.ts';
import { toStreamParts } from './anthropic-stream.ts';
import { mapAnthropicError } from './map-anthropic-error.ts';

/**
 * The model used when `id` is not given: the newest Sonnet alias that `@anthropic-ai/sdk` 1.14
 * lists in its `Model` type.
 */
export const DEFAULT_CLAUDE_MODEL_ID = 'claude-sonnet-5-5';

/** Options of `new Claude(...)`; every one is optional. */
export interface ClaudeOptions {
  /** Model id or alias, e.g. `'claude-sonnet-5-5'`, `'claude-haiku-4-5'`. */
  id?: string;
  /** API key. Default: `ANTHROPIC_API_KEY` (or a bearer token in `ANTHROPIC_AUTH_TOKEN`). */
  apiKey?: string;
  /** API base URL (without `/v1`). Default: `ANTHROPIC_BASE_URL`, then Anthropic. */
  baseURL?: string;
  /** A configured SDK client; the adapter then uses it as is (no `apiKey`/`baseURL`/`fetch`/`maxRetries`). */
  client?: Anthropic;
  /**
   * Accepted for symmetry with `OpenAIChat`, validated, and not sent: API version 2026-10-21,
   * which `@anthropic-ai/sdk` 1.x speaks, removed `temperature` (any value is a 400). Every answer
   * then reports `{ type: 'unsupported-setting', setting: 'temperature' }` in its warnings. The
   * same holds for `ModelRequest.temperature`.
   */
  temperature?: number;
  /** `max_tokens` for every call that does not set its own. Default `DEFAULT_MAX_TOKENS` (4096). */
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
] as const satisfies readonly (keyof ClaudeOptions)[];

/** The SDK's refusal of a long non-streaming call (it computes the limit from `max_tokens`). */
function isStreamingRequired(error: unknown): boolean {
  return error instanceof AnthropicError && /streaming is required/i.test(error.message);
}

/**
 * A Claude model.
 *
 * @example
 * const agent = new Agent({ model: new Claude({ id: 'claude-haiku-4-5' }), tools: [addToCart] });
 *
 * // through a gateway that speaks the Messages API:
 * const viaGateway = new Claude({ baseURL: 'https://gateway.example.com/anthropic', apiKey });
 */
export class Claude implements Model {
  readonly specificationVersion = 'v1' as const;
  readonly provider = 'anthropic';
  readonly id: string;
  readonly #options: ClaudeOptions;
  /** The SDK client, created on first use so that construction never needs a key. */
  readonly #getClient: () => Anthropic;

  constructor(options: ClaudeOptions = {}) {
    readOptions(options, 'Claude: options', OPTION_KEYS);
    assertModelSettings('Claude', options, { clientDescription: 'an Anthropic client' });
    this.#options = { ...options };
    this.id = options.id ?? DEFAULT_CLAUDE_MODEL_ID;
    this.#getClient = createLazyClient({
      // Only the settings given reach the SDK, so ANTHROPIC_API_KEY / ANTHROPIC_BASE_URL keep working.
      options: this.#options,
      apiKeyEnvVars: ['ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN'],
      create: (settings) => new Anthropic(settings),
      missingKey: { who: this.#label, provider: this.provider, adapter: 'Claude' },
    });
  }

  get #label(): string {
    return `Claude(${this.id})`;
  }

  #request(request: ModelRequest): AnthropicRequest {
    const { maxTokens, temperature } = this.#options;
    return toAnthropicRequest(request, {
      model: this.id,
      ...(maxTokens === undefined ? {} : { maxTokens }),
      ...(temperature === undefined ? {} : { temperature }),
    });
  }

  async generate(request: ModelRequest, options: ModelCallOptions = {}): Promise<ModelResponse> {
    const { signal } = options;
    try {
      if (signal?.aborted) throw signal.reason;
      const { body, responseToolName, warnings } = this.#request(request);
      const message = await raceAbort(
        this.#getClient().messages.create(
          { ...body, stream: false },
          signal === undefined ? {} : { signal },
        ),
        signal,
      );
      const response = fromMessage(message, responseToolName, this.#label);
      return checkModelResponse(
        warnings.length === 0 ? response : { ...response, warnings },
        this.#label,
      );
    } catch (error) {
      if (!isStreamingRequired(error)) throw mapAnthropicError(error, this.#label, signal);
    }
    return collect(this.stream(request, options));
  }

  async *stream(
    request: ModelRequest,
    options: ModelCallOptions = {},
  ): AsyncIterable<ModelStreamPart> {
    const { signal } = options;
    const label = this.#label;
    try {
      if (signal?.aborted) throw signal.reason;
      const { body, responseToolName, warnings } = this.#request(request);
      const events = await this.#getClient().messages.create(
        { ...body, stream: true },
        signal === undefined ? {} : { signal },
      );
      const parts = toStreamParts(events, {
        label,
        signal,
        responseToolName,
        warnings,
        onAbort: () => mapAnthropicError(signal?.reason, label, signal),
      });
      yield* checkedStream(parts, label);
    } catch (error) {
      throw mapAnthropicError(error, label, signal);
    }
  }
}

/** Assembles a response from stream parts (the non-streaming fallback of `generate()`). */
async function collect(parts: AsyncIterable<ModelStreamPart>): Promise<ModelResponse> {
  let content = '';
  const toolCalls: ToolCall[] = [];
  for await (const part of parts) {
    if (part.type === 'text-delta') content += part.delta;
    else if (part.type === 'tool-call') toolCalls.push(part.toolCall);
    else if (part.type === 'finish') {
      const { usage, finishReason, warnings } = part;
      return {
        content,
        toolCalls,
        usage,
        finishReason,
        ...(warnings === undefined ? {} : { warnings }),
      };
    }
  }
  // toStreamParts always ends with finish or throws; this guards against a future change.
  throw new BuddyError({
    code: 'INTERNAL',
    message: 'Claude: the stream ended without a finish part',
  });
}
