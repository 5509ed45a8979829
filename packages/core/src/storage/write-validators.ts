/**
 * The write validators every storage backend calls before it writes (SPEC §10.3): in-memory,
 * SQLite, Redis, PostgreSQL and third-party backends check the same things and fail the same way
 * (`INVALID_ARGUMENT` naming the bad value, nothing written). Hand-written rather than zod: they
 * sit on the write path of every turn and cost O(size of the run), never O(history).
 */
import { BuddyError } from '../errors/buddy-error.ts';
import { describeValue } from '../errors/describe-value.ts';
import type { StoredMessage } from '../messages/message.ts';
import type {
  AcquireLeaseInput,
  AppendRunInput,
  PendingRunRecord,
  PruneInput,
  RestoreTimes,
  SessionMetadata,
  SessionStorage,
  SessionSummaryRecord,
  StoredRun,
  UpsertSessionInput,
} from '../spec/session-storage-v1.ts';
import { assertId, assertOptionalId } from '../validation/identifier.ts';
import { assertJsonObject, assertJsonValue, jsonPath } from '../validation/json-value.ts';
import { isPlainObject, readOptions } from '../validation/options.ts';

/** The longest session name, in UTF-16 code units. */
export const MAX_SESSION_NAME_LENGTH = 1000;

/** The largest session metadata, serialized as JSON, in UTF-16 code units (16 kB). */
export const MAX_METADATA_LENGTH = 16 * 1024;

/** The latest time `restoreTimes` accepts: the last millisecond a JavaScript `Date` can hold. */
export const MAX_EPOCH_MS = 8_640_000_000_000_000;

function invalid(message: string, path?: string): BuddyError {
  return new BuddyError({
    code: 'INVALID_ARGUMENT',
    message,
    ...(path === undefined ? {} : { details: { path } }),
  });
}

function assertString(value: unknown, path: string): asserts value is string {
  if (typeof value !== 'string')
    throw invalid(`${path} must be a string, got ${describeValue(value)}`, path);
}

function assertFiniteNumber(value: unknown, path: string, min = 0): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw invalid(`${path} must be a finite number >= ${min}, got ${describeValue(value)}`, path);
  }
}

function assertCount(value: unknown, path: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(`${path} must be an integer >= 0, got ${describeValue(value)}`, path);
  }
}

function assertObject(value: unknown, path: string): asserts value is Record<string, unknown> {
  if (!isPlainObject(value))
    throw invalid(`${path} must be an object, got ${describeValue(value)}`, path);
}

/** Checks a session name: a non-empty string of at most `MAX_SESSION_NAME_LENGTH`. */
export function assertSessionName(value: unknown, what = 'sessionName'): asserts value is string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw invalid(`${what} must be a non-empty string, got ${describeValue(value)}`);
  }
  if (value.length > MAX_SESSION_NAME_LENGTH) {
    throw invalid(
      `${what} must be at most ${MAX_SESSION_NAME_LENGTH} characters, got ${value.length}`,
    );
  }
}

/** Checks a session state: a plain object of JSON values (SPEC §10.1). */
export function assertSessionState(
  value: unknown,
  what = 'sessionState',
): asserts value is Record<string, unknown> {
  assertJsonObject(value, what);
}

/** Checks a session summary record before it is written. */
export function assertSessionSummaryRecord(
  value: unknown,
  what = 'summary',
): asserts value is SessionSummaryRecord {
  assertObject(value, what);
  for (const key of Object.keys(value)) {
    if (!['summary', 'topics', 'runsCovered', 'updatedAt'].includes(key)) {
      throw invalid(`${what}: unknown field ${describeValue(key)}`, what);
    }
  }
  assertString(value.summary, `${what}.summary`);
  if (value.topics !== undefined) {
    if (!Array.isArray(value.topics)) {
      throw invalid(
        `${what}.topics must be an array of strings, got ${describeValue(value.topics)}`,
      );
    }
    value.topics.forEach((topic, index) => {
      assertString(topic, jsonPath(`${what}.topics`, index));
    });
  }
  assertCount(value.runsCovered, `${what}.runsCovered`);
  assertFiniteNumber(value.updatedAt, `${what}.updatedAt`);
}

