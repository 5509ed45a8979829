/**
 * Cases of the 0.2 storage additions, run by `describeSessionStorageContract`: retention
 * (`prune`, SPEC §15.2), session metadata and its listing filter (§16.2), partial runs'
 * `status` (§16.3) and runs paused for approvals (`pendingRun`, §16.4).
 */
import type { PendingRunRecord, SessionStorage } from '@buddy/core';
import { describe, expect, it } from 'vitest';
import { expectBuddyError } from '../fetch/expect-buddy-error.ts';
import { makeRun, uniqueId } from './session-storage-fixtures.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function appendRuns(
  storage: SessionStorage,
  sessionId: string,
  count: number,
  userId?: string,
) {
  for (let turn = 0; turn < count; turn++) {
    await storage.appendRun({
      sessionId,
      ...(userId === undefined ? {} : { userId }),
      run: makeRun(sessionId, `turn ${turn}`, userId === undefined ? {} : { userId }),
      sessionState: { turn },
    });
  }
}

function pendingRun(sessionId: string): PendingRunRecord {
  const run = makeRun(sessionId, 'buy it');
  return {
    runId: run.runId,
    messages: [
      run.messages[0] as PendingRunRecord['messages'][number],
      {
        role: 'assistant',
        content: '',
        toolCalls: [{ id: 'call-1', name: 'checkout', arguments: '{"total":42}' }],
        id: uniqueId('msg'),
        createdAt: Date.now(),
        runId: run.runId,
      },
    ],
    sessionState: { cart: ['milk'] },
    approvals: [
      {
        approvalId: 'approval-1',
        toolCallId: 'call-1',
        toolName: 'checkout',
        arguments: '{"total":42}',
      },
    ],
    usage: { inputTokens: 3, outputTokens: 2 },
    model: { provider: 'mock', id: 'mock-model' },
    rounds: 0,
    createdAt: Date.now(),
    pausedAt: Date.now(),
  };
}

