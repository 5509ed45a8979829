import { useState } from 'preact/hooks';
import { SessionList } from '../components/session-list.tsx';
import { navigate } from '../router.ts';

/** Start page: open a user by id, or browse the most recent sessions of every user. */
export function HomeView() {
  const [userId, setUserId] = useState('');
  return (
    <div class="stack">
      <section class="card">
        <h2>Open a user</h2>
        <form
          class="inline-form"
          onSubmit={(event) => {
            event.preventDefault();
            if (userId.trim() !== '') navigate({ name: 'user', userId: userId.trim() });
          }}
        >
          <label class="visually-hidden" for="user-id">
            User id
          </label>
          <input
            id="user-id"
            data-testid="user-id-input"
            placeholder="User id, e.g. dana@example.com"
            value={userId}
            onInput={(event) => setUserId((event.target as HTMLInputElement).value)}
          />
          <button type="submit" class="primary" data-testid="open-user">
            Open
          </button>
        </form>
      </section>
      <section class="card">
        <h2>Recent sessions, all users</h2>
        <SessionList showOwner />
      </section>
    </div>
  );
}
