import type { RunEvent } from '@buddy/core';
import type { StudioChatEvent } from './api-types.ts';

/** A `RunEvent` as JSON: errors become `{ code, message, retryable }` (an `Error` is not JSON). */
export function toChatEvent(event: RunEvent): StudioChatEvent {
  if (event.type === 'run-error') {
    return {
      type: 'run-error',
      runId: event.runId,
      error: {
        code: event.error.code,
        message: event.error.message,
        retryable: event.error.retryable,
      },
    };
  }
  return event;
}

/** One Server-Sent Event: `event: <type>` and `data: <the event as JSON>` (JSON has no raw newlines). */
export function formatServerSentEvent(event: StudioChatEvent): string {
  return `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

/**
 * The body of a chat answer: pulls the run's events one at a time and writes each as an SSE
 * event. When the client goes away (the HTTP layer cancels the body), `onCancel` aborts the run;
 * `onEnd` runs exactly once, whichever way the stream ends.
 */
export function chatEventStream(
  events: AsyncIterable<RunEvent>,
  options: { onCancel: () => void; onEnd: () => void },
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const iterator = events[Symbol.asyncIterator]();
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    options.onEnd();
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await iterator.next();
        if (next.done) {
          end();
          controller.close();
          return;
        }
        controller.enqueue(encoder.encode(formatServerSentEvent(toChatEvent(next.value))));
      } catch (error) {
        end();
        controller.error(error);
      }
    },
    async cancel() {
      options.onCancel();
      end();
      await iterator.return?.();
    },
  });
}
