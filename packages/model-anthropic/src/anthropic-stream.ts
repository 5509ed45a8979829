/**
 * Messages API stream events → Buddy stream parts.
 *
 * - `message_start` carries the prompt usage; `message_delta` the stop reason and the cumulative
 *   usage (fields it reports replace the earlier ones); `message_stop` ends the message.
 * - `content_block_start` of a `tool_use` block names the call; its `input_json_delta` fragments
 *   are forwarded as `tool-call-delta` parts, and `content_block_stop` emits the assembled call.
 * - The forced structured-output tool is not a tool call for Buddy: its JSON fragments are
 *   streamed as `text-delta` parts (the content). Text the model writes besides it would corrupt
 *   that JSON, so with structured output text is held back and only released when the model
 *   answered without the tool (a server that ignored `tool_choice`).
 * - Thinking, citations and server-tool blocks are ignored.
 */
import type { RawMessageStreamEvent } from '@anthropic-ai/sdk/resources/messages';
import { BuddyError, type ModelStreamPart, type ModelWarning } from '@buddy/core';
import { type AnthropicUsageFields, finishReasonOf, inputTokensOf } from './anthropic-response.ts';

interface ToolBlock {
  id: string;
  name: string;
  json: string;
  /** The input given on `content_block_start`, used when no JSON fragments follow. */
  initialInput: unknown;
  isResponseTool: boolean;
}

/**
 * Translates the SDK's event stream. `onAbort` builds the error thrown when `signal` fires: the
 * SDK ends an aborted stream silently, so the signal is checked after every event and at the end.
 */
export async function* toStreamParts(
  events: AsyncIterable<RawMessageStreamEvent>,
  options: {
    label: string;
    signal: AbortSignal | undefined;
    onAbort: () => BuddyError;
    responseToolName: string | undefined;
    /** What the request could not honour; sent with the `finish` part when not empty. */
    warnings?: readonly ModelWarning[];
  },
): AsyncGenerator<ModelStreamPart> {
  const { signal, responseToolName } = options;
  const usage: AnthropicUsageFields = {};
  const blocks = new Map<number, ToolBlock>();
  const heldText: string[] = [];
  let stopReason: string | null | undefined;
  let answeredWithResponseTool = false;
  let toolCallCount = 0;
  let stopped = false;

  const updateUsage = (reported: AnthropicUsageFields | null | undefined) => {
    for (const key of [
      'input_tokens',
      'output_tokens',
      'cache_creation_input_tokens',
      'cache_read_input_tokens',
    ] as const) {
      const value = reported?.[key];
      if (typeof value === 'number') usage[key] = value;
    }
  };

  function* text(delta: string): Generator<ModelStreamPart> {
    if (delta === '') return;
    if (responseToolName === undefined) yield { type: 'text-delta', delta };
    else heldText.push(delta);
  }

  for await (const event of events) {
    if (signal?.aborted) throw options.onAbort();
    switch (event.type) {
      case 'message_start':
        updateUsage(event.message.usage);
        break;
      case 'content_block_start': {
        const block = event.content_block;
        if (block.type === 'text') yield* text(block.text);
        else if (block.type === 'tool_use') {
          const isResponseTool = block.name === responseToolName;
          blocks.set(event.index, {
            id: block.id,
            name: block.name,
            json: '',
            initialInput: block.input,
            isResponseTool,
          });
          if (isResponseTool) answeredWithResponseTool = true;
          else {
            yield {
              type: 'tool-call-delta',
              toolCallId: block.id,
              toolName: block.name,
              argumentsDelta: '',
            };
          }
        }
        break;
      }
      case 'content_block_delta': {
        const { delta } = event;
        if (delta.type === 'text_delta') yield* text(delta.text);
        else if (delta.type === 'input_json_delta' && delta.partial_json !== '') {
          const block = blocks.get(event.index);
          if (block === undefined) break;
          block.json += delta.partial_json;
          yield block.isResponseTool
            ? { type: 'text-delta', delta: delta.partial_json }
            : { type: 'tool-call-delta', toolCallId: block.id, argumentsDelta: delta.partial_json };
        }
        break;
      }
      case 'content_block_stop': {
        const block = blocks.get(event.index);
        if (block === undefined) break;
        blocks.delete(event.index);
        const json = block.json === '' ? JSON.stringify(block.initialInput ?? {}) : block.json;
        if (block.isResponseTool) {
          if (block.json === '') yield { type: 'text-delta', delta: json };
        } else {
          toolCallCount += 1;
          yield {
            type: 'tool-call',
            toolCall: { id: block.id, name: block.name, arguments: json },
          };
        }
        break;
      }
      case 'message_delta':
        stopReason = event.delta.stop_reason;
        updateUsage(event.usage);
        break;
      case 'message_stop':
        stopped = true;
        break;
      default:
        break;
    }
  }

  if (signal?.aborted) throw options.onAbort();
  if (!stopped) {
    throw new BuddyError({
      code: 'MODEL_BAD_RESPONSE',
      message: `${options.label}: the stream ended before message_stop (truncated response)`,
      details: { provider: 'anthropic' },
    });
  }
  if (!answeredWithResponseTool && heldText.length > 0) {
    yield { type: 'text-delta', delta: heldText.join('') };
  }
  yield {
    type: 'finish',
    usage: { inputTokens: inputTokensOf(usage), outputTokens: usage.output_tokens ?? 0 },
    finishReason: finishReasonOf(stopReason, answeredWithResponseTool, toolCallCount),
    ...(options.warnings === undefined || options.warnings.length === 0
      ? {}
      : { warnings: [...options.warnings] }),
  };
}
