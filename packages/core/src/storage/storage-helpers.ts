/**
 * Helpers shared by every storage backend (in-memory, SQLite, Redis, third-party), so that input
 * validation, cursors, corruption reports and ownership errors read the same everywhere.
 */
import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import { BuddyError } from '../errors/buddy-error.ts';
import { describeValue } from '../errors/describe-value.ts';
import {
  SessionRecordSchema,
  SessionStateSchema,
  SessionSummaryRecordSchema,
  StoredRunSchema,
  UserMemorySchema,
} from '../messages/message-schema.ts';
import type { UpsertMemoryInput, UserMemory } from '../spec/memory-db-v1.ts';
import type {
  GetRunsInput,
  ListSessionsInput,
  SessionInfo,
  SessionRecord,
  SessionSummaryRecord,
  StoredRun,
} from '../spec/session-storage-v1.ts';
import { assertId, assertOptionalId } from '../validation/identifier.ts';
import { assertJsonObject } from '../validation/json-value.ts';
import { readOptions } from '../validation/options.ts';

/** Default and maximum page size of `listSessions`. */
export const DEFAULT_LIST_LIMIT = 20;
/** The largest page `listSessions` serves. */
export const MAX_LIST_LIMIT = 1000;

function invalid(message: string): BuddyError {
  return new BuddyError({ code: 'INVALID_ARGUMENT', message });
}

/** Checks that `value` is a non-empty string; `what` names it in the error (e.g. `'sessionId'`). */
export function assertNonEmptyString(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string' || value.trim().length === 0) {
    throw invalid(`${what} must be a non-empty string, got ${describeValue(value)}`);
  }
}

/** Checks an optional user id (the id rule of SPEC §10.1). */
export function assertOptionalUserId(value: unknown, what = 'userId'): void {
  assertOptionalId(value, what);
}

/** Checks a non-negative (or positive) integer. */
export function assertInteger(
  value: unknown,
  what: string,
  { min = 0, max = Number.MAX_SAFE_INTEGER }: { min?: number; max?: number } = {},
): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `between ${min} and ${max}`;
    throw invalid(`${what} must be an integer ${range}, got ${describeValue(value)}`);
  }
}

/** Validates and normalizes `getRuns` input. */
export function normalizeGetRunsInput(input: GetRunsInput): {
  sessionId: string;
  last?: number;
  fromIndex: number;
  limit?: number;
} {
  if (input === undefined) throw invalid('getRuns input must be an object, got undefined');
  readOptions(input, 'getRuns', ['sessionId', 'last', 'fromIndex', 'limit']);
  assertId(input.sessionId, 'sessionId');
  if (input.last !== undefined) {
    assertInteger(input.last, 'last');
    if (input.fromIndex !== undefined || input.limit !== undefined) {
      throw invalid('getRuns: pass either last or fromIndex/limit, not both');
    }
    return { sessionId: input.sessionId, last: input.last, fromIndex: 0 };
  }
  const fromIndex = input.fromIndex ?? 0;
  assertInteger(fromIndex, 'fromIndex');
  if (input.limit !== undefined) {
    assertInteger(input.limit, 'limit');
    return { sessionId: input.sessionId, fromIndex, limit: input.limit };
  }
  return { sessionId: input.sessionId, fromIndex };
}

/** A decoded keyset cursor: the last item of the previous page. */
export interface SessionCursor {
  updatedAt: number;
  sessionId: string;
}

/** Encodes the keyset position after `session` (opaque base64url). */
export function encodeSessionCursor(session: SessionCursor): string {
  return Buffer.from(JSON.stringify([session.updatedAt, session.sessionId])).toString('base64url');
}

/** Decodes a cursor made by `encodeSessionCursor`; `INVALID_ARGUMENT` naming it otherwise. */
export function decodeSessionCursor(cursor: string): SessionCursor {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(value) &&
      value.length === 2 &&
      typeof value[0] === 'number' &&
      typeof value[1] === 'string'
    ) {
      return { updatedAt: value[0], sessionId: value[1] };
    }
  } catch {
    // fall through to the error below
  }
  throw invalid(`cursor ${describeValue(cursor)} is not a cursor returned by listSessions`);
}

