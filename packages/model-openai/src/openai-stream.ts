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
import { BuddyError, type FinishReason, type ModelStreamPart, type Usage } from '@buddy/core';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { toFinishReason, toUsage } from './openai-response.ts';

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
  options: { label: string; signal: AbortSignal | undefined; onAbort: () => BuddyError },
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
    for (const fragment of delta.tool_calls ?? []) {
      const argumentsDelta = fragment.function?.arguments ?? '';
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
    throw new BuddyError({
      code: 'MODEL_BAD_RESPONSE',
      message: `${options.label}: the stream ended without a finish reason (truncated response)`,
      details: { provider: 'openai' },
    });
  }
  const ordered = [...calls.entries()].sort(([a], [b]) => a - b);
  for (const [, call] of ordered) {
    yield {
      type: 'tool-call',
      toolCall: { id: call.id, name: call.name, arguments: call.arguments },
    };
  }
  yield { type: 'finish', usage, finishReason: refused ? 'content-filter' : finishReason };
}
