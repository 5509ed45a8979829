import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, BuddyError, type BuddyErrorCode, type SessionStorage } from '@buddy/core';
import { MockModel } from '@buddy/testkit';
import { describeSessionStorageContract, makeRun, uniqueId } from '@buddy/testkit/storage';
import { Redis, ReplyError } from 'ioredis';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import {
  deletePrefix,
  hashTagOf,
  monitorCommands,
  REDIS_URL,
  rawClient,
  requireRedis,
  testPrefix,
} from '../test/redis-test-env.ts';
import { toRedisStorageError } from './redis-connection.ts';
import { RedisKeys } from './redis-keys.ts';
import { createRedisStorage, RedisStorage, type RedisStorageOptions } from './redis-storage.ts';

const hasRedis = await requireRedis();

async function codeOf(promise: Promise<unknown> | (() => unknown)): Promise<BuddyError> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    expect(BuddyError.is(error), `expected a BuddyError, got ${String(error)}`).toBe(true);
    return error as BuddyError;
  }
  throw new Error('expected a rejection');
}

async function expectCode(
  promise: Promise<unknown> | (() => unknown),
  code: BuddyErrorCode,
  includes?: string,
): Promise<BuddyError> {
  const error = await codeOf(promise);
  expect(error.code).toBe(code);
  if (includes !== undefined) expect(error.message).toContain(includes);
  return error;
}

