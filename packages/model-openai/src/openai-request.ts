/**
 * Buddy `ModelRequest` → Chat Completions request body.
 *
 * Mapping decisions:
 * - assistant tool calls become `tool_calls` of `type: 'function'`; an assistant message that only
 *   calls tools is sent with `content: null`, as the API itself returns it;
 * - tool results become `role: 'tool'` messages with `tool_call_id` (one message per result);
 * - `tools` and `tool_choice` are omitted when the request has no tools (the API rejects an empty
 *   tool list and a tool choice without tools);
 * - `responseFormat` becomes `response_format: { type: 'json_schema' }`, `strict: true` only when
 *   the schema fits the strict subset (see `isStrictJsonSchema`);
 * - the output limit is sent as `max_completion_tokens`, the field that replaced the deprecated
 *   `max_tokens` and the only one reasoning models accept;
 * - reasoning models (`isReasoningModel`) refuse `temperature` with a 400, so it is not sent to
 *   them and an `unsupported-setting` warning says so; likewise a `toolChoice` that needs tools on
 *   a request without tools;
 * - only the fields of `ModelV1Message` are read, so storage fields (`id`, `createdAt`, `runId`) of
 *   messages never reach the wire;
 * - `providerOptions.openai` is merged over the mapped body last (see `applyProviderOptions`).
 */
import type {
  JsonSchema,
  ModelRequest,
  ModelToolChoice,
  ModelV1Message,
  ModelWarning,
} from '@buddy/core';
import { applyProviderOptions } from '@buddy/core/adapter-utils';
import type {
  ChatCompletionCreateParamsBase,
  ChatCompletionMessageParam,
  ChatCompletionTool,
  ChatCompletionToolChoiceOption,
} from 'openai/resources/chat/completions';
import { isStrictJsonSchema } from './strict-json-schema.ts';

/** The name sent with `response_format.json_schema` when the request gives none. */
export const DEFAULT_RESPONSE_FORMAT_NAME = 'response';

/** Settings of the adapter that apply when the request does not override them. */
export interface OpenAIRequestDefaults {
  model: string;
  temperature?: number;
  maxTokens?: number;
}

/**
 * Body fields the adapter owns: `providerOptions.openai` cannot replace them (they decide how the
 * reply is read), and trying is reported as an `unsupported-setting` warning.
 */
export const RESERVED_BODY_FIELDS = ['model', 'messages', 'stream', 'stream_options'] as const;

/** A request body, and what of the request could not be honoured. */
export interface OpenAIRequest {
  body: ChatCompletionCreateParamsBase;
  warnings: ModelWarning[];
}

/**
 * Reasoning models, which answer 400 to `temperature`: the o-series (`o1`, `o3-mini`, `o4-mini`,
 * ...) and the first gpt-5 family (`gpt-5`, `gpt-5-mini`, `gpt-5-nano`, not `gpt-5-chat-*`).
 * `gpt-5.1` and later accept it at their default reasoning effort, so it is sent to them.
 */
export function isReasoningModel(id: string): boolean {
  return /^o\d/.test(id) || /^gpt-5(?![.\d])(?!-chat)/.test(id);
}

function toMessage(message: ModelV1Message): ChatCompletionMessageParam {
  switch (message.role) {
    case 'system':
      return { role: 'system', content: message.content };
    case 'user':
      return { role: 'user', content: message.content };
    case 'assistant': {
      const calls = message.toolCalls ?? [];
      if (calls.length === 0) return { role: 'assistant', content: message.content };
      return {
        role: 'assistant',
        content: message.content === '' ? null : message.content,
        tool_calls: calls.map((call) => ({
          id: call.id,
          type: 'function',
          function: { name: call.name, arguments: call.arguments },
        })),
      };
    }
    case 'tool':
      return { role: 'tool', tool_call_id: message.toolCallId, content: message.content };
  }
}

function toToolChoice(choice: ModelToolChoice): ChatCompletionToolChoiceOption {
  if (typeof choice === 'string') return choice;
  return { type: 'function', function: { name: choice.name } };
}

/** A copy of `schema` without the root `$schema` marker, which the API does not need. */
export function withoutSchemaMarker(schema: JsonSchema): JsonSchema {
  const { $schema: _marker, ...rest } = schema;
  return rest;
}

/**
 * Builds the request body (without `stream`) for one call, and the warnings for what it could not
 * honour. Only for the non-streaming body is `stream` left out: `stream()` adds its own fields.
 *
 * @example
 * toChatCompletionRequest({ messages: [{ role: 'user', content: 'Hi' }] }, { model: 'gpt-4o' });
 * // { body: { model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] }, warnings: [] }
 */
export function toChatCompletionRequest(
  request: ModelRequest,
  defaults: OpenAIRequestDefaults,
): OpenAIRequest {
  const warnings: ModelWarning[] = [];
  const body: ChatCompletionCreateParamsBase = {
    model: defaults.model,
    messages: request.messages.map(toMessage),
  };
  const temperature = request.temperature ?? defaults.temperature;
  if (temperature !== undefined) {
    if (isReasoningModel(defaults.model)) {
      warnings.push({
        type: 'unsupported-setting',
        setting: 'temperature',
        details: `${defaults.model} is a reasoning model, which accepts no temperature; the value ${temperature} was not sent`,
      });
    } else {
      body.temperature = temperature;
    }
  }
  const maxTokens = request.maxTokens ?? defaults.maxTokens;
  if (maxTokens !== undefined) body.max_completion_tokens = maxTokens;
  if (request.tools !== undefined && request.tools.length > 0) {
    body.tools = request.tools.map(
      (tool): ChatCompletionTool => ({
        type: 'function',
        function: {
          name: tool.name,
          ...(tool.description === undefined ? {} : { description: tool.description }),
          parameters: tool.parameters,
        },
      }),
    );
    if (request.toolChoice !== undefined) body.tool_choice = toToolChoice(request.toolChoice);
  } else if (request.toolChoice === 'required' || typeof request.toolChoice === 'object') {
    // 'auto' and 'none' are what a request without tools gets anyway; these two cannot be met.
    warnings.push({
      type: 'unsupported-setting',
      setting: 'toolChoice',
      details: 'the request has no tools, so the model cannot be made to call one',
    });
  }
  const format = request.responseFormat;
  if (format !== undefined) {
    const schema = withoutSchemaMarker(format.schema);
    body.response_format = {
      type: 'json_schema',
      json_schema: {
        name: format.name ?? DEFAULT_RESPONSE_FORMAT_NAME,
        ...(format.description === undefined ? {} : { description: format.description }),
        schema,
        strict: isStrictJsonSchema(schema),
      },
    };
  }
  return applyProviderOptions(body, warnings, request.providerOptions, {
    provider: 'openai',
    reserved: RESERVED_BODY_FIELDS,
  });
}