/** Validates and normalizes `listSessions` input. */
export function normalizeListSessionsInput(options: ListSessionsInput = {}): {
  userId?: string;
  agentId?: string;
  limit: number;
  cursor?: SessionCursor;
  metadata?: Record<string, unknown>;
} {
  const input = readOptions<ListSessionsInput>(options, 'listSessions', [
    'userId',
    'agentId',
    'limit',
    'cursor',
    'metadata',
  ]);
  if (input.metadata !== undefined) assertJsonObject(input.metadata, 'metadata');
  assertOptionalId(input.userId, 'userId');
  assertOptionalId(input.agentId, 'agentId');
  if (input.cursor !== undefined && typeof input.cursor !== 'string') {
    throw invalid(
      `cursor must be a string returned by listSessions, got ${describeValue(input.cursor)}`,
    );
  }
  const limit = input.limit ?? DEFAULT_LIST_LIMIT;
  assertInteger(limit, 'limit', { min: 1, max: MAX_LIST_LIMIT });
  return {
    ...(input.userId === undefined ? {} : { userId: input.userId }),
    ...(input.agentId === undefined ? {} : { agentId: input.agentId }),
    limit,
    ...(input.cursor === undefined ? {} : { cursor: decodeSessionCursor(input.cursor) }),
    ...(input.metadata === undefined ? {} : { metadata: input.metadata }),
  };
}

/** True when (a.updatedAt, a.sessionId) sorts after the cursor in listing order (desc, desc). */
export function isAfterCursor(session: SessionCursor, cursor: SessionCursor): boolean {
  return (
    session.updatedAt < cursor.updatedAt ||
    (session.updatedAt === cursor.updatedAt && session.sessionId < cursor.sessionId)
  );
}

/** Listing order: most recently updated first, then `sessionId` descending. */
export function compareSessionsForListing(a: SessionCursor, b: SessionCursor): number {
  if (a.updatedAt !== b.updatedAt) return b.updatedAt - a.updatedAt;
  return a.sessionId < b.sessionId ? 1 : a.sessionId > b.sessionId ? -1 : 0;
}

/** The error for a caller touching another user's session. Never reveals the owner. */
export function sessionOwnershipError(sessionId: string, userId: string | undefined): BuddyError {
  return new BuddyError({
    code: 'SESSION_OWNERSHIP',
    message:
      userId === undefined
        ? `Session ${describeValue(sessionId)} belongs to a user; pass that userId to access it`
        : `Session ${describeValue(sessionId)} belongs to another user; userId ${describeValue(userId)} may not access it`,
    details: { sessionId },
  });
}

/**
 * Whether a caller may touch a stored session under the storage rule: without `userId` anything
 * goes (trusted access); with one, it must equal the owner.
 */
export function isAllowedOwner(
  storedOwner: string | undefined,
  userId: string | undefined,
): boolean {
  return userId === undefined || storedOwner === userId;
}

/** Whether a summary may replace the stored one (never go back to fewer runs). */
export function shouldReplaceSummary(
  stored: SessionSummaryRecord | undefined,
  next: SessionSummaryRecord,
): boolean {
  return stored === undefined || next.runsCovered >= stored.runsCovered;
}

function corrupt(what: string, issues: string, cause?: unknown): BuddyError {
  return new BuddyError({
    code: 'STORAGE_CORRUPT',
    message: `${what} is corrupt: ${issues}`,
    cause,
  });
}

function parseWith<T>(schema: z.ZodType<T>, raw: unknown, what: string): T {
  let value = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch (error) {
      throw corrupt(what, 'not valid JSON', error);
    }
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const path = issue?.path.join('.') ?? '';
    throw corrupt(
      what,
      `${path === '' ? '' : `${path}: `}${issue?.message ?? 'invalid'}`,
      result.error,
    );
  }
  return result.data;
}

/**
 * Parses (JSON text or a value) and validates a session record; `STORAGE_CORRUPT` naming it.
 * A record of the usual shape (no paused run) is checked by hand, accepting only what
 * `SessionRecordSchema` accepts and returning what it would return; anything else (a paused run,
 * a value the hand check does not accept) goes through the schema, whose issue names the field.
 */