const MESSAGE_KEYS: Record<StoredMessage['role'], readonly string[]> = {
  system: ['role', 'content', 'id', 'createdAt', 'runId'],
  user: ['role', 'content', 'id', 'createdAt', 'runId'],
  assistant: ['role', 'content', 'toolCalls', 'id', 'createdAt', 'runId'],
  tool: ['role', 'toolCallId', 'toolName', 'content', 'isError', 'id', 'createdAt', 'runId'],
};

/** Checks one stored message (the shape `StoredMessageSchema` reads back). */
export function assertStoredMessage(value: unknown, path: string): asserts value is StoredMessage {
  assertObject(value, path);
  const role = value.role;
  if (role !== 'system' && role !== 'user' && role !== 'assistant' && role !== 'tool') {
    throw invalid(
      `${path}.role must be 'system', 'user', 'assistant' or 'tool', got ${describeValue(role)}`,
      `${path}.role`,
    );
  }
  const known = MESSAGE_KEYS[role];
  for (const key of Object.keys(value)) {
    if (!known.includes(key) && value[key] !== undefined) {
      throw invalid(`${path}: unknown field ${describeValue(key)} on a ${role} message`, path);
    }
  }
  assertString(value.content, `${path}.content`);
  assertString(value.id, `${path}.id`);
  if (value.id === '') throw invalid(`${path}.id must be a non-empty string, got ""`, `${path}.id`);
  assertFiniteNumber(value.createdAt, `${path}.createdAt`);
  assertString(value.runId, `${path}.runId`);
  if (role === 'assistant' && value.toolCalls !== undefined) {
    const calls = value.toolCalls;
    if (!Array.isArray(calls)) {
      throw invalid(
        `${path}.toolCalls must be an array, got ${describeValue(calls)}`,
        `${path}.toolCalls`,
      );
    }
    calls.forEach((call: unknown, index) => {
      const callPath = jsonPath(`${path}.toolCalls`, index);
      assertObject(call, callPath);
      assertString(call.id, `${callPath}.id`);
      assertString(call.name, `${callPath}.name`);
      assertString(call.arguments, `${callPath}.arguments`);
      // Whatever else an adapter put on the call must still be JSON.
      assertJsonValue(call, callPath);
    });
  }
  if (role === 'tool') {
    assertString(value.toolCallId, `${path}.toolCallId`);
    assertString(value.toolName, `${path}.toolName`);
    if (value.isError !== undefined && typeof value.isError !== 'boolean') {
      throw invalid(`${path}.isError must be a boolean, got ${describeValue(value.isError)}`);
    }
  }
}

const RUN_STATUSES = ['completed', 'aborted', 'failed'];

/** Checks session metadata: a JSON object of at most `MAX_METADATA_LENGTH` serialized. */
export function assertSessionMetadata(
  value: unknown,
  what = 'metadata',
): asserts value is SessionMetadata {
  assertJsonObject(value, what);
  const length = JSON.stringify(value).length;
  if (length > MAX_METADATA_LENGTH) {
    throw invalid(
      `${what} must be at most ${MAX_METADATA_LENGTH} characters as JSON, got ${length}`,
      what,
    );
  }
}

