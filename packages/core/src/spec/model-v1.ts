/**
 * The model contract: what `@buddy/core` needs from a language-model adapter.
 *
 * Implemented by `OpenAIChat` (`@buddy/model-openai`), `Claude` (`@buddy/model-anthropic`) and
 * `MockModel` (`@buddy/testkit`); each passes the model-adapter contract suite in
 * `@buddy/testkit/model`. Types only: this file has no runtime code.
 *
 * Versioned like the AI SDK's provider spec: a breaking change adds `ModelV2` next to this file,
 * it never edits `V1` in place.
 */
import type { ToolCall, Usage } from '../messages/message.ts';

/**
 * A message as a model receives it: role, content and tool calls, nothing of storage (`id`,
 * `createdAt`, `runId` are the Agent's, not the provider's).
 */
export type ModelV1Message =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string }
  | { role: 'assistant'; content: string; toolCalls?: ToolCall[] }
  | { role: 'tool'; toolCallId: string; toolName: string; content: string; isError?: boolean };

/**
 * Provider-specific options, namespaced by provider (`model.provider`):
 * `{ openai: { parallel_tool_calls: false }, anthropic: { stop_sequences: ['END'] } }`. Each adapter passes its
 * own namespace through to the provider's request and ignores the others.
 */
export type ProviderOptions = Record<string, Record<string, unknown>>;

/** Something the adapter could not do as asked, reported instead of silently dropped. */
export type ModelWarning =
  | {
      type: 'unsupported-setting';
      /** The request or model setting, e.g. `'temperature'`. */
      setting: string;
      details?: string;
    }
  | { type: 'other'; message: string };

/** A JSON Schema document (draft 2020-12 or draft-07 subset, as produced by `z.toJSONSchema`). */
export type JsonSchema = { [key: string]: unknown };

/** A tool the model may call, described by name and a JSON schema of its arguments. */
export interface ModelToolDefinition {
  /** `^[a-zA-Z0-9_-]{1,64}$`, unique within one request. */
  name: string;
  description?: string;
  /** JSON Schema of the arguments object; its root is always `{ type: 'object' }`. */
  parameters: JsonSchema;
}

/** How the model must pick tools. `'auto'` when absent. */
export type ModelToolChoice = 'auto' | 'none' | 'required' | { type: 'tool'; name: string };

/**
 * Structured output: the model must answer with JSON text that matches `schema`.
 * OpenAI maps it to `response_format: { type: 'json_schema' }`; Anthropic to a forced tool.
 */
export interface ModelResponseFormat {
  type: 'json';
  schema: JsonSchema;
  /** A short identifier (`^[a-zA-Z0-9_-]{1,64}$`), e.g. `'session_summary'`. */
  name?: string;
  description?: string;
}

/** One call to a model. Messages are in conversation order; system messages come first. */
export interface ModelRequest {
  messages: readonly ModelV1Message[];
  tools?: readonly ModelToolDefinition[];
  toolChoice?: ModelToolChoice;
  responseFormat?: ModelResponseFormat;
  temperature?: number;
  /** Upper bound on output tokens. */
  maxTokens?: number;
  /** Passed through to the provider (see `ProviderOptions`). */
  providerOptions?: ProviderOptions;
}

/** Why the model stopped. `'other'` covers provider reasons with no mapping here. */
export type FinishReason = 'stop' | 'length' | 'tool-calls' | 'content-filter' | 'other';

/** Options for one call. */
export interface ModelCallOptions {
  /** Aborts the HTTP request; the call then rejects with `BuddyError` `ABORTED`. */
  signal?: AbortSignal;
}

/** The answer to `generate()`. */
export interface ModelResponse {
  /** The assistant's text (for structured output: the JSON text). `''` when only tools are called. */
  content: string;
  /** Tool calls requested in this turn, in the provider's order. Empty when none. */
  toolCalls: ToolCall[];
  usage: Usage;
  finishReason: FinishReason;
  /** Settings the adapter could not honour (e.g. a `temperature` the provider refuses). */
  warnings?: ModelWarning[];
}

/**
 * A part of a streamed answer. Order: any number of `text-delta` and `tool-call-delta` parts;
 * each tool call is completed by exactly one `tool-call` part (the adapter assembles the
 * argument deltas); the stream ends with exactly one `finish` part.
 */
export type ModelStreamPart =
  | { type: 'text-delta'; delta: string }
  | {
      type: 'tool-call-delta';
      /** The tool call's id (stable across its deltas). */
      toolCallId: string;
      /** The tool's name; present at least on the first delta of a call. */
      toolName?: string;
      /** A fragment of the JSON arguments text. */
      argumentsDelta: string;
    }
  | { type: 'tool-call'; toolCall: ToolCall }
  | { type: 'finish'; usage: Usage; finishReason: FinishReason; warnings?: ModelWarning[] };

/**
 * A language model Buddy can talk to.
 *
 * Failures reject (or throw from the stream) with `BuddyError` codes `MODEL_AUTH_FAILED`,
 * `MODEL_RATE_LIMITED` (retryable), `MODEL_UNAVAILABLE` (retryable), `MODEL_BAD_RESPONSE`,
 * `MODEL_CONTEXT_OVERFLOW` or `ABORTED`; vendor errors never escape, they are kept as `cause`.
 */
export interface ModelV1 {
  /** Lets core adapt older adapters when a `V2` contract appears. Always `'v1'`. */
  readonly specificationVersion: 'v1';
  /** Provider name, e.g. `'openai'`, `'anthropic'`, `'mock'`. */
  readonly provider: string;
  /** Model id as the provider knows it, e.g. `'gpt-4o'`. */
  readonly id: string;
  /** One non-streaming call. */
  generate(request: ModelRequest, options?: ModelCallOptions): Promise<ModelResponse>;
  /** One streaming call; see `ModelStreamPart` for the order of parts. */
  stream(request: ModelRequest, options?: ModelCallOptions): AsyncIterable<ModelStreamPart>;
  /** Releases what the adapter created itself (never a client it was given). Optional; idempotent. */
  close?(): Promise<void>;
  /**
   * Optional capability: the tokens `text` counts for this model, with its real tokenizer. The
   * context budget (SPEC §13.3) uses it when the agent has no `countTokens` of its own.
   */
  countTokens?(text: string): number;
}

/** The current model contract. */
export type Model = ModelV1;
