/**
 * `RedisStorage` and `RedisMemoryDb` on a real local Redis Cluster (3 masters + 3 replicas on
 * loopback ports, started for this file and stopped by pid): the storage, memory-db and
 * cross-process suites unchanged; one user's sessions spread over every master listed in order
 * with a stable cursor; a crash between the index step and the session write repaired on read;
 * and a master SIGKILLed under a steady load of turns.
 */
import {
  Agent,
  BuddyError,
  type MemoryDb,
  type SessionStorage,
  silentLogger,
  tool,
} from '@buddy/core';
import { MockModel } from '@buddy/testkit';
import { describeCrossProcessContract } from '@buddy/testkit/cross-process';
import {
  describeMemoryDbContract,
  describeSessionStorageContract,
  makeRun,
  uniqueId,
} from '@buddy/testkit/storage';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { PrivateCluster } from '../test/private-cluster.ts';
import { requireRedisServerBinary } from '../test/private-redis.ts';
import { testPrefix } from '../test/redis-test-env.ts';
import { RedisKeys } from './redis-keys.ts';
import { RedisMemoryDb } from './redis-memory-db.ts';
import { RedisStorage } from './redis-storage.ts';
import { afterIndexStep } from './redis-test-hooks.ts';

const hasBinary = requireRedisServerBinary();

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe.skipIf(!hasBinary)('Redis Cluster', () => {
  let cluster: PrivateCluster;
  let raw: Cluster;
  const clients = new WeakMap<object, Cluster>();

  beforeAll(async () => {
    cluster = await PrivateCluster.start();
    raw = cluster.client();
  }, 120_000);

  afterAll(async () => {
    raw?.disconnect();
    await cluster?.stop();
  });

  /** A storage on its own Cluster client (released by `release`). */
  function clusterStorage(prefix: string, options: { logger?: import('@buddy/core').Logger } = {}) {
    const client = cluster.client();
    const storage = new RedisStorage({ client, prefix, ...options });
    clients.set(storage, client);
    return storage;
  }

  async function release(storage: object, prefix?: string): Promise<void> {
    clients.get(storage)?.disconnect();
    if (prefix !== undefined) await cluster.deletePrefix(prefix);
  }

  function keysOf(storage: SessionStorage): RedisKeys {
    return new RedisKeys((storage as RedisStorage).prefix);
  }

  describeSessionStorageContract('RedisStorage on a Cluster', {
    create: async ({ logger }) =>
      clusterStorage(testPrefix(), logger === undefined ? {} : { logger }),
    createPeer: async (storage) => clusterStorage((storage as RedisStorage).prefix),
    corruptSession: async (storage, sessionId) => {
      await raw.hset(keysOf(storage).session(sessionId), 'state', '{"sessionId": 42, oops');
    },
    corruptRun: async (storage, sessionId) => {
      await raw.lset(
        keysOf(storage).runs(sessionId),
        0,
        JSON.stringify({ runId: 'r', messages: 'not an array' }),
      );
    },
    corruptLease: async (storage, sessionId) => {
      const key = keysOf(storage).lease(sessionId);
      await raw.del(key);
      await raw.hset(key, 'not', 'a lease');
    },
    dispose: async (storage) => release(storage, (storage as RedisStorage).prefix),
  });

  describeMemoryDbContract('RedisMemoryDb on a Cluster', {
    create: async () => {
      const client = cluster.client();
      const db = new RedisMemoryDb({ client, prefix: testPrefix() });
      clients.set(db, client);
      return db;
    },
    corruptMemory: async (db, userId, id) => {
      await raw.hset(new RedisKeys((db as RedisMemoryDb).prefix).memories(userId), id, '{ nope');
    },
    dispose: async (db: MemoryDb) => release(db, (db as RedisMemoryDb).prefix),
  });

  describeCrossProcessContract('RedisStorage on a Cluster', {
    storageModule: new URL('../test/cross-process-storage.ts', import.meta.url),
    setup: async () => ({ clusterNodes: cluster.nodes, prefix: testPrefix() }),
    teardown: async (config) => cluster.deletePrefix(config.prefix as string),
  });

  it('lists the sessions of one user spread over all three masters in order, with a stable cursor', async () => {
    const prefix = testPrefix();
    const storage = clusterStorage(prefix);
    const keys = new RedisKeys(prefix);
    const userId = uniqueId('spread');
    const ids: string[] = [];
    for (let index = 0; index < 30; index++) {
      const sessionId = uniqueId(`s${index}`);
      ids.push(sessionId);
      await storage.appendRun({
        sessionId,
        userId,
        run: makeRun(sessionId, 'hi'),
        sessionState: {},
      });
      if (index % 3 === 0) await sleep(2);
    }
    const masters = new Set<number>();
    for (const sessionId of ids) {
      const slot = Number(await raw.cluster('KEYSLOT', keys.session(sessionId)));
      masters.add((await cluster.masterOfSlot(slot)).port);
    }
    expect(masters.size).toBe(3);
    const expected = (await Promise.all(ids.map((id) => storage.getSession(id))))
      .map((record) => ({
        id: record?.sessionId as string,
        updatedAt: record?.updatedAt as number,
      }))
      .sort((a, b) => b.updatedAt - a.updatedAt || (a.id < b.id ? 1 : -1))
      .map((entry) => entry.id);
    const seen: string[] = [];
    let cursor: string | undefined;
    let page = 0;
    do {
      const result = await storage.listSessions({
        userId,
        limit: 7,
        ...(cursor ? { cursor } : {}),
      });
      seen.push(...result.sessions.map((session) => session.sessionId));
      cursor = result.nextCursor;
      if (page++ === 0) {
        // Writes between pages move sessions to the front; the keyset cursor neither repeats nor
        // skips the ones after it.
        await storage.appendRun({
          sessionId: expected[0] as string,
          userId,
          run: makeRun(expected[0] as string, 'again'),
          sessionState: {},
        });
        const fresh = uniqueId('fresh');
        await storage.appendRun({
          sessionId: fresh,
          userId,
          run: makeRun(fresh, 'new'),
          sessionState: {},
        });
      }
    } while (cursor !== undefined);
    expect(seen).toEqual(expected);
    await release(storage, prefix);
  });

  it("prunes and filters one user's sessions spread over all three masters", async () => {
    const prefix = testPrefix();
    const storage = clusterStorage(prefix);
    const keys = new RedisKeys(prefix);
    const userId = uniqueId('retention');
    const other = uniqueId('bystander');
    const ids: string[] = [];
    for (let index = 0; index < 24; index++) {
      const sessionId = uniqueId(`r${index}`);
      ids.push(sessionId);
      for (let turn = 0; turn < 3; turn++) {
        await storage.appendRun({
          sessionId,
          userId,
          run: makeRun(sessionId, `t${turn}`),
          sessionState: {},
          metadata: { half: index < 12 ? 'old' : 'new' },
        });
      }
      if (index === 11) await sleep(10);
    }
    const bystander = uniqueId('b');
    await storage.appendRun({
      sessionId: bystander,
      userId: other,
      run: makeRun(bystander, 'x'),
      sessionState: {},
    });
    const masters = new Set<number>();
    for (const sessionId of ids) {
      const slot = Number(await raw.cluster('KEYSLOT', keys.session(sessionId)));
      masters.add((await cluster.masterOfSlot(slot)).port);
    }
    expect(masters.size).toBe(3);
    const filtered: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await storage.listSessions({
        userId,
        metadata: { half: 'old' },
        limit: 5,
        ...(cursor === undefined ? {} : { cursor }),
      });
      filtered.push(...page.sessions.map((session) => session.sessionId));
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    expect(filtered.sort()).toEqual(ids.slice(0, 12).sort());
    const cut = (await storage.getSession(ids[12] as string))?.updatedAt as number;
    expect(await storage.prune({ olderThan: cut - 5, keepLastRuns: 1, userId })).toEqual({
      sessionsDeleted: 12,
      runsDeleted: 12 * 3 + 12 * 2,
    });
    for (const sessionId of ids.slice(0, 12)) {
      expect(await storage.getSession(sessionId)).toBeUndefined();
      expect(await raw.zscore(keys.allIndex(), sessionId)).toBeNull();
    }
    for (const sessionId of ids.slice(12)) {
      expect((await storage.getRuns({ sessionId })).map((run) => run.index)).toEqual([2]);
      expect((await storage.getSession(sessionId))?.runCount).toBe(3);
    }
    expect(await raw.zcard(keys.userIndex(userId))).toBe(12);
    expect(await storage.getRuns({ sessionId: bystander })).toHaveLength(1);
    await release(storage, prefix);
  });

  it("keeps a user's memory vectors on the slot of their rows and searches them there", async () => {
    const prefix = testPrefix();
    const client = cluster.client();
    const db = new RedisMemoryDb({ client, prefix });
    const keys = new RedisKeys(prefix);
    const userId = uniqueId('vectors');
    const near = await db.upsertMemory({ userId, memory: 'near', embedding: [1, 0.1, 0] });
    await db.upsertMemory({ userId, memory: 'far', embedding: [0, 0, 1] });
    expect(await raw.cluster('KEYSLOT', keys.memoryEmbeddings(userId))).toBe(
      await raw.cluster('KEYSLOT', keys.memories(userId)),
    );
    const found = await db.searchMemories({ userId, embedding: [1, 0, 0], limit: 1 });
    expect(found.map((memory) => memory.id)).toEqual([near.id]);
    expect((await db.readMemories({ userId, missingEmbedding: 3 })).length).toBe(0);
    expect(await db.deleteUserData(userId)).toBe(2);
    expect(await raw.exists(keys.memoryEmbeddings(userId))).toBe(0);
    await db.close();
    await release(db, prefix);
    client.disconnect();
  });

  it('repairs on read what a crash between the index step and the session write leaves', async () => {
    const prefix = testPrefix();
    const storage = clusterStorage(prefix);
    const keys = new RedisKeys(prefix);
    const userId = uniqueId('crash');
    const existing = uniqueId('existing');
    await storage.appendRun({
      sessionId: existing,
      userId,
      run: makeRun(existing, 'a'),
      sessionState: { n: 1 },
    });
    const before = await storage.getSession(existing);
    const crash = () => {
      throw new BuddyError({ code: 'INTERNAL', message: 'process crashed between the two steps' });
    };
    storage[afterIndexStep] = crash;
    await sleep(5);
    await expect(
      storage.appendRun({
        sessionId: existing,
        userId,
        run: makeRun(existing, 'b'),
        sessionState: { n: 2 },
      }),
    ).rejects.toThrow('crashed');
    const fresh = uniqueId('fresh');
    await expect(
      storage.appendRun({ sessionId: fresh, userId, run: makeRun(fresh, 'c'), sessionState: {} }),
    ).rejects.toThrow('crashed');
    storage[afterIndexStep] = undefined;
    // The index is ahead of the existing session, and holds an entry for one never written.
    expect(Number(await raw.zscore(keys.userIndex(userId), existing))).toBeGreaterThan(
      before?.updatedAt as number,
    );
    expect(await raw.zscore(keys.userIndex(userId), fresh)).not.toBeNull();
    // Listing (by any instance) finds the session as stored, and puts its entry back.
    const reader = clusterStorage(prefix);
    const listed = await reader.listSessions({ userId });
    expect(listed.sessions).toEqual([
      expect.objectContaining({ sessionId: existing, updatedAt: before?.updatedAt }),
    ]);
    expect(Number(await raw.zscore(keys.userIndex(userId), existing))).toBe(before?.updatedAt);
    expect(await storage.getRuns({ sessionId: existing })).toHaveLength(1);
    // The retried write creates the new session, listed once.
    await storage.appendRun({
      sessionId: fresh,
      userId,
      run: makeRun(fresh, 'c'),
      sessionState: {},
    });
    const after = await reader.listSessions({ userId });
    expect(after.sessions.map((session) => session.sessionId)).toEqual([fresh, existing]);
    await release(reader);
    await release(storage, prefix);
  });

  it('fails turns with retryable errors while a master fails over, then continues on the promoted replica: nothing corrupt, lost twice or out of order', async () => {
    const prefix = testPrefix();
    const storage = clusterStorage(prefix);
    const keys = new RedisKeys(prefix);
    const increment = tool({
      name: 'increment',
      description: 'Adds one to the counter.',
      parameters: z.object({}),
      execute: async (_args, context) => {
        const next = Number(context.sessionState.counter ?? 0) + 1;
        context.sessionState.counter = next;
        return String(next);
      },
    });
    const sessions = Array.from({ length: 20 }, () => uniqueId('failover'));
    const agents = sessions.map(
      (sessionId) =>
        new Agent({
          model: new MockModel({
            respond: (request) =>
              request.messages.at(-1)?.role === 'tool'
                ? 'ok'
                : { toolCalls: [{ name: 'increment', arguments: {} }] },
          }),
          storage,
          sessionId,
          tools: [increment],
          logger: silentLogger,
          sessionLease: { ttlMs: 3_000, waitMs: 15_000 },
        }),
    );
    // A master that holds some of the sessions.
    const slot = Number(await raw.cluster('KEYSLOT', keys.session(sessions[0] as string)));
    const victim = await cluster.masterOfSlot(slot);
    const failures: BuddyError[] = [];
    let firstFailureAt: number | undefined;
    let lastFailureAt: number | undefined;
    let killedAt: number | undefined;
    const okAfter = new Map<string, number>();
    const started = Date.now();
    const loop = async (agent: Agent, sessionId: string) => {
      for (let turn = 0; turn < 2_000 && (okAfter.get(sessionId) ?? 0) < 3; turn++) {
        if (Date.now() - started > 90_000) break;
        try {
          await agent.run(`turn ${turn}`);
          if (killedAt !== undefined && lastFailureAt !== undefined) {
            okAfter.set(sessionId, (okAfter.get(sessionId) ?? 0) + 1);
          }
        } catch (error) {
          if (!BuddyError.is(error)) throw error;
          failures.push(error);
          firstFailureAt ??= Date.now();
          lastFailureAt = Date.now();
          await sleep(100);
        }
        if (killedAt === undefined && turn === 3 && sessionId === sessions[0]) {
          killedAt = Date.now();
          await victim.kill();
        }
      }
    };
    await Promise.all(agents.map((agent, index) => loop(agent, sessions[index] as string)));
    expect(killedAt).toBeDefined();
    expect(failures.length).toBeGreaterThan(0);
    const codes = new Map<string, number>();
    for (const failure of failures) codes.set(failure.code, (codes.get(failure.code) ?? 0) + 1);
    console.log(
      `[failover] turns failed for ${(lastFailureAt ?? 0) - (firstFailureAt ?? 0)} ms after the master was killed (${failures.length} failed turns: ${JSON.stringify(Object.fromEntries(codes))})`,
    );
    for (const failure of failures) {
      const allowed = failure.retryable || failure.code === 'STORAGE_OUTCOME_UNKNOWN';
      expect(allowed, `${failure.code}: ${failure.message}`).toBe(true);
    }
    for (const sessionId of sessions) {
      expect(okAfter.get(sessionId), sessionId).toBe(3);
      const record = await storage.getSession(sessionId);
      const runs = await storage.getRuns({ sessionId });
      expect(record?.runCount).toBe(runs.length);
      expect(runs.map((run) => run.index)).toEqual(runs.map((_, index) => index));
      expect(new Set(runs.map((run) => run.runId)).size).toBe(runs.length);
      expect(runs.map((run) => run.stateAfter?.counter)).toEqual(runs.map((_, index) => index + 1));
    }
    await release(storage, prefix);
    // Bring the killed node back as a replica, so later cases see a whole cluster.
    await victim.restart();
    await cluster.waitHealthy();
  }, 150_000);
});
