import { useState } from 'preact/hooks';
import type { StudioForgetResult, StudioInfo } from '../../../src/api-types.ts';
import { api, segment } from '../api-client.ts';
import { ConfirmDialog, type ConfirmRequest } from '../components/confirm-dialog.tsx';
import { ErrorNote } from '../components/error-note.tsx';
import { MemoriesPanel } from '../components/memories-panel.tsx';
import { SessionList } from '../components/session-list.tsx';
import { plural } from '../format.ts';
import { navigate } from '../router.ts';

/** One user: their sessions (paged), their memories, and "forget this user". */
export function UserView(props: { userId: string; info: StudioInfo }) {
  const { userId, info } = props;
  const [confirm, setConfirm] = useState<ConfirmRequest | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [forgotten, setForgotten] = useState<StudioForgetResult | null>(null);
  const [reloadKey, setReloadKey] = useState(0);

  const forget = () =>
    setConfirm({
      title: 'Forget this user?',
      body: (
        <p>
          Deletes every session of <strong>{userId}</strong>
          {info.memories ? ' and every memory about them' : ''}. This cannot be undone.
        </p>
      ),
      confirmLabel: 'Forget user',
      onConfirm: async () => {
        const result = await api<StudioForgetResult>('DELETE', `users/${segment(userId)}`);
        setForgotten(result);
        setReloadKey((key) => key + 1);
      },
    });

  return (
    <div class="stack">
      <section class="card title-card">
        <div>
          <p class="muted small">User</p>
          <h2 class="break" data-testid="user-title">
            {userId}
          </h2>
        </div>
        <div class="actions">
          {info.chat && (
            <button
              type="button"
              data-testid="new-session"
              onClick={() => navigate({ name: 'session', sessionId: crypto.randomUUID(), userId })}
            >
              New session
            </button>
          )}
          <button type="button" class="danger" data-testid="forget-user" onClick={forget}>
            Forget user
          </button>
        </div>
      </section>
      {error !== undefined && <ErrorNote error={error} />}
      {forgotten !== null && (
        <p class="notice" data-testid="forget-result">
          Forgot {userId}: deleted {plural(forgotten.sessions, 'session')}
          {forgotten.memories === null
            ? ''
            : ` and ${plural(forgotten.memories, 'memory', 'memories')}`}
          .
        </p>
      )}
      <div class="columns">
        <section class="card">
          <h3>Sessions</h3>
          <SessionList key={`${userId}:${reloadKey}`} userId={userId} showOwner={false} />
        </section>
        {info.memories && <MemoriesPanel userId={userId} reloadKey={reloadKey} />}
      </div>
      {confirm !== null && (
        <ConfirmDialog
          request={confirm}
          busy={busy}
          onCancel={() => setConfirm(null)}
          onConfirm={async () => {
            setBusy(true);
            setError(undefined);
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