/** Checks a paused run before it is stored with its session (SPEC §16.4). */
export function assertPendingRunRecord(
  value: unknown,
  what = 'pendingRun',
): asserts value is PendingRunRecord {
  assertObject(value, what);
  const known = [
    'runId',
    'userId',
    'agentId',
    'messages',
    'sessionState',
    'approvals',
    'usage',
    'model',
    'rounds',
    'createdAt',
    'pausedAt',
  ];
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) throw invalid(`${what}: unknown field ${describeValue(key)}`, what);
  }
  assertId(value.runId, `${what}.runId`);
  assertOptionalId(value.userId, `${what}.userId`);
  assertOptionalId(value.agentId, `${what}.agentId`);
  if (!Array.isArray(value.messages) || value.messages.length === 0) {
    throw invalid(
      `${what}.messages must be a non-empty array, got ${describeValue(value.messages)}`,
    );
  }
  value.messages.forEach((message: unknown, index) => {
    assertStoredMessage(message, jsonPath(`${what}.messages`, index));
  });
  assertSessionState(value.sessionState, `${what}.sessionState`);
  if (!Array.isArray(value.approvals) || value.approvals.length === 0) {
    throw invalid(
      `${what}.approvals must be a non-empty array, got ${describeValue(value.approvals)}`,
    );
  }
  value.approvals.forEach((approval: unknown, index) => {
    const path = jsonPath(`${what}.approvals`, index);
    assertObject(approval, path);
    assertId(approval.approvalId, `${path}.approvalId`);
    assertString(approval.toolCallId, `${path}.toolCallId`);
    assertString(approval.toolName, `${path}.toolName`);
    assertString(approval.arguments, `${path}.arguments`);
  });
  assertObject(value.usage, `${what}.usage`);
  assertCount(value.usage.inputTokens, `${what}.usage.inputTokens`);
  assertCount(value.usage.outputTokens, `${what}.usage.outputTokens`);
  assertObject(value.model, `${what}.model`);
  assertString(value.model.provider, `${what}.model.provider`);
  assertString(value.model.id, `${what}.model.id`);
  assertJsonValue(value.model, `${what}.model`);
  assertCount(value.rounds, `${what}.rounds`);
  assertFiniteNumber(value.createdAt, `${what}.createdAt`);
  assertFiniteNumber(value.pausedAt, `${what}.pausedAt`);
}

const RUN_KEYS = [
  'status',
  'runId',
  'sessionId',
  'index',
  'userId',
  'agentId',
  'messages',
  'usage',
  'model',
  'createdAt',
  'completedAt',
  'stateAfter',
];

/** Checks a run before it is appended (its `index` and `stateAfter`, if any, are ignored). */
export function assertRunInput(
  value: unknown,
  sessionId: string,
  path = 'run',
): asserts value is Omit<StoredRun, 'index' | 'stateAfter'> {
  assertObject(value, path);
  for (const key of Object.keys(value)) {
    if (!RUN_KEYS.includes(key))
      throw invalid(`${path}: unknown field ${describeValue(key)}`, path);
  }
  assertId(value.runId, `${path}.runId`);
  if (value.sessionId !== sessionId) {
    throw invalid(
      `${path}.sessionId ${describeValue(value.sessionId)} does not match sessionId ${describeValue(sessionId)}`,
      `${path}.sessionId`,
    );
  }
  assertOptionalId(value.userId, `${path}.userId`);
  assertOptionalId(value.agentId, `${path}.agentId`);
  const messages = value.messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    throw invalid(
      `${path}.messages must be a non-empty array of messages, got ${describeValue(messages)}`,
      `${path}.messages`,
    );
  }
  messages.forEach((message: unknown, index) => {
    assertStoredMessage(message, jsonPath(`${path}.messages`, index));
  });
  assertObject(value.usage, `${path}.usage`);
  assertCount(value.usage.inputTokens, `${path}.usage.inputTokens`);
  assertCount(value.usage.outputTokens, `${path}.usage.outputTokens`);
  assertJsonValue(value.usage, `${path}.usage`);
  assertObject(value.model, `${path}.model`);
  assertString(value.model.provider, `${path}.model.provider`);
  assertString(value.model.id, `${path}.model.id`);
  assertFiniteNumber(value.createdAt, `${path}.createdAt`);
  assertFiniteNumber(value.completedAt, `${path}.completedAt`);
  if (value.status !== undefined && !RUN_STATUSES.includes(value.status as string)) {
    throw invalid(
      `${path}.status must be 'completed', 'aborted' or 'failed', got ${describeValue(value.status)}`,
      `${path}.status`,
    );
  }
  // Whatever else a message or the model info holds must still be JSON.
  assertJsonValue(value.model, `${path}.model`);
}

const APPEND_KEYS = [
  'sessionId',
  'userId',
  'agentId',
  'sessionName',
  'run',
  'sessionState',
  'leaseToken',
  'releaseLease',
  'metadata',
  'clearPendingRun',
];

/**
 * Checks `appendRun` input: ids, name, the run (messages, usage, model, timestamps) and the state
 * (JSON only). Every backend calls it first; `INVALID_ARGUMENT` naming the path, nothing written.
 */
