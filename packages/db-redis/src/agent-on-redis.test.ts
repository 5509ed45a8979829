/**
 * Agent-level guarantees a Redis deployment relies on: ownership across users, and resuming a
 * session after a restart. (The cross-process guarantees are the shared suite in
 * `cross-process.contract.test.ts`.)
 */
import { randomUUID } from 'node:crypto';
import { Agent, BuddyError, silentLogger, tool } from '@buddy/core';
import { MockModel } from '@buddy/testkit';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  deletePrefix,
  REDIS_URL,
  rawClient,
  requireRedis,
  testPrefix,
} from '../test/redis-test-env.ts';
import { RedisStorage } from './redis-storage.ts';

const hasRedis = await requireRedis();

const increment = tool({
  name: 'increment',
  description: 'Adds one to the counter in the session state.',
  parameters: z.object({}),
  execute: (_args, context) => {
    const next = Number(context.sessionState.counter ?? 0) + 1;
    context.sessionState.counter = next;
    return String(next);
  },
});

function counterModel(): MockModel {
  return new MockModel({
    respond: (request) =>
      request.messages.at(-1)?.role === 'tool'
        ? 'Incremented.'
        : { toolCalls: [{ name: 'increment', arguments: {} }] },
  });
}

async function ownershipCode(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return BuddyError.is(error) ? error.code : String(error);
  }
}

describe.skipIf(!hasRedis)('Agents on Redis', () => {
  const raw = hasRedis ? rawClient() : (undefined as unknown as Redis);
  const prefixes: string[] = [];
  const storages: RedisStorage[] = [];

  function storageFor(prefix: string): RedisStorage {
    const storage = new RedisStorage({ url: REDIS_URL, prefix });
    storages.push(storage);
    return storage;
  }

  function newPrefix(): string {
    const prefix = testPrefix();
    prefixes.push(prefix);
    return prefix;
  }

  afterEach(async () => {
    for (const storage of storages.splice(0)) await storage.close();
    for (const prefix of prefixes.splice(0)) await deletePrefix(raw, prefix);
  });

  afterAll(async () => {
    await raw.quit();
  });

  it("never lets another user read, list, continue or delete a user's session", async () => {
    const prefix = newPrefix();
    const sessionId = `owned-${randomUUID()}`;
    const alice = new Agent({
      model: counterModel(),
      storage: storageFor(prefix),
      sessionId,
      userId: 'alice',
      tools: [increment],
      logger: silentLogger,
    });
    await alice.run('my secret counter');
    const mallory = new Agent({
      model: counterModel(),
      storage: storageFor(prefix),
      sessionId,
      userId: 'mallory',
      tools: [increment],
      logger: silentLogger,
    });
    expect(await ownershipCode(mallory.loadSession())).toBe('SESSION_OWNERSHIP');
    expect(await ownershipCode(mallory.getChatHistory())).toBe('SESSION_OWNERSHIP');
    expect(await ownershipCode(mallory.getSessionSummary())).toBe('SESSION_OWNERSHIP');
    expect(await ownershipCode(mallory.run('let me in'))).toBe('SESSION_OWNERSHIP');
    expect(await ownershipCode(mallory.run('let me in', { userId: 'mallory' }))).toBe(
      'SESSION_OWNERSHIP',
    );
    expect(await ownershipCode(mallory.deleteSession(sessionId))).toBe('SESSION_OWNERSHIP');
    expect((await mallory.listSessions()).sessions).toEqual([]);
    expect(await mallory.deleteUserData('mallory')).toEqual({ sessions: 0, memories: 0 });

    const listed = await alice.listSessions();
    expect(listed.sessions.map((session) => session.sessionId)).toEqual([sessionId]);
    expect(await alice.getChatHistory()).toHaveLength(2);
    const record = await storageFor(prefix).getSession(sessionId);
    expect(record).toMatchObject({ userId: 'alice', runCount: 1, version: 1 });
  });

  it('resumes a session after a restart: state, name, history and summary', async () => {
    const prefix = newPrefix();
    const sessionId = `resume-${randomUUID()}`;
    const userId = 'dana';
    const before = new RedisStorage({ url: REDIS_URL, prefix });
    const firstLife = new Agent({
      model: counterModel(),
      storage: before,
      sessionId,
      userId,
      sessionName: 'Counting practice',
      tools: [increment],
      logger: silentLogger,
    });
    await firstLife.run('count once');
    await firstLife.run('count twice');
    const summary = {
      summary: 'The user practised counting to two.',
      topics: ['counting'],
      runsCovered: 2,
      updatedAt: Date.now(),
    };
    await before.upsertSession({ sessionId, userId, summary });
    await before.close();

    const after = storageFor(prefix);
    const secondLife = new Agent({
      model: counterModel(),
      storage: after,
      sessionId,
      userId,
      tools: [increment],
      logger: silentLogger,
    });
    expect(await secondLife.loadSession()).toBe(sessionId);
    expect(secondLife.sessionState.counter).toBe(2);
    expect(secondLife.sessionName).toBe('Counting practice');
    expect(await secondLife.getSessionSummary()).toEqual(summary);
    const history = await secondLife.getChatHistory();
    expect(history.map((message) => [message.role, message.content])).toEqual([
      ['user', 'count once'],
      ['assistant', 'Incremented.'],
      ['user', 'count twice'],
      ['assistant', 'Incremented.'],
    ]);
    await secondLife.run('count a third time');
    expect(secondLife.sessionState.counter).toBe(3);
    expect((await after.getSession(sessionId))?.runCount).toBe(3);
  });
});
