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
 *   `max_tokens` and the only one reasoning models accept.
 */
import type { JsonSchema, Message, ModelRequest, ModelToolChoice } from '@buddy/core';
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

function toMessage(message: Message): ChatCompletionMessageParam {
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
 * Builds the request body (without `stream`) for one call.
 *
 * @example
 * toChatCompletionRequest({ messages: [{ role: 'user', content: 'Hi' }] }, { model: 'gpt-4o' });
 * // { model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] }
 */
export function toChatCompletionRequest(
  request: ModelRequest,
  defaults: OpenAIRequestDefaults,
): ChatCompletionCreateParamsBase {
  const body: ChatCompletionCreateParamsBase = {
    model: defaults.model,
    messages: request.messages.map(toMessage),
  };
  const temperature = request.temperature ?? defaults.temperature;
  if (temperature !== undefined) body.temperature = temperature;
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
  return body;
}