describe.skipIf(!hasRedis)('RedisStorage', () => {
  const raw = hasRedis ? rawClient() : (undefined as unknown as Redis);
  const prefixes = new WeakMap<SessionStorage, string>();
  const opened: { storage: RedisStorage; prefix: string }[] = [];
  const clients: Redis[] = [];

  function open(options: RedisStorageOptions = {}): RedisStorage {
    const prefix = options.prefix ?? testPrefix();
    const storage = new RedisStorage({
      ...(options.client === undefined ? { url: REDIS_URL } : {}),
      ...options,
      prefix,
    });
    prefixes.set(storage, prefix);
    opened.push({ storage, prefix });
    return storage;
  }

  function ownClient(): Redis {
    const client = new Redis(REDIS_URL);
    clients.push(client);
    return client;
  }

  /** Request bursts written to the client's socket while `work` runs. */
  async function countWrites(client: Redis, work: () => Promise<void>): Promise<number> {
    await client.ping(); // connected, handshake done
    const spy = vi.spyOn(client.stream, 'write');
    try {
      await work();
      return spy.mock.calls.length;
    } finally {
      spy.mockRestore();
    }
  }

  function keysOf(storage: SessionStorage): RedisKeys {
    return new RedisKeys(prefixes.get(storage) as string);
  }

  afterEach(async () => {
    for (const { storage, prefix } of opened.splice(0)) {
      await storage.close();
      await deletePrefix(raw, prefix);
    }
    for (const client of clients.splice(0)) client.disconnect();
  });

  afterAll(async () => {
    await raw.quit();
  });

  describeSessionStorageContract('RedisStorage', {
    create: async ({ logger }) => {
      const storage = new RedisStorage({
        url: REDIS_URL,
        prefix: testPrefix(),
        ...(logger === undefined ? {} : { logger }),
      });
      prefixes.set(storage, storage.prefix);
      return storage;
    },
    // Another process: its own client on the same keys.
    createPeer: async (storage) => {
      const peer = new RedisStorage({ url: REDIS_URL, prefix: prefixes.get(storage) as string });
      prefixes.set(peer, peer.prefix);
      return peer;
    },
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
    dispose: async (storage) => {
      await deletePrefix(raw, prefixes.get(storage) as string);
    },
  });

  describe('options', () => {
    it.each([
      [{ url: REDIS_URL, client: {} as Redis }, "'url' or option 'client'"],
      [{ url: '' }, "'url'"],
      [{ url: 'http://127.0.0.1:6379' }, "'url'"],
      [{ client: { get: () => {} } as unknown as Redis }, "'client'"],
      [{ prefix: '' }, "'prefix'"],
      [{ prefix: 'app:{x}:' }, "'prefix'"],
      [{ prefix: 'app}' }, "'prefix'"],
      [{ ttlSeconds: 0 }, "'ttlSeconds'"],
      [{ ttlSeconds: 1.5 }, "'ttlSeconds'"],
      [{ ttlSeconds: '60' as unknown as number }, "'ttlSeconds'"],
      [{ ttlSecond: 60 } as RedisStorageOptions, '"ttlSecond"'],
    ])('rejects %o naming the option', async (options, includes) => {
      await expectCode(() => new RedisStorage(options), 'INVALID_ARGUMENT', includes);
    });

    it('rejects options that are not an object', async () => {
      await expectCode(
        () => new RedisStorage('redis://x' as unknown as RedisStorageOptions),
        'INVALID_ARGUMENT',
        'options',
      );
    });

    it('uses the default prefix and offers createRedisStorage', async () => {
      const storage = createRedisStorage({ client: ownClient() });
      expect(storage.prefix).toBe('buddy:');
      expect(storage.ttlSeconds).toBeUndefined();
      expect(storage).toBeInstanceOf(RedisStorage);
      await storage.close();
    });
  });

  describe('connection ownership', () => {
    it('never closes a client it was given', async () => {
      const client = ownClient();
      const storage = open({ client });
      const sessionId = uniqueId('given');
      await storage.upsertSession({ sessionId });
      await storage.close();
      await storage.close();
      expect(client.status).toBe('ready');
      expect(await client.ping()).toBe('PONG');
      await expectCode(storage.getSession(sessionId), 'STORAGE_CLOSED', 'closed');
    });

    it('closes the client it created, and refuses calls afterwards', async () => {
      const storage = open();
      await storage.upsertSession({ sessionId: uniqueId('owned') });
      await storage.close();
      const error = await expectCode(storage.getSession('x'), 'STORAGE_CLOSED', 'closed');
      expect(error.retryable).toBe(false);
    });

    it('fails fast with STORAGE_UNAVAILABLE when the server is unreachable', async () => {
      const storage = new RedisStorage({ url: 'redis://127.0.0.1:1' });
      try {
        const started = Date.now();
        const error = await expectCode(storage.getSession('s'), 'STORAGE_UNAVAILABLE');
        expect(error.retryable).toBe(true);
        expect(error.cause).toBeDefined();
        expect(error.message).toContain('getSession');
        const append = await expectCode(
          storage.appendRun({ sessionId: 's', run: makeRun('s', 'hi'), sessionState: {} }),
          'STORAGE_UNAVAILABLE',
        );
        expect(append.retryable).toBe(true);
        await expectCode(
          storage.acquireLease({ sessionId: 's', ttlMs: 1000, waitMs: 1000 }),
          'STORAGE_UNAVAILABLE',
        );
        // Not a hang: a refused connection is reported after at most one reconnect attempt each.
        expect(Date.now() - started).toBeLessThan(10_000);
      } finally {
        await storage.close();
      }
    });
  });

  describe('error translation', () => {
    it('maps BUSY to STORAGE_BUSY, connection failures to retryable STORAGE_UNAVAILABLE', () => {
      const context = { who: 'RedisStorage', operation: 'appendRun', sessionId: 's1' };
      const busy = toRedisStorageError(
        new ReplyError(
          'BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSCRIPT.',
        ),
        context,
      );
      expect(busy).toMatchObject({ code: 'STORAGE_BUSY', retryable: true });
      expect(busy.cause).toBeInstanceOf(Error);
      const loading = toRedisStorageError(
        new ReplyError('LOADING Redis is loading the dataset in memory'),
        context,
      );
      expect(loading).toMatchObject({ code: 'STORAGE_UNAVAILABLE', retryable: true });
      const closed = toRedisStorageError(new Error('Connection is closed.'), context);
      expect(closed).toMatchObject({ code: 'STORAGE_UNAVAILABLE', retryable: true });
      const other = toRedisStorageError(new ReplyError('ERR unknown command'), context);
      expect(other).toMatchObject({ code: 'STORAGE_UNAVAILABLE', retryable: false });
      const wrongType = toRedisStorageError(
        new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value'),
        context,
      );
      expect(wrongType.code).toBe('STORAGE_CORRUPT');
      expect(wrongType.message).toContain('s1');
      const buddy = new BuddyError({ code: 'CONFLICT', message: 'kept' });
      expect(toRedisStorageError(buddy, context)).toBe(buddy);
    });

    it('reports a session key of the wrong type as STORAGE_CORRUPT naming it', async () => {
      const storage = open();
      const sessionId = uniqueId('wrong-type');
      await raw.set(keysOf(storage).session(sessionId), 'not a hash');
      await expectCode(storage.getSession(sessionId), 'STORAGE_CORRUPT', sessionId);
      const other = uniqueId('fine');
      await storage.appendRun({ sessionId: other, run: makeRun(other, 'a'), sessionState: {} });
      expect((await storage.getSession(other))?.runCount).toBe(1);
    });

    it('frees the lease when readSession meets a session key of the wrong type', async () => {
      const storage = open();
      const keys = keysOf(storage);
      const sessionId = uniqueId('wrong-type-lease');
      await raw.set(keys.session(sessionId), 'not a hash');
      await expectCode(
        storage.acquireLease({ sessionId, ttlMs: 10_000, waitMs: 0, readSession: true }),
        'STORAGE_CORRUPT',
        sessionId,
      );
      expect(await raw.exists(keys.lease(sessionId))).toBe(0);
    });

    it('writes nothing when the stored version is not a number', async () => {
      const storage = open();
      const sessionId = uniqueId('bad-version');
      await storage.appendRun({ sessionId, run: makeRun(sessionId, 'a'), sessionState: { n: 1 } });
      await raw.hset(keysOf(storage).session(sessionId), 'version', 'seven');
      await expectCode(
        storage.appendRun({ sessionId, run: makeRun(sessionId, 'b'), sessionState: { n: 2 } }),
        'STORAGE_CORRUPT',
        sessionId,
      );
      expect(await raw.llen(keysOf(storage).runs(sessionId))).toBe(1);
      expect(await raw.hget(keysOf(storage).session(sessionId), 'state')).toBe('{"n":1}');
    });

    it('rejects a run that would not read back, before writing', async () => {
      const storage = open();
      const sessionId = uniqueId('bad-run');
      const run = { ...makeRun(sessionId, 'a'), messages: 'nope' } as unknown as ReturnType<
        typeof makeRun
      >;
      await expectCode(
        storage.appendRun({ sessionId, run, sessionState: {} }),
        'INVALID_ARGUMENT',
        'run.messages',
      );
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      await expectCode(
        storage.appendRun({ sessionId, run: makeRun(sessionId, 'a'), sessionState: cyclic }),
        'INVALID_ARGUMENT',
        'sessionState',
      );
      expect(await storage.getSession(sessionId)).toBeUndefined();
    });
  });

  describe('key layout', () => {
    it('keeps every key of a session under its {hash tag}, even with braces in the id', async () => {
      const storage = open();
      const keys = keysOf(storage);
      for (const sessionId of ['plain-id', '}starts-with-brace', 'a{b}c%7B', 'emoji-🧠']) {
        const lease = await storage.acquireLease({ sessionId, ttlMs: 10_000, waitMs: 0 });
        await storage.appendRun({
          sessionId,
          userId: 'dana',
          agentId: 'agent-1',
          run: makeRun(sessionId, 'hi'),
          sessionState: { ok: true },
          leaseToken: lease.token,
        });
        const sessionKey = keys.session(sessionId);
        expect(sessionKey.startsWith(`${storage.prefix}s:{`)).toBe(true);
        expect(await raw.type(sessionKey)).toBe('hash');
        expect(await raw.type(keys.runs(sessionId))).toBe('list');
        expect(await raw.type(keys.lease(sessionId))).toBe('string');
        const tag = hashTagOf(sessionKey);
        expect(tag).not.toBe(sessionKey);
        expect(hashTagOf(keys.runs(sessionId))).toBe(tag);
        expect(hashTagOf(keys.lease(sessionId))).toBe(tag);
        expect(decodeURIComponent(tag)).toBe(sessionId);
        await lease.release();
        const record = await storage.getSession(sessionId);
        expect(record?.sessionId).toBe(sessionId);
        expect(await raw.zscore(keys.userIndex('dana'), sessionId)).toBe(String(record?.updatedAt));
        expect(await raw.zscore(keys.agentIndex('agent-1'), sessionId)).toBe(
          String(record?.updatedAt),
        );
        expect(await raw.zscore(keys.allIndex(), sessionId)).toBe(String(record?.updatedAt));
      }
      expect(keys.session('a{b}c%7B')).toBe(`${storage.prefix}s:{a%7Bb%7Dc%257B}`);
    });

    it('stores runs as a list in index order and reads the last N with one LRANGE', async () => {
      const storage = open();
      const keys = keysOf(storage);
      const sessionId = uniqueId('list');
      for (let index = 0; index < 5; index++) {
        await storage.appendRun({
          sessionId,
          run: makeRun(sessionId, `t${index}`),
          sessionState: {},
        });
      }
      const stored = await raw.lrange(keys.runs(sessionId), 0, -1);
      expect(stored.map((text) => JSON.parse(text).index)).toEqual([0, 1, 2, 3, 4]);
      const commands = await monitorCommands(
        raw,
        (args) => args.some((arg) => arg.includes(storage.prefix)),
        async () => {
          expect((await storage.getRuns({ sessionId, last: 2 })).map((run) => run.index)).toEqual([
            3, 4,
          ]);
        },
      );
      expect(commands.map(({ args }) => args.map(String))).toEqual([
        ['lrange', keys.runs(sessionId), '-2', '-1'],
      ]);
    });
  });

  describe('ttlSeconds', () => {
    it('sets the TTL on the session keys and refreshes it on every write', async () => {
      const storage = open({ ttlSeconds: 600 });
      const keys = keysOf(storage);
      const sessionId = uniqueId('ttl');
      await storage.appendRun({
        sessionId,
        userId: 'u',
        run: makeRun(sessionId, 'a'),
        sessionState: {},
      });
      for (const key of [keys.session(sessionId), keys.runs(sessionId)]) {
        const ttl = await raw.ttl(key);
        expect(ttl).toBeGreaterThan(590);
        expect(ttl).toBeLessThanOrEqual(600);
      }
      await raw.expire(keys.session(sessionId), 5);
      await raw.expire(keys.runs(sessionId), 5);
      await storage.upsertSession({ sessionId, sessionName: 'renamed' });
      expect(await raw.ttl(keys.session(sessionId))).toBeGreaterThan(590);
      expect(await raw.ttl(keys.runs(sessionId))).toBeGreaterThan(590);
      await raw.expire(keys.session(sessionId), 5);
      await storage.appendRun({ sessionId, run: makeRun(sessionId, 'b'), sessionState: {} });
      expect(await raw.ttl(keys.session(sessionId))).toBeGreaterThan(590);
      // Indexes outlive their sessions (twice the TTL) so listing never loses a live session.
      expect(await raw.ttl(keys.userIndex('u'))).toBeGreaterThan(600);
    });

    it('trims index entries older than twice the TTL and keeps the indexes expiring, in the write', async () => {
      const storage = open({ ttlSeconds: 600 });
      const keys = keysOf(storage);
      const userId = uniqueId('trim-user');
      const sessionId = uniqueId('trim');
      const longGone = Date.now() - 2 * 600 * 1000 - 60_000;
      const recent = Date.now() - 2 * 600 * 1000 + 60_000;
      await raw.zadd(
        keys.userIndex(userId),
        longGone,
        'expired-session',
        recent,
        'younger-session',
      );
      await raw.zadd(keys.allIndex(), longGone, `${sessionId}-expired`);
      await storage.appendRun({
        sessionId,
        userId,
        run: makeRun(sessionId, 'a'),
        sessionState: {},
      });
      expect(await raw.zrange(keys.userIndex(userId), '0', '-1')).toEqual([
        'younger-session',
        sessionId,
      ]);
      expect(await raw.zscore(keys.allIndex(), `${sessionId}-expired`)).toBeNull();
      for (const key of [keys.userIndex(userId), keys.allIndex()]) {
        const ttl = await raw.ttl(key);
        expect(ttl).toBeGreaterThan(1_190);
        expect(ttl).toBeLessThanOrEqual(1_200);
      }
    });

    it('leaves keys without expiry when no TTL is configured', async () => {
      const storage = open();
      const keys = keysOf(storage);
      const sessionId = uniqueId('no-ttl');
      await storage.appendRun({ sessionId, run: makeRun(sessionId, 'a'), sessionState: {} });
      expect(await raw.ttl(keys.session(sessionId))).toBe(-1);
      expect(await raw.ttl(keys.runs(sessionId))).toBe(-1);
    });

    it('gives the lease its own expiry in milliseconds', async () => {
      const storage = open({ ttlSeconds: 600 });
      const sessionId = uniqueId('lease-ttl');
      const lease = await storage.acquireLease({ sessionId, ttlMs: 2_000, waitMs: 0 });
      const pttl = await raw.pttl(keysOf(storage).lease(sessionId));
      expect(pttl).toBeGreaterThan(0);
      expect(pttl).toBeLessThanOrEqual(2_000);
      await lease.release();
      expect(await raw.exists(keysOf(storage).lease(sessionId))).toBe(0);
    });
  });

  describe('round trips', () => {
    it('appends a run in one round trip (one script, the index raise inside it)', async () => {
      const client = ownClient();
      const storage = open({ client });
      const sessionId = uniqueId('one-trip');
      const first = await countWrites(client, async () => {
        await storage.appendRun({
          sessionId,
          userId: 'dana',
          agentId: 'agent-1',
          run: makeRun(sessionId, 'a'),
          sessionState: {},
        });
      });
      // The first write of a storage learns the server's clock: one TIME round trip, once.
      expect(first).toBe(2);
      for (let index = 0; index < 30; index++) {
        await storage.appendRun({
          sessionId,
          userId: 'dana',
          run: makeRun(sessionId, `t${index}`),
          sessionState: {},
        });
      }
      const later = await countWrites(client, async () => {
        await storage.appendRun({
          sessionId,
          userId: 'dana',
          agentId: 'agent-1',
          run: makeRun(sessionId, 'z'),
          sessionState: {},
        });
      });
      expect(later).toBe(1);
    });

    it('runs an Agent turn in two round trips: lease with the read, append with the release', async () => {
      const client = ownClient();
      const storage = open({ client });
      const sessionId = uniqueId('turn');
      const agent = new Agent({
        model: new MockModel({ respond: () => 'ok' }),
        storage,
        userId: 'dana',
        sessionId,
      });
      expect(await countWrites(client, async () => void (await agent.run('first')))).toBe(2);
      expect(await countWrites(client, async () => void (await agent.run('second')))).toBe(2);
      expect(await raw.exists(keysOf(storage).lease(sessionId))).toBe(0);
      expect((await storage.getSession(sessionId))?.runCount).toBe(2);
    });

    it('takes a lease with the session read in one round trip, and appends with the release in one', async () => {
      const client = ownClient();
      const storage = open({ client });
      const keys = keysOf(storage);
      const sessionId = uniqueId('lease-trips');
      await storage.appendRun({
        sessionId,
        userId: 'dana',
        run: makeRun(sessionId, 'a'),
        sessionState: { n: 1 },
      });
      let lease: Awaited<ReturnType<RedisStorage['acquireLease']>> | undefined;
      const leaseTrips = await countWrites(client, async () => {
        lease = await storage.acquireLease({
          sessionId,
          ttlMs: 10_000,
          waitMs: 0,
          readSession: true,
        });
      });
      expect(leaseTrips).toBe(1);
      expect(lease?.session).toMatchObject({ userId: 'dana', sessionState: { n: 1 }, version: 1 });
      const appendTrips = await countWrites(client, async () => {
        const result = await storage.appendRun({
          sessionId,
          userId: 'dana',
          run: makeRun(sessionId, 'b'),
          sessionState: { n: 2 },
          leaseToken: lease?.token as string,
          releaseLease: true,
        });
        expect(result).toMatchObject({ index: 1, version: 2, leaseReleased: true });
      });
      expect(appendTrips).toBe(1);
      expect(await raw.exists(keys.lease(sessionId))).toBe(0);
    });

    it('does not release the lease on a refused append, even when asked to', async () => {
      const storage = open();
      const keys = keysOf(storage);
      const sessionId = uniqueId('refused-release');
      await storage.upsertSession({ sessionId, userId: 'alice' });
      const lease = await storage.acquireLease({ sessionId, ttlMs: 10_000, waitMs: 0 });
      await expectCode(
        storage.appendRun({
          sessionId,
          userId: 'mallory',
          run: makeRun(sessionId, 'x'),
          sessionState: {},
          leaseToken: lease.token,
          releaseLease: true,
        }),
        'SESSION_OWNERSHIP',
      );
      expect(await raw.get(keys.lease(sessionId))).toBe(lease.token);
      await lease.release();
    });

    it('reads the session only once the lease is taken, not on every retry while waiting', async () => {
      const storage = open();
      const sessionId = uniqueId('busy-read');
      const big = 'x'.repeat(10_000);
      await storage.upsertSession({ sessionId, sessionState: { big } });
      const held = await storage.acquireLease({ sessionId, ttlMs: 10_000, waitMs: 0 });
      const commands = await monitorCommands(
        raw,
        (args, source) => source === 'lua' && args.some((arg) => arg.includes(storage.prefix)),
        async () => {
          const waiting = storage.acquireLease({
            sessionId,
            ttlMs: 10_000,
            waitMs: 5_000,
            readSession: true,
          });
          await new Promise((resolve) => setTimeout(resolve, 40));
          await held.release();
          const lease = await waiting;
          expect(lease.session?.sessionState).toEqual({ big });
          await lease.release();
        },
      );
      const names = commands.map(({ args }) => String(args[0]).toLowerCase());
      expect(names.filter((name) => name === 'set').length).toBeGreaterThan(1);
      expect(names.filter((name) => name === 'hmget')).toHaveLength(1);
    });

    it('never reads the history while appending (Lua commands only touch O(1) data)', async () => {
      const storage = open();
      const sessionId = uniqueId('no-history');
      for (let index = 0; index < 10; index++) {
        await storage.appendRun({
          sessionId,
          run: makeRun(sessionId, `t${index}`),
          sessionState: {},
        });
      }
      const commands = await monitorCommands(
        raw,
        (args, source) => source === 'lua' && args.some((arg) => arg.includes(storage.prefix)),
        async () => {
          await storage.appendRun({ sessionId, run: makeRun(sessionId, 'last'), sessionState: {} });
        },
      );
      const names = new Set(commands.map(({ args }) => String(args[0]).toLowerCase()));
      expect(names.has('rpush')).toBe(true);
      for (const name of names) {
        expect([
          'exists',
          'hmget',
          'llen',
          'hincrby',
          'hset',
          'rpush',
          'expire',
          'get',
          'hget',
          'time',
          // The index raise at the top of the standalone script: one member of each index.
          'zadd',
        ]).toContain(name);
      }
    });
  });

  describe('no SCAN or KEYS', () => {
    it('has no SCAN/KEYS call in its source', () => {
      const directory = new URL('.', import.meta.url).pathname;
      const sources = readdirSync(directory).filter(
        (name) => name.endsWith('.ts') && !name.endsWith('.test.ts'),
      );
      expect(sources.length).toBeGreaterThan(3);
      for (const name of sources) {
        const text = readFileSync(join(directory, name), 'utf8');
        // Redis calls go through a client or a pipeline; commands named as strings (`call('SCAN')`,
        // Lua's `redis.call('KEYS', ...)`) are caught by the second pattern.
        expect(text, name).not.toMatch(
          /\b(client|pipeline|redis|target)\.(scan\w*|keys|hscan|sscan|zscan)(Buffer)?\b/i,
        );
        expect(text, name).not.toMatch(/['"](scan|keys)['"]/i);
      }
    });

    it('lists and deletes a user through the sorted sets only', async () => {
      const client = ownClient();
      const storage = open({ client });
      const userId = uniqueId('scanless');
      for (let index = 0; index < 5; index++) {
        const sessionId = uniqueId('s');
        await storage.appendRun({
          sessionId,
          userId,
          run: makeRun(sessionId, 'x'),
          sessionState: {},
        });
      }
      // Everything this storage's connection sends, and what its scripts run.
      const source = `${client.stream.localAddress}:${client.stream.localPort}`;
      const commands = await monitorCommands(
        raw,
        (args, from) =>
          from === source || (from === 'lua' && args.some((arg) => arg.includes(storage.prefix))),
        async () => {
          expect((await storage.listSessions({ userId, limit: 2 })).sessions).toHaveLength(2);
          expect((await storage.listSessions({ limit: 2 })).sessions).toHaveLength(2);
          expect(await storage.deleteUserData(userId)).toBe(5);
        },
      );
      const names = new Set(commands.map(({ args }) => String(args[0]).toLowerCase()));
      expect(names.has('zrevrangebyscore')).toBe(true);
      expect(names.has('zrange')).toBe(true);
      for (const name of names) expect(name).not.toMatch(/^(scan|keys)$/);
    });
  });

  describe('listing index', () => {
    it('skips and removes entries whose session is gone or changed owner', async () => {
      const storage = open();
      const keys = keysOf(storage);
      const userId = uniqueId('owner');
      const ids = [uniqueId('a'), uniqueId('b'), uniqueId('c')];
      for (const sessionId of ids) {
        await storage.appendRun({
          sessionId,
          userId,
          run: makeRun(sessionId, 'x'),
          sessionState: {},
        });
      }
      const [gone, taken, kept] = ids as [string, string, string];
      await raw.del(keys.session(gone));
      await raw.hset(keys.session(taken), 'user_id', 'someone-else');
      const page = await storage.listSessions({ userId });
      expect(page.sessions.map((session) => session.sessionId)).toEqual([kept]);
      // Young entries may belong to a write still in flight: skipped, not removed.
      expect(await raw.zscore(keys.userIndex(userId), gone)).not.toBeNull();
      expect(await raw.zscore(keys.userIndex(userId), taken)).not.toBeNull();
      const old = String(Date.now() - 6 * 60_000);
      await raw.zadd(keys.userIndex(userId), old, gone, old, taken);
      await raw.zadd(keys.allIndex(), old, gone);
      expect((await storage.listSessions({ userId })).sessions.map((s) => s.sessionId)).toEqual([
        kept,
      ]);
      expect(await raw.zscore(keys.userIndex(userId), gone)).toBeNull();
      expect(await raw.zscore(keys.userIndex(userId), taken)).toBeNull();
      expect(await raw.zscore(keys.allIndex(), taken)).not.toBeNull();
      const all = await storage.listSessions({ limit: 10 });
      expect(all.sessions.map((session) => session.sessionId).sort()).toEqual([kept, taken].sort());
      expect(await raw.zscore(keys.allIndex(), gone)).toBeNull();
    });

    it('repairs an entry whose score disagrees with the session and lists it in place', async () => {
      const storage = open();
      const keys = keysOf(storage);
      const userId = uniqueId('misplaced');
      const ids: string[] = [];
      for (let index = 0; index < 4; index++) {
        const sessionId = uniqueId(`m${index}`);
        ids.push(sessionId);
        await storage.upsertSession({ sessionId, userId });
        await new Promise((resolve) => setTimeout(resolve, 3));
      }
      const oldest = ids[0] as string;
      await raw.zadd(keys.userIndex(userId), Date.now() + 60_000, oldest);
      const page = await storage.listSessions({ userId });
      expect(page.sessions.map((session) => session.sessionId)).toEqual([...ids].reverse());
      const record = await storage.getSession(oldest);
      expect(await raw.zscore(keys.userIndex(userId), oldest)).toBe(String(record?.updatedAt));
    });

    it('leaves the indexes untouched by a refused append', async () => {
      const storage = open();
      const keys = keysOf(storage);
      const sessionId = uniqueId('refused');
      await storage.appendRun({
        sessionId,
        userId: 'alice',
        run: makeRun(sessionId, 'x'),
        sessionState: {},
      });
      const before = await raw.zscore(keys.allIndex(), sessionId);
      await new Promise((resolve) => setTimeout(resolve, 5));
      await expectCode(
        storage.appendRun({
          sessionId,
          userId: 'mallory',
          run: makeRun(sessionId, 'y'),
          sessionState: {},
        }),
        'SESSION_OWNERSHIP',
      );
      const lease = await storage.acquireLease({ sessionId, ttlMs: 10_000, waitMs: 0 });
      await lease.release();
      await expectCode(
        storage.appendRun({
          sessionId,
          userId: 'alice',
          run: makeRun(sessionId, 'z'),
          sessionState: {},
          leaseToken: lease.token,
        }),
        'CONFLICT',
      );
      expect(await raw.zscore(keys.allIndex(), sessionId)).toBe(before);
      expect(await raw.zscore(keys.userIndex('alice'), sessionId)).toBe(before);
      expect(await raw.zscore(keys.userIndex('mallory'), sessionId)).toBeNull();
    });

    it('raises index scores with ZADD GT inside the one write script, no ZSCORE', async () => {
      const client = ownClient();
      const storage = open({ client });
      const sessionId = uniqueId('zadd-gt');
      await storage.appendRun({
        sessionId,
        userId: 'dana',
        run: makeRun(sessionId, 'a'),
        sessionState: {},
      });
      const source = `${client.stream.localAddress}:${client.stream.localPort}`;
      const commands = await monitorCommands(
        raw,
        (args, from) =>
          from === source || (from === 'lua' && args.some((arg) => arg.includes(storage.prefix))),
        async () => {
          await storage.appendRun({
            sessionId,
            userId: 'dana',
            run: makeRun(sessionId, 'b'),
            sessionState: {},
          });
        },
      );
      const names = commands.map(({ args }) => args.map(String));
      // The client sends one command (the script), and the raise runs inside it, before the write.
      expect(
        commands.filter((command) => command.source === source).map(({ args }) => args[0]),
      ).toEqual(['evalsha']);
      const inside = commands
        .filter((command) => command.source === 'lua')
        .map(({ args }) => args.map(String));
      expect(inside.filter((args) => args[0]?.toLowerCase() === 'zadd')).toEqual([
        ['ZADD', keysOf(storage).allIndex(), 'GT', expect.any(String), sessionId],
        ['ZADD', keysOf(storage).userIndex('dana'), 'GT', expect.any(String), sessionId],
      ]);
      expect(inside.findIndex((args) => args[0] === 'ZADD')).toBeLessThan(
        inside.findIndex((args) => args[0] === 'RPUSH'),
      );
      expect(names.filter((args) => args[0]?.toLowerCase() === 'zscore')).toEqual([]);
    });

    it('indexes a session under its stored owner and agent when a caller passes neither', async () => {
      const storage = open();
      const other = open({ prefix: storage.prefix });
      const keys = keysOf(storage);
      const sessionId = uniqueId('trusted');
      await storage.appendRun({
        sessionId,
        userId: 'dana',
        agentId: 'agent-a',
        run: makeRun(sessionId, 'x'),
        sessionState: {},
      });
      // A fresh instance knows nothing about the session; an admin append without userId, and an
      // append naming another agent, still keep the owner's and creator's indexes current.
      await new Promise((resolve) => setTimeout(resolve, 3));
      const result = await other.appendRun({
        sessionId,
        agentId: 'agent-b',
        run: makeRun(sessionId, 'y'),
        sessionState: {},
      });
      expect(await raw.zscore(keys.userIndex('dana'), sessionId)).toBe(String(result.updatedAt));
      expect(await raw.zscore(keys.agentIndex('agent-a'), sessionId)).toBe(
        String(result.updatedAt),
      );
      expect(await raw.zscore(keys.agentIndex('agent-b'), sessionId)).toBeNull();
      expect((await other.listSessions({ agentId: 'agent-b' })).sessions).toEqual([]);
    });

    it('pages through equal updatedAt values by sessionId, also when the cursor entry is gone', async () => {
      const storage = open();
      const keys = keysOf(storage);
      const userId = uniqueId('ties');
      const ids = ['t-a', 't-b', 't-c', 't-d', 't-e', 't-é'].map((suffix) => `${userId}-${suffix}`);
      for (const sessionId of ids) await storage.upsertSession({ sessionId, userId });
      const score = 1_700_000_000_000;
      for (const sessionId of ids) {
        await raw.hset(keys.session(sessionId), 'updated_at', String(score));
        await raw.zadd(keys.userIndex(userId), score, sessionId);
      }
      const first = await storage.listSessions({ userId, limit: 2 });
      // Redis orders equal scores by the members' UTF-8 bytes; listing is sessionId descending.
      const expected = [...ids].sort((a, b) => Buffer.compare(Buffer.from(b), Buffer.from(a)));
      expect(first.sessions.map((session) => session.sessionId)).toEqual(expected.slice(0, 2));
      // The cursor's own session disappears between pages: the next page still starts after it.
      await storage.deleteSession(expected[1] as string);
      const rest: string[] = [];
      let cursor = first.nextCursor;
      while (cursor !== undefined) {
        const page = await storage.listSessions({ userId, limit: 2, cursor });
        rest.push(...page.sessions.map((session) => session.sessionId));
        cursor = page.nextCursor;
      }
      expect(rest).toEqual(expected.slice(2));
    });
  });

  describe('deleteUserData', () => {
    it('removes the user index and the sessions from the other indexes', async () => {
      const storage = open();
      const keys = keysOf(storage);
      const userId = uniqueId('gone');
      const ids = [uniqueId('x'), uniqueId('y')];
      for (const sessionId of ids) {
        await storage.appendRun({
          sessionId,
          userId,
          agentId: 'agent-z',
          run: makeRun(sessionId, 'x'),
          sessionState: {},
        });
      }
      expect(await storage.deleteUserData(userId)).toBe(2);
      expect(await raw.exists(keys.userIndex(userId))).toBe(0);
      for (const sessionId of ids) {
        expect(await raw.zscore(keys.allIndex(), sessionId)).toBeNull();
        expect(await raw.zscore(keys.agentIndex('agent-z'), sessionId)).toBeNull();
        expect(await raw.exists(keys.session(sessionId), keys.runs(sessionId))).toBe(0);
      }
    });

    it('re-checks ownership: a session that changed owner behind the index survives', async () => {
      const storage = open();
      const keys = keysOf(storage);
      const sessionId = uniqueId('moved');
      await storage.upsertSession({ sessionId, userId: 'first' });
      await raw.hset(keys.session(sessionId), 'user_id', 'second');
      expect(await storage.deleteUserData('first')).toBe(0);
      expect((await storage.getSession(sessionId))?.userId).toBe('second');
    });
  });
});
