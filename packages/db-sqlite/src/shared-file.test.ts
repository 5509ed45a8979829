/**
 * A session on one SQLite file seen through several connections, as several processes see it:
 * other users are kept out, and a session resumes in a new Agent with everything it had. (The
 * cross-process proofs themselves run in `cross-process.contract.test.ts`.)
 */
import { Agent, tool } from '@buddy/core';
import { MockModel } from '@buddy/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { expectBuddyError, tempDbFile } from '../test/helpers.ts';
import { SqliteStorage } from './sqlite-storage.ts';

const increment = tool({
  name: 'increment',
  parameters: z.object({}),
  execute: (_args, context) => {
    context.sessionState.counter = Number(context.sessionState.counter ?? 0) + 1;
    return 'ok';
  },
});

describe('SqliteStorage seen through several connections', () => {
  const toClose: { close(): unknown }[] = [];
  afterEach(async () => {
    for (const item of toClose.splice(0).reverse()) await item.close();
  });
  function track<T extends { close(): unknown }>(item: T): T {
    toClose.push(item);
    return item;
  }

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
