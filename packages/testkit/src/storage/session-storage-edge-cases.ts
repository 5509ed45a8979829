/**
 * The edge cases of SPEC §10 for session storages, run by `describeSessionStorageContract`:
 * malformed writes store nothing, a deleted session stays deleted (incarnations), one corrupt
 * session breaks nothing else, and a closed storage says so. Each group is its own `describe`, so a
 * failure names the promise it broke.
 */
import type { Logger, SessionStorage, StoredRun } from '@buddy/core';
import { describe, expect, it } from 'vitest';
import { expectBuddyError } from '../fetch/expect-buddy-error.ts';
import { makeRun, type SessionStorageHarness, uniqueId } from './session-storage-fixtures.ts';

type RunInput = Omit<StoredRun, 'index'>;

/** A logger that keeps what it is told, for the "reports through the logger" cases. */
export function recordingLogger(): Logger & { lines: { level: string; message: string }[] } {
  const lines: { level: string; message: string }[] = [];
  return {
    lines,
    debug: (message) => lines.push({ level: 'debug', message }),
    warn: (message) => lines.push({ level: 'warn', message }),
    error: (message) => lines.push({ level: 'error', message }),
  };
}

class Money {
  readonly cents: number;
  constructor(cents: number) {
    this.cents = cents;
  }
}

function cyclic(): Record<string, unknown> {
  const value: Record<string, unknown> = { a: 1 };
  value.self = value;
  return value;
}

/** A copy of `run` with one message field changed (through JSON, so the rest is untouched). */
function withMessage(run: RunInput, index: number, patch: Record<string, unknown>): RunInput {
  const copy = structuredClone(run);
  copy.messages[index] = { ...copy.messages[index], ...patch } as RunInput['messages'][number];
  return copy;
}

/** What the edge cases need from the suite. */
export interface EdgeCaseContext {
  open(options?: { logger?: Logger }): Promise<SessionStorage>;
  harness: SessionStorageHarness;
}

