/**
 * `MockModel`: a deterministic `Model` for tests and offline demos (SPEC §5).
 *
 * It answers from a list of replies (one per call) or a `respond` function, records every request
 * it receives (deep copies, so later mutation by the caller does not change the record), streams
 * text in several deltas and tool calls as argument deltas followed by the assembled call, and
 * reports token usage estimated at four characters per token. Optionally it reports warnings (as an
 * adapter does for a setting it cannot honour) and counts tokens (the optional `countTokens`
 * capability of the `Model` contract).
 */
import {
  BuddyError,
  estimateTokens,
  type Model,
  type ModelCallOptions,
  type ModelRequest,
  type ModelResponse,
  type ModelStreamPart,
  type ModelWarning,
  type ToolCall,
  type Usage,
} from '@buddy/core';

/** A scripted answer: text, or text and/or tool calls. */
export type MockReply =
  | string
  | {
      content?: string;
      toolCalls?: { name: string; arguments: object | string; id?: string }[];
    };

/** Options of `new MockModel(...)`; every one is optional. */
export interface MockModelOptions {
  /** One reply per call, in order. */
  replies?: MockReply[];
  /** Computes the reply of call `index` (0-based). Takes precedence over `replies`. */
  respond?: (request: ModelRequest, index: number) => MockReply | Promise<MockReply>;
  /** Wait this long before answering (abortable), to simulate latency. Default 0. */
  latencyMs?: number;
  provider?: string;
  id?: string;
  /**
   * Warnings reported with every answer (in `generate()` results and the stream's `finish` part),
   * or a function computing them per call (`undefined` or `[]`: none). Absent: no `warnings` field.
   */
  warnings?:
    | readonly ModelWarning[]
    | ((request: ModelRequest, index: number) => readonly ModelWarning[] | undefined);
  /**
   * Gives the model the optional `countTokens` capability with this counter (e.g. `estimateTokens`
   * from `@buddy/core`, or a fake that counts words). Absent: the model has no `countTokens`.
   */
  countTokens?: (text: string) => number;
}

function abortError(signal: AbortSignal): BuddyError {
  return new BuddyError({
    code: 'ABORTED',
    message: 'MockModel: the call was aborted',
    cause: signal.reason,
  });
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal as AbortSignal));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * The deep copy `requests` keeps: arrays and plain objects are copied member by member (keeping
 * `undefined` properties, as `structuredClone` does); anything else that is an object (a `Date`,
 * a class instance in `providerOptions`) and a request nested deeper than any real one (or
 * cyclic) go through `structuredClone`. About 6× faster than `structuredClone` on a chat request,
 * which matters because the benchmarks' turns run on this model.
 */
function copyRequest(request: ModelRequest): ModelRequest {
  try {
    return copyMember(request, 0) as ModelRequest;
  } catch (error) {
    if (error !== TOO_DEEP) throw error;
    return structuredClone(request);
  }
}

const TOO_DEEP = Symbol('too deep');
const MAX_COPY_DEPTH = 64;

