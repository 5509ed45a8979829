/**
 * The `SessionStorage` contract suite. Every backend runs it unchanged:
 *
 * ```ts
 * describeSessionStorageContract('sqlite (:memory:)', {
 *   create: async () => new SqliteStorage(),
 *   corruptSession: async (storage, sessionId) => { ...write garbage into the session row... },
 * });
 * ```
 *
 * It covers round trips (unicode, large JSON), run order and last-N reads, listing order and
 * cursor stability, owner isolation, delete and delete-user, leases, concurrent appends from two
 * storage instances, corrupt data and idempotent close; and the optional capabilities
 * (`leaseReadsSession`, `appendReleasesLease`, `restoresTimes`), each skipped with its reason by a
 * storage that does not declare it.
 */
import type { Logger, SessionStorage } from '@buddy/core';
import { afterEach, describe, expect, it } from 'vitest';
import { expectBuddyError } from '../fetch/expect-buddy-error.ts';
import { describeSessionLifecycleCases } from './session-lifecycle-cases.ts';
import { describeSessionStorageEdgeCases } from './session-storage-edge-cases.ts';
import { makeRun, type SessionStorageHarness, uniqueId } from './session-storage-fixtures.ts';
import { describeSessionStorageRestoreTimesCases } from './session-storage-restore-times-cases.ts';
import { describeSessionStorageRound2Cases } from './session-storage-round2-cases.ts';

