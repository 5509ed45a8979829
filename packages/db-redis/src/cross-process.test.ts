/**
 * Agents in separate OS processes sharing one session through Redis, plus the Agent-level
 * guarantees a Redis deployment relies on: ownership, and resuming after a restart.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
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
import { RedisKeys } from './redis-keys.ts';
import { RedisStorage } from './redis-storage.ts';

const hasRedis = await requireRedis();
const packageDirectory = fileURLToPath(new URL('..', import.meta.url));

function childPath(name: string): string {
  return fileURLToPath(new URL(`../test/children/${name}`, import.meta.url));
}

/** A TypeScript child run against the workspace sources (`@buddy/source` condition, tsx). */
function startChild(name: string, args: string[]): ChildProcess {
  return spawn(
    process.execPath,
    ['--conditions=@buddy/source', '--import', 'tsx', childPath(name), ...args],
    { cwd: packageDirectory, stdio: ['ignore', 'pipe', 'pipe'] },
  );
}

/** Resolves with the child's stdout once it exits 0; rejects with its stderr otherwise. */
function finished(child: ChildProcess): Promise<string> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`child exited with ${code ?? signal}: ${stderr}`));
    });
  });
}

/** Resolves once the child prints `line`. */
function printed(child: ChildProcess, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.split('\n').includes(line)) resolve();
    });
    child.on('exit', (code) =>
      reject(new Error(`child exited (${code}) before "${line}": ${stderr}`)),
    );
  });
}

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
  const children: ChildProcess[] = [];

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
    for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
    for (const storage of storages.splice(0)) await storage.close();
    for (const prefix of prefixes.splice(0)) await deletePrefix(raw, prefix);
  });

  afterAll(async () => {
    await raw.quit();
  });

  it('keeps all 100 turns of two processes on one session, in order, with no lost update', async () => {
    const prefix = newPrefix();
    const sessionId = `shared-${randomUUID()}`;
    const userId = 'dana';
    const a = startChild('counter-turns.ts', [REDIS_URL, prefix, sessionId, userId, '50', 'true']);
    const b = startChild('counter-turns.ts', [REDIS_URL, prefix, sessionId, userId, '50', 'false']);
    children.push(a, b);
    const [outputA, outputB] = await Promise.all([finished(a), finished(b)]);
    expect(outputA).toContain('DONE');
    expect(outputB).toContain('DONE');

    const storage = storageFor(prefix);
    const record = await storage.getSession(sessionId, { userId });
    expect(record).toMatchObject({ runCount: 100, version: 100, userId });
    expect(record?.sessionState.counter).toBe(100);
    const runs = await storage.getRuns({ sessionId });
    expect(runs.map((run) => run.index)).toEqual(Array.from({ length: 100 }, (_, index) => index));
    for (const run of runs) {
      expect(run.messages.map((message) => message.role)).toEqual([
        'user',
        'assistant',
        'tool',
        'assistant',
      ]);
      const call = run.messages[1];
      expect(call?.role === 'assistant' && call.toolCalls?.[0]?.name).toBe('increment');
      // Every turn saw the previous turn's state: the counter goes up by one per stored run.
      expect(run.messages[2]?.content).toBe(String(run.index + 1));
    }
    const byProcess = new Map<string, number>();
    for (const run of runs) {
      const pid = /from (\d+)$/.exec(String(run.messages[0]?.content))?.[1] ?? '?';
      byProcess.set(pid, (byProcess.get(pid) ?? 0) + 1);
    }
    expect(new Map([...byProcess].sort())).toEqual(
      new Map(
        [
          [String(a.pid), 50],
          [String(b.pid), 50],
        ].sort() as [string, number][],
      ),
    );
  }, 60_000);

  it('survives a process killed mid-turn: no half run, and the next turn runs once the lease expires', async () => {
    const prefix = newPrefix();
    const sessionId = `killed-${randomUUID()}`;
    const userId = 'dana';
    const storage = storageFor(prefix);
    const first = new Agent({
      model: counterModel(),
      storage,
      sessionId,
      userId,
      tools: [increment],
      logger: silentLogger,
    });
    await first.run('before the crash');

    const child = startChild('stalled-turn.ts', [REDIS_URL, prefix, sessionId, userId]);
    children.push(child);
    await printed(child, 'MID_TURN');
    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.kill('SIGKILL');
    await exited;

    const record = await storage.getSession(sessionId, { userId });
    expect(record).toMatchObject({ runCount: 1, version: 1, sessionState: { counter: 1 } });
    expect(record?.sessionState.stalled).toBeUndefined();
    expect(await storage.getRuns({ sessionId })).toHaveLength(1);
    // The dead process's lease is still there until it expires.
    expect(await raw.exists(new RedisKeys(prefix).lease(sessionId))).toBe(1);

    const next = new Agent({
      model: counterModel(),
      storage: storageFor(prefix),
      sessionId,
      userId,
      tools: [increment],
      cacheSession: false,
      logger: silentLogger,
    });
    const response = await next.run('after the crash');
    expect(response.content).toBe('Incremented.');
    const after = await storage.getSession(sessionId, { userId });
    expect(after).toMatchObject({ runCount: 2, sessionState: { counter: 2 } });
    expect((await storage.getRuns({ sessionId, last: 1 }))[0]?.index).toBe(1);
  }, 30_000);

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