function copyMember(value: unknown, depth: number): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (depth > MAX_COPY_DEPTH) throw TOO_DEEP;
  if (Array.isArray(value)) {
    const items: unknown[] = new Array(value.length);
    for (let index = 0; index < value.length; index++) {
      items[index] = copyMember(value[index], depth + 1);
    }
    return items;
  }
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return structuredClone(value);
  const copy: Record<string, unknown> = {};
  const source = value as Record<string, unknown>;
  for (const key of Object.keys(source)) {
    const item = copyMember(source[key], depth + 1);
    if (key === '__proto__') {
      // An own key named like the prototype stays an own key, as in structuredClone.
      Object.defineProperty(copy, key, {
        value: item,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else copy[key] = item;
  }
  return copy;
}

/** Splits text into word-sized deltas (at least two when the text has two or more words). */
export function splitIntoDeltas(text: string): string[] {
  const parts = text.match(/\S+\s*|\s+/g) ?? [];
  return parts.length === 0 ? [] : parts;
}

/**
 * @example
 * const model = new MockModel({
 *   replies: [{ toolCalls: [{ name: 'add_to_cart', arguments: { item: 'milk' } }] }, 'Added milk.'],
 * });
 * const agent = new Agent({ model, tools: [addToCart] });
 * await agent.run('Add milk');
 * model.requests[1].messages; // includes the tool result
 */
export class MockModel implements Model {
  readonly specificationVersion = 'v1' as const;
  readonly provider: string;
  readonly id: string;
  /** Every request received, in order. */
  readonly requests: ModelRequest[] = [];
  readonly #replies: readonly MockReply[] | undefined;
  readonly #respond: MockModelOptions['respond'];
  readonly #latencyMs: number;
  readonly #warnings: MockModelOptions['warnings'];
  /** Present only when the `countTokens` option was given (an optional `Model` capability). */
  declare readonly countTokens?: (text: string) => number;

  constructor(options: MockModelOptions = {}) {
    if (options.replies !== undefined && !Array.isArray(options.replies)) {
      throw new BuddyError({
        code: 'INVALID_ARGUMENT',
        message: 'MockModel: replies must be an array',
      });
    }
    if (options.respond !== undefined && typeof options.respond !== 'function') {
      throw new BuddyError({
        code: 'INVALID_ARGUMENT',
        message: 'MockModel: respond must be a function',
      });
    }
    if (
      options.warnings !== undefined &&
      !Array.isArray(options.warnings) &&
      typeof options.warnings !== 'function'
    ) {
      throw new BuddyError({
        code: 'INVALID_ARGUMENT',
        message: 'MockModel: warnings must be an array of warnings or a function',
      });
    }
    const { countTokens } = options;
    if (countTokens !== undefined) {
      if (typeof countTokens !== 'function') {
        throw new BuddyError({
          code: 'INVALID_ARGUMENT',
          message: 'MockModel: countTokens must be a function',
        });
      }
      Object.defineProperty(this, 'countTokens', {
        value: (text: string) => countTokens(text),
        enumerable: false,
      });
    }
    this.#warnings = options.warnings;
    this.#replies = options.replies;
    this.#respond = options.respond;
    this.#latencyMs = options.latencyMs ?? 0;
    this.provider = options.provider ?? 'mock';
    this.id = options.id ?? 'mock-model';
  }

  /** The last request received. */
  get lastRequest(): ModelRequest | undefined {
    return this.requests.at(-1);
  }

  async #reply(request: ModelRequest, signal: AbortSignal | undefined): Promise<ModelResponse> {
    if (signal?.aborted) throw abortError(signal);
    const index = this.requests.length;
    this.requests.push(copyRequest(request));
    if (this.#latencyMs > 0) await sleep(this.#latencyMs, signal);
    let reply: MockReply;
    if (this.#respond !== undefined) {
      reply = await this.#respond(request, index);
    } else if (this.#replies !== undefined) {
      const scripted = this.#replies[index];
      if (scripted === undefined) {
        throw new BuddyError({
          code: 'MODEL_BAD_RESPONSE',
          message: `MockModel: no reply left for request #${index + 1} (${this.#replies.length} replies were given)`,
        });
      }
      reply = scripted;
    } else {
      const lastUser = [...request.messages].reverse().find((message) => message.role === 'user');
      reply = `Echo: ${lastUser?.content ?? ''}`;
    }
    if (signal?.aborted) throw abortError(signal);
    const response = toResponse(reply, request, index);
    const warnings =
      typeof this.#warnings === 'function' ? this.#warnings(request, index) : this.#warnings;
    return warnings === undefined ? response : { ...response, warnings: [...warnings] };
  }

  generate(request: ModelRequest, options: ModelCallOptions = {}): Promise<ModelResponse> {
    return this.#reply(request, options.signal);
  }

  async *stream(
    request: ModelRequest,
    options: ModelCallOptions = {},
  ): AsyncIterable<ModelStreamPart> {
    const response = await this.#reply(request, options.signal);
    for (const delta of splitIntoDeltas(response.content)) {
      if (options.signal?.aborted) throw abortError(options.signal);
      yield { type: 'text-delta', delta };
    }
    for (const toolCall of response.toolCalls) {
      const middle = Math.ceil(toolCall.arguments.length / 2);
      yield {
        type: 'tool-call-delta',
        toolCallId: toolCall.id,
        toolName: toolCall.name,
        argumentsDelta: toolCall.arguments.slice(0, middle),
      };
      yield {
        type: 'tool-call-delta',
        toolCallId: toolCall.id,
        argumentsDelta: toolCall.arguments.slice(middle),
      };
      yield { type: 'tool-call', toolCall };
    }
    yield {
      type: 'finish',
      usage: response.usage,
      finishReason: response.finishReason,
      ...(response.warnings === undefined ? {} : { warnings: response.warnings }),
    };
  }
}

function requestTokens(request: ModelRequest): number {
  let text = '';
  for (const message of request.messages) {
    text += message.content;
    if (message.role === 'assistant' && message.toolCalls !== undefined) {
      for (const call of message.toolCalls) text += call.name + call.arguments;
    }
  }
  if (request.tools !== undefined) text += JSON.stringify(request.tools);
  if (request.responseFormat !== undefined) text += JSON.stringify(request.responseFormat.schema);
  return estimateTokens(text);
}

function toResponse(reply: MockReply, request: ModelRequest, index: number): ModelResponse {
  if (typeof reply === 'string') {
    const usage: Usage = {
      inputTokens: requestTokens(request),
      outputTokens: estimateTokens(reply),
    };
    return { content: reply, toolCalls: [], usage, finishReason: 'stop' };
  }
  if (typeof reply !== 'object' || reply === null) {
    throw new BuddyError({
      code: 'MODEL_BAD_RESPONSE',
      message: `MockModel: reply #${index + 1} must be a string or { content?, toolCalls? }`,
    });
  }
  const toolCalls: ToolCall[] = (reply.toolCalls ?? []).map((call, position) => ({
    id: call.id ?? `call_${index + 1}_${position + 1}`,
    name: call.name,
    arguments: typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments),
  }));
  const content = reply.content ?? '';
  const output = content + toolCalls.map((call) => call.name + call.arguments).join('');
  return {
    content,
    toolCalls,
    usage: { inputTokens: requestTokens(request), outputTokens: estimateTokens(output) },
    finishReason: toolCalls.length > 0 ? 'tool-calls' : 'stop',
  };
}
