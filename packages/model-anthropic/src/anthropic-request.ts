/**
 * Buddy `ModelRequest` → Anthropic Messages API request body.
 *
 * The Messages API is stricter than Buddy's message list, so the mapping reshapes it:
 * - system messages go to the top-level `system` field, joined by a blank line, wherever they
 *   appear in the list;
 * - turns must alternate: consecutive messages of the same role are merged into one turn, and
 *   tool results (role `user` on the wire) become `tool_result` blocks of one user turn, before any
 *   user text that follows them, as the API requires;
 * - assistant tool calls become `tool_use` blocks whose `input` is our JSON-text arguments parsed;
 *   arguments that are not a JSON object (the model produced invalid JSON, which the Agent already
 *   answered with an error result) are sent as `{}`, since the API only accepts an object there;
 * - empty text is dropped (the API rejects empty text blocks), and so is a turn left empty;
 * - `temperature` is never sent: API version 2026-10-21, which `@anthropic-ai/sdk` 1.x sends,
 *   removed the sampling parameters and answers 400 to any of them, even at default values; a
 *   temperature set on the model or the request is reported as an `unsupported-setting` warning;
 * - only the fields of `ModelV1Message` are read: storage fields never reach the wire;
 * - `providerOptions.anthropic` is merged over the mapped body last (see `applyProviderOptions`);
 * - `responseFormat` becomes a forced tool whose input schema is the response schema (see
 *   `RESPONSE_TOOL_DESCRIPTION`); with other tools present the model must call one of them or the
 *   response tool (`tool_choice: any`).
 */

import type {
  ContentBlockParam,
  MessageCreateParamsBase,
  MessageParam,
  Tool,
  ToolChoice,
} from '@anthropic-ai/sdk/resources/messages';
import {
  BuddyError,
  describeValue,
  type JsonSchema,
  type ModelRequest,
  type ModelToolChoice,
  type ModelV1Message,
  type ModelWarning,
} from '@buddy/core';
import { applyProviderOptions } from '@buddy/core/adapter-utils';

/** `max_tokens` is required by the API; this is sent when neither the call nor the model sets it. */
export const DEFAULT_MAX_TOKENS = 4096;

/** The forced tool's name when `responseFormat.name` is absent. */
export const DEFAULT_RESPONSE_TOOL_NAME = 'json_response';

/** What the model reads about the forced structured-output tool, unless the format describes it. */
export const RESPONSE_TOOL_DESCRIPTION =
  'Respond with a JSON object that matches the input schema. Call this tool to give your answer.';

/** Why a temperature is not sent, in the warning. */
export const TEMPERATURE_NOT_SENT =
  'Anthropic API version 2026-10-21 (sent by @anthropic-ai/sdk 1.x) removed the sampling parameters and rejects any of them; the value was not sent';

/**
 * Body fields the adapter owns: `providerOptions.anthropic` cannot replace them (they decide how
 * the reply is read), and trying is reported as an `unsupported-setting` warning.
 */
export const RESERVED_BODY_FIELDS = ['model', 'messages', 'stream'] as const;

/** Settings of the model that apply when the request does not set its own. */
export interface AnthropicRequestDefaults {
  model: string;
  maxTokens?: number;
  /** The model's own temperature: never sent, only reported. */
  temperature?: number;
}

/**
 * The request body, the name of the forced response tool when structured output is asked, and
 * what of the request could not be honoured.
 */
export interface AnthropicRequest {
  body: MessageCreateParamsBase;
  responseToolName: string | undefined;
  warnings: ModelWarning[];
}

function parseInput(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      return value as Record<string, unknown>;
    }
  } catch {
    // Invalid JSON from the model: documented fallback below.
  }
  return {};
}

function blocksOf(message: Exclude<ModelV1Message, { role: 'system' }>): ContentBlockParam[] {
  switch (message.role) {
    case 'user':
      return message.content === '' ? [] : [{ type: 'text', text: message.content }];
    case 'assistant': {
      const blocks: ContentBlockParam[] =
        message.content === '' ? [] : [{ type: 'text', text: message.content }];
      for (const call of message.toolCalls ?? []) {
        blocks.push({
          type: 'tool_use',
          id: call.id,
          name: call.name,
          input: parseInput(call.arguments),
        });
      }
      return blocks;
    }
    case 'tool':
      return [
        {
          type: 'tool_result',
          tool_use_id: message.toolCallId,
          content: message.content,
          ...(message.isError === true ? { is_error: true } : {}),
        },
      ];
  }
}

