import type { SessionInfo } from '@buddy/core/spec';
import { useCallback, useEffect, useState } from 'preact/hooks';
import type { StudioSessionList } from '../../../src/api-types.ts';
import { api } from '../api-client.ts';
import { formatTime } from '../format.ts';
import { href } from '../router.ts';
import { ErrorNote } from './error-note.tsx';

const PAGE_SIZE = 20;

/**
 * Sessions, most recently updated first, one keyset page at a time ("Load more" asks the server
 * for the next page; nothing loads every session). With `userId`, only that user's sessions, and
 * links open them as that user.
 */
export function SessionList(props: { userId?: string; showOwner: boolean }) {
  const [sessions, setSessions] = useState<SessionInfo[]>([]);
  const [cursor, setCursor] = useState<string | undefined>();
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>();

  const load = useCallback(
    async (after: string | undefined) => {
      setLoading(true);
      setError(undefined);
      try {
        const page = await api<StudioSessionList>('GET', 'sessions', {
          query: { userId: props.userId, cursor: after, limit: PAGE_SIZE },
        });
        setSessions((previous) =>
          after === undefined ? page.sessions : [...previous, ...page.sessions],
        );
        setCursor(page.nextCursor);
      } catch (failure) {
        setError(failure);
      } finally {
        setLoading(false);
      }
    },
    [props.userId],
  );

  useEffect(() => {
    void load(undefined);
  }, [load]);

  return (
    <div class="session-list">
      {error !== undefined && <ErrorNote error={error} />}
      {!loading && error === undefined && sessions.length === 0 && (
        <p class="muted">No sessions.</p>
      )}
      <ul class="rows" data-testid="session-list">
        {sessions.map((session) => (
          <li key={session.sessionId} class="row" data-testid="session-row">
            <a
              class="row-main"
              href={href({
                name: 'session',
                sessionId: session.sessionId,
                ...(props.userId === undefined ? {} : { userId: props.userId }),
              })}
            >
              <span class="row-title">{session.sessionName ?? 'Untitled session'}</span>
              <code class="row-id">{session.sessionId}</code>
            </a>
            <span class="row-meta">
              {props.showOwner &&
                (session.userId === undefined ? (
                  <span class="muted">no owner</span>
                ) : (
                  <a href={href({ name: 'user', userId: session.userId })} data-testid="owner-link">
                    {session.userId}
                  </a>
                ))}
              <span class="muted">updated {formatTime(session.updatedAt)}</span>
            </span>
          </li>
        ))}
      </ul>
      {cursor !== undefined && (
        <button
          type="button"
          data-testid="load-more-sessions"
          disabled={loading}
          onClick={() => void load(cursor)}
        >
          {loading ? 'Loading…' : 'Load more sessions'}
        </button>
      )}
      {loading && sessions.length === 0 && <p class="muted">Loading…</p>}
    </div>
  );
}
