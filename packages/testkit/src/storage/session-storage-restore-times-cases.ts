/**
 * Cases of `upsertSession({ restoreTimes })` (the `restoresTimes` capability), run by
 * `describeSessionStorageContract`: the times an import tool restores are what `getSession`,
 * listing (order and cursor, per user, per agent and over all sessions) and `prune({ olderThan })`
 * see; later writes move `updatedAt` to the write time again; bad times, a stale
 * `expectedIncarnation`, another user's id and a lost lease write nothing. A storage that does not
 * declare the capability skips them (with the reason in the report) and must refuse
 * `restoreTimes` instead (the last case).
 *
 * Restored times are far in the past (2001) so that they sort behind everything other cases
 * write; the global cases use times below 1 000 ms that no other case uses.
 */
import type { RestoreTimes, SessionRecord, SessionStorage } from '@buddy/core';
import { describe, expect, it, type TestContext } from 'vitest';
import { expectBuddyError } from '../fetch/expect-buddy-error.ts';
import { makeRun, uniqueId } from './session-storage-fixtures.ts';

/** 2001-09-09T01:46:40Z: older than anything a storage's clock assigns in these tests. */
const PAST = 1_000_000_000_000;
const DAY = 86_400_000;

const NOT_DECLARED = 'the storage does not declare capabilities.restoresTimes';

function requireCapability(storage: SessionStorage, context: TestContext): void {
  context.skip(storage.capabilities?.restoresTimes !== true, NOT_DECLARED);
}

async function appendRuns(
  storage: SessionStorage,
  sessionId: string,
  count: number,
  extra: { userId?: string; agentId?: string } = {},
) {
  for (let turn = 0; turn < count; turn++) {
    await storage.appendRun({
      sessionId,
      ...extra,
      run: makeRun(sessionId, `turn ${turn}`, extra.userId === undefined ? {} : extra),
      sessionState: { turn },
    });
  }
}

/** Every session id of a listing, page by page (`limit` per page), in listing order. */
async function listAll(
  storage: SessionStorage,
  filter: { userId?: string; agentId?: string },
  limit: number,
): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await storage.listSessions({
      ...filter,
      limit,
      ...(cursor === undefined ? {} : { cursor }),
    });
    ids.push(...page.sessions.map((session) => session.sessionId));
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return ids;
}

/** The fields a refused write must leave as they were. */
function unchanged(record: SessionRecord | undefined) {
  return record === undefined
    ? undefined
    : {
        incarnation: record.incarnation,
        createdAt: record.createdAt,
        updatedAt: record.updatedAt,
        version: record.version,
        sessionState: record.sessionState,
        runCount: record.runCount,
      };
}

/** `restoreTimes` values every storage refuses, with the path its error must name. */
const BAD_TIMES: { label: string; value: unknown; names: string }[] = [
  { label: 'null', value: null, names: 'restoreTimes' },
  { label: 'a string', value: '2020-01-01', names: 'restoreTimes' },
  { label: 'an array', value: [PAST, PAST], names: 'restoreTimes' },
  { label: 'no updatedAt', value: { createdAt: PAST }, names: 'restoreTimes.updatedAt' },
  {
    label: 'an unknown key',
    value: { createdAt: PAST, updatedAt: PAST, deletedAt: PAST },
    names: 'deletedAt',
  },
  {
    label: 'a negative createdAt',
    value: { createdAt: -1, updatedAt: PAST },
    names: 'restoreTimes.createdAt',
  },
  {
    label: 'a fractional updatedAt',
    value: { createdAt: PAST, updatedAt: PAST + 0.5 },
    names: 'restoreTimes.updatedAt',
  },
  {
    label: 'NaN',
    value: { createdAt: Number.NaN, updatedAt: PAST },
    names: 'restoreTimes.createdAt',
  },
  {
    label: 'Infinity',
    value: { createdAt: PAST, updatedAt: Number.POSITIVE_INFINITY },
    names: 'restoreTimes.updatedAt',
  },
  {
    label: 'beyond the range of a Date',
    value: { createdAt: PAST, updatedAt: 8_640_000_000_000_001 },
    names: 'restoreTimes.updatedAt',
  },
  {
    label: 'numbers as text',
    value: { createdAt: String(PAST), updatedAt: String(PAST) },
    names: 'restoreTimes.createdAt',
  },
  {
    label: 'createdAt after updatedAt',
    value: { createdAt: PAST + 1, updatedAt: PAST },
    names: 'restoreTimes.createdAt',
  },
];

