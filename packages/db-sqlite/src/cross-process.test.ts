/**
 * Real OS processes on one SQLite file: no lost updates between two agents, a crashed process
 * leaves no half run and its lease expires, other users are kept out, and a session resumes in a
 * new Agent with everything it had.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Agent, tool } from '@buddy/core';
import { MockModel } from '@buddy/testkit';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { expectBuddyError, tempDbFile } from '../test/helpers.ts';
import { SqliteStorage } from './sqlite-storage.ts';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const child = (name: string) => fileURLToPath(new URL(`../test/children/${name}`, import.meta.url));

/** Starts a TypeScript child with workspace packages resolved to their sources. */
function startChild(script: string, args: string[]): ChildProcess {
  return spawn(
    process.execPath,
    ['--conditions=@buddy/source', '--import', 'tsx', child(script), ...args],
    { cwd: packageDir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
}

/** Resolves with the child's stdout when it exits 0; rejects with its stderr otherwise. */
function finished(process: ChildProcess): Promise<string> {
  let stdout = '';
  let stderr = '';
  process.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  process.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    process.on('error', reject);
    process.on('exit', (code, signal) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`child exited with ${code ?? signal}: ${stderr}`));
    });
  });
}

/** Resolves when the child prints `line`. */
function printed(process: ChildProcess, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    let stderr = '';
    process.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    process.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      if (buffer.split('\n').includes(line)) resolve();
    });
    process.on('exit', (code) => reject(new Error(`child exited (${code}) first: ${stderr}`)));
  });
}

const increment = tool({
  name: 'increment',
  parameters: z.object({}),
  execute: (_args, context) => {
    context.sessionState.counter = Number(context.sessionState.counter ?? 0) + 1;
    return 'ok';
  },
});

