/**
 * The Redis items of issue 9, each as the behaviour it promises: ids that cannot collide, corrupt
 * sessions and leases that stay local, incarnations of hashes written before 0.2, idempotent
 * appends, and writes refused after their deadline.
 */
import { legacyIncarnation } from '@buddy/core/adapter-utils';
import { expectBuddyError } from '@buddy/testkit/fetch';
import { makeRun, recordingLogger, uniqueId } from '@buddy/testkit/storage';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  deletePrefix,
  REDIS_URL,
  rawClient,
  requireRedis,
  testPrefix,
} from '../test/redis-test-env.ts';
import { RedisKeys } from './redis-keys.ts';
import { RedisStorage, type RedisStorageOptions } from './redis-storage.ts';
import { afterIndexStep } from './redis-test-hooks.ts';

const hasRedis = await requireRedis();

describe.skipIf(!hasRedis)('RedisStorage at the edges (issue 9)', () => {
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

  it('never maps two ids to one key: lone surrogates are refused (issue 9 item 10)', async () => {
    const storage = open();
    const keys = new RedisKeys(storage.prefix);
    // In UTF-8 a lone surrogate becomes U+FFFD: both ids below would have been one Redis key.
    const real = uniqueId('id-\ufffd');
    const forged = real.replace('\ufffd', '\ud800');
    expect(Buffer.from(keys.session(forged))).toEqual(Buffer.from(keys.session(real)));
    await storage.appendRun({
      sessionId: real,
      userId: 'alice',
      run: makeRun(real, 'my secret'),
      sessionState: { secret: true },
    });
    await expectBuddyError(storage.getSession(forged), 'INVALID_ARGUMENT', 'lone surrogate');
    await expectBuddyError(storage.getRuns({ sessionId: forged }), 'INVALID_ARGUMENT');
    await expectBuddyError(
      storage.appendRun({
        sessionId: forged,
        userId: 'alice',
        run: makeRun(forged, 'overwrite'),
        sessionState: {},
      }),
      'INVALID_ARGUMENT',
    );
    await expectBuddyError(storage.deleteSession(forged), 'INVALID_ARGUMENT');
    await expectBuddyError(storage.listSessions({ userId: 'alice\udc00' }), 'INVALID_ARGUMENT');
    expect(await storage.getRuns({ sessionId: real })).toHaveLength(1);
  });

  it("skips a session with a non-numeric created_at in its owner's listing and reports it (issue 9 item 11)", async () => {
    const logger = recordingLogger();
    const storage = open({ logger });
    const keys = new RedisKeys(storage.prefix);
    const userId = uniqueId('lister');
    const ids = [uniqueId('a'), uniqueId('b'), uniqueId('c')];
    for (const sessionId of ids) {
      await storage.appendRun({
        sessionId,
        userId,
        run: makeRun(sessionId, 'hi'),
        sessionState: {},
      });
      await new Promise((resolve) => setTimeout(resolve, 3));
    }
    const [first, broken, last] = ids as [string, string, string];
    await raw.hset(keys.session(broken), 'created_at', 'yesterday');
    const listed = await storage.listSessions({ userId });
    expect(listed.sessions.map((session) => session.sessionId)).toEqual([last, first]);
    expect(
      logger.lines.some((line) => line.level === 'warn' && line.message.includes(broken)),
    ).toBe(true);
    await expectBuddyError(storage.getSession(broken), 'STORAGE_CORRUPT', broken);
    expect(await storage.deleteSession(broken, { userId })).toBe(true);
  });

  it('lists around, and deletes, a session key of the wrong type (issue 9 item 11)', async () => {
    const logger = recordingLogger();
    const storage = open({ logger });
    const keys = new RedisKeys(storage.prefix);
    const userId = uniqueId('owner');
    const ids = [uniqueId('a'), uniqueId('b'), uniqueId('c'), uniqueId('d')];
    for (const sessionId of ids) {
      await storage.appendRun({
        sessionId,
        userId,
        run: makeRun(sessionId, 'hi'),
        sessionState: {},
      });
      await new Promise((resolve) => setTimeout(resolve, 3));
    }
    const [a, wrong, c, alsoWrong] = ids as [string, string, string, string];
    for (const sessionId of [wrong, alsoWrong]) {
      await raw.del(keys.session(sessionId));
      await raw.set(keys.session(sessionId), 'not a hash');
    }
    expect((await storage.listSessions({ userId })).sessions.map((s) => s.sessionId)).toEqual([
      c,
      a,
    ]);
    expect(
      (await storage.listSessions({ limit: 1000 })).sessions.map((s) => s.sessionId).sort(),
    ).toEqual([a, c].sort());
    expect(logger.lines.filter((line) => line.message.includes(wrong)).length).toBeGreaterThan(0);
    await expectBuddyError(storage.getSession(wrong), 'STORAGE_CORRUPT', wrong);
    // Its owner cannot be read from it: only the owner's index vouches for the owner.
    await expectBuddyError(
      storage.deleteSession(wrong, { userId: 'mallory' }),
      'SESSION_OWNERSHIP',
    );
    expect(await raw.exists(keys.session(wrong))).toBe(1);
    expect(await storage.deleteSession(wrong, { userId })).toBe(true);
    expect(await raw.exists(keys.session(wrong), keys.runs(wrong))).toBe(0);
    expect(await raw.zscore(keys.userIndex(userId), wrong)).toBeNull();
    // deleteUserData takes the other one with the healthy sessions.
    expect(await storage.deleteUserData(userId)).toBe(3);
    expect(await raw.exists(keys.session(alsoWrong), keys.session(a), keys.session(c))).toBe(0);
    expect((await storage.listSessions({ userId })).sessions).toEqual([]);
  });

  it('stores a write whose agent index key has the wrong type; the other indexes are still raised', async () => {
    const storage = open();
    const keys = new RedisKeys(storage.prefix);
    const userId = uniqueId('owner');
    const agentId = uniqueId('agent');
    const sessionId = uniqueId('broken-index');
    await raw.set(keys.agentIndex(agentId), 'not a sorted set');
    const result = await storage.appendRun({
      sessionId,
      userId,
      agentId,
      run: makeRun(sessionId, 'hi'),
      sessionState: { kept: true },
    });
    expect(result.index).toBe(0);
    expect((await storage.getSession(sessionId))?.sessionState).toEqual({ kept: true });
    expect(await raw.zscore(keys.userIndex(userId), sessionId)).toBe(String(result.updatedAt));
    expect(await raw.zscore(keys.allIndex(), sessionId)).toBe(String(result.updatedAt));
    expect(await raw.get(keys.agentIndex(agentId))).toBe('not a sorted set');
    const again = await storage.upsertSession({ sessionId, userId, sessionName: 'renamed' });
    expect(again.sessionName).toBe('renamed');
    await raw.del(keys.agentIndex(agentId));
  });

  it('reports a lease key of the wrong type as STORAGE_CORRUPT, with and without the session read (issue 9 item 11)', async () => {
    const storage = open();
    const keys = new RedisKeys(storage.prefix);
    const sessionId = uniqueId('bad-lease');
    await storage.appendRun({ sessionId, run: makeRun(sessionId, 'hi'), sessionState: {} });
    await raw.sadd(keys.lease(sessionId), 'x');
    for (const readSession of [true, false]) {
      await expectBuddyError(
        storage.acquireLease({ sessionId, ttlMs: 1000, waitMs: 5000, readSession }),
        'STORAGE_CORRUPT',
        sessionId,
      );
    }
    await expectBuddyError(
      storage.appendRun({
        sessionId,
        run: makeRun(sessionId, 'fenced'),
        sessionState: {},
        leaseToken: 'some-token',
      }),
      'STORAGE_CORRUPT',
    );
    expect(await storage.deleteSession(sessionId)).toBe(true);
    expect(await raw.exists(keys.lease(sessionId))).toBe(0);
  });

  it('reads a session hash written before 0.2 with its legacy incarnation, and fences on it', async () => {
    const storage = open();
    const keys = new RedisKeys(storage.prefix);
    const sessionId = uniqueId('legacy');
    const record = await storage.upsertSession({ sessionId, userId: 'dana' });
    await raw.hdel(keys.session(sessionId), 'incarnation');
    const legacy = await storage.getSession(sessionId);
    expect(legacy?.incarnation).toBe(legacyIncarnation(record.createdAt));
    const summary = { summary: 'Dana.', runsCovered: 0, updatedAt: Date.now() };
    const written = await storage.upsertSession({
      sessionId,
      userId: 'dana',
      summary,
      expectedIncarnation: legacy?.incarnation as string,
    });
    expect(written.summary).toEqual(summary);
    await expectBuddyError(
      storage.upsertSession({ sessionId, summary, expectedIncarnation: 'another' }),
      'NOT_FOUND',
    );
  });

  it('stores a resent append once and answers it with the first result', async () => {
    const storage = open();
    const sessionId = uniqueId('resend');
    const run = makeRun(sessionId, 'once');
    const first = await storage.appendRun({ sessionId, run, sessionState: { n: 1 } });
    await storage.appendRun({
      sessionId,
      run: makeRun(sessionId, 'other'),
      sessionState: { n: 2 },
    });
    const again = await storage.appendRun({ sessionId, run, sessionState: { n: 1 } });
    expect(again).toEqual({
      index: first.index,
      version: first.version,
      updatedAt: first.updatedAt,
    });
    const runs = await storage.getRuns({ sessionId });
    expect(runs.map((stored) => stored.runId)).toEqual([run.runId, runs[1]?.runId]);
    expect((await storage.getSession(sessionId))?.sessionState).toEqual({ n: 2 });
  });

  it('refuses a write that reaches the server after its deadline, and leaves the index as it was', async () => {
    const client = new Redis(REDIS_URL, { commandTimeout: 600 });
    clients.push(client);
    const storage = open({ client });
    const keys = new RedisKeys(storage.prefix);
    const sessionId = uniqueId('late');
    const userId = uniqueId('user');
    const first = await storage.appendRun({
      sessionId,
      userId,
      run: makeRun(sessionId, 'on time'),
      sessionState: { n: 1 },
    });
    // The script is sent 800 ms after the write started: past the deadline (600 ms budget).
    storage[afterIndexStep] = () => new Promise((resolve) => setTimeout(resolve, 800));
    const error = await expectBuddyError(
      storage.appendRun({
        sessionId,
        userId,
        run: makeRun(sessionId, 'late'),
        sessionState: { n: 2 },
      }),
      'STORAGE_UNAVAILABLE',
      'deadline',
    );
    expect(error.retryable).toBe(true);
    await expectBuddyError(
      storage.upsertSession({ sessionId, userId, sessionName: 'late' }),
      'STORAGE_UNAVAILABLE',
      'deadline',
    );
    storage[afterIndexStep] = undefined;
    expect(await storage.getRuns({ sessionId })).toHaveLength(1);
    const record = await storage.getSession(sessionId);
    expect(record).toMatchObject({ version: 1, runCount: 1, sessionState: { n: 1 } });
    expect(record?.sessionName).toBeUndefined();
    expect(await raw.zscore(keys.userIndex(userId), sessionId)).toBe(String(first.updatedAt));
  });
});