function toMessages(messages: readonly ModelV1Message[]): {
  system: string[];
  turns: MessageParam[];
} {
  const system: string[] = [];
  const turns: { role: 'user' | 'assistant'; content: ContentBlockParam[] }[] = [];
  for (const message of messages) {
    if (message.role === 'system') {
      if (message.content !== '') system.push(message.content);
      continue;
    }
    const blocks = blocksOf(message);
    if (blocks.length === 0) continue;
    const role = message.role === 'assistant' ? 'assistant' : 'user';
    const last = turns.at(-1);
    if (last?.role === role) last.content.push(...blocks);
    else turns.push({ role, content: blocks });
  }
  return { system, turns };
}

function toToolChoice(choice: ModelToolChoice): ToolChoice {
  switch (choice) {
    case 'auto':
      return { type: 'auto' };
    case 'none':
      return { type: 'none' };
    case 'required':
      return { type: 'any' };
    default:
      return { type: 'tool', name: choice.name };
  }
}

function toInputSchema(schema: JsonSchema): Tool.InputSchema {
  const { $schema: _marker, ...rest } = schema;
  return { ...rest, type: 'object' };
}

/**
 * Builds the Messages API body (without `stream`) for one call.
 *
 * @example
 * toAnthropicRequest({ messages: [{ role: 'user', content: 'Hi' }] }, { model: 'claude-sonnet-5-5' });
 */
export function toAnthropicRequest(
  request: ModelRequest,
  defaults: AnthropicRequestDefaults,
): AnthropicRequest {
  const { system, turns } = toMessages(request.messages);
  const warnings: ModelWarning[] = [];
  if ((request.temperature ?? defaults.temperature) !== undefined) {
    warnings.push({
      type: 'unsupported-setting',
      setting: 'temperature',
      details: TEMPERATURE_NOT_SENT,
    });
  }
  const body: MessageCreateParamsBase = {
    model: defaults.model,
    max_tokens: request.maxTokens ?? defaults.maxTokens ?? DEFAULT_MAX_TOKENS,
    messages: turns,
  };
  if (system.length > 0) body.system = system.join('\n\n');

  const tools: Tool[] = (request.tools ?? []).map((tool) => ({
    name: tool.name,
    ...(tool.description === undefined ? {} : { description: tool.description }),
    input_schema: toInputSchema(tool.parameters),
  }));
  let choice = request.toolChoice === undefined ? undefined : toToolChoice(request.toolChoice);
  let responseToolName: string | undefined;
  const format = request.responseFormat;
  if (format !== undefined) {
    responseToolName = format.name ?? DEFAULT_RESPONSE_TOOL_NAME;
    if (tools.some((tool) => tool.name === responseToolName)) {
      throw new BuddyError({
        code: 'INVALID_ARGUMENT',
        message: `Claude: responseFormat.name ${describeValue(responseToolName)} is also the name of a tool; rename one of them`,
      });
    }
    const toolsAllowed = tools.length > 0 && choice?.type !== 'none';
    tools.push({
      name: responseToolName,
      description: format.description ?? RESPONSE_TOOL_DESCRIPTION,
      input_schema: toInputSchema(format.schema),
    });
    // An explicit choice of one tool still wins; otherwise the answer must come through a tool.
    if (choice?.type !== 'tool') {
      choice = toolsAllowed ? { type: 'any' } : { type: 'tool', name: responseToolName };
    }
  }
  if (tools.length > 0) {
    body.tools = tools;
    if (choice !== undefined) body.tool_choice = choice;
  } else if (choice?.type === 'any' || choice?.type === 'tool') {
    // 'auto' and 'none' are what a request without tools gets anyway; these two cannot be met.
    warnings.push({
      type: 'unsupported-setting',
      setting: 'toolChoice',
      details: 'the request has no tools, so the model cannot be made to call one',
    });
  }
  const merged = applyProviderOptions(body, warnings, request.providerOptions, {
    provider: 'anthropic',
    reserved: RESERVED_BODY_FIELDS,
  });
  return { body: merged.body, responseToolName, warnings: merged.warnings };
}