describe('SqliteStorage across processes', () => {
  const toClose: { close(): unknown }[] = [];
  const children: ChildProcess[] = [];
  afterEach(async () => {
    for (const running of children.splice(0))
      if (running.exitCode === null) running.kill('SIGKILL');
    for (const item of toClose.splice(0).reverse()) await item.close();
  });
  function track<T extends { close(): unknown }>(item: T): T {
    toClose.push(item);
    return item;
  }

  it('loses no run and no update when two processes run 50 turns each on one session', async () => {
    const file = tempDbFile();
    const sessionId = 'shared-session';
    const first = startChild('agent-turns.ts', [file, sessionId, '50', 'true', 'alpha']);
    const second = startChild('agent-turns.ts', [file, sessionId, '50', 'false', 'beta']);
    children.push(first, second);
    const outputs = await Promise.all([finished(first), finished(second)]);
    const runIdsByChild = outputs.map(
      (output) => (JSON.parse(output.trim()) as { runIds: string[] }).runIds,
    );

    const storage = track(new SqliteStorage({ dbFile: file }));
    const record = await storage.getSession(sessionId);
    expect(record?.runCount).toBe(100);
    expect(record?.version).toBe(100);
    expect(record?.sessionState.counter).toBe(100);

    const runs = await storage.getRuns({ sessionId });
    expect(runs).toHaveLength(100);
    expect(runs.map((run) => run.index)).toEqual(Array.from({ length: 100 }, (_, index) => index));
    expect(new Set(runs.map((run) => run.runId))).toEqual(new Set(runIdsByChild.flat()));
    for (const run of runs) {
      expect(run.messages.map((message) => message.role)).toEqual([
        'user',
        'assistant',
        'tool',
        'assistant',
      ]);
      expect(run.messages[1]).toMatchObject({ toolCalls: [{ name: 'increment' }] });
      expect(run.messages[2]).toMatchObject({ toolName: 'increment' });
    }
    // Every turn saw the state the previous turn stored, in index order, whichever process ran it.
    expect(runs.map((run) => run.messages[2]?.content)).toEqual(
      Array.from({ length: 100 }, (_, index) => `counter is now ${index + 1}`),
    );
    // Each process kept its own turn order.
    for (const label of ['alpha', 'beta']) {
      const own = runs
        .map((run) => run.messages[0]?.content ?? '')
        .filter((text) => text.startsWith(label));
      expect(own).toEqual(Array.from({ length: 50 }, (_, turn) => `${label} turn ${turn}`));
    }
  }, 60_000);

  it('keeps the session whole when a process is SIGKILLed mid-turn, and frees it after the lease expires', async () => {
    const file = tempDbFile();
    const sessionId = 'crashing-session';
    const storage = track(new SqliteStorage({ dbFile: file }));
    const before = new Agent({
      model: new MockModel({ replies: ['first answer'] }),
      sessionId,
      storage,
      sessionState: { step: 1 },
    });
    await before.run('first question');

    const holder = startChild('hold-session.ts', [file, sessionId]);
    children.push(holder);
    await printed(holder, 'mid-turn');
    const exited = new Promise((resolve) => holder.on('exit', resolve));
    holder.kill('SIGKILL');
    await exited;

    // No half run: the row count, the counters and the state are those of before the crash.
    const record = await storage.getSession(sessionId);
    expect(record).toMatchObject({ runCount: 1, version: 1, sessionState: { step: 1 } });
    expect(await storage.getRuns({ sessionId })).toHaveLength(1);
    // The dead process still holds a lease row that nobody released.
    const raw = track(new Database(file, { readonly: true }));
    expect(
      raw.prepare('SELECT token FROM "buddy_sessions$leases" WHERE session_id = ?').get(sessionId),
    ).toBeDefined();

    // A new agent waits for the lease to expire (ttl 1 s), then runs normally.
    const after = new Agent({
      model: new MockModel({ replies: ['second answer'] }),
      sessionId,
      storage: track(new SqliteStorage({ dbFile: file })),
    });
    const response = await after.run('second question');
    expect(response.content).toBe('second answer');
    const runs = await storage.getRuns({ sessionId });
    expect(runs.map((run) => run.messages[0]?.content)).toEqual([
      'first question',
      'second question',
    ]);
    expect((await storage.getSession(sessionId))?.runCount).toBe(2);
  }, 30_000);

  it("never lets another user read, list, continue or delete a user's session", async () => {
    const file = tempDbFile();
    const sessionId = 'alice-private';
    const alice = new Agent({
      model: new MockModel({ respond: () => 'noted' }),
      sessionId,
      userId: 'alice',
      storage: track(new SqliteStorage({ dbFile: file })),
      sessionState: { secret: 'swordfish' },
    });
    await alice.run('remember my secret');

    // Continue: the same agent, the run claiming another user.
    await expectBuddyError(
      alice.run('what is the secret?', { userId: 'mallory' }),
      'SESSION_OWNERSHIP',
      sessionId,
    );
    // Another agent (another connection) acting for mallory on alice's session id.
    const mallory = new Agent({
      model: new MockModel({ respond: () => 'hacked' }),
      sessionId,
      userId: 'mallory',
      storage: track(new SqliteStorage({ dbFile: file })),
    });
    await expectBuddyError(mallory.run('tell me'), 'SESSION_OWNERSHIP');
    await expectBuddyError(mallory.loadSession(), 'SESSION_OWNERSHIP');
    await expectBuddyError(mallory.getChatHistory(), 'SESSION_OWNERSHIP');
    await expectBuddyError(mallory.deleteSession(sessionId), 'SESSION_OWNERSHIP');
    const listed = await mallory.listSessions();
    expect(listed.sessions.map((session) => session.sessionId)).not.toContain(sessionId);

    const storage = track(new SqliteStorage({ dbFile: file }));
    const record = await storage.getSession(sessionId, { userId: 'alice' });
    expect(record).toMatchObject({
      runCount: 1,
      version: 1,
      sessionState: { secret: 'swordfish' },
    });
    expect((await alice.listSessions()).sessions.map((session) => session.sessionId)).toEqual([
      sessionId,
    ]);
  }, 30_000);

  it('resumes a session from the file in a new Agent: state, name, history and summary', async () => {
    const file = tempDbFile();
    const sessionId = 'resumable';
    const firstStorage = new SqliteStorage({ dbFile: file });
    const first = new Agent({
      model: new MockModel({
        respond: (request) =>
          request.messages.at(-1)?.role === 'tool'
            ? 'Counted.'
            : { toolCalls: [{ name: 'increment', arguments: {} }] },
      }),
      sessionId,
      userId: 'dana',
      sessionName: 'Counting with Dana',
      storage: firstStorage,
      tools: [increment],
    });
    await first.run('count one');
    await first.run('count two');
    const summary = {
      summary: 'Dana counted twice.',
      topics: ['counting'],
      runsCovered: 2,
      updatedAt: 123,
    };
    await firstStorage.upsertSession({ sessionId, userId: 'dana', summary });
    await firstStorage.close();

    const model = new MockModel({ replies: ['Welcome back.'] });
    const resumed = new Agent({
      model,
      sessionId,
      userId: 'dana',
      storage: track(new SqliteStorage({ dbFile: file })),
      tools: [increment],
      addHistoryToMessages: true,
      numHistoryRuns: 5,
    });
    expect(await resumed.loadSession()).toBe(sessionId);
    expect(resumed.sessionState).toMatchObject({ counter: 2, current_session_id: sessionId });
    expect(resumed.sessionName).toBe('Counting with Dana');
    expect(await resumed.getSessionSummary()).toEqual(summary);
    const history = await resumed.getChatHistory();
    expect(history.map((message) => [message.role, message.content])).toEqual([
      ['user', 'count one'],
      ['assistant', 'Counted.'],
      ['user', 'count two'],
      ['assistant', 'Counted.'],
    ]);

    await resumed.run('where were we?');
    const sent = model.requests[0]?.messages.map((message) => message.content) ?? [];
    expect(sent).toEqual(expect.arrayContaining(['count one', 'count two', 'where were we?']));
    expect(sent.indexOf('count two')).toBeLessThan(sent.indexOf('where were we?'));
  }, 30_000);
});
