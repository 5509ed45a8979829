/**
 * The UI's only way to the server: `fetch` to the Studio's own origin, with the bearer token when
 * one is set. The token comes from the `#token=` fragment of the printed URL (a fragment is never
 * sent to a server) and is kept in this tab's sessionStorage, never in a cookie.
 */
import type { StudioChatEvent, StudioErrorBody } from '../../src/api-types.ts';

const TOKEN_KEY = 'buddy-studio-token';

/** A failed API call: the HTTP status and the server's `{ error: { code, message } }`. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** Takes `#token=…` out of the address bar into sessionStorage; true when there was one. */
export function adoptTokenFromFragment(): boolean {
  const match = /^#token=([^&]+)/.exec(window.location.hash);
  if (match?.[1] === undefined) return false;
  setToken(decodeURIComponent(match[1]));
  history.replaceState(null, '', `${window.location.pathname}${window.location.search}#/`);
  return true;
}

/** Keeps the bearer token for this tab (sessionStorage, never a cookie). */
export function setToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

function headers(extra?: Record<string, string>): Record<string, string> {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...extra };
}

/** `api/...` relative to the page, so the UI also works under a path prefix. */
function url(path: string, query?: Record<string, string | number | undefined>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined) params.set(key, String(value));
  }
  const search = params.toString();
  return `api/${path}${search === '' ? '' : `?${search}`}`;
}

async function failure(response: Response): Promise<ApiError> {
  try {
    const body = (await response.json()) as StudioErrorBody;
    return new ApiError(response.status, body.error.code, body.error.message);
  } catch {
    return new ApiError(response.status, 'INTERNAL', `HTTP ${response.status}`);
  }
}

/** One JSON call. Rejects with `ApiError`. */
export async function api<T>(
  method: 'GET' | 'PATCH' | 'DELETE' | 'POST',
  path: string,
  options: { query?: Record<string, string | number | undefined>; body?: unknown } = {},
): Promise<T> {
  const response = await fetch(url(path, options.query), {
    method,
    headers: headers(options.body === undefined ? {} : { 'content-type': 'application/json' }),
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    credentials: 'omit',
  });
  if (!response.ok) throw await failure(response);
  return (await response.json()) as T;
}

/** `encodeURIComponent` for one path segment. */
export const segment = (value: string): string => encodeURIComponent(value);

/**
 * Sends a chat message (or decisions on a paused run's approvals) and yields the run's events as they stream in (Server-Sent Events over a
 * POST, which `EventSource` cannot do). Aborting `signal` closes the connection, which aborts the
 * run on the server.
 */
export async function* chat(
  sessionId: string,
  body:
    | { message: string; userId?: string }
    | { approvals: Record<string, { approved: boolean; reason?: string }>; userId?: string },
  signal: AbortSignal,
): AsyncGenerator<StudioChatEvent> {
  const response = await fetch(url(`sessions/${segment(sessionId)}/chat`), {
    method: 'POST',
    headers: headers({ 'content-type': 'application/json', accept: 'text/event-stream' }),
    body: JSON.stringify(body),
    credentials: 'omit',
    signal,
  });
  if (!response.ok || response.body === null) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end = buffer.indexOf('\n\n');
    while (end !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trimStart())
        .join('\n');
      if (data !== '') yield JSON.parse(data) as StudioChatEvent;
      end = buffer.indexOf('\n\n');
    }
  }
}
