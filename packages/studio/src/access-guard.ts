/**
 * Who may talk to the Studio. Two modes:
 * - **No token** (the default, loopback only): requests must name a loopback host (`127.0.0.1`,
 *   `localhost`, `[::1]`), which stops DNS-rebinding pages from reading the API through a name that
 *   resolves to 127.0.0.1.
 * - **`auth.token`**: every API request carries `Authorization: Bearer <token>`, compared in
 *   constant time. No cookies are ever set or read, so a browser never attaches credentials on
 *   its own and there is no CSRF surface.
 * In both modes a request with an `Origin` header from another origin is refused, and requests
 * with a body must be `application/json` (which a cross-site form cannot send without a CORS
 * preflight, which the Studio never grants).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { errorResponse } from './http-errors.ts';

/** True for hostnames that always mean this machine. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  return (
    host === 'localhost' ||
    host.endsWith('.localhost') ||
    host === '::1' ||
    /^127(?:\.\d{1,3}){3}$/.test(host) ||
    host === '::ffff:127.0.0.1'
  );
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Constant-time token comparison (both sides hashed first, so lengths leak nothing either). */
export function tokenMatches(expected: string, given: string): boolean {
  return timingSafeEqual(digest(expected), digest(given));
}

/** The `host:port` of an `Origin` header; `undefined` for `null` or anything unparsable. */
function originHost(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}

/**
 * Checks one API request; returns the refusal, or `undefined` when the request may proceed.
 */
export function guardApiRequest(request: Request, token: string | undefined): Response | undefined {
  const url = new URL(request.url);
  if (token === undefined && !isLoopbackHost(url.hostname)) {
    return errorResponse(
      403,
      'FORBIDDEN',
      `Host ${JSON.stringify(url.hostname)} refused: without auth.token the Studio answers only loopback names (127.0.0.1, localhost).`,
    );
  }
  const origin = request.headers.get('origin');
  if (origin !== null && originHost(origin) !== url.host) {
    return errorResponse(
      403,
      'FORBIDDEN',
      `Cross-origin request from ${JSON.stringify(origin.slice(0, 100))} refused.`,
    );
  }
  if (token !== undefined) {
    const header = request.headers.get('authorization') ?? '';
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
    if (match?.[1] === undefined || !tokenMatches(token, match[1])) {
      return errorResponse(
        401,
        'UNAUTHORIZED',
        header === ''
          ? 'Missing Authorization header: send "Authorization: Bearer <token>".'
          : 'Wrong token in the Authorization header.',
        { 'www-authenticate': 'Bearer realm="buddy-studio"' },
      );
    }
  }
  if (request.method === 'POST' || request.method === 'PATCH' || request.method === 'PUT') {
    const type = request.headers.get('content-type') ?? '';
    if (!/^application\/json\s*(?:;|$)/i.test(type)) {
      return errorResponse(
        400,
        'INVALID_ARGUMENT',
        `Content-Type must be application/json, got ${JSON.stringify(type.slice(0, 100))}.`,
      );
    }
  }
  return undefined;
}