export { makeRun, type SessionStorageHarness, uniqueId } from './session-storage-fixtures.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Registers the session-storage contract cases for one backend (see the module comment). */
export function describeSessionStorageContract(name: string, harness: SessionStorageHarness): void {
  describe(`SessionStorage contract: ${name}`, () => {
    const created: SessionStorage[] = [];

    async function open(options: { logger?: Logger } = {}): Promise<SessionStorage> {
      const storage = await harness.create(options);
      created.push(storage);
      return storage;
    }

    async function peerOf(storage: SessionStorage): Promise<SessionStorage> {
      if (harness.createPeer === undefined) return storage;
      const peer = await harness.createPeer(storage);
      created.push(peer);
      return peer;
    }

    afterEach(async () => {
      for (const storage of created.splice(0).reverse()) {
        await storage.close();
        await harness.dispose?.(storage);
      }
    });

    describe('records: create, read, patch, round-trip', () => {
      it('declares specification v1 and a backend name', async () => {
        const storage = await open();
        expect(storage.specificationVersion).toBe('v1');
        expect(typeof storage.backend).toBe('string');
        expect(storage.backend.length).toBeGreaterThan(0);
      });

      it('returns undefined for a missing session and no runs', async () => {
        const storage = await open();
        const sessionId = uniqueId('missing');
        expect(await storage.getSession(sessionId)).toBeUndefined();
        expect(await storage.getRuns({ sessionId })).toEqual([]);
        expect(await storage.getRuns({ sessionId, last: 3 })).toEqual([]);
      });

      it('creates a session with upsertSession and patches it later', async () => {
        const storage = await open();
        const sessionId = uniqueId('s');
        const created1 = await storage.upsertSession({
          sessionId,
          userId: 'dana',
          agentId: 'agent-1',
          sessionName: 'Onboarding',
          sessionState: { cart: ['milk'] },
        });
        expect(created1).toMatchObject({
          sessionId,
          userId: 'dana',
          agentId: 'agent-1',
          sessionName: 'Onboarding',
          sessionState: { cart: ['milk'] },
          version: 1,
          runCount: 0,
        });
        expect(created1.createdAt).toBe(created1.updatedAt);

        await sleep(2);
        const renamed = await storage.upsertSession({
          sessionId,
          userId: 'dana',
          sessionName: 'Renamed',
        });
        expect(renamed.sessionName).toBe('Renamed');
        expect(renamed.sessionState).toEqual({ cart: ['milk'] });
        expect(renamed.version).toBe(2);
        expect(renamed.createdAt).toBe(created1.createdAt);
        expect(renamed.updatedAt).toBeGreaterThanOrEqual(created1.updatedAt);

        const restated = await storage.upsertSession({ sessionId, sessionState: { cart: [] } });
        expect(restated.sessionState).toEqual({ cart: [] });
        expect(restated.version).toBe(3);
        expect(await storage.getSession(sessionId)).toEqual(restated);
      });

      it('starts a session created without state with {}', async () => {
        const storage = await open();
        const sessionId = uniqueId('s');
        const record = await storage.upsertSession({ sessionId });
        expect(record.sessionState).toEqual({});
        expect(record.userId).toBeUndefined();
      });

      it('round-trips unicode, emoji and large JSON exactly', async () => {
        const storage = await open();
        const sessionId = uniqueId('unicode-ß-日本-🧠');
        const big = {
          text: 'x'.repeat(600_000),
          nested: Array.from({ length: 2000 }, (_, index) => ({
            index,
            tags: ['a', 'b'],
            ok: index % 2 === 0,
          })),
          unicode:
            'Grüße, 你好, مرحبا, שלום, 🛒🥛🥚, e\u0301, \u200d, "quotes" \\ backslash \n newline',
          nullValue: null,
          number: 1.5e300,
        };
        await storage.upsertSession({
          sessionId,
          userId: 'user-ü',
          sessionName: 'Café ☕ session',
          sessionState: big,
        });
        const run = makeRun(sessionId, 'Füge 🥛 hinzu — "bitte"', {
          userId: 'user-ü',
          answer: '完成 ✅\n\tdone',
        });
        await storage.appendRun({ sessionId, userId: 'user-ü', run, sessionState: big });
        const record = await storage.getSession(sessionId, { userId: 'user-ü' });
        expect(record?.sessionState).toEqual(big);
        expect(record?.sessionName).toBe('Café ☕ session');
        const [stored] = await storage.getRuns({ sessionId });
        expect(stored).toEqual({ ...run, index: 0, stateAfter: big });
      });
    });

    describe('runs: append and read', () => {
      it('appends runs in order, each at its own index, and reads the last N', async () => {
        const storage = await open();
        const sessionId = uniqueId('s');
        const runIds: string[] = [];
        for (let index = 0; index < 25; index++) {
          const run = makeRun(sessionId, `turn ${index}`);
          runIds.push(run.runId);
          const result = await storage.appendRun({ sessionId, run, sessionState: { turn: index } });
          expect(result.index).toBe(index);
          expect(result.version).toBe(index + 1);
        }
        const record = await storage.getSession(sessionId);
        expect(record?.runCount).toBe(25);
        expect(record?.version).toBe(25);
        expect(record?.sessionState).toEqual({ turn: 24 });

        const all = await storage.getRuns({ sessionId });
        expect(all.map((run) => run.runId)).toEqual(runIds);
        expect(all.map((run) => run.index)).toEqual(runIds.map((_, index) => index));

        const last = await storage.getRuns({ sessionId, last: 5 });
        expect(last.map((run) => run.index)).toEqual([20, 21, 22, 23, 24]);
        expect((await storage.getRuns({ sessionId, last: 0 })).length).toBe(0);
        expect((await storage.getRuns({ sessionId, last: 100 })).length).toBe(25);

        const page = await storage.getRuns({ sessionId, fromIndex: 10, limit: 3 });
        expect(page.map((run) => run.index)).toEqual([10, 11, 12]);
        const tail = await storage.getRuns({ sessionId, fromIndex: 23 });
        expect(tail.map((run) => run.index)).toEqual([23, 24]);
        expect(await storage.getRuns({ sessionId, fromIndex: 99 })).toEqual([]);
      });

      it('creates the session on the first appendRun with owner, agent and name', async () => {
        const storage = await open();
        const sessionId = uniqueId('s');
        await storage.appendRun({
          sessionId,
          userId: 'dana',
          agentId: 'agent-7',
          sessionName: 'First',
          run: makeRun(sessionId, 'hello', { userId: 'dana' }),
          sessionState: { cart: [] },
        });
        expect(await storage.getSession(sessionId)).toMatchObject({
          sessionId,
          userId: 'dana',
          agentId: 'agent-7',
          sessionName: 'First',
          sessionState: { cart: [] },
          version: 1,
          runCount: 1,
        });
        await storage.appendRun({
          sessionId,
          userId: 'dana',
          sessionName: 'Second',
          run: makeRun(sessionId, 'again'),
          sessionState: { cart: ['milk'] },
        });
        expect(await storage.getSession(sessionId)).toMatchObject({
          sessionName: 'Second',
          runCount: 2,
          version: 2,
        });
      });
    });

    describe('input validation', () => {
      it('rejects bad input with INVALID_ARGUMENT naming the value', async () => {
        const storage = await open();
        await expectBuddyError(storage.getSession(''), 'INVALID_ARGUMENT', 'sessionId');
        await expectBuddyError(
          storage.getRuns({ sessionId: 'x', last: 2, fromIndex: 1 }),
          'INVALID_ARGUMENT',
        );
        await expectBuddyError(
          storage.getRuns({ sessionId: 'x', last: -1 }),
          'INVALID_ARGUMENT',
          '-1',
        );
        await expectBuddyError(
          storage.appendRun({
            sessionId: 'x',
            run: makeRun('x', 'hi'),
            sessionState: ['not', 'an', 'object'] as unknown as Record<string, unknown>,
          }),
          'INVALID_ARGUMENT',
          'sessionState',
        );
        await expectBuddyError(storage.listSessions({ limit: 0 }), 'INVALID_ARGUMENT', 'limit');
        await expectBuddyError(
          storage.listSessions({ cursor: 'garbage!' }),
          'INVALID_ARGUMENT',
          'garbage!',
        );
        expect(await storage.getSession('x')).toBeUndefined();
      });
    });

    describe('summaries', () => {
      it('keeps the newest summary: an older one never replaces it', async () => {
        const storage = await open();
        const sessionId = uniqueId('s');
        await storage.upsertSession({
          sessionId,
          summary: { summary: 'covers 4', topics: ['a'], runsCovered: 4, updatedAt: 1 },
        });
        await storage.upsertSession({
          sessionId,
          summary: { summary: 'covers 2', runsCovered: 2, updatedAt: 2 },
        });
        expect((await storage.getSession(sessionId))?.summary).toEqual({
          summary: 'covers 4',
          topics: ['a'],
          runsCovered: 4,
          updatedAt: 1,
        });
        await storage.upsertSession({
          sessionId,
          summary: { summary: 'covers 6', runsCovered: 6, updatedAt: 3 },
        });
        expect((await storage.getSession(sessionId))?.summary?.summary).toBe('covers 6');
        // appendRun never touches the summary
        await storage.appendRun({ sessionId, run: makeRun(sessionId, 'hi'), sessionState: {} });
        expect((await storage.getSession(sessionId))?.summary?.summary).toBe('covers 6');
      });
    });

    describe('listing', () => {
      it('lists sessions most recently updated first, with a stable keyset cursor', async () => {
        const storage = await open();
        const userId = uniqueId('lister');
        const ids: string[] = [];
        for (let index = 0; index < 7; index++) {
          const sessionId = uniqueId(`list-${index}`);
          ids.push(sessionId);
          await storage.upsertSession({ sessionId, userId, sessionName: `n${index}` });
          await sleep(3);
        }
        // Touch the second session: it becomes the most recent.
        await storage.appendRun({
          sessionId: ids[1] as string,
          userId,
          run: makeRun(ids[1] as string, 'bump'),
          sessionState: {},
        });
        const expected = [ids[1], ids[6], ids[5], ids[4], ids[3], ids[2], ids[0]];

        const all = await storage.listSessions({ userId, limit: 100 });
        expect(all.sessions.map((session) => session.sessionId)).toEqual(expected);
        expect(all.nextCursor).toBeUndefined();
        expect(all.sessions[0]).toMatchObject({ sessionId: ids[1], userId, sessionName: 'n1' });
        expect(typeof all.sessions[0]?.createdAt).toBe('number');

        const seen: string[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const page = await storage.listSessions({
            userId,
            limit: 3,
            ...(cursor === undefined ? {} : { cursor }),
          });
          seen.push(...page.sessions.map((session) => session.sessionId));
          cursor = page.nextCursor;
          pages++;
          if (pages === 1) {
            // A session created between pages must not shift later pages (no duplicates, no gaps).
            await storage.upsertSession({ sessionId: uniqueId('late'), userId });
          }
        } while (cursor !== undefined && pages < 10);
        expect(seen).toEqual(expected);
      });

      it('breaks updatedAt ties by sessionId and pages through them without loss', async () => {
        const storage = await open();
        const userId = uniqueId('ties');
        const ids = Array.from({ length: 6 }, (_, index) => `${userId}-tie-${index}`);
        await Promise.all(ids.map((sessionId) => storage.upsertSession({ sessionId, userId })));
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
        expect([...seen].sort()).toEqual([...ids].sort());
        expect(new Set(seen).size).toBe(ids.length);
      });

      it('filters listing by user and agent', async () => {
        const storage = await open();
        const alice = uniqueId('alice');
        const bob = uniqueId('bob');
        const agentId = uniqueId('agent');
        await storage.upsertSession({ sessionId: uniqueId('a1'), userId: alice, agentId });
        await storage.upsertSession({ sessionId: uniqueId('a2'), userId: alice });
        await storage.upsertSession({ sessionId: uniqueId('b1'), userId: bob, agentId });
        const aliceSessions = await storage.listSessions({ userId: alice });
        expect(aliceSessions.sessions).toHaveLength(2);
        expect(aliceSessions.sessions.every((session) => session.userId === alice)).toBe(true);
        const agentSessions = await storage.listSessions({ agentId });
        expect(agentSessions.sessions.map((session) => session.userId).sort()).toEqual(
          [alice, bob].sort(),
        );
        const aliceAgent = await storage.listSessions({ userId: alice, agentId });
        expect(aliceAgent.sessions).toHaveLength(1);
      });
    });

    describe('ownership', () => {
      it("never lets another user read, change, continue, list or delete a user's session", async () => {
        const storage = await open();
        const sessionId = uniqueId('owned');
        await storage.appendRun({
          sessionId,
          userId: 'alice',
          run: makeRun(sessionId, 'secret', { userId: 'alice' }),
          sessionState: { secret: 1 },
        });

        const error = await expectBuddyError(
          storage.getSession(sessionId, { userId: 'mallory' }),
          'SESSION_OWNERSHIP',
          sessionId,
        );
        expect(error.message).not.toContain('alice');
        await expectBuddyError(
          storage.upsertSession({ sessionId, userId: 'mallory', sessionState: {} }),
          'SESSION_OWNERSHIP',
        );
        await expectBuddyError(
          storage.appendRun({
            sessionId,
            userId: 'mallory',
            run: makeRun(sessionId, 'x'),
            sessionState: {},
          }),
          'SESSION_OWNERSHIP',
        );
        await expectBuddyError(
          storage.deleteSession(sessionId, { userId: 'mallory' }),
          'SESSION_OWNERSHIP',
        );
        const listed = await storage.listSessions({ userId: 'mallory' });
        expect(listed.sessions.map((session) => session.sessionId)).not.toContain(sessionId);

        const record = await storage.getSession(sessionId, { userId: 'alice' });
        expect(record).toMatchObject({
          userId: 'alice',
          sessionState: { secret: 1 },
          runCount: 1,
          version: 1,
        });
        expect(await storage.getRuns({ sessionId })).toHaveLength(1);
      });
    });

    describe('deletion', () => {
      it('deletes a session with its runs; deleting again returns false', async () => {
        const storage = await open();
        const sessionId = uniqueId('del');
        const keep = uniqueId('keep');
        await storage.appendRun({
          sessionId,
          userId: 'dana',
          run: makeRun(sessionId, 'a'),
          sessionState: {},
        });
        await storage.appendRun({
          sessionId: keep,
          userId: 'dana',
          run: makeRun(keep, 'b'),
          sessionState: {},
        });
        expect(await storage.deleteSession(sessionId, { userId: 'dana' })).toBe(true);
        expect(await storage.getSession(sessionId)).toBeUndefined();
        expect(await storage.getRuns({ sessionId })).toEqual([]);
        expect(
          (await storage.listSessions({ userId: 'dana' })).sessions.map(
            (session) => session.sessionId,
          ),
        ).toEqual([keep]);
        expect(await storage.deleteSession(sessionId)).toBe(false);
        // A deleted id can be reused from scratch.
        const reused = await storage.appendRun({
          sessionId,
          run: makeRun(sessionId, 'again'),
          sessionState: {},
        });
        expect(reused).toMatchObject({ index: 0, version: 1 });
      });

      it("deletes every session of one user and nobody else's", async () => {
        const storage = await open();
        const doomed = uniqueId('doomed');
        const other = uniqueId('other');
        const doomedIds = [uniqueId('d1'), uniqueId('d2'), uniqueId('d3')];
        for (const sessionId of doomedIds) {
          await storage.appendRun({
            sessionId,
            userId: doomed,
            run: makeRun(sessionId, 'x'),
            sessionState: {},
          });
        }
        const otherId = uniqueId('o1');
        const anonymousId = uniqueId('anon');
        await storage.appendRun({
          sessionId: otherId,
          userId: other,
          run: makeRun(otherId, 'y'),
          sessionState: {},
        });
        await storage.upsertSession({ sessionId: anonymousId });
        expect(await storage.deleteUserData(doomed)).toBe(3);
        for (const sessionId of doomedIds) {
          expect(await storage.getSession(sessionId)).toBeUndefined();
          expect(await storage.getRuns({ sessionId })).toEqual([]);
        }
        expect((await storage.listSessions({ userId: doomed })).sessions).toEqual([]);
        expect(await storage.getSession(otherId)).toBeDefined();
        expect(await storage.getRuns({ sessionId: otherId })).toHaveLength(1);
        expect(await storage.getSession(anonymousId)).toBeDefined();
        expect(await storage.deleteUserData(doomed)).toBe(0);
      });
    });

    describe('leases', () => {
      it('gives a session lease to one holder at a time', async () => {
        const storage = await open();
        const peer = await peerOf(storage);
        const sessionId = uniqueId('lease');
        const first = await storage.acquireLease({ sessionId, ttlMs: 10_000, waitMs: 0 });
        expect(first.sessionId).toBe(sessionId);
        expect(first.token.length).toBeGreaterThan(0);
        const busy = await expectBuddyError(
          peer.acquireLease({ sessionId, ttlMs: 10_000, waitMs: 50 }),
          'SESSION_BUSY',
          sessionId,
        );
        expect(busy.retryable).toBe(true);
        // A lease on another session is independent.
        const other = await peer.acquireLease({
          sessionId: uniqueId('lease-other'),
          ttlMs: 10_000,
          waitMs: 0,
        });
        await other.release();

        const waiting = peer.acquireLease({ sessionId, ttlMs: 10_000, waitMs: 5_000 });
        await sleep(20);
        await first.renew();
        await first.release();
        await first.release(); // idempotent
        const second = await waiting;
        expect(second.token).not.toBe(first.token);
        await second.release();
      });

      it('lets a lease expire when its holder stops renewing it (a crashed process)', async () => {
        const storage = await open();
        const peer = await peerOf(storage);
        const sessionId = uniqueId('expire');
        const crashed = await storage.acquireLease({ sessionId, ttlMs: 150, waitMs: 0 });
        const started = Date.now();
        const next = await peer.acquireLease({ sessionId, ttlMs: 10_000, waitMs: 5_000 });
        expect(Date.now() - started).toBeGreaterThanOrEqual(100);
        await expectBuddyError(crashed.renew(), 'CONFLICT', sessionId);
        await crashed.release(); // must not release the new holder's lease
        await expectBuddyError(
          storage.acquireLease({ sessionId, ttlMs: 1000, waitMs: 0 }),
          'SESSION_BUSY',
        );
        await next.release();
      });

      it('fences appends: a lost lease token writes nothing', async () => {
        const storage = await open();
        const sessionId = uniqueId('fence');
        const lease = await storage.acquireLease({ sessionId, ttlMs: 10_000, waitMs: 0 });
        await storage.appendRun({
          sessionId,
          run: makeRun(sessionId, 'ok'),
          sessionState: { n: 1 },
          leaseToken: lease.token,
        });
        await lease.release();
        await expectBuddyError(
          storage.appendRun({
            sessionId,
            run: makeRun(sessionId, 'stale'),
            sessionState: { n: 99 },
            leaseToken: lease.token,
          }),
          'CONFLICT',
        );
        const record = await storage.getSession(sessionId);
        expect(record).toMatchObject({ runCount: 1, sessionState: { n: 1 } });
        expect(await storage.getRuns({ sessionId })).toHaveLength(1);
      });

      it('stops waiting for a lease when the signal aborts', async () => {
        const storage = await open();
        const sessionId = uniqueId('abort');
        const held = await storage.acquireLease({ sessionId, ttlMs: 10_000, waitMs: 0 });
        const controller = new AbortController();
        const waiting = storage.acquireLease({
          sessionId,
          ttlMs: 10_000,
          waitMs: 10_000,
          signal: controller.signal,
        });
        setTimeout(() => controller.abort(), 30);
        await expectBuddyError(waiting, 'ABORTED');
        await held.release();
      });
    });

    describe('capabilities: leaseReadsSession, appendReleasesLease', () => {
      it('reads the session while taking the lease (readSession), when it declares leaseReadsSession', async (context) => {
        const storage = await open();
        if (storage.capabilities?.leaseReadsSession !== true) context.skip();
        const sessionId = uniqueId('read-lease');
        const missing = await storage.acquireLease({
          sessionId,
          ttlMs: 10_000,
          waitMs: 0,
          readSession: true,
        });
        expect(missing.session).toBeNull();
        await storage.appendRun({
          sessionId,
          userId: 'dana',
          run: makeRun(sessionId, 'hi'),
          sessionState: { cart: ['milk'] },
          leaseToken: missing.token,
        });
        await missing.release();
        const lease = await storage.acquireLease({
          sessionId,
          ttlMs: 10_000,
          waitMs: 0,
          readSession: true,
        });
        expect(lease.session).toEqual(await storage.getSession(sessionId));
        expect(lease.session).toMatchObject({
          userId: 'dana',
          sessionState: { cart: ['milk'] },
          runCount: 1,
        });
        await lease.release();
        // Without the flag, nothing is read.
        const plain = await storage.acquireLease({ sessionId, ttlMs: 10_000, waitMs: 0 });
        expect('session' in plain && plain.session !== undefined).toBe(false);
        await plain.release();
        // A corrupt record rejects and leaves the lease free.
        await harness.corruptSession(storage, sessionId);
        await expectBuddyError(
          storage.acquireLease({ sessionId, ttlMs: 10_000, waitMs: 0, readSession: true }),
          'STORAGE_CORRUPT',
          sessionId,
        );
        const next = await storage.acquireLease({ sessionId, ttlMs: 10_000, waitMs: 0 });
        await next.release();
      });

      it('releases the lease with the append (releaseLease), when it declares appendReleasesLease', async (context) => {
        const storage = await open();
        if (storage.capabilities?.appendReleasesLease !== true) context.skip();
        const peer = await peerOf(storage);
        const sessionId = uniqueId('release-append');
        const lease = await storage.acquireLease({ sessionId, ttlMs: 10_000, waitMs: 0 });
        const result = await storage.appendRun({
          sessionId,
          run: makeRun(sessionId, 'a'),
          sessionState: { n: 1 },
          leaseToken: lease.token,
          releaseLease: true,
        });
        expect(result.leaseReleased).toBe(true);
        const next = await peer.acquireLease({ sessionId, ttlMs: 10_000, waitMs: 0 });
        // The old token no longer writes, and releasing it does not free the new holder.
        await expectBuddyError(
          storage.appendRun({
            sessionId,
            run: makeRun(sessionId, 'stale'),
            sessionState: { n: 9 },
            leaseToken: lease.token,
            releaseLease: true,
          }),
          'CONFLICT',
        );
        await lease.release();
        await expectBuddyError(
          storage.acquireLease({ sessionId, ttlMs: 10_000, waitMs: 0 }),
          'SESSION_BUSY',
        );
        // Without a token there is no lease to release.
        const unfenced = await peer.appendRun({
          sessionId,
          run: makeRun(sessionId, 'b'),
          sessionState: { n: 2 },
          releaseLease: true,
        });
        expect(unfenced.leaseReleased === true).toBe(false);
        await expectBuddyError(
          storage.acquireLease({ sessionId, ttlMs: 10_000, waitMs: 0 }),
          'SESSION_BUSY',
        );
        await next.release();
        expect((await storage.getSession(sessionId))?.runCount).toBe(2);
      });
    });

    describe('concurrency', () => {
      it('keeps every run when two storage instances append concurrently', async () => {
        const storage = await open();
        const peer = await peerOf(storage);
        const sessionId = uniqueId('concurrent');
        const appendMany = (target: SessionStorage, label: string) =>
          Promise.all(
            Array.from({ length: 25 }, (_, index) => {
              const run = makeRun(sessionId, `${label}-${index}`);
              return target
                .appendRun({ sessionId, run, sessionState: { last: `${label}-${index}` } })
                .then(() => run.runId);
            }),
          );
        const [fromA, fromB] = await Promise.all([appendMany(storage, 'a'), appendMany(peer, 'b')]);
        const runs = await storage.getRuns({ sessionId });
        expect(runs).toHaveLength(50);
        expect(runs.map((run) => run.index)).toEqual(
          Array.from({ length: 50 }, (_, index) => index),
        );
        expect(new Set(runs.map((run) => run.runId))).toEqual(new Set([...fromA, ...fromB]));
        const record = await storage.getSession(sessionId);
        expect(record).toMatchObject({ runCount: 50, version: 50 });
        // The peer sees the same order.
        expect((await peer.getRuns({ sessionId })).map((run) => run.runId)).toEqual(
          runs.map((run) => run.runId),
        );
      });

      it('serializes read-modify-write turns across instances with the lease (no lost update)', async () => {
        const storage = await open();
        const peer = await peerOf(storage);
        const sessionId = uniqueId('counter');
        const turns = (target: SessionStorage) =>
          (async () => {
            for (let index = 0; index < 15; index++) {
              const lease = await target.acquireLease({ sessionId, ttlMs: 10_000, waitMs: 10_000 });
              try {
                const record = await target.getSession(sessionId);
                const count = Number(record?.sessionState.count ?? 0);
                await sleep(0);
                await target.appendRun({
                  sessionId,
                  run: makeRun(sessionId, `turn ${count}`),
                  sessionState: { count: count + 1 },
                  leaseToken: lease.token,
                });
              } finally {
                await lease.release();
              }
            }
          })();
        await Promise.all([turns(storage), turns(peer)]);
        const record = await storage.getSession(sessionId);
        expect(record?.sessionState.count).toBe(30);
        expect(record?.runCount).toBe(30);
      });
    });

    describe('corruption', () => {
      it('reports a corrupt session as STORAGE_CORRUPT naming it, and other sessions keep working', async () => {
        const storage = await open();
        const broken = uniqueId('broken');
        const healthy = uniqueId('healthy');
        await storage.appendRun({
          sessionId: broken,
          userId: 'u1',
          run: makeRun(broken, 'a'),
          sessionState: { a: 1 },
        });
        await storage.appendRun({
          sessionId: healthy,
          userId: 'u1',
          run: makeRun(healthy, 'b'),
          sessionState: { b: 1 },
        });
        await harness.corruptSession(storage, broken);
        await expectBuddyError(storage.getSession(broken), 'STORAGE_CORRUPT', broken);
        expect((await storage.getSession(healthy))?.sessionState).toEqual({ b: 1 });
        await storage.appendRun({
          sessionId: healthy,
          run: makeRun(healthy, 'c'),
          sessionState: { b: 2 },
        });
        expect(await storage.getRuns({ sessionId: healthy })).toHaveLength(2);
      });

      it.skipIf(harness.corruptRun === undefined)(
        'reports a corrupt run as STORAGE_CORRUPT naming its session',
        async () => {
          const storage = await open();
          const sessionId = uniqueId('broken-run');
          await storage.appendRun({ sessionId, run: makeRun(sessionId, 'a'), sessionState: {} });
          await harness.corruptRun?.(storage, sessionId);
          await expectBuddyError(storage.getRuns({ sessionId }), 'STORAGE_CORRUPT', sessionId);
          expect(await storage.getSession(sessionId)).toBeDefined();
        },
      );
    });

    describeSessionStorageEdgeCases({ open, harness });
    describeSessionLifecycleCases({ open: () => open(), peerOf });
    describeSessionStorageRound2Cases({ open: () => open() });
    describeSessionStorageRestoreTimesCases({ open: () => open() });
  });
}
