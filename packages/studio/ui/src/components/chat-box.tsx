import type { ToolCall } from '@buddy/core/spec';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { StudioPendingApproval } from '../../../src/api-types.ts';
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
 * A run that pauses at a tool needing approval (or a session already paused, `pendingApprovals`)
 * shows each call with Approve / Deny; once every call has a decision the run resumes here.
 */
export function ChatBox(props: {
  sessionId: string;
  userId: string | undefined;
  pendingApprovals?: StudioPendingApproval[] | undefined;
  onDone: () => Promise<void>;
}) {
  const [text, setText] = useState('');
  const [live, setLive] = useState<LiveRun | null>(null);
  const [waiting, setWaiting] = useState<StudioPendingApproval[]>(props.pendingApprovals ?? []);
  const [decided, setDecided] = useState<Record<string, boolean>>({});
  const controller = useRef<AbortController | null>(null);

  // The session reloaded (e.g. another tab answered): show what it says is pending now.
  useEffect(() => {
    if (controller.current === null) {
      setWaiting(props.pendingApprovals ?? []);
      setDecided({});
    }
  }, [props.pendingApprovals]);

  const send = async (event: Event) => {
    event.preventDefault();
    const message = text.trim();
    if (message === '' || controller.current !== null || waiting.length > 0) return;
    setText('');
    await stream(message, { message });
  };

  const decide = async (approvalId: string, approved: boolean) => {
    if (controller.current !== null) return;
    const next = { ...decided, [approvalId]: approved };
    setDecided(next);
    if (!waiting.every((approval) => approval.approvalId in next)) return;
    const approvals = Object.fromEntries(
      waiting.map((approval) => [
        approval.approvalId,
        next[approval.approvalId] === true
          ? { approved: true }
          : { approved: false, reason: 'denied in Buddy Studio' },
      ]),
    );
    const summary = waiting
      .map(
        (approval) => `${next[approval.approvalId] ? 'Approved' : 'Denied'} ${approval.toolName}`,
      )
      .join(', ');
    setWaiting([]);
    setDecided({});
    await stream(summary, { approvals });
  };

  const stream = async (
    label: string,
    request:
      | { message: string }
      | { approvals: Record<string, { approved: boolean; reason?: string }> },
  ) => {
    const abort = new AbortController();
    controller.current = abort;
    let run: LiveRun = { message: label, text: '', calls: [], results: new Map(), running: true };
    let paused: StudioPendingApproval[] = [];
    setLive(run);
    try {
      const body = { ...request, ...(props.userId === undefined ? {} : { userId: props.userId }) };
      for await (const update of chat(props.sessionId, body, abort.signal)) {
        if (update.type === 'approval-requested') paused = update.pendingApprovals;
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
    setWaiting(paused);
    await props.onDone();
    if (run.error === undefined && paused.length === 0) setLive(null);
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
      {waiting.length > 0 && (
        <fieldset class="approvals" data-testid="approvals">
          <legend>Waiting for approval</legend>
          <p class="muted">The agent waits for your decision before it runs:</p>
          {waiting.map((approval) => (
            <div class="approval" key={approval.approvalId} data-testid="approval">
              <code class="break">
                {approval.toolName}({approval.arguments})
              </code>
              {approval.approvalId in decided ? (
                <span class="muted">{decided[approval.approvalId] ? 'approved' : 'denied'}</span>
              ) : (
                <span class="actions">
                  <button
                    type="button"
                    class="primary"
                    data-testid="approval-approve"
                    onClick={() => void decide(approval.approvalId, true)}
                  >
                    Approve
                  </button>
                  <button
                    type="button"
                    data-testid="approval-deny"
                    onClick={() => void decide(approval.approvalId, false)}
                  >
                    Deny
                  </button>
                </span>
              )}
            </div>
          ))}
        </fieldset>
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
            disabled={text.trim() === '' || waiting.length > 0}
          >
            Send
          </button>
        )}
      </form>
    </section>
  );
}
