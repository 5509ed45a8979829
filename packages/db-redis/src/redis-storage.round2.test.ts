/**
 * The Redis side of the 0.2 storage additions, each as the behaviour it promises: `prune` walks
 * the sorted-set indexes (never `SCAN`/`KEYS`, never another user's sessions) and judges every
 * session by its stored fields, keeps run indexes, idempotency and write deadlines; metadata is
 * filtered after the indexed read of that user's sessions with full pages; the paused run is
 * fenced inside the upsert script and cleared inside the append script.
 */
import type { PendingRunRecord } from '@buddy/core';
import { expectBuddyError } from '@buddy/testkit/fetch';
import { makeRun, recordingLogger, uniqueId } from '@buddy/testkit/storage';
import { type ChainableCommander, Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  deletePrefix,
  monitorCommands,
  REDIS_URL,
  rawClient,
  requireRedis,
  testPrefix,
} from '../test/redis-test-env.ts';
import { RedisKeys } from './redis-keys.ts';
import { RedisStorage, type RedisStorageOptions } from './redis-storage.ts';

const hasRedis = await requireRedis();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function pausedRun(sessionId: string): PendingRunRecord {
  const run = makeRun(sessionId, 'buy it');
  return {
    runId: run.runId,
    messages: [run.messages[0] as PendingRunRecord['messages'][number]],
    sessionState: {},
    approvals: [{ approvalId: 'a-1', toolCallId: 'c-1', toolName: 'pay', arguments: '{}' }],
    usage: { inputTokens: 1, outputTokens: 1 },
    model: { provider: 'mock', id: 'mock' },
    rounds: 0,
    createdAt: Date.now(),
    pausedAt: Date.now(),
  };
}

