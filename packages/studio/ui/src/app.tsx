import { useEffect, useState } from 'preact/hooks';
import type { StudioInfo } from '../../src/api-types.ts';
import { ApiError, adoptTokenFromFragment, api, setToken } from './api-client.ts';
import { ErrorNote } from './components/error-note.tsx';
import { href, type Route, useRoute } from './router.ts';
import { HomeView } from './views/home-view.tsx';
import { SessionView } from './views/session-view.tsx';
import { UserView } from './views/user-view.tsx';

/** Asks for the bearer token when the server wants one (the Studio was started with auth). */
function TokenForm(props: { onToken: () => void; wrong: boolean }) {
  const [token, setValue] = useState('');
  return (
    <section class="card narrow" data-testid="token-form">
      <h2>Token needed</h2>
      <p class="muted">
        This Studio was started with <code>auth.token</code>. Paste the token (kept in this tab
        only, never in a cookie).
      </p>
      {props.wrong && <p class="error">That token was refused.</p>}
      <form
        class="inline-form"
        onSubmit={(event) => {
          event.preventDefault();
          setToken(token.trim());
          props.onToken();
        }}
      >
        <input
          type="password"
          aria-label="Token"
          value={token}
          onInput={(event) => setValue((event.target as HTMLInputElement).value)}
        />
        <button type="submit" class="primary">
          Continue
        </button>
      </form>
    </section>
  );
}

function Breadcrumbs(props: { route: Route }) {
  const { route } = props;
  return (
    <nav class="crumbs" aria-label="Breadcrumbs">
      <a href="#/">Users &amp; sessions</a>
      {route.name === 'user' && (
        <>
          <span aria-hidden="true">›</span>
          <span class="break">{route.userId}</span>
        </>
      )}
      {route.name === 'session' && (
        <>
          {route.userId !== undefined && (
            <>
              <span aria-hidden="true">›</span>
              <a class="break" href={href({ name: 'user', userId: route.userId })}>
                {route.userId}
              </a>
            </>
          )}
          <span aria-hidden="true">›</span>
          <span class="break">session</span>
        </>
      )}
    </nav>
  );
}

/** The Studio's page: header, breadcrumbs and the view of the current route. */
export function App() {
  const route = useRoute();
  const [info, setInfo] = useState<StudioInfo | undefined>();
  const [problem, setProblem] = useState<unknown>();
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    setProblem(undefined);
    api<StudioInfo>('GET', 'info').then(setInfo, setProblem);
  }, [attempt]);

  // A `#token=` link opened in a tab that already shows the Studio.
  useEffect(() => {
    const onHash = () => {
      if (adoptTokenFromFragment()) setAttempt((n) => n + 1);
    };
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  const needsToken = problem instanceof ApiError && problem.status === 401;
  return (
    <div class="page">
      <header class="topbar">
        <a class="brand" href="#/">
          Buddy Studio
        </a>
        {info !== undefined && (
          <span class="badges">
            <span class="chip" data-testid="backend">
              storage: {info.backend}
            </span>
            {info.chat && <span class="chip">chat on</span>}
          </span>
        )}
      </header>
      <p class="warning-line">Developer / admin tool: this Studio sees every user's data.</p>
      <Breadcrumbs route={route} />
      <main>
        {needsToken && <TokenForm wrong={attempt > 0} onToken={() => setAttempt((n) => n + 1)} />}
        {problem !== undefined && !needsToken && <ErrorNote error={problem} />}
        {info !== undefined && route.name === 'home' && <HomeView />}
        {info !== undefined && route.name === 'user' && (
          <UserView key={route.userId} userId={route.userId} info={info} />
        )}
        {info !== undefined && route.name === 'session' && (
          <SessionView
            key={`${route.sessionId}:${route.userId ?? ''}`}
            sessionId={route.sessionId}
            {...(route.userId === undefined ? {} : { userId: route.userId })}
            info={info}
          />
        )}
      </main>
    </div>
  );
}