export function assertAppendRunInput(input: unknown): asserts input is AppendRunInput {
  if (input === undefined || !isPlainObject(input)) {
    throw invalid(`appendRun input must be an object, got ${describeValue(input)}`);
  }
  readOptions(input, 'appendRun', APPEND_KEYS);
  assertId(input.sessionId, 'sessionId');
  assertOptionalId(input.userId, 'userId');
  assertOptionalId(input.agentId, 'agentId');
  if (input.sessionName !== undefined) assertSessionName(input.sessionName);
  assertRunInput(input.run, input.sessionId);
  assertSessionState(input.sessionState);
  if (input.leaseToken !== undefined) assertId(input.leaseToken, 'leaseToken');
  if (input.releaseLease !== undefined && typeof input.releaseLease !== 'boolean') {
    throw invalid(`releaseLease must be a boolean, got ${describeValue(input.releaseLease)}`);
  }
  if (input.metadata !== undefined) assertSessionMetadata(input.metadata);
  if (input.clearPendingRun !== undefined && typeof input.clearPendingRun !== 'boolean') {
    throw invalid(`clearPendingRun must be a boolean, got ${describeValue(input.clearPendingRun)}`);
  }
}

const UPSERT_KEYS = [
  'sessionId',
  'userId',
  'agentId',
  'sessionName',
  'sessionState',
  'summary',
  'expectedIncarnation',
  'metadata',
  'pendingRun',
  'leaseToken',
  'restoreTimes',
];

function assertEpochMs(value: unknown, path: string): asserts value is number {
  if (
    typeof value !== 'number' ||
    !Number.isSafeInteger(value) ||
    value < 0 ||
    value > MAX_EPOCH_MS
  ) {
    throw invalid(
      `${path} must be epoch milliseconds: an integer from 0 to ${MAX_EPOCH_MS}, got ${describeValue(value)}`,
      path,
    );
  }
}

/**
 * Checks the times of `upsertSession({ restoreTimes })`: an object with exactly `createdAt` and
 * `updatedAt`, both epoch milliseconds (integers from 0 to `MAX_EPOCH_MS`), `createdAt` not after
 * `updatedAt`. Import tools can check a source's times with it before they write anything.
 */
export function assertRestoreTimes(
  value: unknown,
  what = 'restoreTimes',
): asserts value is RestoreTimes {
  assertObject(value, what);
  readOptions(value, what, ['createdAt', 'updatedAt']);
  assertEpochMs(value.createdAt, `${what}.createdAt`);
  assertEpochMs(value.updatedAt, `${what}.updatedAt`);
  if (value.createdAt > value.updatedAt) {
    throw invalid(
      `${what}.createdAt (${value.createdAt}) must not be after ${what}.updatedAt (${value.updatedAt})`,
      `${what}.createdAt`,
    );
  }
}

/**
 * Checks `upsertSession` input. Every backend calls it first, passing itself as `storage`: that
 * is how `restoreTimes` is refused (`INVALID_ARGUMENT`, nothing written) by a storage that does
 * not declare `capabilities.restoresTimes`, including one that passes nothing.
 */
export function assertUpsertSessionInput(
  input: unknown,
  storage?: Pick<SessionStorage, 'backend' | 'capabilities'>,
): asserts input is UpsertSessionInput {
  if (input === undefined || !isPlainObject(input)) {
    throw invalid(`upsertSession input must be an object, got ${describeValue(input)}`);
  }
  readOptions(input, 'upsertSession', UPSERT_KEYS);
  assertId(input.sessionId, 'sessionId');
  assertOptionalId(input.userId, 'userId');
  assertOptionalId(input.agentId, 'agentId');
  if (input.sessionName !== undefined) assertSessionName(input.sessionName);
  if (input.sessionState !== undefined) assertSessionState(input.sessionState);
  if (input.summary !== undefined) assertSessionSummaryRecord(input.summary);
  if (input.expectedIncarnation !== undefined) {
    assertId(input.expectedIncarnation, 'expectedIncarnation');
  }
  if (input.metadata !== undefined) assertSessionMetadata(input.metadata);
  if (input.pendingRun !== undefined && input.pendingRun !== null) {
    assertPendingRunRecord(input.pendingRun);
  }
  if (input.leaseToken !== undefined) assertId(input.leaseToken, 'leaseToken');
  if (input.restoreTimes !== undefined) {
    assertRestoreTimes(input.restoreTimes);
    if (storage?.capabilities?.restoresTimes !== true) {
      const which =
        typeof storage?.backend === 'string' ? `this ${describeValue(storage.backend)}` : 'this';
      throw invalid(
        `upsertSession: restoreTimes needs a storage that declares capabilities.restoresTimes, and ${which} storage does not (nothing was written; write without restoreTimes to let the storage set the times)`,
        'restoreTimes',
      );
    }
  }
}