/** Registers the `restoreTimes` cases (part of the storage suite). */
export function describeSessionStorageRestoreTimesCases(context: {
  open(): Promise<SessionStorage>;
}): void {
  const { open } = context;

  describe('capability restoresTimes: upsertSession({ restoreTimes })', () => {
    it('creates a session with the restored times, and sets them on an existing one after its runs', async (test) => {
      const storage = await open();
      requireCapability(storage, test);
      const userId = uniqueId('importer');
      const fresh = uniqueId('restored-new');
      const times: RestoreTimes = { createdAt: PAST, updatedAt: PAST + DAY };
      const created = await storage.upsertSession({
        sessionId: fresh,
        userId,
        agentId: 'agent-restore',
        sessionState: { step: 1 },
        restoreTimes: times,
      });
      expect(created).toMatchObject({ ...times, version: 1, runCount: 0, userId });
      expect(await storage.getSession(fresh)).toEqual(created);

      // As an import writes: the runs first (each with its own old times), then the times.
      const imported = uniqueId('restored-runs');
      for (let turn = 0; turn < 3; turn++) {
        await storage.appendRun({
          sessionId: imported,
          userId,
          run: makeRun(imported, `turn ${turn}`, { userId, createdAt: PAST + turn * 1000 }),
          sessionState: { turn },
        });
      }
      const before = await storage.getSession(imported);
      const restored = await storage.upsertSession({
        sessionId: imported,
        userId,
        sessionName: 'Imported',
        restoreTimes: { createdAt: PAST - DAY, updatedAt: PAST + 2 * DAY },
      });
      expect(restored).toMatchObject({
        createdAt: PAST - DAY,
        updatedAt: PAST + 2 * DAY,
        sessionName: 'Imported',
        sessionState: { turn: 2 },
        runCount: 3,
        incarnation: before?.incarnation,
        version: (before?.version ?? 0) + 1,
      });
      expect(await storage.getSession(imported)).toEqual(restored);
      // A run's own times are the caller's, with or without restored session times.
      const runs = await storage.getRuns({ sessionId: imported });
      expect(runs.map((run) => [run.createdAt, run.completedAt])).toEqual([
        [PAST, PAST + 2],
        [PAST + 1000, PAST + 1002],
        [PAST + 2000, PAST + 2002],
      ]);
      const listed = await storage.listSessions({ userId });
      expect(
        listed.sessions.map((info) => [info.sessionId, info.createdAt, info.updatedAt]),
      ).toEqual([
        [imported, PAST - DAY, PAST + 2 * DAY],
        [fresh, PAST, PAST + DAY],
      ]);
    });

    it('orders listing by the restored times, per user, per agent and over all sessions, with a working cursor', async (test) => {
      const storage = await open();
      requireCapability(storage, test);
      const userId = uniqueId('order');
      const agentId = uniqueId('order-agent');
      // Written a, b, c, d (d newest by write time), restored to the order c, a, d, b.
      const ids = ['a', 'b', 'c', 'd'].map((name) => uniqueId(`order-${name}`));
      const [a, b, c, d] = ids as [string, string, string, string];
      for (const sessionId of ids) await appendRuns(storage, sessionId, 1, { userId, agentId });
      const restoredAt: Record<string, number> = {
        [c]: PAST + 4 * DAY,
        [a]: PAST + 3 * DAY,
        [d]: PAST + 2 * DAY,
        [b]: PAST + DAY,
      };
      for (const sessionId of ids) {
        await storage.upsertSession({
          sessionId,
          userId,
          restoreTimes: { createdAt: PAST, updatedAt: restoredAt[sessionId] as number },
        });
      }
      // A session written normally is newer than all of them.
      const normal = uniqueId('order-normal');
      await appendRuns(storage, normal, 1, { userId, agentId });
      const expected = [normal, c, a, d, b];
      expect(await listAll(storage, { userId }, 2)).toEqual(expected);
      expect(await listAll(storage, { userId }, 1)).toEqual(expected);
      expect(await listAll(storage, { agentId }, 2)).toEqual(expected);
      expect(await listAll(storage, { userId, agentId }, 3)).toEqual(expected);
      const everything = await listAll(storage, {}, 1000);
      expect(everything.filter((sessionId) => expected.includes(sessionId))).toEqual(expected);
      // Equal restored times: ties by session id, descending.
      await storage.upsertSession({
        sessionId: a,
        userId,
        restoreTimes: { createdAt: PAST, updatedAt: PAST + 4 * DAY },
      });
      const tied = [c, a].sort().reverse();
      expect((await listAll(storage, { userId }, 1)).slice(1, 3)).toEqual(tied);
    });

    it('prune({ olderThan }) counts from the restored times, for one user and over all sessions', async (test) => {
      const storage = await open();
      requireCapability(storage, test);
      const userId = uniqueId('retention');
      const old = uniqueId('restored-old');
      const recent = uniqueId('restored-recent');
      const live = uniqueId('live');
      await appendRuns(storage, old, 2, { userId });
      await appendRuns(storage, recent, 1, { userId });
      await appendRuns(storage, live, 1, { userId });
      await storage.upsertSession({
        sessionId: old,
        userId,
        restoreTimes: { createdAt: PAST, updatedAt: PAST + DAY },
      });
      await storage.upsertSession({
        sessionId: recent,
        userId,
        restoreTimes: { createdAt: PAST, updatedAt: PAST + 30 * DAY },
      });
      expect(await storage.prune({ olderThan: PAST + 10 * DAY, userId })).toEqual({
        sessionsDeleted: 1,
        runsDeleted: 2,
      });
      expect(await storage.getSession(old)).toBeUndefined();
      expect(await storage.getRuns({ sessionId: old })).toEqual([]);
      expect(await listAll(storage, { userId }, 10)).toEqual([live, recent]);

      // Over all sessions (another index on some backends): times no other case uses.
      const ancient = uniqueId('restored-ancient');
      await appendRuns(storage, ancient, 1, { userId: uniqueId('someone') });
      await storage.upsertSession({
        sessionId: ancient,
        restoreTimes: { createdAt: 1, updatedAt: 5 },
      });
      expect(await storage.prune({ olderThan: 6 })).toEqual({ sessionsDeleted: 1, runsDeleted: 1 });
      expect(await storage.getSession(ancient)).toBeUndefined();
      expect((await storage.getSession(recent))?.runCount).toBe(1);
    });

    it('later writes move updatedAt to the write time again, and createdAt stays restored', async (test) => {
      const storage = await open();
      requireCapability(storage, test);
      const userId = uniqueId('later');
      // Named so that it lists first also when both land in the same millisecond.
      const sessionId = uniqueId('z-restored-then-used');
      await appendRuns(storage, sessionId, 1, { userId });
      await storage.upsertSession({
        sessionId,
        userId,
        restoreTimes: { createdAt: PAST, updatedAt: PAST + DAY },
      });
      // Written normally just before: the append that follows is at least as new.
      const other = uniqueId('a-written-before');
      await appendRuns(storage, other, 1, { userId });
      const reference = (await storage.getSession(other))?.updatedAt ?? 0;
      const result = await storage.appendRun({
        sessionId,
        userId,
        run: makeRun(sessionId, 'back again', { userId }),
        sessionState: { back: true },
      });
      expect(result.updatedAt).toBeGreaterThanOrEqual(reference);
      const after = await storage.getSession(sessionId);
      expect(after).toMatchObject({ createdAt: PAST, updatedAt: result.updatedAt, runCount: 2 });
      expect((await storage.listSessions({ userId })).sessions[0]?.sessionId).toBe(sessionId);
      // And so does an upsert without restoreTimes.
      await storage.upsertSession({
        sessionId,
        userId,
        restoreTimes: { createdAt: PAST, updatedAt: PAST + DAY },
      });
      const renamed = await storage.upsertSession({ sessionId, userId, sessionName: 'Renamed' });
      expect(renamed.createdAt).toBe(PAST);
      expect(renamed.updatedAt).toBeGreaterThanOrEqual(reference);
      expect(await storage.prune({ olderThan: PAST + 2 * DAY, userId })).toEqual({
        sessionsDeleted: 0,
        runsDeleted: 0,
      });
    });

    it('refuses bad restoreTimes with INVALID_ARGUMENT naming the value, and writes nothing', async (test) => {
      const storage = await open();
      requireCapability(storage, test);
      const userId = uniqueId('bad-times');
      const existing = uniqueId('existing');
      await appendRuns(storage, existing, 1, { userId });
      const before = unchanged(await storage.getSession(existing));
      for (const { label, value, names } of BAD_TIMES) {
        const missing = uniqueId('never-created');
        await expectBuddyError(
          storage.upsertSession({
            sessionId: missing,
            userId,
            sessionState: { written: true },
            restoreTimes: value as RestoreTimes,
          }),
          'INVALID_ARGUMENT',
          names,
          label,
        );
        expect(await storage.getSession(missing), label).toBeUndefined();
        await expectBuddyError(
          storage.upsertSession({
            sessionId: existing,
            userId,
            sessionState: { written: true },
            restoreTimes: value as RestoreTimes,
          }),
          'INVALID_ARGUMENT',
          names,
          label,
        );
        expect(unchanged(await storage.getSession(existing)), label).toEqual(before);
      }
      expect(await listAll(storage, { userId }, 10)).toEqual([existing]);
    });

    it("writes nothing into a deleted or recreated session (stale expectedIncarnation), another user's session or without the lease", async (test) => {
      const storage = await open();
      requireCapability(storage, test);
      const userId = uniqueId('fenced');
      const times: RestoreTimes = { createdAt: PAST, updatedAt: PAST + DAY };
      // Deleted, then created again: the old incarnation is gone.
      const sessionId = uniqueId('recreated');
      await appendRuns(storage, sessionId, 1, { userId });
      const first = await storage.getSession(sessionId);
      await storage.deleteSession(sessionId);
      await expectBuddyError(
        storage.upsertSession({
          sessionId,
          userId,
          expectedIncarnation: first?.incarnation as string,
          restoreTimes: times,
        }),
        'NOT_FOUND',
      );
      expect(await storage.getSession(sessionId)).toBeUndefined();
      await appendRuns(storage, sessionId, 1, { userId });
      const second = await storage.getSession(sessionId);
      expect(second?.incarnation).not.toBe(first?.incarnation);
      await expectBuddyError(
        storage.upsertSession({
          sessionId,
          userId,
          expectedIncarnation: first?.incarnation as string,
          sessionState: { stale: true },
          restoreTimes: times,
        }),
        'NOT_FOUND',
      );
      expect(unchanged(await storage.getSession(sessionId))).toEqual(unchanged(second));
      // The right incarnation is written.
      const written = await storage.upsertSession({
        sessionId,
        userId,
        expectedIncarnation: second?.incarnation as string,
        restoreTimes: times,
      });
      expect(written).toMatchObject({ ...times, incarnation: second?.incarnation });

      // Another user's session: ownership holds with restoreTimes too.
      const owned = uniqueId('owned');
      await appendRuns(storage, owned, 1, { userId });
      const ownedBefore = unchanged(await storage.getSession(owned));
      await expectBuddyError(
        storage.upsertSession({
          sessionId: owned,
          userId: uniqueId('mallory'),
          restoreTimes: times,
        }),
        'SESSION_OWNERSHIP',
      );
      expect(unchanged(await storage.getSession(owned))).toEqual(ownedBefore);
      expect((await storage.listSessions({ userId })).sessions[0]?.sessionId).toBe(owned);

      // A lost lease: fenced like any write.
      const lease = await storage.acquireLease({ sessionId: owned, ttlMs: 10_000, waitMs: 0 });
      await lease.release();
      await expectBuddyError(
        storage.upsertSession({
          sessionId: owned,
          userId,
          leaseToken: lease.token,
          restoreTimes: times,
        }),
        'CONFLICT',
      );
      expect(unchanged(await storage.getSession(owned))).toEqual(ownedBefore);
    });

    it('refuses restoreTimes when it does not declare restoresTimes, and writes nothing', async (test) => {
      const storage = await open();
      test.skip(
        storage.capabilities?.restoresTimes === true,
        'the storage declares capabilities.restoresTimes (the cases above cover it)',
      );
      const sessionId = uniqueId('no-capability');
      await expectBuddyError(
        storage.upsertSession({ sessionId, restoreTimes: { createdAt: PAST, updatedAt: PAST } }),
        'INVALID_ARGUMENT',
        'restoresTimes',
      );
      expect(await storage.getSession(sessionId)).toBeUndefined();
    });
  });
}
