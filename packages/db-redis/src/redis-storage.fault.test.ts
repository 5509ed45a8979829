/**
 * Real faults on a private `redis-server` (its own port and temp dir, started and stopped by
 * pid): the server killed and restarted under a load of turns, and the server stalled with
 * SIGSTOP past the command timeout while a turn's append is on its way (issue 9 item 6).
 */
import { Agent, BuddyError, silentLogger, tool } from '@buddy/core';
import { MockModel } from '@buddy/testkit';
import { expectBuddyError } from '@buddy/testkit/fetch';
import { makeRun, uniqueId } from '@buddy/testkit/storage';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { FaultProxy } from '../test/fault-proxy.ts';
import { PrivateRedis, requireRedisServerBinary } from '../test/private-redis.ts';
import { RedisStorage } from './redis-storage.ts';

const hasBinary = requireRedisServerBinary();

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A tool that bumps `counter` in the session state; `onCall` runs first (to inject a fault). */
function counterTool(onCall: () => void | Promise<void> = () => {}) {
  return tool({
    name: 'increment',
    description: 'Adds one to the counter in the session state.',
    parameters: z.object({}),
    execute: async (_args, context) => {
      await onCall();
      const next = Number(context.sessionState.counter ?? 0) + 1;
      context.sessionState.counter = next;
      return String(next);
    },
  });
}

function counterModel(): MockModel {
  return new MockModel({
    respond: (request) =>
      request.messages.at(-1)?.role === 'tool'
        ? 'Incremented.'
        : { toolCalls: [{ name: 'increment', arguments: {} }] },
  });
}

/** Every stored run of a session is whole: contiguous indexes, unique ids, the counter in order. */
async function expectWhole(storage: RedisStorage, sessionId: string): Promise<number> {
  const record = await storage.getSession(sessionId);
  const runs = await storage.getRuns({ sessionId });
  expect(record?.runCount).toBe(runs.length);
  expect(runs.map((run) => run.index)).toEqual(runs.map((_, index) => index));
  expect(new Set(runs.map((run) => run.runId)).size).toBe(runs.length);
  expect(runs.map((run) => run.stateAfter?.counter)).toEqual(runs.map((_, index) => index + 1));
  expect(record?.sessionState.counter ?? 0).toBe(runs.length);
  return runs.length;
}

