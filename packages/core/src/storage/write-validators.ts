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
  SessionSummaryRecord,
  StoredRun,
  UpsertSessionInput,
} from '../spec/session-storage-v1.ts';
import { assertId, assertOptionalId } from '../validation/identifier.ts';
import { assertJsonObject, assertJsonValue, jsonPath } from '../validation/json-value.ts';
import { isPlainObject, readOptions } from '../validation/options.ts';

/** The longest session name, in UTF-16 code units. */
export const MAX_SESSION_NAME_LENGTH = 1000;

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

const RUN_KEYS = [
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
}

const UPSERT_KEYS = [
  'sessionId',
  'userId',
  'agentId',
  'sessionName',
  'sessionState',
  'summary',
  'expectedIncarnation',
];

/** Checks `upsertSession` input. Every backend calls it first. */
export function assertUpsertSessionInput(input: unknown): asserts input is UpsertSessionInput {
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
