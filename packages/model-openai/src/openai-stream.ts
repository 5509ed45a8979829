/**
 * `chat.completion.chunk` stream → Buddy stream parts.
 *
 * Text deltas are forwarded as they come. Tool calls arrive as fragments keyed by `index` (the id
 * and name on the first fragment only); each fragment is forwarded as a `tool-call-delta` and the
 * assembled calls are emitted once, in index order, when the stream ends. With
 * `stream_options.include_usage` the usage arrives in a last chunk with no choices, after the
 * finish reason, so `finish` is emitted only after the stream is exhausted.
 */
import { randomUUID } from 'node:crypto';
import {
  BuddyError,
  describeValue,
  type FinishReason,
  type ModelStreamPart,
  type ModelWarning,
  type Usage,
} from '@buddy/core';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { toFinishReason, toUsage } from './openai-response.ts';

function badChunk(label: string, what: string): BuddyError {
  return new BuddyError({
    code: 'MODEL_BAD_RESPONSE',
    message: `${label}: ${what.startsWith('the stream') ? what : `a stream chunk has ${what}`}`,
    details: { provider: 'openai' },
  });
}

interface PendingCall {
  id: string;
  name: string;
  arguments: string;
}

/**
 * Translates the SDK's chunk stream. `onAbort` builds the error thrown when `signal` fires: the SDK
 * ends an aborted stream silently, so the signal is checked after every chunk and at the end.
 */
export async function* toStreamParts(
  chunks: AsyncIterable<ChatCompletionChunk>,
  options: {
    label: string;
    signal: AbortSignal | undefined;
    onAbort: () => BuddyError;
    /** What the request could not honour; sent with the `finish` part when not empty. */
    warnings?: readonly ModelWarning[];
  },
): AsyncGenerator<ModelStreamPart> {
  const { signal } = options;
  const calls = new Map<number, PendingCall>();
  let usage: Usage = { inputTokens: 0, outputTokens: 0 };
  let finishReason: FinishReason | undefined;
  let refused = false;

  for await (const chunk of chunks) {
    if (signal?.aborted) throw options.onAbort();
    if (chunk.usage) usage = toUsage(chunk.usage);
    // One choice per request (`n` is never set), so only the first one matters.
    const choice = chunk.choices?.[0];
    if (choice === undefined) continue;
    const delta = choice.delta ?? {};
    if (typeof delta.content === 'string' && delta.content !== '') {
      yield { type: 'text-delta', delta: delta.content };
    }
    if (typeof delta.refusal === 'string' && delta.refusal !== '') {
      refused = true;
      yield { type: 'text-delta', delta: delta.refusal };
    }
    const fragments: unknown = delta.tool_calls ?? [];
    if (!Array.isArray(fragments)) {
      throw badChunk(
        options.label,
        `tool_calls that is not an array (${describeValue(fragments)})`,
      );
    }
    for (const fragment of fragments as ChatCompletionChunk.Choice.Delta.ToolCall[]) {
      const argumentsDelta = fragment?.function?.arguments ?? '';
      if (typeof argumentsDelta !== 'string' || typeof fragment.index !== 'number') {
        throw badChunk(
          options.label,
          `a tool call fragment without an index or with arguments that are not text (${describeValue(fragment)})`,
        );
      }
      let call = calls.get(fragment.index);
      if (call === undefined) {
        // Some OpenAI-compatible servers omit the id; the call still needs one to pair its result.
        call = {
          id: fragment.id ?? `call_${randomUUID().replaceAll('-', '')}`,
          name: fragment.function?.name ?? '',
          arguments: argumentsDelta,
        };
        calls.set(fragment.index, call);
        yield { type: 'tool-call-delta', toolCallId: call.id, toolName: call.name, argumentsDelta };
        continue;
      }
      if (argumentsDelta === '') continue;
      call.arguments += argumentsDelta;
      yield { type: 'tool-call-delta', toolCallId: call.id, argumentsDelta };
    }
    if (choice.finish_reason) finishReason = toFinishReason(choice.finish_reason);
  }

  if (signal?.aborted) throw options.onAbort();
  if (finishReason === undefined) {
    throw badChunk(options.label, 'the stream ended without a finish reason (truncated response)');
  }
  const ordered = [...calls.entries()].sort(([a], [b]) => a - b);
  for (const [, call] of ordered) {
    yield {
      type: 'tool-call',
      toolCall: { id: call.id, name: call.name, arguments: call.arguments },
    };
  }
  yield {
    type: 'finish',
    usage,
    finishReason: refused ? 'content-filter' : finishReason,
    ...(options.warnings === undefined || options.warnings.length === 0
      ? {}
      : { warnings: [...options.warnings] }),
  };
}
