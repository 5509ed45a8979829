import { useCallback, useEffect, useState } from 'preact/hooks';
import type {
  StudioInfo,
  StudioRun,
  StudioRunPage,
  StudioSession,
} from '../../../src/api-types.ts';
import { ApiError, api, segment } from '../api-client.ts';
import { ChatBox } from '../components/chat-box.tsx';
import { ConfirmDialog, type ConfirmRequest } from '../components/confirm-dialog.tsx';
import { ErrorNote } from '../components/error-note.tsx';
import { JsonBlock } from '../components/json-block.tsx';
import { RunCard } from '../components/run-card.tsx';
import { formatTime, plural } from '../format.ts';
import { href, navigate } from '../router.ts';

const PAGE_SIZE = 20;

/** The session's summary and which runs it covers. */
function SummaryCard(props: { session: StudioSession }) {
  const { summary, runCount } = props.session;
  return (
    <section class="card" aria-label="Summary">
      <h3>Summary</h3>
      {summary === undefined ? (
        <p class="muted">No summary yet.</p>
      ) : (
        <div data-testid="summary">
          <p class="text">{summary.summary}</p>
          <div class="chips">
            {(summary.topics ?? []).map((topic) => (
              <span class="chip" key={topic}>
                {topic}
              </span>
            ))}
          </div>
          <p class="muted small" data-testid="summary-coverage">
            {summary.runsCovered === 0
              ? 'Covers no runs yet'
              : `Covers runs 1–${summary.runsCovered} of ${runCount}`}
            {summary.runsCovered < runCount
              ? ` (${plural(runCount - summary.runsCovered, 'newer run')} not yet summarized)`
              : ''}{' '}
            · updated {formatTime(summary.updatedAt)}
          </p>
        </div>
      )}
    </section>
  );
}