describe.skipIf(!hasRedis)('RedisStorage: prune, metadata, paused runs', () => {
  const raw = hasRedis ? rawClient() : (undefined as unknown as Redis);
  const opened: RedisStorage[] = [];
  const clients: Redis[] = [];

  function open(options: RedisStorageOptions = {}): RedisStorage {
    const storage = new RedisStorage({
      ...(options.client === undefined ? { url: REDIS_URL } : {}),
      prefix: testPrefix(),
      ...options,
    });
    opened.push(storage);
    return storage;
  }

  function ownClient(commandTimeout?: number): Redis {
    const client =
      commandTimeout === undefined
        ? new Redis(REDIS_URL)
        : new Redis(REDIS_URL, { commandTimeout });
    clients.push(client);
    return client;
  }

  async function appendRuns(
    storage: RedisStorage,
    sessionId: string,
    count: number,
    userId?: string,
  ): Promise<string[]> {
    const ids: string[] = [];
    for (let turn = 0; turn < count; turn++) {
      const run = makeRun(sessionId, `turn ${turn}`);
      ids.push(run.runId);
      await storage.appendRun({
        sessionId,
        ...(userId === undefined ? {} : { userId }),
        run,
        sessionState: { turn },
      });
    }
    return ids;
  }

  afterEach(async () => {
    for (const storage of opened.splice(0)) {
      await storage.close();
      await deletePrefix(raw, storage.prefix);
    }
    for (const client of clients.splice(0)) client.disconnect();
  });

  afterAll(async () => {
    await raw.quit();
  });

  describe('prune', () => {
    it("reads only the sorted sets and that user's sessions: no SCAN or KEYS, no other user's key", async () => {
      const client = ownClient();
      const storage = open({ client });
      const keys = new RedisKeys(storage.prefix);
      const alice = uniqueId('alice');
      const bob = uniqueId('bob');
      const aliceSessions = [uniqueId('a1'), uniqueId('a2')];
      const bobSession = uniqueId('b1');
      for (const sessionId of aliceSessions) await appendRuns(storage, sessionId, 3, alice);
      await appendRuns(storage, bobSession, 3, bob);
      await sleep(5);
      const source = `${client.stream.localAddress}:${client.stream.localPort}`;
      const commands = await monitorCommands(
        raw,
        (args, from) =>
          from === source || (from === 'lua' && args.some((arg) => arg.includes(storage.prefix))),
        async () => {
          expect(await storage.prune({ keepLastRuns: 1, userId: alice })).toEqual({
            sessionsDeleted: 0,
            runsDeleted: 4,
          });
          expect(await storage.prune({ olderThan: Date.now(), userId: alice })).toEqual({
            sessionsDeleted: 2,
            runsDeleted: 2,
          });
        },
      );
      const names = new Set(commands.map(({ args }) => String(args[0]).toLowerCase()));
      expect(names.has('zrangebyscore')).toBe(true);
      for (const name of names) expect(name).not.toMatch(/^(scan|keys|hscan|sscan|zscan)$/);
      const touched = commands
        .flatMap(({ args }) => args)
        .filter((arg) => arg.includes(bobSession));
      expect(touched).toEqual([]);
      expect(commands.flatMap(({ args }) => args)).not.toContain(keys.userIndex(bob));
      expect((await storage.getRuns({ sessionId: bobSession })).map((run) => run.index)).toEqual([
        0, 1, 2,
      ]);
      expect((await storage.listSessions({ userId: alice })).sessions).toEqual([]);
      expect(await raw.zcard(keys.userIndex(alice))).toBe(0);
      for (const sessionId of aliceSessions) {
        expect(await raw.zscore(keys.allIndex(), sessionId)).toBeNull();
        expect(await raw.exists(keys.runs(sessionId), keys.runIds(sessionId))).toBe(0);
      }
      expect(await raw.zscore(keys.allIndex(), bobSession)).not.toBeNull();
    });

    it('judges a session by its stored updatedAt, not by a stale index entry, and puts the entry right', async () => {
      const storage = open();
      const keys = new RedisKeys(storage.prefix);
      const userId = uniqueId('behind');
      const fresh = uniqueId('fresh');
      await appendRuns(storage, fresh, 1, userId);
      const updatedAt = (await storage.getSession(fresh))?.updatedAt;
      // The entry says "long ago" (a listing lowered it while a write was in flight).
      await raw.zadd(keys.userIndex(userId), 1, fresh);
      await raw.zadd(keys.allIndex(), 1, fresh);
      expect(await storage.prune({ olderThan: Date.now() - 60_000, userId })).toEqual({
        sessionsDeleted: 0,
        runsDeleted: 0,
      });
      expect(await storage.prune({ olderThan: Date.now() - 60_000 })).toEqual({
        sessionsDeleted: 0,
        runsDeleted: 0,
      });
      expect((await storage.getSession(fresh))?.runCount).toBe(1);
      expect(await raw.zscore(keys.userIndex(userId), fresh)).toBe(String(updatedAt));
      expect(await raw.zscore(keys.allIndex(), fresh)).toBe(String(updatedAt));
    });

    it('removes entries of missing sessions once they are surely stale, and keeps young ones', async () => {
      const storage = open();
      const keys = new RedisKeys(storage.prefix);
      const userId = uniqueId('ghosts');
      const old = String(Date.now() - 6 * 60_000);
      const young = String(Date.now() - 60_000);
      await raw.zadd(keys.userIndex(userId), old, 'ghost-old', young, 'ghost-young');
      expect(await storage.prune({ olderThan: Date.now(), userId })).toEqual({
        sessionsDeleted: 0,
        runsDeleted: 0,
      });
      expect(await raw.zscore(keys.userIndex(userId), 'ghost-old')).toBeNull();
      expect(await raw.zscore(keys.userIndex(userId), 'ghost-young')).toBe(young);
    });

    it('walks past a page of sessions it cannot judge, reports them, and prunes the rest', async () => {
      const logger = recordingLogger();
      const storage = open({ logger });
      const keys = new RedisKeys(storage.prefix);
      const userId = uniqueId('walk');
      const cut = Date.now() - 1_000;
      // More unreadable entries than one page holds, all before the real sessions.
      const broken = Array.from({ length: 205 }, (_, index) => `broken-${index}`);
      for (const [index, sessionId] of broken.entries()) {
        await raw.set(keys.session(sessionId), 'not a hash');
        await raw.zadd(keys.userIndex(userId), cut - 10_000 + index, sessionId);
      }
      const sessions = [uniqueId('s1'), uniqueId('s2')];
      for (const sessionId of sessions) await appendRuns(storage, sessionId, 2, userId);
      await raw.hset(keys.session(sessions[0] as string), 'updated_at', String(cut - 5_000));
      await raw.zadd(keys.userIndex(userId), cut - 5_000, sessions[0] as string);
      expect(await storage.prune({ olderThan: cut, userId })).toEqual({
        sessionsDeleted: 1,
        runsDeleted: 2,
      });
      expect(await storage.getSession(sessions[1] as string)).toBeDefined();
      const warnings = logger.lines.filter((line) => line.level === 'warn');
      expect(warnings).toHaveLength(205);
      expect(warnings[0]?.message).toContain('broken-0');
      expect(warnings[0]?.message).toContain('not a hash');
      // Unreadable sessions are left for deleteSession / deleteUserData.
      expect(await raw.type(keys.session('broken-0'))).toBe('string');
    });

    it('trims the run list in place: indexes, runCount, version and index scores stay; pruned runs stay idempotent', async () => {
      const storage = open();
      const keys = new RedisKeys(storage.prefix);
      const userId = uniqueId('trim');
      const sessionId = uniqueId('long');
      const runIds = await appendRuns(storage, sessionId, 6, userId);
      const before = await storage.getSession(sessionId);
      const score = await raw.zscore(keys.userIndex(userId), sessionId);
      expect(await storage.prune({ keepLastRuns: 2, userId })).toEqual({
        sessionsDeleted: 0,
        runsDeleted: 4,
      });
      expect(await raw.llen(keys.runs(sessionId))).toBe(2);
      expect(await raw.hget(keys.session(sessionId), 'runs_pruned')).toBe('4');
      const after = await storage.getSession(sessionId);
      expect(after).toEqual(before);
      expect(await raw.zscore(keys.userIndex(userId), sessionId)).toBe(score);
      // Windows by index, before, across and after the pruned part (an LRANGE with a negative
      // stop would read from the end instead).
      const window = async (fromIndex: number, limit?: number) =>
        (
          await storage.getRuns({
            sessionId,
            fromIndex,
            ...(limit === undefined ? {} : { limit }),
          })
        ).map((run) => run.index);
      expect(await window(0, 2)).toEqual([]);
      expect(await window(0, 4)).toEqual([]);
      expect(await window(3, 2)).toEqual([4]);
      expect(await window(4, 1)).toEqual([4]);
      expect(await window(5)).toEqual([5]);
      expect(await window(6)).toEqual([]);
      expect(await window(0)).toEqual([4, 5]);
      expect((await storage.getRuns({ sessionId, last: 10 })).map((run) => run.runId)).toEqual(
        runIds.slice(4),
      );
      // A resent append of a pruned run is answered with its first result, never stored again.
      const resent = await storage.appendRun({
        sessionId,
        userId,
        run: { ...makeRun(sessionId, 'turn 0'), runId: runIds[0] as string },
        sessionState: { turn: 0 },
      });
      expect(resent.index).toBe(0);
      expect((await storage.getSession(sessionId))?.runCount).toBe(6);
      // Everything may go (no summary, keep none); the next run still continues the count.
      expect(await storage.prune({ keepLastRuns: 0, userId })).toEqual({
        sessionsDeleted: 0,
        runsDeleted: 2,
      });
      expect(await storage.getRuns({ sessionId })).toEqual([]);
      await appendRuns(storage, sessionId, 1, userId);
      expect((await storage.getRuns({ sessionId })).map((run) => run.index)).toEqual([6]);
      expect((await storage.getRuns({ sessionId, fromIndex: 6 })).map((run) => run.index)).toEqual([
        6,
      ]);
    });

    it('deletes the lease with the session, so the run holding it cannot append afterwards', async () => {
      const storage = open();
      const sessionId = uniqueId('leased');
      await appendRuns(storage, sessionId, 1);
      const lease = await storage.acquireLease({ sessionId, ttlMs: 10_000, waitMs: 0 });
      await sleep(5);
      expect(await storage.prune({ olderThan: Date.now() })).toMatchObject({ sessionsDeleted: 1 });
      expect(await raw.zcard(new RedisKeys(storage.prefix).allIndex())).toBe(0);
      await expectBuddyError(
        storage.appendRun({
          sessionId,
          run: makeRun(sessionId, 'late'),
          sessionState: {},
          leaseToken: lease.token,
        }),
        'CONFLICT',
      );
      expect(await storage.getSession(sessionId)).toBeUndefined();
    });

    it('refuses to delete after its deadline (a step that reaches the server late writes nothing)', async () => {
      const client = ownClient(600);
      const storage = open({ client });
      const sessionId = uniqueId('late-prune');
      await appendRuns(storage, sessionId, 2);
      await sleep(5);
      // Every pipeline (the session scripts of prune) leaves this process 800 ms late: past the
      // write's deadline (600 ms budget), so the scripts must refuse.
      const pipeline = client.pipeline.bind(client);
      client.pipeline = ((...args: Parameters<typeof client.pipeline>) => {
        const commands: ChainableCommander = pipeline(...args);
        const exec = commands.exec.bind(commands);
        commands.exec = (async () => {
          await sleep(800);
          return exec();
        }) as typeof commands.exec;
        return commands;
      }) as typeof client.pipeline;
      const error = await expectBuddyError(
        storage.prune({ olderThan: Date.now() }),
        'STORAGE_UNAVAILABLE',
        'deadline',
      );
      expect(error.retryable).toBe(true);
      client.pipeline = pipeline;
      expect((await storage.getSession(sessionId))?.runCount).toBe(2);
      expect(await storage.prune({ olderThan: Date.now() })).toEqual({
        sessionsDeleted: 1,
        runsDeleted: 2,
      });
    });
  });

  describe('metadata', () => {
    it("stores metadata as JSON in the hash and filters only that user's index, filling the page", async () => {
      const client = ownClient();
      const storage = open({ client });
      const keys = new RedisKeys(storage.prefix);
      const userId = uniqueId('sparse');
      const other = uniqueId('other');
      const matches: string[] = [];
      // 250 sessions, 3 of them match: more non-matching entries than one read step holds.
      for (let index = 0; index < 250; index++) {
        const sessionId = `s-${String(index).padStart(3, '0')}`;
        const match = index === 3 || index === 120 || index === 249;
        if (match) matches.unshift(sessionId);
        await storage.upsertSession({
          sessionId,
          userId,
          metadata: { plan: match ? 'pro' : 'free', n: index },
        });
      }
      const foreign = uniqueId('foreign');
      await storage.upsertSession({ sessionId: foreign, userId: other, metadata: { plan: 'pro' } });
      expect(JSON.parse((await raw.hget(keys.session('s-003'), 'metadata')) as string)).toEqual({
        plan: 'pro',
        n: 3,
      });
      const source = `${client.stream.localAddress}:${client.stream.localPort}`;
      const pages: string[][] = [];
      const commands = await monitorCommands(
        raw,
        (_args, from) => from === source,
        async () => {
          const whole = await storage.listSessions({ userId, metadata: { plan: 'pro' } });
          expect(whole.sessions.map((session) => session.sessionId)).toEqual(matches);
          expect(whole.nextCursor).toBeUndefined();
          let cursor: string | undefined;
          do {
            const page = await storage.listSessions({
              userId,
              metadata: { plan: 'pro' },
              limit: 1,
              ...(cursor === undefined ? {} : { cursor }),
            });
            pages.push(page.sessions.map((session) => session.sessionId));
            cursor = page.nextCursor;
          } while (cursor !== undefined);
        },
      );
      expect(pages).toEqual(matches.map((sessionId) => [sessionId]));
      const args = commands.flatMap((command) => command.args);
      expect(args).not.toContain(keys.session(foreign));
      expect(args).not.toContain(keys.allIndex());
    });

    it('skips a session with corrupt metadata in listing (and reports it); getSession names it', async () => {
      const logger = recordingLogger();
      const storage = open({ logger });
      const keys = new RedisKeys(storage.prefix);
      const userId = uniqueId('corrupt-meta');
      const [good, bad] = [uniqueId('good'), uniqueId('bad')];
      await storage.upsertSession({ sessionId: good, userId, metadata: { a: 1 } });
      await storage.upsertSession({ sessionId: bad, userId, metadata: { a: 1 } });
      await raw.hset(keys.session(bad), 'metadata', '{oops');
      const listed = await storage.listSessions({ userId });
      expect(listed.sessions.map((session) => session.sessionId)).toEqual([good]);
      expect(logger.lines.some((line) => line.message.includes(bad))).toBe(true);
      await expectBuddyError(storage.getSession(bad), 'STORAGE_CORRUPT', bad);
      await raw.hset(keys.session(bad), 'metadata', '[1, 2]');
      await expectBuddyError(storage.getSession(bad), 'STORAGE_CORRUPT', bad);
    });
  });

  describe('paused runs', () => {
    it('fences upsertSession({ leaseToken }) inside its script and writes nothing, indexes included, for a lost lease', async () => {
      const storage = open();
      const keys = new RedisKeys(storage.prefix);
      const userId = uniqueId('fenced');
      const sessionId = uniqueId('paused');
      await appendRuns(storage, sessionId, 1, userId);
      const lease = await storage.acquireLease({ sessionId, ttlMs: 10_000, waitMs: 0 });
      const commands = await monitorCommands(
        raw,
        (args, from) => from === 'lua' && args.includes(keys.lease(sessionId)),
        async () => {
          await storage.upsertSession({
            sessionId,
            userId,
            pendingRun: pausedRun(sessionId),
            leaseToken: lease.token,
          });
        },
      );
      expect(commands.map(({ args }) => String(args[0]).toLowerCase())).toEqual(['get']);
      const stored = await storage.getSession(sessionId);
      expect(stored?.pendingRun?.approvals[0]?.approvalId).toBe('a-1');
      // Another holder takes over; the first one's token no longer writes, not even to clear it.
      await raw.set(keys.lease(sessionId), 'someone-else');
      await sleep(5);
      await expectBuddyError(
        storage.upsertSession({
          sessionId,
          userId,
          pendingRun: null,
          leaseToken: lease.token,
        }),
        'CONFLICT',
      );
      // Also on a session that does not exist yet (the first turn holds the lease before it does).
      const fresh = uniqueId('fresh');
      await expectBuddyError(
        storage.upsertSession({ sessionId: fresh, userId, leaseToken: lease.token }),
        'CONFLICT',
      );
      expect(await storage.getSession(fresh)).toBeUndefined();
      expect(await raw.zscore(keys.userIndex(userId), fresh)).toBeNull();
      const after = await storage.getSession(sessionId);
      expect(after).toEqual(stored);
      expect(await raw.zscore(keys.userIndex(userId), sessionId)).toBe(String(stored?.updatedAt));
    });

    it('clears the paused run inside the append script, and reports a corrupt one as STORAGE_CORRUPT', async () => {
      const storage = open();
      const keys = new RedisKeys(storage.prefix);
      const sessionId = uniqueId('resume');
      const paused = pausedRun(sessionId);
      await storage.upsertSession({ sessionId, pendingRun: paused });
      const commands = await monitorCommands(
        raw,
        (args, from) => from === 'lua' && args.includes(keys.session(sessionId)),
        async () => {
          await storage.appendRun({
            sessionId,
            run: { ...makeRun(sessionId, 'buy it'), runId: paused.runId },
            sessionState: {},
            clearPendingRun: true,
          });
        },
      );
      expect(
        commands.map(({ args }) => [String(args[0]).toLowerCase(), ...args.slice(1).map(String)]),
      ).toContainEqual(['hdel', keys.session(sessionId), 'pending_run']);
      expect(await raw.hexists(keys.session(sessionId), 'pending_run')).toBe(0);
      // Without the flag an append leaves it alone.
      await storage.upsertSession({ sessionId, pendingRun: paused });
      await appendRuns(storage, sessionId, 1);
      expect((await storage.getSession(sessionId))?.pendingRun).toEqual(paused);
      await raw.hset(keys.session(sessionId), 'pending_run', '{"runId": 1}');
      await expectBuddyError(storage.getSession(sessionId), 'STORAGE_CORRUPT', sessionId);
    });
  });

  describe('restored times (upsertSession({ restoreTimes }))', () => {
    const PAST = 1_000_000_000_000;

    it('moves every index entry of the session down to the restored updatedAt, also those of an owner and agent the writing instance never saw', async () => {
      const writer = open();
      const keys = new RedisKeys(writer.prefix);
      const userId = uniqueId('importer');
      const agentId = uniqueId('agent');
      const sessionId = uniqueId('imported');
      await writer.appendRun({
        sessionId,
        userId,
        agentId,
        run: makeRun(sessionId, 'hello', { userId }),
        sessionState: {},
      });
      // Another instance, as a migration opens it: it knows neither the owner nor the agent.
      const importer = open({ prefix: writer.prefix });
      const restored = await importer.upsertSession({
        sessionId,
        restoreTimes: { createdAt: PAST, updatedAt: PAST + 5 },
      });
      expect(restored).toMatchObject({ userId, agentId, createdAt: PAST, updatedAt: PAST + 5 });
      for (const key of [keys.allIndex(), keys.userIndex(userId), keys.agentIndex(agentId)]) {
        expect(await raw.zscore(key, sessionId), key).toBe(String(PAST + 5));
      }
      // So the walk of prune over entries older than the cut finds it, through each index.
      expect(await importer.prune({ olderThan: PAST + 6, userId })).toEqual({
        sessionsDeleted: 1,
        runsDeleted: 1,
      });
      for (const key of [keys.allIndex(), keys.userIndex(userId), keys.agentIndex(agentId)]) {
        expect(await raw.zscore(key, sessionId), key).toBeNull();
      }
    });

    it('keeps the incarnation of a hash from before incarnations when its created_at moves', async () => {
      const storage = open();
      const keys = new RedisKeys(storage.prefix);
      const sessionId = uniqueId('legacy');
      const record = await storage.upsertSession({ sessionId, userId: 'dana' });
      await raw.hdel(keys.session(sessionId), 'incarnation');
      const legacy = `legacy:${record.createdAt}`;
      expect((await storage.getSession(sessionId))?.incarnation).toBe(legacy);
      const restored = await storage.upsertSession({
        sessionId,
        userId: 'dana',
        expectedIncarnation: legacy,
        restoreTimes: { createdAt: PAST, updatedAt: PAST },
      });
      expect(restored).toMatchObject({ incarnation: legacy, createdAt: PAST });
      expect(await raw.hget(keys.session(sessionId), 'incarnation')).toBe(legacy);
      expect((await storage.getSession(sessionId))?.incarnation).toBe(legacy);
    });

    it('does not declare restoresTimes with ttlSeconds, and refuses restoreTimes there, writing nothing', async () => {
      const storage = open({ ttlSeconds: 3600 });
      expect(storage.capabilities.restoresTimes).toBeUndefined();
      expect(open().capabilities.restoresTimes).toBe(true);
      const sessionId = uniqueId('ttl');
      await expectBuddyError(
        storage.upsertSession({ sessionId, restoreTimes: { createdAt: PAST, updatedAt: PAST } }),
        'INVALID_ARGUMENT',
        'restoresTimes',
      );
      expect(await storage.getSession(sessionId)).toBeUndefined();
      expect(await raw.zcard(new RedisKeys(storage.prefix).allIndex())).toBe(0);
    });
  });
});