describe.skipIf(!hasBinary)('RedisStorage under real faults', () => {
  let server: PrivateRedis;

  beforeAll(async () => {
    server = await PrivateRedis.start({ persistent: true });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('keeps writing (and raising the listing indexes) after the server drops its script cache', async () => {
    const storage = new RedisStorage({ url: server.url, prefix: `${uniqueId('flush')}:` });
    const raw = new Redis({ port: server.port });
    try {
      const sessionId = uniqueId('flushed');
      await storage.appendRun({
        sessionId,
        userId: 'dana',
        run: makeRun(sessionId, 'a'),
        sessionState: {},
      });
      await raw.script('FLUSH');
      const second = await storage.appendRun({
        sessionId,
        userId: 'dana',
        run: makeRun(sessionId, 'b'),
        sessionState: { n: 2 },
      });
      expect(second.index).toBe(1);
      await raw.script('FLUSH');
      const renamed = await storage.upsertSession({
        sessionId,
        userId: 'dana',
        sessionName: 'kept',
      });
      expect(renamed.sessionName).toBe('kept');
      const listed = await storage.listSessions({ userId: 'dana' });
      expect(listed.sessions.map((session) => session.sessionId)).toEqual([sessionId]);
      expect(listed.sessions[0]?.updatedAt).toBe(renamed.updatedAt);
      expect((await storage.getSession(sessionId))?.sessionState).toEqual({ n: 2 });
    } finally {
      await storage.close();
      raw.disconnect();
    }
  });

  it('fails turns with retryable errors while the server is killed, then works again; nothing is half written', async () => {
    const storage = new RedisStorage({ url: server.url, prefix: `${uniqueId('kill')}:` });
    const sessions = Array.from({ length: 5 }, () => uniqueId('load'));
    const agents = sessions.map(
      (sessionId) =>
        new Agent({
          model: counterModel(),
          storage,
          sessionId,
          tools: [counterTool()],
          logger: silentLogger,
          sessionLease: { ttlMs: 2_000, waitMs: 10_000 },
        }),
    );
    const failures: BuddyError[] = [];
    let phase: 'before' | 'down' | 'after' = 'before';
    const okAfter = new Map<string, number>();
    let killed = false;
    const loop = async (agent: Agent, sessionId: string) => {
      for (let turn = 0; turn < 400 && (okAfter.get(sessionId) ?? 0) < 3; turn++) {
        try {
          await agent.run(`turn ${turn}`);
          if (phase === 'after') okAfter.set(sessionId, (okAfter.get(sessionId) ?? 0) + 1);
        } catch (error) {
          if (!BuddyError.is(error)) throw error;
          failures.push(error);
          await sleep(50);
        }
        if (!killed && phase === 'before' && turn >= 3) {
          killed = true;
          phase = 'down';
          await server.kill();
          setTimeout(() => {
            void server.restart().then(() => {
              phase = 'after';
            });
          }, 1_000);
        }
      }
    };
    await Promise.all(agents.map((agent, index) => loop(agent, sessions[index] as string)));
    expect(phase).toBe('after');
    expect(failures.length).toBeGreaterThan(0);
    const codes = new Map<string, number>();
    for (const failure of failures) codes.set(failure.code, (codes.get(failure.code) ?? 0) + 1);
    console.log(
      `[kill/restart] failed turns by code: ${JSON.stringify(Object.fromEntries(codes))}`,
    );
    for (const failure of failures) {
      // A turn whose append was on its way when the server died may not know its outcome.
      const expected = failure.code === 'STORAGE_OUTCOME_UNKNOWN' || failure.retryable;
      expect(expected, `${failure.code}: ${failure.message}`).toBe(true);
      expect(['STORAGE_UNAVAILABLE', 'STORAGE_OUTCOME_UNKNOWN', 'SESSION_BUSY']).toContain(
        failure.code,
      );
    }
    for (const sessionId of sessions) {
      expect(okAfter.get(sessionId)).toBe(3);
      expect(await expectWhole(storage, sessionId)).toBeGreaterThanOrEqual(3);
    }
    await storage.close();
  }, 120_000);

  it('never stores a run whose append timed out while the server was stalled, and stores its retry once (issue 9 item 6)', async () => {
    const client = new Redis({ port: server.port, commandTimeout: 1_000, maxRetriesPerRequest: 1 });
    client.on('error', () => {});
    const storage = new RedisStorage({ client, prefix: `${uniqueId('stall')}:` });
    const sessionId = uniqueId('stalled');
    let stallNext = false;
    let resumed: Promise<void> = Promise.resolve();
    const agent = new Agent({
      model: counterModel(),
      storage,
      sessionId,
      logger: silentLogger,
      // A minute-long lease: the lease alone would let the late append through.
      sessionLease: { ttlMs: 60_000, waitMs: 30_000 },
      tools: [
        counterTool(() => {
          if (!stallNext) return;
          stallNext = false;
          // The turn holds its lease; its append goes to a server that stops for 3 s.
          server.signal('SIGSTOP');
          resumed = sleep(3_000).then(() => server.signal('SIGCONT'));
        }),
      ],
    });
    await agent.run('seed');
    stallNext = true;
    let failure: unknown;
    try {
      await agent.run('stalled turn');
    } catch (error) {
      failure = error;
    }
    expect(BuddyError.is(failure), String(failure)).toBe(true);
    const error = failure as BuddyError;
    expect(error.code, error.message).toBe('STORAGE_OUTCOME_UNKNOWN');
    expect(error.retryable).toBe(false);
    const runId = (error.details as { runId?: string } | undefined)?.runId;
    expect(typeof runId).toBe('string');
    await resumed;
    // The server works through what queued up while it was stopped: the append is refused.
    expect(await client.ping()).toBe('PONG');
    await sleep(200);
    const after = await storage.getRuns({ sessionId });
    expect(after.map((run) => run.messages[0]?.content)).toEqual(['seed']);
    expect(after.map((run) => run.runId)).not.toContain(runId);
    // The caller read the truth and retries: exactly one run for it.
    await agent.run('stalled turn');
    const runs = await storage.getRuns({ sessionId });
    expect(runs.map((run) => run.messages[0]?.content)).toEqual(['seed', 'stalled turn']);
    expect(await expectWhole(storage, sessionId)).toBe(2);
    await storage.close();
    client.disconnect();
  }, 60_000);

  describe('a connection lost mid-append (a proxy drops the request or the reply, then resets)', () => {
    async function throughProxy(options: { autoResend: boolean }) {
      const proxy = await FaultProxy.start(server.port);
      const client = new Redis({
        port: proxy.port,
        commandTimeout: 1_000,
        autoResendUnfulfilledCommands: options.autoResend,
      });
      client.on('error', () => {});
      const storage = new RedisStorage({ client, prefix: `${uniqueId('proxy')}:` });
      const sessionId = uniqueId('lost');
      await storage.appendRun({ sessionId, run: makeRun(sessionId, 'seed'), sessionState: {} });
      const cleanup = async () => {
        await storage.close();
        client.disconnect();
        await proxy.stop();
      };
      return { proxy, storage, sessionId, cleanup };
    }

    it('stores a resent append once: the reply was lost after the write, ioredis resends it', async () => {
      const { proxy, storage, sessionId, cleanup } = await throughProxy({ autoResend: true });
      const run = makeRun(sessionId, 'resent');
      proxy.arm({ marker: run.runId, lose: 'reply' });
      const result = await storage.appendRun({ sessionId, run, sessionState: { n: 1 } });
      expect(proxy.resets).toBe(1);
      expect(result.index).toBe(1);
      const runs = await storage.getRuns({ sessionId });
      expect(runs.map((stored) => stored.runId).filter((id) => id === run.runId)).toHaveLength(1);
      expect(runs).toHaveLength(2);
      await cleanup();
    });

    it('asks the server when a reply is lost and nothing resends it: the stored run is reported stored', async () => {
      const { proxy, storage, sessionId, cleanup } = await throughProxy({ autoResend: false });
      const run = makeRun(sessionId, 'landed');
      proxy.arm({ marker: run.runId, lose: 'reply' });
      const result = await storage.appendRun({ sessionId, run, sessionState: { n: 1 } });
      expect(proxy.resets).toBe(1);
      expect(result.index).toBe(1);
      expect((await storage.getRuns({ sessionId })).map((stored) => stored.runId)).toEqual([
        expect.any(String),
        run.runId,
      ]);
      await cleanup();
    });

    it('reports a request lost before the server saw it as not stored (retryable), and it never lands', async () => {
      const { proxy, storage, sessionId, cleanup } = await throughProxy({ autoResend: false });
      const run = makeRun(sessionId, 'lost');
      proxy.arm({ marker: run.runId, lose: 'request' });
      const error = await expectBuddyError(
        storage.appendRun({ sessionId, run, sessionState: { n: 1 } }),
        'STORAGE_UNAVAILABLE',
        'never will be',
      );
      expect(error.retryable).toBe(true);
      expect((error.details as { runId?: string }).runId).toBe(run.runId);
      await sleep(200);
      expect(await storage.getRuns({ sessionId })).toHaveLength(1);
      const retried = await storage.appendRun({ sessionId, run, sessionState: { n: 1 } });
      expect(retried.index).toBe(1);
      await cleanup();
    });
  });
});