/** A session: details, rename and delete, summary, state, the timeline of runs, and chat. */
export function SessionView(props: { sessionId: string; userId?: string; info: StudioInfo }) {
  const { sessionId, userId, info } = props;
  const [session, setSession] = useState<StudioSession | null | undefined>();
  const [runs, setRuns] = useState<StudioRun[]>([]);
  const [error, setError] = useState<unknown>();
  const [loadingEarlier, setLoadingEarlier] = useState(false);
  const [renaming, setRenaming] = useState<string | null>(null);
  const [confirm, setConfirm] = useState<ConfirmRequest | null>(null);
  const [busy, setBusy] = useState(false);

  const owner = userId === undefined ? {} : { userId };
  const path = `sessions/${segment(sessionId)}`;

  /** The session and its latest page of runs. */
  const reload = useCallback(async () => {
    setError(undefined);
    try {
      const { session: loaded } = await api<{ session: StudioSession }>('GET', path, {
        query: owner,
      });
      const from = Math.max(0, loaded.runCount - PAGE_SIZE);
      const page = await api<StudioRunPage>('GET', `${path}/runs`, {
        query: { ...owner, from, limit: PAGE_SIZE },
      });
      setSession(loaded);
      setRuns(page.runs);
    } catch (failure) {
      if (failure instanceof ApiError && failure.status === 404) {
        setSession(null);
        setRuns([]);
      } else {
        setError(failure);
      }
    }
  }, [path, userId]);

  useEffect(() => {
    setSession(undefined);
    void reload();
  }, [reload]);

  const loadEarlier = async () => {
    const first = runs[0];
    if (first === undefined) return;
    setLoadingEarlier(true);
    try {
      const from = Math.max(0, first.index - PAGE_SIZE);
      const page = await api<StudioRunPage>('GET', `${path}/runs`, {
        query: { ...owner, from, limit: first.index - from },
      });
      setRuns((current) => [...page.runs, ...current]);
    } catch (failure) {
      setError(failure);
    } finally {
      setLoadingEarlier(false);
    }
  };

  const saveName = async (event: Event) => {
    event.preventDefault();
    if (renaming === null || renaming.trim() === '') return;
    try {
      const { session: updated } = await api<{ session: StudioSession }>('PATCH', path, {
        query: owner,
        body: { sessionName: renaming },
      });
      setSession(updated);
      setRenaming(null);
    } catch (failure) {
      setError(failure);
    }
  };

  const askDelete = () =>
    setConfirm({
      title: 'Delete this session?',
      body: (
        <p>
          Deletes <strong>{session?.sessionName ?? sessionId}</strong> with its{' '}
          {plural(session?.runCount ?? 0, 'run')}, state and summary. This cannot be undone.
        </p>
      ),
      confirmLabel: 'Delete session',
      onConfirm: async () => {
        await api('DELETE', path, { query: owner });
        const back = session?.userId ?? userId;
        navigate(back === undefined ? { name: 'home' } : { name: 'user', userId: back });
      },
    });

  if (session === undefined && error === undefined) return <p class="muted">Loading…</p>;
  if (session === undefined || session === null) {
    return (
      <div class="stack">
        {error !== undefined && <ErrorNote error={error} />}
        {session === null && (
          <section class="card">
            <h2>Session not found</h2>
            <p class="muted">
              <code class="break">{sessionId}</code> does not exist
              {info.chat ? ' yet: send a message to start it.' : '.'}
            </p>
          </section>
        )}
        {session === null && info.chat && (
          <ChatBox sessionId={sessionId} userId={userId} onDone={reload} />
        )}
      </div>
    );
  }

  const first = runs[0];
  return (
    <div class="stack">
      <section class="card title-card">
        <div class="grow">
          <p class="muted small">Session</p>
          {renaming === null ? (
            <h2 class="break" data-testid="session-title">
              {session.sessionName ?? 'Untitled session'}
            </h2>
          ) : (
            <form class="inline-form" onSubmit={saveName}>
              <label class="visually-hidden" for="session-name">
                Session name
              </label>
              <input
                id="session-name"
                data-testid="rename-input"
                value={renaming}
                maxLength={1000}
                onInput={(event) => setRenaming((event.target as HTMLInputElement).value)}
              />
              <button type="submit" class="primary" data-testid="rename-save">
                Save
              </button>
              <button type="button" onClick={() => setRenaming(null)}>
                Cancel
              </button>
            </form>
          )}
          <dl class="facts">
            <dt>id</dt>
            <dd>
              <code class="break">{session.sessionId}</code>
            </dd>
            <dt>owner</dt>
            <dd>
              {session.userId === undefined ? (
                <span class="muted">none</span>
              ) : (
                <a href={href({ name: 'user', userId: session.userId })}>{session.userId}</a>
              )}
            </dd>
            {session.agentId !== undefined && (
              <>
                <dt>agent</dt>
                <dd>
                  <code class="break">{session.agentId}</code>
                </dd>
              </>
            )}
            <dt>created</dt>
            <dd>{formatTime(session.createdAt)}</dd>
            <dt>updated</dt>
            <dd>{formatTime(session.updatedAt)}</dd>
            <dt>runs</dt>
            <dd data-testid="run-count">{session.runCount.toLocaleString('en-US')}</dd>
          </dl>
        </div>
        <div class="actions">
          <button
            type="button"
            data-testid="rename"
            onClick={() => setRenaming(session.sessionName ?? '')}
          >
            Rename
          </button>
          <button type="button" class="danger" data-testid="delete-session" onClick={askDelete}>
            Delete
          </button>
        </div>
      </section>
      {error !== undefined && <ErrorNote error={error} />}
      <div class="columns">
        <div class="stack timeline-column">
          <section aria-label="Timeline" class="stack">
            <h3>Timeline</h3>
            {first !== undefined && first.index > 0 && (
              <button
                type="button"
                data-testid="load-earlier"
                disabled={loadingEarlier}
                onClick={() => void loadEarlier()}
              >
                {loadingEarlier ? 'Loading…' : `Show earlier runs (${first.index} more)`}
              </button>
            )}
            {runs.length === 0 && <p class="muted">No runs yet.</p>}
            <div class="stack" data-testid="timeline">
              {runs.map((run) => (
                <RunCard key={run.runId} run={run} />
              ))}
            </div>
          </section>
          {info.chat && (
            <ChatBox
              sessionId={sessionId}
              userId={userId}
              pendingApprovals={session.pendingApprovals}
              onDone={reload}
            />
          )}
        </div>
        <div class="stack side-column">
          <section class="card" aria-label="State">
            <h3>Current state</h3>
            <JsonBlock value={session.sessionState} testId="session-state" />
          </section>
          <SummaryCard session={session} />
        </div>
      </div>
      {confirm !== null && (
        <ConfirmDialog
          request={confirm}
          busy={busy}
          onCancel={() => setConfirm(null)}
          onConfirm={async () => {
            setBusy(true);
            try {
              await confirm.onConfirm();
            } catch (failure) {
              setError(failure);
            } finally {
              setBusy(false);
              setConfirm(null);
            }
          }}
        />
      )}
    </div>
  );
}
