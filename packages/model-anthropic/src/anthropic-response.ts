/**
 * Anthropic `message` → Buddy `ModelResponse`, and the mappings the stream shares.
 *
 * Usage: Anthropic reports cached prompt tokens apart from `input_tokens`; Buddy's `inputTokens`
 * is their sum (cache writes + cache reads + the rest), i.e. every prompt token of the call.
 *
 * Structured output arrives as a call of the forced response tool: its input (JSON) becomes the
 * content, other text is dropped, and a turn that only answered through it finishes with `stop`.
 */
import type { Message, StopReason } from '@anthropic-ai/sdk/resources/messages';
import {
  BuddyError,
  describeValue,
  type FinishReason,
  type ModelResponse,
  type ToolCall,
} from '@buddy/core';

/** Maps Anthropic's `stop_reason`. */
export function toFinishReason(reason: StopReason | string | null | undefined): FinishReason {
  switch (reason) {
    case 'end_turn':
    case 'stop_sequence':
      return 'stop';
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool-calls';
    case 'refusal':
      return 'content-filter';
    default:
      return 'other';
  }
}

/** Token counts as the API reports them; `null` / absent fields mean "not reported here". */
export interface AnthropicUsageFields {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}

/** Every prompt token: uncached input plus cache writes plus cache reads. */
export function inputTokensOf(usage: AnthropicUsageFields | null | undefined): number {
  return (
    (usage?.input_tokens ?? 0) +
    (usage?.cache_creation_input_tokens ?? 0) +
    (usage?.cache_read_input_tokens ?? 0)
  );
}

/** The finish reason of a turn that may have answered through the response tool. */
export function finishReasonOf(
  reason: StopReason | string | null | undefined,
  answeredWithResponseTool: boolean,
  toolCallCount: number,
): FinishReason {
  const mapped = toFinishReason(reason);
  return answeredWithResponseTool && mapped === 'tool-calls' && toolCallCount === 0
    ? 'stop'
    : mapped;
}

/**
 * Maps a non-streaming message; throws `MODEL_BAD_RESPONSE` when it has no content list. The
 * result still goes through `checkModelResponse` (in `Claude`), which rejects wrong types.
 * `responseToolName` is the forced structured-output tool of the request, if any.
 */
export function fromMessage(
  message: Message,
  responseToolName: string | undefined,
  label: string,
): ModelResponse {
  if (!Array.isArray(message?.content)) {
    throw new BuddyError({
      code: 'MODEL_BAD_RESPONSE',
      message: `${label}: the message has no content list`,
      details: { provider: 'anthropic' },
    });
  }
  let text = '';
  let structured: string | undefined;
  const toolCalls: ToolCall[] = [];
  for (const block of message.content) {
    if (block.type === 'text') {
      if (typeof block.text !== 'string') {
        throw new BuddyError({
          code: 'MODEL_BAD_RESPONSE',
          message: `${label}: a text block whose text is not text (${describeValue(block.text)})`,
          details: { provider: 'anthropic' },
        });
      }
      text += block.text;
    } else if (block.type === 'tool_use') {
      const json = JSON.stringify(block.input ?? {});
      if (block.name === responseToolName) structured = json;
      else toolCalls.push({ id: block.id, name: block.name, arguments: json });
    }
  }
  return {
    content: structured ?? text,
    toolCalls,
    usage: {
      inputTokens: inputTokensOf(message.usage),
      outputTokens: message.usage?.output_tokens ?? 0,
    },
    finishReason: finishReasonOf(message.stop_reason, structured !== undefined, toolCalls.length),
  };
}