/** Registers the cases of the 0.2 storage additions (part of the storage suite). */
export function describeSessionStorageRound2Cases(context: {
  open(): Promise<SessionStorage>;
}): void {
  const { open } = context;

  describe('retention: prune', () => {
    it('deletes sessions not updated since olderThan, with their runs, and nothing newer', async () => {
      const storage = await open();
      const userId = uniqueId('pruner');
      const old = uniqueId('old');
      const fresh = uniqueId('fresh');
      await appendRuns(storage, old, 3, userId);
      await sleep(5);
      const cut = Date.now();
      await sleep(5);
      await appendRuns(storage, fresh, 2, userId);
      const result = await storage.prune({ olderThan: cut, userId });
      expect(result).toEqual({ sessionsDeleted: 1, runsDeleted: 3 });
      expect(await storage.getSession(old)).toBeUndefined();
      expect(await storage.getRuns({ sessionId: old })).toEqual([]);
      expect((await storage.getSession(fresh))?.runCount).toBe(2);
      expect((await storage.listSessions({ userId })).sessions.map((s) => s.sessionId)).toEqual([
        fresh,
      ]);
    });

    it('keeps the last N runs of every session, never one the summary does not cover, and keeps the indexes', async () => {
      const storage = await open();
      const userId = uniqueId('keeper');
      const plain = uniqueId('plain');
      const summarized = uniqueId('summarized');
      await appendRuns(storage, plain, 6, userId);
      await appendRuns(storage, summarized, 6, userId);
      await storage.upsertSession({
        sessionId: summarized,
        userId,
        summary: { summary: 'first two', runsCovered: 2, updatedAt: Date.now() },
      });
      const result = await storage.prune({ keepLastRuns: 2, userId });
      // plain: runs 0..3 go; summarized: only runs 0..1 are covered, so only they go.
      expect(result).toEqual({ sessionsDeleted: 0, runsDeleted: 6 });
      expect((await storage.getRuns({ sessionId: plain })).map((run) => run.index)).toEqual([4, 5]);
      expect((await storage.getRuns({ sessionId: summarized })).map((run) => run.index)).toEqual([
        2, 3, 4, 5,
      ]);
      expect(
        (await storage.getRuns({ sessionId: plain, last: 1 })).map((run) => run.index),
      ).toEqual([5]);
      expect(
        (await storage.getRuns({ sessionId: plain, fromIndex: 0, limit: 5 })).map(
          (run) => run.index,
        ),
      ).toEqual([4]);
      expect((await storage.getSession(plain))?.runCount).toBe(6);
      // The next run continues at the next index; pruning again removes nothing more.
      await appendRuns(storage, plain, 1, userId);
      expect((await storage.getRuns({ sessionId: plain })).map((run) => run.index)).toEqual([
        4, 5, 6,
      ]);
      expect(await storage.prune({ keepLastRuns: 3, userId })).toEqual({
        sessionsDeleted: 0,
        runsDeleted: 0,
      });
    });

    it("prunes one user's sessions only, and refuses bad input", async () => {
      const storage = await open();
      const alice = uniqueId('alice');
      const bob = uniqueId('bob');
      const aliceSession = uniqueId('a');
      const bobSession = uniqueId('b');
      await appendRuns(storage, aliceSession, 1, alice);
      await appendRuns(storage, bobSession, 1, bob);
      await sleep(5);
      expect(await storage.prune({ olderThan: Date.now(), userId: alice })).toMatchObject({
        sessionsDeleted: 1,
      });
      expect(await storage.getSession(bobSession)).toBeDefined();
      await expectBuddyError(storage.prune({}), 'INVALID_ARGUMENT', 'olderThan');
      await expectBuddyError(
        storage.prune({ keepLastRuns: -1 }),
        'INVALID_ARGUMENT',
        'keepLastRuns',
      );
      await expectBuddyError(
        storage.prune({ olderThan: 1, older: 2 } as unknown as { olderThan: number }),
        'INVALID_ARGUMENT',
        'older',
      );
    });
  });

  describe('session metadata', () => {
    it('stores metadata at creation and with upsertSession, returns it from getSession and listing', async () => {
      const storage = await open();
      const userId = uniqueId('meta');
      const sessionId = uniqueId('m');
      await storage.appendRun({
        sessionId,
        userId,
        run: makeRun(sessionId, 'hi', { userId }),
        sessionState: {},
        metadata: { channel: 'web', tags: ['vip'] },
      });
      expect((await storage.getSession(sessionId))?.metadata).toEqual({
        channel: 'web',
        tags: ['vip'],
      });
      // Later appends never change it; upsertSession replaces it.
      await storage.appendRun({
        sessionId,
        userId,
        run: makeRun(sessionId, 'again', { userId }),
        sessionState: {},
        metadata: { channel: 'ignored' },
      });
      expect((await storage.getSession(sessionId))?.metadata).toEqual({
        channel: 'web',
        tags: ['vip'],
      });
      await storage.upsertSession({
        sessionId,
        userId,
        metadata: { channel: 'app', plan: { tier: 'pro' } },
      });
      const listed = await storage.listSessions({ userId });
      expect(listed.sessions[0]?.metadata).toEqual({ channel: 'app', plan: { tier: 'pro' } });
    });

    it("filters listing on top-level metadata keys (exact JSON match), that user's sessions only, with a working cursor", async () => {
      const storage = await open();
      const userId = uniqueId('filter');
      const other = uniqueId('other');
      const matching: string[] = [];
      for (let index = 0; index < 5; index++) {
        const sessionId = uniqueId(`f${index}`);
        const channel = index % 2 === 0 ? 'web' : 'app';
        if (channel === 'web') matching.unshift(sessionId);
        await storage.upsertSession({
          sessionId,
          userId,
          metadata: { channel, plan: { tier: 'pro' } },
        });
        await sleep(3);
      }
      await storage.upsertSession({
        sessionId: uniqueId('other'),
        userId: other,
        metadata: { channel: 'web' },
      });
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await storage.listSessions({
          userId,
          metadata: { channel: 'web' },
          limit: 2,
          ...(cursor === undefined ? {} : { cursor }),
        });
        seen.push(...page.sessions.map((session) => session.sessionId));
        cursor = page.nextCursor;
      } while (cursor !== undefined);
      expect(seen).toEqual(matching);
      expect(
        (
          await storage.listSessions({
            userId,
            metadata: { plan: { tier: 'pro' }, channel: 'app' },
          })
        ).sessions,
      ).toHaveLength(2);
      expect(
        (await storage.listSessions({ userId, metadata: { plan: { tier: 'free' } } })).sessions,
      ).toEqual([]);
      expect(
        (await storage.listSessions({ userId, metadata: { missing: null } })).sessions,
      ).toEqual([]);
    });

    it('refuses metadata that is not a JSON object or is larger than 16 kB', async () => {
      const storage = await open();
      const sessionId = uniqueId('big-meta');
      await expectBuddyError(
        storage.upsertSession({ sessionId, metadata: { big: 'x'.repeat(17_000) } }),
        'INVALID_ARGUMENT',
        'metadata',
      );
      await expectBuddyError(
        storage.upsertSession({
          sessionId,
          metadata: { when: new Date() } as unknown as Record<string, unknown>,
        }),
        'INVALID_ARGUMENT',
        'metadata.when',
      );
      await expectBuddyError(
        storage.listSessions({ metadata: { fn: () => 1 } as unknown as Record<string, unknown> }),
        'INVALID_ARGUMENT',
        'metadata.fn',
      );
      expect(await storage.getSession(sessionId)).toBeUndefined();
    });
  });

  describe('partial runs and paused runs', () => {
    it('stores a run status and reads it back', async () => {
      const storage = await open();
      const sessionId = uniqueId('status');
      await storage.appendRun({
        sessionId,
        run: { ...makeRun(sessionId, 'cut'), status: 'aborted' },
        sessionState: {},
      });
      await storage.appendRun({ sessionId, run: makeRun(sessionId, 'whole'), sessionState: {} });
      const runs = await storage.getRuns({ sessionId });
      expect(runs[0]?.status).toBe('aborted');
      expect(runs[1]?.status === undefined || runs[1]?.status === 'completed').toBe(true);
      await expectBuddyError(
        storage.appendRun({
          sessionId,
          run: { ...makeRun(sessionId, 'x'), status: 'exploded' as 'failed' },
          sessionState: {},
        }),
        'INVALID_ARGUMENT',
        'status',
      );
    });

    it('stores a paused run with its session, fenced by the lease, and clears it with the completing append', async () => {
      const storage = await open();
      const sessionId = uniqueId('paused');
      await storage.appendRun({
        sessionId,
        userId: 'dana',
        run: makeRun(sessionId, 'hi'),
        sessionState: { cart: [] },
      });
      const paused = pendingRun(sessionId);
      const lease = await storage.acquireLease({ sessionId, ttlMs: 10_000, waitMs: 0 });
      await storage.upsertSession({
        sessionId,
        userId: 'dana',
        pendingRun: paused,
        leaseToken: lease.token,
      });
      await lease.release();
      expect((await storage.getSession(sessionId))?.pendingRun).toEqual(paused);
      // A stale holder cannot write a paused run.
      await expectBuddyError(
        storage.upsertSession({
          sessionId,
          userId: 'dana',
          pendingRun: paused,
          leaseToken: lease.token,
        }),
        'CONFLICT',
      );
      // The resumed run completes it in one write.
      await storage.appendRun({
        sessionId,
        userId: 'dana',
        run: { ...makeRun(sessionId, 'buy it'), runId: paused.runId },
        sessionState: { cart: [] },
        clearPendingRun: true,
      });
      const record = await storage.getSession(sessionId);
      expect(record?.pendingRun).toBeUndefined();
      expect(record?.runCount).toBe(2);
      // Set and cleared with upsertSession too; a malformed one is refused.
      await storage.upsertSession({ sessionId, pendingRun: paused });
      await storage.upsertSession({ sessionId, pendingRun: null });
      expect((await storage.getSession(sessionId))?.pendingRun).toBeUndefined();
      await expectBuddyError(
        storage.upsertSession({ sessionId, pendingRun: { ...paused, approvals: [] } }),
        'INVALID_ARGUMENT',
        'pendingRun.approvals',
      );
    });
  });
}
