/**
 * Chat Completions response → Buddy `ModelResponse`, and the small mappings the stream shares.
 *
 * A refusal (structured output the model declined to produce) is returned as the content with
 * finish reason `content-filter`, so callers see why no JSON came back instead of an empty answer.
 */
import {
  BuddyError,
  describeValue,
  type FinishReason,
  type ModelResponse,
  type ToolCall,
  type Usage,
} from '@buddy/core';
import type {
  ChatCompletion,
  ChatCompletionMessageToolCall,
} from 'openai/resources/chat/completions';
import type { CompletionUsage } from 'openai/resources/completions';

/** Maps OpenAI's `finish_reason`. */
export function toFinishReason(reason: string | null | undefined): FinishReason {
  switch (reason) {
    case 'stop':
      return 'stop';
    case 'length':
      return 'length';
    case 'tool_calls':
    case 'function_call':
      return 'tool-calls';
    case 'content_filter':
      return 'content-filter';
    default:
      return 'other';
  }
}

/** `prompt_tokens` already includes cached tokens; compatible servers may omit usage (zeros). */
export function toUsage(usage: CompletionUsage | null | undefined): Usage {
  return { inputTokens: usage?.prompt_tokens ?? 0, outputTokens: usage?.completion_tokens ?? 0 };
}

function badResponse(label: string, what: string): BuddyError {
  return new BuddyError({
    code: 'MODEL_BAD_RESPONSE',
    message: `${label}: ${what}`,
    details: { provider: 'openai' },
  });
}

/**
 * Maps a non-streaming completion; throws `MODEL_BAD_RESPONSE` when it has no usable choice. The
 * result still goes through `checkModelResponse` (in `OpenAIChat`), which rejects wrong types.
 */
export function fromChatCompletion(completion: ChatCompletion, label: string): ModelResponse {
  const choice = completion?.choices?.[0];
  if (choice === undefined || typeof choice.message !== 'object' || choice.message === null) {
    throw badResponse(label, 'the completion has no choices');
  }
  const { message } = choice;
  const rawCalls: unknown = message.tool_calls ?? [];
  if (!Array.isArray(rawCalls)) {
    throw badResponse(label, `tool_calls that is not an array (${describeValue(rawCalls)})`);
  }
  const toolCalls: ToolCall[] = rawCalls.map((call: ChatCompletionMessageToolCall, index) => {
    if (call?.type !== 'function' || typeof call.function !== 'object' || call.function === null) {
      throw badResponse(
        label,
        `tool_calls[${index}] that is not a function call (${describeValue(call)})`,
      );
    }
    return { id: call.id, name: call.function.name, arguments: call.function.arguments };
  });
  const refusal = typeof message.refusal === 'string' && message.refusal !== '';
  return {
    content: message.content ?? (refusal ? (message.refusal as string) : ''),
    toolCalls,
    usage: toUsage(completion.usage),
    finishReason: refusal ? 'content-filter' : toFinishReason(choice.finish_reason),
  };
}
