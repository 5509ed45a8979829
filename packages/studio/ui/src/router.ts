/**
 * Hash routes, so the page itself is always `/` (or wherever the Studio is mounted):
 * `#/` (home), `#/users/<userId>`, `#/sessions/<sessionId>` and `#/sessions/<sessionId>?user=<userId>`
 * (the session seen as its owner: every call then carries `userId`, checked by the server).
 */
import { useEffect, useState } from 'preact/hooks';

/** Where the UI is. */
export type Route =
  | { name: 'home' }
  | { name: 'user'; userId: string }
  | { name: 'session'; sessionId: string; userId?: string };

/** The route of a location hash; anything unknown is home. */
export function parseRoute(hash: string): Route {
  const [path = '', search = ''] = hash.replace(/^#/, '').split('?');
  const parts = path.split('/').filter((part) => part !== '');
  const decode = (value: string) => {
    try {
      return decodeURIComponent(value);
    } catch {
      return value;
    }
  };
  if (parts[0] === 'users' && parts[1] !== undefined) {
    return { name: 'user', userId: decode(parts[1]) };
  }
  if (parts[0] === 'sessions' && parts[1] !== undefined) {
    const user = new URLSearchParams(search).get('user');
    return {
      name: 'session',
      sessionId: decode(parts[1]),
      ...(user === null || user === '' ? {} : { userId: user }),
    };
  }
  return { name: 'home' };
}

/** The hash link of a route. */
export function href(route: Route): string {
  if (route.name === 'user') return `#/users/${encodeURIComponent(route.userId)}`;
  if (route.name === 'session') {
    const base = `#/sessions/${encodeURIComponent(route.sessionId)}`;
    return route.userId === undefined
      ? base
      : `${base}?${new URLSearchParams({ user: route.userId }).toString()}`;
  }
  return '#/';
}

/** Goes to a route. */
export function navigate(route: Route): void {
  window.location.hash = href(route);
}

/** The current route; re-renders on `hashchange`. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}