/** Registers the edge cases of SPEC §10 (part of the storage suite). */
export function describeSessionStorageEdgeCases({ open, harness }: EdgeCaseContext): void {
  describe('malformed writes are INVALID_ARGUMENT and store nothing', () => {
    const badRuns: [string, (run: RunInput) => unknown, string][] = [
      [
        'content that is not a string',
        (run) => withMessage(run, 0, { content: 5 }),
        'messages[0].content',
      ],
      [
        'NaN usage',
        (run) => ({ ...run, usage: { inputTokens: Number.NaN, outputTokens: 1 } }),
        'usage.inputTokens',
      ],
      [
        'negative usage',
        (run) => ({ ...run, usage: { inputTokens: 1, outputTokens: -1 } }),
        'usage.outputTokens',
      ],
      [
        'tool-call arguments as an object',
        (run) =>
          withMessage(run, 1, {
            toolCalls: [{ id: 'c1', name: 'add', arguments: { item: 'milk' } }],
          }),
        'toolCalls[0].arguments',
      ],
      ['no messages', (run) => ({ ...run, messages: [] }), 'messages'],
      ['a null message', (run) => ({ ...run, messages: [null] }), 'messages[0]'],
      ['an unknown role', (run) => withMessage(run, 0, { role: 'robot' }), 'messages[0].role'],
      ['an empty runId', (run) => ({ ...run, runId: '' }), 'run.runId'],
      ['a run of another session', (run) => ({ ...run, sessionId: 'elsewhere' }), 'run.sessionId'],
      ['no model', (run) => ({ ...run, model: undefined }), 'run.model'],
      [
        'a createdAt that is not a number',
        (run) => ({ ...run, createdAt: '2026-01-01' }),
        'run.createdAt',
      ],
      ['a run that is not an object', () => 'run', 'run'],
    ];

    for (const [what, makeBad, path] of badRuns) {
      it(`refuses a run with ${what}, naming ${path}`, async () => {
        const storage = await open();
        const sessionId = uniqueId('bad-run');
        const first = await storage.appendRun({
          sessionId,
          run: makeRun(sessionId, 'ok'),
          sessionState: { n: 1 },
        });
        const before = await storage.getSession(sessionId);
        await expectBuddyError(
          storage.appendRun({
            sessionId,
            run: makeBad(makeRun(sessionId, 'bad')) as RunInput,
            sessionState: { n: 2 },
          }),
          'INVALID_ARGUMENT',
          path,
        );
        expect(await storage.getSession(sessionId)).toEqual(before);
        expect(await storage.getRuns({ sessionId })).toHaveLength(1);
        const next = await storage.appendRun({
          sessionId,
          run: makeRun(sessionId, 'next'),
          sessionState: { n: 3 },
        });
        expect(next.index).toBe(first.index + 1);
      });
    }

    const badStates: [string, () => unknown, string][] = [
      ['a BigInt', () => ({ big: 10n }), 'sessionState.big'],
      ['a cycle', () => ({ nested: cyclic() }), 'sessionState.nested.self'],
      ['a function', () => ({ cart: ['milk', () => 1] }), 'sessionState.cart[1]'],
      ['a Map', () => ({ index: new Map([['a', 1]]) }), 'sessionState.index'],
      ['a Set', () => ({ tags: new Set(['a']) }), 'sessionState.tags'],
      ['a Date', () => ({ when: new Date(0) }), 'sessionState.when'],
      ['NaN', () => ({ score: Number.NaN }), 'sessionState.score'],
      ['Infinity', () => ({ limit: Number.POSITIVE_INFINITY }), 'sessionState.limit'],
      ['undefined inside an array', () => ({ list: [1, undefined, 3] }), 'sessionState.list[1]'],
      ['a class instance', () => ({ price: new Money(5) }), 'sessionState.price'],
      ['an array instead of an object', () => ['milk'], 'sessionState'],
      ['null instead of an object', () => null, 'sessionState'],
    ];

    for (const [what, makeState, path] of badStates) {
      it(`refuses a state holding ${what}, naming ${path}`, async () => {
        const storage = await open();
        const sessionId = uniqueId('bad-state');
        await storage.appendRun({
          sessionId,
          run: makeRun(sessionId, 'ok'),
          sessionState: { n: 1 },
        });
        const before = await storage.getSession(sessionId);
        const state = makeState() as Record<string, unknown>;
        await expectBuddyError(
          storage.appendRun({ sessionId, run: makeRun(sessionId, 'bad'), sessionState: state }),
          'INVALID_ARGUMENT',
          path,
        );
        await expectBuddyError(
          storage.upsertSession({ sessionId, sessionState: state }),
          'INVALID_ARGUMENT',
          path,
        );
        expect(await storage.getSession(sessionId)).toEqual(before);
        expect(await storage.getRuns({ sessionId })).toHaveLength(1);
      });
    }

    it('refuses a malformed summary the same way on every backend, and keeps the stored one', async () => {
      const storage = await open();
      const sessionId = uniqueId('bad-summary');
      const good = { summary: 'Dana shops.', runsCovered: 1, updatedAt: Date.now() };
      await storage.upsertSession({ sessionId, summary: good });
      const bad: [unknown, string][] = [
        [5, 'summary'],
        [{ summary: 7, runsCovered: 1, updatedAt: 1 }, 'summary.summary'],
        [{ summary: 'x', runsCovered: -1, updatedAt: 1 }, 'summary.runsCovered'],
        [{ summary: 'x', runsCovered: 1.5, updatedAt: 1 }, 'summary.runsCovered'],
        [{ summary: 'x', runsCovered: 2, updatedAt: Number.NaN }, 'summary.updatedAt'],
        [{ summary: 'x', topics: ['a', 1], runsCovered: 2, updatedAt: 1 }, 'summary.topics[1]'],
        [{ summary: 'x', runsCovered: 2 }, 'summary.updatedAt'],
      ];
      for (const [summary, path] of bad) {
        await expectBuddyError(
          storage.upsertSession({ sessionId, summary: summary as typeof good }),
          'INVALID_ARGUMENT',
          path,
        );
      }
      expect((await storage.getSession(sessionId))?.summary).toEqual(good);
    });

    it('refuses ids that are not 1–256 characters of well-formed Unicode without control characters', async () => {
      const storage = await open();
      const bad = ['', '   ', 'a\u0000b', 'line\nbreak', '\ud800', 'x\udc00', 'z'.repeat(257), 42];
      for (const sessionId of bad) {
        await expectBuddyError(
          storage.getSession(sessionId as string),
          'INVALID_ARGUMENT',
          'sessionId',
        );
        await expectBuddyError(
          storage.appendRun({
            sessionId: sessionId as string,
            run: makeRun(sessionId as string, 'hi'),
            sessionState: {},
          }),
          'INVALID_ARGUMENT',
        );
      }
      const sessionId = uniqueId('ids');
      await expectBuddyError(
        storage.appendRun({
          sessionId,
          userId: 'dana\ud800',
          run: makeRun(sessionId, 'hi'),
          sessionState: {},
        }),
        'INVALID_ARGUMENT',
        'userId',
      );
      await expectBuddyError(
        storage.listSessions({ userId: '\udc00' }),
        'INVALID_ARGUMENT',
        'userId',
      );
      expect(await storage.getSession(sessionId)).toBeUndefined();
      // 256 characters (emoji count as one each) and any script are fine.
      const longest = `${'🧠'.repeat(128)}${'ß'.repeat(128)}`;
      await storage.appendRun({
        sessionId: longest,
        run: makeRun(longest, 'hi'),
        sessionState: {},
      });
      expect((await storage.getSession(longest))?.runCount).toBe(1);
      await storage.deleteSession(longest);
    });

    it('refuses unknown option keys instead of widening a query (listSessions({ usrId }))', async () => {
      const storage = await open();
      const sessionId = uniqueId('opts');
      await storage.appendRun({
        sessionId,
        userId: 'alice',
        run: makeRun(sessionId, 'hi'),
        sessionState: {},
      });
      await expectBuddyError(
        storage.listSessions({ usrId: 'bob' } as unknown as { userId: string }),
        'INVALID_ARGUMENT',
        'usrId',
      );
      await expectBuddyError(
        storage.getSession(sessionId, { usrId: 'bob' } as unknown as { userId: string }),
        'INVALID_ARGUMENT',
        'usrId',
      );
      await expectBuddyError(
        storage.deleteSession(sessionId, { user: 'bob' } as unknown as { userId: string }),
        'INVALID_ARGUMENT',
        'user',
      );
      await expectBuddyError(
        storage.getRuns({ sessionId, lst: 1 } as unknown as { sessionId: string }),
        'INVALID_ARGUMENT',
        'lst',
      );
      await expectBuddyError(
        storage.appendRun({
          sessionId,
          run: makeRun(sessionId, 'x'),
          sessionState: {},
          sesionName: 'typo',
        } as unknown as Parameters<SessionStorage['appendRun']>[0]),
        'INVALID_ARGUMENT',
        'sesionName',
      );
      await expectBuddyError(
        storage.upsertSession({ sessionId, sessionStat: {} } as unknown as { sessionId: string }),
        'INVALID_ARGUMENT',
        'sessionStat',
      );
      await expectBuddyError(
        storage.acquireLease({ sessionId, ttlMs: 1000, waitMs: 0, ttl: 5 } as unknown as Parameters<
          SessionStorage['acquireLease']
        >[0]),
        'INVALID_ARGUMENT',
        'ttl',
      );
      expect(await storage.getSession(sessionId)).toMatchObject({ runCount: 1, version: 1 });
    });

    it('answers null and missing inputs with INVALID_ARGUMENT, never a TypeError', async () => {
      const storage = await open();
      const calls: [string, () => Promise<unknown>][] = [
        ['getSession(id, null)', () => storage.getSession('x', null as unknown as undefined)],
        ['getRuns(null)', () => storage.getRuns(null as unknown as { sessionId: string })],
        ['getRuns()', () => (storage.getRuns as (input?: unknown) => Promise<unknown>)()],
        ['listSessions(null)', () => storage.listSessions(null as unknown as undefined)],
        [
          'appendRun(null)',
          () => storage.appendRun(null as unknown as Parameters<SessionStorage['appendRun']>[0]),
        ],
        [
          'upsertSession(undefined)',
          () => storage.upsertSession(undefined as unknown as { sessionId: string }),
        ],
        [
          'acquireLease(null)',
          () =>
            storage.acquireLease(null as unknown as Parameters<SessionStorage['acquireLease']>[0]),
        ],
        ['deleteSession(id, null)', () => storage.deleteSession('x', null as unknown as undefined)],
        ['deleteUserData(null)', () => storage.deleteUserData(null as unknown as string)],
      ];
      for (const [what, call] of calls) {
        await expectBuddyError(call(), 'INVALID_ARGUMENT', undefined, what);
      }
    });
  });

  describe('stateAfter: every run records the state it left', () => {
    it('stores the appended state with the run, and later writes never change it', async () => {
      const storage = await open();
      const sessionId = uniqueId('state-after');
      await storage.appendRun({
        sessionId,
        run: makeRun(sessionId, 'a'),
        sessionState: { cart: ['milk'] },
      });
      await storage.appendRun({
        sessionId,
        run: makeRun(sessionId, 'b'),
        sessionState: { cart: ['milk', 'eggs'] },
      });
      await storage.upsertSession({ sessionId, sessionState: { cart: [] } });
      const runs = await storage.getRuns({ sessionId });
      expect(runs.map((run) => run.stateAfter)).toEqual([
        { cart: ['milk'] },
        { cart: ['milk', 'eggs'] },
      ]);
    });
  });

  describe('incarnations: a deleted session stays deleted', () => {
    it('gives a session recreated after deletion a new incarnation, although its version restarts', async () => {
      const storage = await open();
      const sessionId = uniqueId('reincarnate');
      for (let turn = 0; turn < 3; turn++) {
        await storage.appendRun({
          sessionId,
          run: makeRun(sessionId, `old ${turn}`),
          sessionState: { turn },
        });
      }
      const old = await storage.getSession(sessionId);
      expect(typeof old?.incarnation).toBe('string');
      expect(old?.incarnation.length).toBeGreaterThan(0);
      expect(await storage.deleteSession(sessionId)).toBe(true);
      for (let turn = 0; turn < 3; turn++) {
        await storage.appendRun({
          sessionId,
          run: makeRun(sessionId, `new ${turn}`),
          sessionState: { fresh: turn },
        });
      }
      const recreated = await storage.getSession(sessionId);
      // Same id, same version, same run count: only the incarnation tells them apart.
      expect(recreated).toMatchObject({ version: old?.version, runCount: old?.runCount });
      expect(recreated?.incarnation).not.toBe(old?.incarnation);
      // Later writes keep the incarnation.
      const renamed = await storage.upsertSession({ sessionId, sessionName: 'Renamed' });
      expect(renamed.incarnation).toBe(recreated?.incarnation);
      await storage.appendRun({ sessionId, run: makeRun(sessionId, 'more'), sessionState: {} });
      expect((await storage.getSession(sessionId))?.incarnation).toBe(recreated?.incarnation);
    });

    it('never recreates a deleted session from a write fenced by expectedIncarnation', async () => {
      const storage = await open();
      const sessionId = uniqueId('ghost');
      await storage.appendRun({
        sessionId,
        userId: 'dana',
        run: makeRun(sessionId, 'a'),
        sessionState: { a: 1 },
      });
      const record = await storage.getSession(sessionId);
      const incarnation = record?.incarnation as string;
      const summary = { summary: 'Dana said a.', runsCovered: 1, updatedAt: Date.now() };
      // Matching incarnation: written.
      const written = await storage.upsertSession({
        sessionId,
        userId: 'dana',
        summary,
        expectedIncarnation: incarnation,
      });
      expect(written.summary).toEqual(summary);
      await storage.deleteSession(sessionId);
      // The post-answer summary of a deleted session: nothing comes back.
      await expectBuddyError(
        storage.upsertSession({
          sessionId,
          userId: 'dana',
          summary,
          expectedIncarnation: incarnation,
        }),
        'NOT_FOUND',
        sessionId,
      );
      expect(await storage.getSession(sessionId)).toBeUndefined();
      expect(
        (await storage.listSessions({ userId: 'dana' })).sessions.map((s) => s.sessionId),
      ).not.toContain(sessionId);
      // Recreated: the old incarnation's summary does not land in the new one.
      await storage.appendRun({
        sessionId,
        userId: 'dana',
        run: makeRun(sessionId, 'b'),
        sessionState: { b: 1 },
      });
      await expectBuddyError(
        storage.upsertSession({
          sessionId,
          userId: 'dana',
          summary,
          expectedIncarnation: incarnation,
        }),
        'NOT_FOUND',
      );
      expect((await storage.getSession(sessionId))?.summary).toBeUndefined();
    });

    it('deletes the lease with the session, so the holder cannot write it back', async () => {
      const storage = await open();
      const sessionId = uniqueId('delete-lease');
      await storage.appendRun({
        sessionId,
        userId: 'dana',
        run: makeRun(sessionId, 'a'),
        sessionState: { a: 1 },
      });
      const lease = await storage.acquireLease({ sessionId, ttlMs: 30_000, waitMs: 0 });
      await storage.deleteSession(sessionId, { userId: 'dana' });
      await expectBuddyError(
        storage.appendRun({
          sessionId,
          userId: 'dana',
          run: makeRun(sessionId, 'late'),
          sessionState: { stale: true },
          leaseToken: lease.token,
          releaseLease: true,
        }),
        'CONFLICT',
      );
      expect(await storage.getSession(sessionId)).toBeUndefined();
      // The lease is gone too: a new holder does not wait 30 s.
      const next = await storage.acquireLease({ sessionId, ttlMs: 10_000, waitMs: 0 });
      await next.release();
      await lease.release();
    });

    it('deletes the leases of every session with deleteUserData', async () => {
      const storage = await open();
      const userId = uniqueId('leaver');
      const sessionId = uniqueId('user-lease');
      await storage.appendRun({
        sessionId,
        userId,
        run: makeRun(sessionId, 'a'),
        sessionState: {},
      });
      const lease = await storage.acquireLease({ sessionId, ttlMs: 30_000, waitMs: 0 });
      expect(await storage.deleteUserData(userId)).toBe(1);
      await expectBuddyError(
        storage.appendRun({
          sessionId,
          userId,
          run: makeRun(sessionId, 'late'),
          sessionState: {},
          leaseToken: lease.token,
        }),
        'CONFLICT',
      );
      expect(await storage.getSession(sessionId)).toBeUndefined();
      await lease.release();
    });
  });

  describe('one corrupt session breaks nothing else', () => {
    it('keeps listing working around a corrupt session (skipped ones are reported through the logger)', async () => {
      const logger = recordingLogger();
      const storage = await open({ logger });
      const userId = uniqueId('lister');
      const ids: string[] = [];
      for (let index = 0; index < 4; index++) {
        const sessionId = uniqueId(`list-${index}`);
        ids.push(sessionId);
        await storage.appendRun({
          sessionId,
          userId,
          run: makeRun(sessionId, 'hi'),
          sessionState: {},
        });
        await new Promise((resolve) => setTimeout(resolve, 3));
      }
      const broken = ids[1] as string;
      await harness.corruptSession(storage, broken);
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await storage.listSessions({
          userId,
          limit: 2,
          ...(cursor === undefined ? {} : { cursor }),
        });
        seen.push(...page.sessions.map((session) => session.sessionId));
        cursor = page.nextCursor;
      } while (cursor !== undefined);
      // Every healthy session, in order. A backend whose listing does not read the corrupt part
      // may still list the broken one; one that cannot read it skips it and says so.
      expect(seen.filter((id) => id !== broken)).toEqual([ids[3], ids[2], ids[0]]);
      const reported = logger.lines.some(
        (line) => line.level === 'warn' && line.message.includes(broken),
      );
      if (!seen.includes(broken)) expect(reported).toBe(true);
      const all = await storage.listSessions({ limit: 1000 });
      expect(all.sessions.map((session) => session.sessionId)).toEqual(
        expect.arrayContaining([ids[0], ids[2], ids[3]]),
      );
    });

    it('deletes a corrupt session, for its owner and with deleteUserData', async () => {
      const storage = await open();
      const userId = uniqueId('owner');
      const first = uniqueId('corrupt-a');
      const second = uniqueId('corrupt-b');
      for (const sessionId of [first, second]) {
        await storage.appendRun({
          sessionId,
          userId,
          run: makeRun(sessionId, 'hi'),
          sessionState: {},
        });
        await harness.corruptSession(storage, sessionId);
      }
      await expectBuddyError(
        storage.deleteSession(first, { userId: 'someone-else' }),
        'SESSION_OWNERSHIP',
      );
      expect(await storage.deleteSession(first, { userId })).toBe(true);
      expect(await storage.getSession(first)).toBeUndefined();
      expect(await storage.deleteUserData(userId)).toBe(1);
      expect(await storage.getSession(second)).toBeUndefined();
      expect(await storage.getRuns({ sessionId: second })).toEqual([]);
    });

    it('reports a lease entry of the wrong type as STORAGE_CORRUPT, not as a session busy forever', async (context) => {
      if (harness.corruptLease === undefined) context.skip();
      const storage = await open();
      const sessionId = uniqueId('corrupt-lease');
      await storage.appendRun({ sessionId, run: makeRun(sessionId, 'hi'), sessionState: {} });
      await harness.corruptLease?.(storage, sessionId);
      await expectBuddyError(
        storage.acquireLease({ sessionId, ttlMs: 1000, waitMs: 50 }),
        'STORAGE_CORRUPT',
        sessionId,
      );
      expect(await storage.deleteSession(sessionId)).toBe(true);
      const lease = await storage.acquireLease({ sessionId, ttlMs: 1000, waitMs: 0 });
      await lease.release();
    });
  });

  describe('closing', () => {
    it('rejects every call after close() with STORAGE_CLOSED, and closes idempotently', async () => {
      const storage = await harness.create({});
      const sessionId = uniqueId('closed');
      await storage.close();
      await storage.close();
      const calls: (() => Promise<unknown>)[] = [
        () => storage.getSession(sessionId),
        () => storage.appendRun({ sessionId, run: makeRun(sessionId, 'x'), sessionState: {} }),
        () => storage.upsertSession({ sessionId }),
        () => storage.getRuns({ sessionId }),
        () => storage.listSessions(),
        () => storage.acquireLease({ sessionId, ttlMs: 1000, waitMs: 0 }),
        () => storage.deleteSession(sessionId),
        () => storage.deleteUserData('someone'),
      ];
      for (const call of calls) await expectBuddyError(call(), 'STORAGE_CLOSED');
      await harness.dispose?.(storage);
    });

    it('supports await using (Symbol.asyncDispose closes it)', async () => {
      const storage = await harness.create({});
      expect(typeof storage[Symbol.asyncDispose]).toBe('function');
      await storage[Symbol.asyncDispose]?.();
      await expectBuddyError(storage.listSessions(), 'STORAGE_CLOSED');
      await harness.dispose?.(storage);
    });

    it('declares its capabilities as booleans', async () => {
      const storage = await open();
      for (const value of Object.values(storage.capabilities ?? {}))
        expect(typeof value).toBe('boolean');
    });
  });
}