export function parseSessionRecord(raw: unknown, sessionId: string): SessionRecord {
  const record =
    checkedSessionRecord(typeof raw === 'string' ? parseJsonOrUndefined(raw) : raw) ??
    parseWith(SessionRecordSchema, raw, `Session ${describeValue(sessionId)}`);
  if (record.incarnation === undefined) record.incarnation = legacyIncarnation(record.createdAt);
  return record as SessionRecord;
}

/** A fresh incarnation id for a session being created. */
export function newIncarnation(): string {
  return randomUUID();
}

/** The incarnation of a record stored before 0.2 (which has none): derived from `createdAt`. */
export function legacyIncarnation(createdAt: number): string {
  return `legacy:${createdAt}`;
}

/** Parses and validates a stored run; `STORAGE_CORRUPT` naming its session. */
export function parseStoredRun(raw: unknown, sessionId: string): StoredRun {
  return parseWith(
    StoredRunSchema,
    raw,
    `A run of session ${describeValue(sessionId)}`,
  ) as StoredRun;
}

/** Parses and validates a stored summary. */
export function parseSessionSummary(raw: unknown, sessionId: string): SessionSummaryRecord {
  const checked = checkedSummary(typeof raw === 'string' ? parseJsonOrUndefined(raw) : raw);
  if (checked !== undefined) return checked;
  return parseWith(
    SessionSummaryRecordSchema,
    raw,
    `The summary of session ${describeValue(sessionId)}`,
  ) as SessionSummaryRecord;
}

/**
 * Parses and validates a session state. JSON text of an object is returned as `JSON.parse` made
 * it (a fresh object, as the schema would return); anything else goes through the schema.
 */
export function parseSessionState(raw: unknown, sessionId: string): Record<string, unknown> {
  if (typeof raw === 'string') {
    const value = parseJsonOrUndefined(raw);
    if (
      typeof value === 'object' &&
      value !== null &&
      Object.getPrototypeOf(value) === Object.prototype &&
      !Object.hasOwn(value, '__proto__')
    ) {
      return value as Record<string, unknown>;
    }
  }
  return parseWith(SessionStateSchema, raw, `The state of session ${describeValue(sessionId)}`);
}

/**
 * `value` copied as `z.record(z.string(), z.unknown())` copies it, or `undefined` when it is not a
 * plain object of string keys (the schema then decides and names the problem).
 */
function checkedRecordOf(value: unknown): Record<string, unknown> | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return undefined;
  if (Object.getOwnPropertySymbols(value).length > 0) return undefined;
  const copy: Record<string, unknown> = {};
  for (const key in value) {
    if (key === '__proto__') return undefined;
    copy[key] = (value as Record<string, unknown>)[key];
  }
  return copy;
}

function parseJsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function isCount(value: unknown, min: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min;
}

/** An optional string field: absent, or a string (of at least `min` characters). */
function isOptionalString(
  record: Record<string, unknown>,
  key: string,
  value: unknown,
  min = 0,
): boolean {
  return value === undefined ? !(key in record) : typeof value === 'string' && value.length >= min;
}

/** `SessionSummaryRecordSchema`'s output for `value`, or `undefined` to let the schema decide. */
function checkedSummary(value: unknown): SessionSummaryRecord | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const summary = value as Record<string, unknown>;
  const { summary: text, topics, runsCovered, updatedAt } = summary;
  if (typeof text !== 'string' || !isCount(runsCovered, 0) || !isFiniteNumber(updatedAt)) {
    return undefined;
  }
  if (topics === undefined) {
    if ('topics' in summary) return undefined;
    return { summary: text, runsCovered, updatedAt };
  }
  if (!Array.isArray(topics) || !topics.every((topic) => typeof topic === 'string')) {
    return undefined;
  }
  return { summary: text, topics: [...topics], runsCovered, updatedAt };
}

/**
 * `SessionRecordSchema`'s output for a record without a paused run (fields in the schema's order,
 * unknown keys dropped, objects copied), or `undefined` to let the schema decide.
 */
