import type { ToolCall } from '@buddy/core/spec';
import { useRef, useState } from 'preact/hooks';
import { chat } from '../api-client.ts';
import { ErrorNote } from './error-note.tsx';
import { ToolCallView } from './run-card.tsx';

interface LiveRun {
  message: string;
  text: string;
  calls: ToolCall[];
  results: Map<string, { content: string; isError: boolean }>;
  error?: { code: string; message: string };
  running: boolean;
}

/**
 * Sends a message to the agent in this session and shows the answer as it streams. When the run
 * ends, `onDone` reloads the timeline (where the stored run then appears); an error stays shown.
 */
export function ChatBox(props: {
  sessionId: string;
  userId: string | undefined;
  onDone: () => Promise<void>;
}) {
  const [text, setText] = useState('');
  const [live, setLive] = useState<LiveRun | null>(null);
  const controller = useRef<AbortController | null>(null);

  const send = async (event: Event) => {
    event.preventDefault();
    const message = text.trim();
    if (message === '' || controller.current !== null) return;
    setText('');
    const abort = new AbortController();
    controller.current = abort;
    let run: LiveRun = { message, text: '', calls: [], results: new Map(), running: true };
    setLive(run);
    try {
      const body = { message, ...(props.userId === undefined ? {} : { userId: props.userId }) };
      for await (const update of chat(props.sessionId, body, abort.signal)) {
        if (update.type === 'text-delta') run = { ...run, text: run.text + update.delta };
        else if (update.type === 'tool-call')
          run = { ...run, calls: [...run.calls, update.toolCall] };
        else if (update.type === 'tool-result') {
          const results = new Map(run.results);
          results.set(update.toolCallId, { content: update.result, isError: update.isError });
          run = { ...run, results };
        } else if (update.type === 'run-error') run = { ...run, error: update.error };
        setLive(run);
      }
    } catch (error) {
      if (!abort.signal.aborted) {
        run = {
          ...run,
          error: { code: 'ERROR', message: error instanceof Error ? error.message : String(error) },
        };
      }
    }
    controller.current = null;
    run = { ...run, running: false };
    setLive(run);
    await props.onDone();
    if (run.error === undefined) setLive(null);
  };

  return (
    <section class="card chat" aria-label="Chat">
      <h3>Chat in this session</h3>
      {live !== null && (
        <div class="live" data-testid="chat-live" aria-live="polite">
          <div class="message user">
            <span class="role">You</span>
            <p class="text">{live.message}</p>
          </div>
          <div class="message assistant">
            <span class="role">Assistant{live.running ? ' (answering…)' : ''}</span>
            {live.calls.map((call) => {
              const result = live.results.get(call.id);
              return (
                <ToolCallView
                  key={call.id}
                  call={call}
                  result={
                    result === undefined
                      ? undefined
                      : {
                          role: 'tool',
                          toolCallId: call.id,
                          toolName: call.name,
                          content: result.content,
                          isError: result.isError,
                        }
                  }
                />
              );
            })}
            <p class="text" data-testid="chat-live-text">
              {live.text}
            </p>
          </div>
          {live.error !== undefined && (
            <ErrorNote
              error={Object.assign(new Error(live.error.message), { code: live.error.code })}
            />
          )}
        </div>
      )}
      <form class="chat-form" onSubmit={send}>
        <label class="visually-hidden" for="chat-input">
          Message
        </label>
        <textarea
          id="chat-input"
          data-testid="chat-input"
          rows={2}
          placeholder="Write a message…"
          value={text}
          onInput={(event) => setText((event.target as HTMLTextAreaElement).value)}
          onKeyDown={(event) => {
            if (event.key === 'Enter' && !event.shiftKey) void send(event);
          }}
        />
        {live?.running === true ? (
          <button type="button" onClick={() => controller.current?.abort()}>
            Stop
          </button>
        ) : (
          <button
            type="submit"
            class="primary"
            data-testid="chat-send"
            disabled={text.trim() === ''}
          >
            Send
          </button>
        )}
      </form>
    </section>
  );
}