/** Checks `prune` input: at least one of `olderThan` (epoch ms) and `keepLastRuns`. */
export function normalizePruneInput(input: unknown): PruneInput {
  if (input === undefined) throw invalid('prune input must be an object, got undefined');
  const checked = readOptions<PruneInput>(input, 'prune', ['olderThan', 'keepLastRuns', 'userId']);
  if (checked.olderThan === undefined && checked.keepLastRuns === undefined) {
    throw invalid('prune needs olderThan (epoch ms) or keepLastRuns; nothing to prune');
  }
  if (checked.olderThan !== undefined) assertFiniteNumber(checked.olderThan, 'olderThan');
  if (checked.keepLastRuns !== undefined) assertCount(checked.keepLastRuns, 'keepLastRuns');
  assertOptionalId(checked.userId, 'userId');
  return {
    ...(checked.olderThan === undefined ? {} : { olderThan: checked.olderThan }),
    ...(checked.keepLastRuns === undefined ? {} : { keepLastRuns: checked.keepLastRuns }),
    ...(checked.userId === undefined ? {} : { userId: checked.userId }),
  };
}

/** Whether `metadata` has every top-level key of `filter` with an equal JSON value. */
export function metadataMatches(
  metadata: SessionMetadata | undefined,
  filter: SessionMetadata | undefined,
): boolean {
  if (filter === undefined) return true;
  for (const [key, expected] of Object.entries(filter)) {
    if (metadata === undefined || !Object.hasOwn(metadata, key)) return false;
    if (!jsonEqual(metadata[key], expected)) return false;
  }
  return true;
}

/** Deep equality of two JSON values (object key order does not matter). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, index) => jsonEqual(item, b[index]));
  }
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  const keys = Object.keys(left).filter((key) => left[key] !== undefined);
  const otherKeys = Object.keys(right).filter((key) => right[key] !== undefined);
  return keys.length === otherKeys.length && keys.every((key) => jsonEqual(left[key], right[key]));
}

/** Checks the `{ userId? }` options of `getSession` / `deleteSession`; returns them. */
export function normalizeSessionOptions(options: unknown, method: string): { userId?: string } {
  const checked = readOptions<{ userId?: string }>(options, `${method} options`, ['userId']);
  assertOptionalId(checked.userId, 'userId');
  return checked.userId === undefined ? {} : { userId: checked.userId };
}

/** Checks `acquireLease` input. */
export function assertLeaseInput(input: unknown): asserts input is AcquireLeaseInput {
  if (input === undefined || !isPlainObject(input)) {
    throw invalid(`acquireLease input must be an object, got ${describeValue(input)}`);
  }
  readOptions(input, 'acquireLease', ['sessionId', 'ttlMs', 'waitMs', 'signal', 'readSession']);
  assertId(input.sessionId, 'sessionId');
  if (typeof input.ttlMs !== 'number' || !Number.isSafeInteger(input.ttlMs) || input.ttlMs < 1) {
    throw invalid(`ttlMs must be an integer >= 1, got ${describeValue(input.ttlMs)}`);
  }
  assertCount(input.waitMs, 'waitMs');
  if (input.signal !== undefined && !(input.signal instanceof AbortSignal)) {
    throw invalid(`signal must be an AbortSignal, got ${describeValue(input.signal)}`);
  }
  if (input.readSession !== undefined && typeof input.readSession !== 'boolean') {
    throw invalid(`readSession must be a boolean, got ${describeValue(input.readSession)}`);
  }
}