function checkedSessionRecord(value: unknown): SessionRecord | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  const {
    sessionId,
    incarnation,
    agentId,
    userId,
    sessionName,
    sessionState,
    summary,
    createdAt,
    updatedAt,
    version,
    runCount,
    metadata,
    pendingRun,
  } = record;
  if (
    pendingRun !== undefined ||
    'pendingRun' in record ||
    typeof sessionId !== 'string' ||
    sessionId.length === 0 ||
    !isOptionalString(record, 'incarnation', incarnation, 1) ||
    !isOptionalString(record, 'agentId', agentId) ||
    !isOptionalString(record, 'userId', userId) ||
    !isOptionalString(record, 'sessionName', sessionName) ||
    !isFiniteNumber(createdAt) ||
    !isFiniteNumber(updatedAt) ||
    !isCount(version, 1) ||
    !isCount(runCount, 0)
  ) {
    return undefined;
  }
  const state = checkedRecordOf(sessionState);
  if (state === undefined) return undefined;
  let checkedSummaryValue: SessionSummaryRecord | undefined;
  if (summary !== undefined) {
    checkedSummaryValue = checkedSummary(summary);
    if (checkedSummaryValue === undefined) return undefined;
  } else if ('summary' in record) return undefined;
  let checkedMetadata: Record<string, unknown> | undefined;
  if (metadata !== undefined) {
    checkedMetadata = checkedRecordOf(metadata);
    if (checkedMetadata === undefined) return undefined;
  } else if ('metadata' in record) return undefined;
  const out: Record<string, unknown> = { sessionId };
  if (incarnation !== undefined) out.incarnation = incarnation;
  if (agentId !== undefined) out.agentId = agentId;
  if (userId !== undefined) out.userId = userId;
  if (sessionName !== undefined) out.sessionName = sessionName;
  out.sessionState = state;
  if (checkedSummaryValue !== undefined) out.summary = checkedSummaryValue;
  out.createdAt = createdAt;
  out.updatedAt = updatedAt;
  out.version = version;
  out.runCount = runCount;
  if (checkedMetadata !== undefined) out.metadata = checkedMetadata;
  return out as unknown as SessionRecord;
}

/** Parses and validates a user memory row; `STORAGE_CORRUPT` naming the row. */
export function parseUserMemory(raw: unknown, id: string): UserMemory {
  return parseWith(UserMemorySchema, raw, `Memory ${describeValue(id)}`) as UserMemory;
}

const MEMORY_KEYS = [
  'id',
  'userId',
  'memory',
  'topics',
  'input',
  'createdAt',
  'updatedAt',
  'embedding',
];

/** The longest embedding accepted. */
export const MAX_EMBEDDING_DIMENSIONS = 16_384;

/** Checks an embedding: 1..`MAX_EMBEDDING_DIMENSIONS` finite numbers. */
export function assertEmbedding(value: unknown, what = 'embedding'): asserts value is number[] {
  if (
    !Array.isArray(value) ||
    value.length === 0 ||
    value.length > MAX_EMBEDDING_DIMENSIONS ||
    !value.every((item) => typeof item === 'number' && Number.isFinite(item))
  ) {
    throw invalid(
      `${what} must be an array of 1 to ${MAX_EMBEDDING_DIMENSIONS} finite numbers, got ${describeValue(value)}`,
    );
  }
}

/**
 * The embedding of an `upsertMemory` input, checked (`undefined` when it has none). Backends call
 * it next to `normalizeUpsertMemoryInput` and store the vector with the row.
 */
export function normalizeMemoryEmbedding(input: UpsertMemoryInput): number[] | undefined {
  if (input?.embedding === undefined) return undefined;
  assertEmbedding(input.embedding, 'memory.embedding');
  return [...input.embedding];
}

/** Checks `searchMemories` input. */
export function normalizeSearchMemoriesInput(input: unknown): {
  userId: string;
  embedding: number[];
  limit: number;
} {
  if (input === undefined) throw invalid('searchMemories input must be an object, got undefined');
  const checked = readOptions<{ userId: string; embedding: number[]; limit: number }>(
    input,
    'searchMemories',
    ['userId', 'embedding', 'limit'],
  );
  assertId(checked.userId, 'userId');
  assertEmbedding(checked.embedding);
  assertInteger(checked.limit, 'limit', { min: 1, max: 1000 });
  return { userId: checked.userId, embedding: checked.embedding, limit: checked.limit };
}

