import { BuddyError, type BuddyErrorCode, type Logger } from '@buddy/core';
import type { StudioErrorBody } from './api-types.ts';

/** HTTP status of each `BuddyError` code the API can meet; anything else is 500. */
const STATUS: Partial<Record<BuddyErrorCode, number>> = {
  INVALID_ARGUMENT: 400,
  NOT_FOUND: 404,
  SESSION_OWNERSHIP: 403,
  MEMORY_OWNERSHIP: 403,
  SESSION_BUSY: 409,
  CONFLICT: 409,
  STORAGE_UNAVAILABLE: 503,
  STORAGE_BUSY: 503,
  STORAGE_CLOSED: 503,
  STORAGE_OUTCOME_UNKNOWN: 503,
};

/** The status an error code is answered with. */
export function statusForCode(code: BuddyErrorCode): number {
  return STATUS[code] ?? 500;
}

/** Headers every API answer carries: never cached, never sniffed, never framed. */
export const API_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/** A JSON answer with the API headers. */
export function jsonResponse(
  body: unknown,
  status = 200,
  headers?: Record<string, string>,
): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...API_HEADERS, ...headers },
  });
}

/** An error answer: `{ error: { code, message } }`. */
export function errorResponse(
  status: number,
  code: string,
  message: string,
  headers?: Record<string, string>,
): Response {
  const body: StudioErrorBody = { error: { code, message } };
  return jsonResponse(body, status, headers);
}

/**
 * Turns anything a route threw into an error answer. A `BuddyError` keeps its code and message
 * (messages name only the values the caller sent: ids, limits, cursors); anything else is a bug,
 * logged with its stack and answered with a generic `INTERNAL` message.
 */
export function toErrorResponse(error: unknown, logger: Logger): Response {
  if (BuddyError.is(error)) {
    const status = statusForCode(error.code);
    if (status === 500) logger.error(`Studio: ${error.message}`, { code: error.code, error });
    return errorResponse(status, error.code, error.message);
  }
  logger.error('Studio: unexpected error while answering a request', { error });
  return errorResponse(500, 'INTERNAL', 'Internal error in the Studio; see the server log.');
}
