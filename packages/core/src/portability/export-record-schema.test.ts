/**
 * `ExportRecordSchema`: every line kind of the export format parses; what is not the format
 * (another version, an unknown field, a run without messages) does not.
 */
import { makeRun } from '@buddy/testkit/storage';
import { describe, expect, it } from 'vitest';
import { ExportRecordSchema } from './export-record-schema.ts';

const header = {
  type: 'header',
  format: 'buddy-export',
  version: 1,
  exportedAt: '2027-01-05T10:00:00.000Z',
  source: 'sqlite:agent.db',
};

describe('ExportRecordSchema', () => {
  it('parses each kind of line', () => {
    const run = { type: 'run', ...makeRun('s1', 'hi'), index: 0, status: 'completed' };
    const lines = [
      header,
      {
        type: 'session',
        sessionId: 's1',
        userId: 'dana',
        sessionState: { cart: ['milk'] },
        summary: { summary: 'x', runsCovered: 1, updatedAt: 3 },
        metadata: { channel: 'web' },
        createdAt: 1,
        updatedAt: 2,
        runCount: 1,
      },
      run,
      { type: 'memory', id: 'm1', userId: 'dana', memory: 'oat milk', createdAt: 1, updatedAt: 1 },
      { type: 'end', sessions: 1, runs: 1, memories: 1 },
    ];
    for (const line of lines) {
      expect(ExportRecordSchema.parse(JSON.parse(JSON.stringify(line)))).toEqual(line);
    }
  });

  it('refuses another format or version, unknown fields and malformed records', () => {
    const bad = [
      { ...header, version: 2 },
      { ...header, format: 'other' },
      { ...header, extra: true },
      { type: 'session', sessionId: 's1', sessionState: {}, createdAt: 1, updatedAt: 1 },
      { type: 'run', ...makeRun('s1', 'hi'), index: 0, messages: 'nope' },
      { type: 'memory', id: 'm1', userId: '', memory: 'x', createdAt: 1, updatedAt: 1 },
      { type: 'end', sessions: -1, runs: 0, memories: 0 },
      { type: 'comment', text: 'hi' },
    ];
    for (const line of bad) {
      expect(ExportRecordSchema.safeParse(line).success, JSON.stringify(line)).toBe(false);
    }
  });
});
