/**
 * `parseSessionRecord`, `parseSessionState` and `parseSessionSummary` check the usual shapes by
 * hand (they run on every turn); these tests hold them to the zod schemas: the same output for
 * every record the schemas accept, `STORAGE_CORRUPT` for every record they refuse.
 */
import { describe, expect, it } from 'vitest';
import { BuddyError } from '../errors/buddy-error.ts';
import {
  SessionRecordSchema,
  SessionStateSchema,
  SessionSummaryRecordSchema,
} from '../messages/message-schema.ts';
import {
  legacyIncarnation,
  parseSessionRecord,
  parseSessionState,
  parseSessionSummary,
} from './storage-helpers.ts';

const base = {
  sessionId: 's1',
  incarnation: 'inc-1',
  agentId: 'a1',
  userId: 'u1',
  sessionName: 'name',
  sessionState: { counter: 1, notes: 'x', nested: { a: [1, 2] } },
  summary: { summary: 'so far', topics: ['t'], runsCovered: 2, updatedAt: 5 },
  createdAt: 1,
  updatedAt: 2,
  version: 3,
  runCount: 2,
  metadata: { tag: 'm' },
};

const { incarnation: _i, agentId: _a, userId: _u, sessionName: _n, ...minimal } = base;
const { summary: _s, metadata: _m, ...bare } = minimal;

const variants: [string, unknown][] = [
  ['every field', base],
  ['no optional string', minimal],
  ['no summary or metadata', bare],
  ['an unknown key (dropped)', { ...bare, extra: 1 }],
  ['a summary without topics', { ...bare, summary: { summary: '', runsCovered: 0, updatedAt: 0 } }],
  ['an explicit undefined', { ...bare, agentId: undefined }],
  ['a null-prototype state', { ...bare, sessionState: Object.create(null) }],
  ['runCount -0', { ...bare, runCount: -0 }],
  ['an empty sessionId', { ...bare, sessionId: '' }],
  ['an empty incarnation', { ...bare, incarnation: '' }],
  ['a numeric agentId', { ...bare, agentId: 5 }],
  ['a null userId', { ...bare, userId: null }],
  ['version 0', { ...bare, version: 0 }],
  ['version 1.5', { ...bare, version: 1.5 }],
  ['a negative runCount', { ...bare, runCount: -1 }],
  ['an unsafe runCount', { ...bare, runCount: 2 ** 60 }],
  ['createdAt NaN', { ...bare, createdAt: Number.NaN }],
  ['updatedAt Infinity', { ...bare, updatedAt: Number.POSITIVE_INFINITY }],
  ['updatedAt a string', { ...bare, updatedAt: '2' }],
  ['an array state', { ...bare, sessionState: [] }],
  ['a null state', { ...bare, sessionState: null }],
  ['no state', { ...bare, sessionState: undefined }],
  ['a Date state', { ...bare, sessionState: new Date(0) }],
  ['a state with a __proto__ key', { ...bare, sessionState: JSON.parse('{"__proto__":{"a":1}}') }],
  ['a string summary', { ...bare, summary: 'text' }],
  ['a summary with a numeric topic', { ...bare, summary: { ...base.summary, topics: [1] } }],
  ['a summary with runsCovered -1', { ...bare, summary: { ...base.summary, runsCovered: -1 } }],
  ['an array metadata', { ...bare, metadata: ['a'] }],
  ['a null metadata', { ...bare, metadata: null }],
  ['an array', []],
  ['null', null],
];

/** What the schema alone makes of `raw` (the reference the hand check must match). */
function bySchema(raw: unknown): unknown {
  const result = SessionRecordSchema.safeParse(raw);
  if (!result.success) return 'STORAGE_CORRUPT';
  const record: Record<string, unknown> = result.data;
  if (record.incarnation === undefined)
    record.incarnation = legacyIncarnation(result.data.createdAt);
  return record;
}

function outcome(parse: () => unknown): unknown {
  try {
    return parse();
  } catch (error) {
    if (error instanceof BuddyError) return error.code;
    throw error;
  }
}

describe('parseSessionRecord matches SessionRecordSchema', () => {
  it.each(variants)('%s', (_name, raw) => {
    const expected = bySchema(raw);
    const parsed = outcome(() => parseSessionRecord(raw, 's1'));
    expect(parsed).toStrictEqual(expected);
    if (typeof parsed === 'object' && parsed !== null) {
      // Same key order, and the state is a copy (a record read is the caller's to change).
      expect(Object.keys(parsed)).toEqual(Object.keys(expected as object));
      expect((parsed as { sessionState: unknown }).sessionState).not.toBe(
        (raw as { sessionState: unknown }).sessionState,
      );
      // The JSON text of the record reads the same.
      expect(outcome(() => parseSessionRecord(JSON.stringify(raw), 's1'))).toStrictEqual(
        bySchema(JSON.parse(JSON.stringify(raw))),
      );
    }
  });
});

describe('parseSessionState and parseSessionSummary match their schemas', () => {
  it.each([
    '{"a":1,"b":{"c":[1]}}',
    '{}',
    '[]',
    'null',
    '5',
    '"text"',
    '{"__proto__":{"a":1}}',
    'not json',
  ])('state %s', (text) => {
    let expected: unknown = 'STORAGE_CORRUPT';
    try {
      const result = SessionStateSchema.safeParse(JSON.parse(text));
      if (result.success) expected = result.data;
    } catch {}
    expect(outcome(() => parseSessionState(text, 's1'))).toStrictEqual(expected);
  });

  it.each([
    { summary: 's', runsCovered: 1, updatedAt: 2 },
    { summary: 's', topics: ['a', 'b'], runsCovered: 0, updatedAt: 0, extra: true },
    { summary: 's', topics: 'a', runsCovered: 1, updatedAt: 2 },
    { summary: 's', runsCovered: 1.5, updatedAt: 2 },
    { summary: 5, runsCovered: 1, updatedAt: 2 },
    { summary: 's', runsCovered: 1 },
    [],
  ])('summary %j', (value) => {
    const result = SessionSummaryRecordSchema.safeParse(value);
    const expected = result.success ? result.data : 'STORAGE_CORRUPT';
    expect(outcome(() => parseSessionSummary(value, 's1'))).toStrictEqual(expected);
    expect(outcome(() => parseSessionSummary(JSON.stringify(value), 's1'))).toStrictEqual(expected);
  });
});