/** Cosine similarity of two vectors of one length (0 when either is all zeros). */
export function cosineSimilarity(a: readonly number[], b: readonly number[]): number {
  let dot = 0;
  let normA = 0;
  let normB = 0;
  for (let index = 0; index < a.length; index++) {
    const x = a[index] as number;
    const y = b[index] as number;
    dot += x * y;
    normA += x * x;
    normB += y * y;
  }
  return normA === 0 || normB === 0 ? 0 : dot / Math.sqrt(normA * normB);
}

/**
 * Checks a memory before it is written and fills what a new one may leave out: a random uuid
 * `id`, and `createdAt` / `updatedAt` (now). Every `MemoryDb` backend calls it first.
 */
export function normalizeUpsertMemoryInput(
  input: UpsertMemoryInput,
  now: number = Date.now(),
): UserMemory {
  if (input === undefined) throw invalid('upsertMemory input must be an object, got undefined');
  const memory = readOptions<UpsertMemoryInput>(input, 'upsertMemory', MEMORY_KEYS);
  assertOptionalId(memory.id, 'memory.id');
  assertId(memory.userId, 'memory.userId');
  if (typeof memory.memory !== 'string' || memory.memory.trim() === '') {
    throw invalid(`memory.memory must be a non-empty string, got ${describeValue(memory.memory)}`);
  }
  if (memory.topics !== undefined) {
    if (!Array.isArray(memory.topics) || memory.topics.some((topic) => typeof topic !== 'string')) {
      throw invalid(
        `memory.topics must be an array of strings, got ${describeValue(memory.topics)}`,
      );
    }
  }
  if (memory.input !== undefined && typeof memory.input !== 'string') {
    throw invalid(`memory.input must be a string, got ${describeValue(memory.input)}`);
  }
  for (const key of ['createdAt', 'updatedAt'] as const) {
    const value = memory[key];
    if (
      value !== undefined &&
      (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    ) {
      throw invalid(`memory.${key} must be epoch milliseconds, got ${describeValue(value)}`);
    }
  }
  return {
    id: memory.id ?? randomUUID(),
    userId: memory.userId as string,
    memory: memory.memory,
    ...(memory.topics === undefined ? {} : { topics: [...memory.topics] }),
    ...(memory.input === undefined ? {} : { input: memory.input }),
    createdAt: memory.createdAt ?? now,
    updatedAt: memory.updatedAt ?? now,
  };
}

/** Checks the `{ id, userId }` input of `deleteMemory`. */
export function normalizeMemoryIdInput(input: unknown): { id: string; userId: string } {
  if (input === undefined) throw invalid('deleteMemory input must be an object, got undefined');
  const checked = readOptions<{ id: string; userId: string }>(input, 'deleteMemory', [
    'id',
    'userId',
  ]);
  assertId(checked.id, 'id');
  assertId(checked.userId, 'userId');
  return { id: checked.id, userId: checked.userId };
}

/** Checks the `{ userId }` input of `clearMemories` (and similar per-user calls). */
export function normalizeUserIdInput(input: unknown, method: string): { userId: string } {
  if (input === undefined) throw invalid(`${method} input must be an object, got undefined`);
  const checked = readOptions<{ userId: string }>(input, method, ['userId']);
  assertId(checked.userId, 'userId');
  return { userId: checked.userId };
}

/** The error of every call on a closed storage or memory db (`STORAGE_CLOSED`). */
export function storageClosedError(what: string): BuddyError {
  return new BuddyError({
    code: 'STORAGE_CLOSED',
    message: `${what} is closed; create a new one`,
    retryable: false,
  });
}

/** The error for a memory row of another user. */
export function memoryOwnershipError(id: string, userId: string): BuddyError {
  return new BuddyError({
    code: 'MEMORY_OWNERSHIP',
    message: `Memory ${describeValue(id)} belongs to another user; userId ${describeValue(userId)} may not change it`,
    details: { id },
  });
}

/**
 * Retries `tryAcquire` with a growing, jittered delay (1 ms up to 50 ms) until it succeeds, the
 * wait budget runs out (`SESSION_BUSY`, retryable) or the signal fires (`ABORTED`). Backends use it
 * for their lease loops so that waiting behaves the same everywhere.
 */
export async function waitForLease<T>(
  tryAcquire: () => Promise<T | undefined> | T | undefined,
  options: { sessionId: string; waitMs: number; signal?: AbortSignal | undefined },
): Promise<T> {
  const deadline = Date.now() + options.waitMs;
  let delay = 1;
  for (;;) {
    if (options.signal?.aborted) {
      throw new BuddyError({
        code: 'ABORTED',
        message: `Waiting for session ${describeValue(options.sessionId)} was aborted`,
        cause: options.signal.reason,
      });
    }
    const lease = await tryAcquire();
    if (lease !== undefined) return lease;
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      throw new BuddyError({
        code: 'SESSION_BUSY',
        message: `Session ${describeValue(options.sessionId)} is busy: another run held it for more than ${options.waitMs} ms`,
        details: { sessionId: options.sessionId, waitMs: options.waitMs },
      });
    }
    const sleep = Math.min(remaining, delay + Math.random() * delay);
    await new Promise((resolve) => setTimeout(resolve, sleep));
    delay = Math.min(delay * 2, 50);
  }
}

/**
 * The error of a write fenced by `expectedIncarnation` when the session was deleted (or deleted
 * and created again): `NOT_FOUND`, nothing written.
 */
export function incarnationGoneError(sessionId: string): BuddyError {
  return new BuddyError({
    code: 'NOT_FOUND',
    message: `Session ${describeValue(sessionId)} no longer exists as it was read (deleted, or deleted and created again); nothing was written`,
    details: { sessionId },
  });
}

/** The error for a lease entry of the wrong shape: `STORAGE_CORRUPT`, never "busy forever". */
export function corruptLeaseError(sessionId: string, found: unknown): BuddyError {
  return new BuddyError({
    code: 'STORAGE_CORRUPT',
    message: `The lease of session ${describeValue(sessionId)} is corrupt (${describeValue(found)}); delete the session or its lease entry`,
    details: { sessionId },
  });
}

/** The error when a lease token no longer holds its session. */
export function leaseLostError(sessionId: string): BuddyError {
  return new BuddyError({
    code: 'CONFLICT',
    message: `The lease on session ${describeValue(sessionId)} was lost (expired or taken by another run); nothing was written`,
    details: { sessionId },
  });
}

/** The listing view of a session record. */
export function toSessionInfo(record: SessionRecord): SessionInfo {
  return {
    sessionId: record.sessionId,
    ...(record.sessionName === undefined ? {} : { sessionName: record.sessionName }),
    ...(record.userId === undefined ? {} : { userId: record.userId }),
    ...(record.agentId === undefined ? {} : { agentId: record.agentId }),
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    ...(record.metadata === undefined ? {} : { metadata: record.metadata }),
  };
}

/** Validates `readMemories` input (every `MemoryDb` backend calls it first). */
export function normalizeReadMemoriesInput(input: unknown): {
  userId: string;
  limit?: number;
  sort: 'newest' | 'oldest';
  missingEmbedding?: number;
} {
  if (input === undefined) throw invalid('readMemories input must be an object, got undefined');
  const {
    userId,
    limit,
    sort = 'newest',
    missingEmbedding,
  } = readOptions<{
    userId?: unknown;
    limit?: unknown;
    sort?: unknown;
    missingEmbedding?: unknown;
  }>(input, 'readMemories', ['userId', 'limit', 'sort', 'missingEmbedding']);
  if (missingEmbedding !== undefined) {
    assertInteger(missingEmbedding, 'missingEmbedding', { min: 1, max: MAX_EMBEDDING_DIMENSIONS });
  }
  assertId(userId, 'userId');
  if (limit !== undefined) assertInteger(limit, 'limit', { min: 1 });
  if (sort !== 'newest' && sort !== 'oldest') {
    throw invalid(`sort must be 'newest' or 'oldest', got ${describeValue(sort)}`);
  }
  return {
    userId,
    ...(limit === undefined ? {} : { limit: limit as number }),
    sort,
    ...(missingEmbedding === undefined ? {} : { missingEmbedding: missingEmbedding as number }),
  };
}

/** Memory order of the contract: by `createdAt`, then `id`; `'newest'` first by default. */
export function compareMemories(
  sort: 'newest' | 'oldest',
): (a: UserMemory, b: UserMemory) => number {
  const direction = sort === 'newest' ? -1 : 1;
  return (a, b) =>
    direction * (a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
