/**
 * One REPL turn in process, on the app's real wiring (offline model, cart tools, `checkout` that
 * needs approval, relevant memories) over `InMemoryStorage` / `InMemoryMemoryDb`: the approval
 * questions, every kind of answer, and a session left waiting for a decision.
 */
import { InMemoryMemoryDb, InMemoryStorage } from '@buddy/core';
import { afterEach, describe, expect, it } from 'vitest';
import type { Ask, PromptAnswer } from './approval-prompt.ts';
import { chatTurn } from './chat-turn.ts';
import { runCommand, waitingNotice } from './commands.ts';
import { type App, createApp } from './setup.ts';
import { StatusLine } from './terminal.ts';

const opened: App[] = [];
afterEach(async () => {
  for (const app of opened.splice(0)) await app.close();
});

async function offlineApp(storage = new InMemoryStorage()): Promise<App> {
  const app = await createApp(
    { userId: 'pat', sessionId: 'shop', dbFile: '', model: 'offline' },
    { stores: { storage, memoryDb: new InMemoryMemoryDb(), where: 'in memory' } },
  );
  opened.push(app);
  return app;
}

/** Answers the questions from a script, recording each question. */
function scripted(answers: PromptAnswer[]): { ask: Ask; questions: string[] } {
  const questions: string[] = [];
  return {
    questions,
    ask: async (question) => {
      questions.push(question);
      return answers.shift() ?? { kind: 'closed' };
    },
  };
}

async function turn(app: App, text: string, ask: Ask, signal = new AbortController().signal) {
  let printed = '';
  const outcome = await chatTurn(app, text, {
    signal,
    status: new StatusLine({ isTTY: false } as NodeJS.WriteStream),
    ask,
    write: (chunk) => {
      printed += chunk;
    },
  });
  return { outcome, printed };
}

const yes: PromptAnswer = { kind: 'line', text: 'Y' };

describe('a REPL turn with a tool that needs approval', () => {
  it('asks before checkout runs, and y pays: one stored run, the cart empty', async () => {
    const app = await offlineApp();
    const nobody = scripted([]);
    await turn(app, 'add oat milk and bread to my cart', nobody.ask);
    expect(nobody.questions).toEqual([]);
    const { ask, questions } = scripted([yes]);
    const { outcome, printed } = await turn(app, 'check out', ask);
    expect(questions).toEqual(['Allow checkout({"total":4.9})? [y/N] ']);
    expect(outcome.kind).toBe('completed');
    expect(printed).toContain('⚙ checkout({"total":4.9})');
    expect(printed).toContain(
      '↳ Paid $4.90 for 2 item(s): oat milk, bread. The cart is empty now.',
    );
    expect(app.agent.sessionState.cart).toEqual([]);
    const runs = await app.storage.getRuns({ sessionId: 'shop' });
    expect(runs).toHaveLength(2);
    expect(runs[1]?.messages.map((message) => message.role)).toEqual([
      'user',
      'assistant',
      'tool',
      'assistant',
    ]);
    expect((await app.storage.getSession('shop'))?.pendingRun).toBeUndefined();
  });

  it('denies on n, on Enter and on any other answer; the model hears why, nothing is paid', async () => {
    for (const text of ['n', '', 'maybe']) {
      const app = await offlineApp();
      await turn(app, 'add eggs to my cart', scripted([]).ask);
      const { outcome, printed } = await turn(
        app,
        'checkout',
        scripted([{ kind: 'line', text }]).ask,
      );
      expect(outcome.kind).toBe('completed');
      expect(printed).toContain('↳ Error: denied: the user declined');
      expect(printed).toContain(
        'buddy › OK, I did not check out (the user declined). Your cart is unchanged.',
      );
      expect(app.agent.sessionState.cart).toEqual(['eggs']);
      expect(await app.storage.getRuns({ sessionId: 'shop' })).toHaveLength(2);
    }
  });

  it('denies on Ctrl-C at the question and says so; the session does not stay paused', async () => {
    const app = await offlineApp();
    await turn(app, 'add eggs to my cart', scripted([]).ask);
    const { outcome, printed } = await turn(
      app,
      'check out',
      scripted([{ kind: 'interrupted' }]).ask,
    );
    expect(outcome.kind).toBe('completed');
    expect(printed).toContain('Denied: Ctrl-C at the question denies the call.');
    expect(printed).toContain('Error: denied: the user cancelled with Ctrl-C');
    expect(app.agent.sessionState.cart).toEqual(['eggs']);
    expect((await app.storage.getSession('shop'))?.pendingRun).toBeUndefined();
    await expect(turn(app, 'what is in my cart?', scripted([]).ask)).resolves.toMatchObject({
      outcome: { kind: 'completed' },
    });
  });

  it('keeps a run whose resume was interrupted waiting, and asks again with the next message', async () => {
    const app = await offlineApp();
    await turn(app, 'add bread to my cart', scripted([]).ask);
    const controller = new AbortController();
    // Ctrl-C arrives as the answer is given: the resume is stopped before it is stored.
    const interrupted: Ask = async () => {
      controller.abort();
      return yes;
    };
    const first = await turn(app, 'check out', interrupted, controller.signal);
    expect(first.outcome).toEqual({ kind: 'aborted', waiting: true });
    expect(first.printed).toContain('Interrupted: the request still waits for your decision');
    expect((await app.storage.getSession('shop'))?.pendingRun).toBeDefined();

    const { ask, questions } = scripted([yes]);
    const next = await turn(app, 'what is in my cart?', ask);
    expect(questions).toEqual(['Allow checkout({"total":2.8})? [y/N] ']);
    expect(next.printed).toContain('This session still waits for your decision');
    expect(next.printed).toContain('↳ Paid $2.80 for 1 item(s): bread.');
    expect(next.printed).toContain('buddy › Your cart is empty.');
    expect(next.outcome.kind).toBe('completed');
    const runs = await app.storage.getRuns({ sessionId: 'shop' });
    expect(runs.map((run) => run.messages[0]?.content)).toEqual([
      'add bread to my cart',
      'check out',
      'what is in my cart?',
    ]);
  });

  it('does not call checkout for an empty cart', async () => {
    const app = await offlineApp();
    const { ask, questions } = scripted([yes]);
    const { printed } = await turn(app, 'check out', ask);
    expect(questions).toEqual([]);
    expect(printed).toContain('Your cart is empty: there is nothing to check out.');
  });
});

describe('relevant memories in the app', () => {
  it('puts the memories that match the question into the system message, and leaves the rest out', async () => {
    const app = await offlineApp();
    const coffee = [
      'The user drinks a flat white coffee every morning.',
      'The user takes oat milk in coffee, never sugar.',
      'The user grinds coffee beans at home.',
    ];
    const others = Array.from(
      { length: 27 },
      (_, index) => `The user owns ${index + 2} bicycles and ${index} plants.`,
    );
    for (const memory of [...others.slice(0, 10), ...coffee, ...others.slice(10)])
      await app.memoryDb.upsertMemory({ userId: 'pat', memory });
    await turn(app, 'what do you remember about my coffee habits?', scripted([]).ask);
    const model = app.model as import('./offline-model.ts').OfflineModel;
    const system = model.lastChatRequest?.messages[0]?.content ?? '';
    const section = system.slice(
      system.indexOf('<memories_from_previous_interactions>'),
      system.indexOf('</memories_from_previous_interactions>'),
    );
    const lines = section.split('\n').filter((line) => line.startsWith('- '));
    // the five closest: every coffee memory first, then two of the others
    expect(lines).toHaveLength(5);
    expect(lines.slice(0, 3).sort()).toEqual(coffee.map((memory) => `- ${memory}`).sort());
  });
});

describe('/memories', () => {
  it('lists every memory, not only the few relevant ones the system message gets', async () => {
    const app = await offlineApp();
    for (let index = 1; index <= 8; index++)
      await app.memoryDb.upsertMemory({ userId: 'pat', memory: `Fact number ${index}.` });
    const { output } = await runCommand({ app, stored: true, pendingName: undefined }, '/memories');
    expect(output.split('\n')).toHaveLength(8);
    expect(output).toContain('- Fact number 1.');
  });
});

describe('a session that waits for a decision', () => {
  it('is announced when the REPL switches to it', async () => {
    const app = await offlineApp();
    await app.agent.run('add eggs to my cart');
    expect(await app.agent.run('check out')).toMatchObject({ status: 'awaiting-approval' });
    const chat = { app, stored: true, pendingName: undefined };
    expect((await runCommand(chat, '/new')).output).toMatch(/^New session /);
    expect(await waitingNotice(app)).toBeUndefined();
    const { output } = await runCommand(chat, '/switch shop');
    expect(output).toBe(
      'Switched to shop.\nThis session waits for your decision (Allow checkout({"total":3.2})? [y/N]): you are asked with your next message.',
    );
  });
});

describe('createApp', () => {
  it('closes the stores it opened when the agent cannot be built, so the process can exit', async () => {
    const storage = new InMemoryStorage();
    let memoryDbClosed = false;
    // A memory db of an older contract: no searchMemories, which relevant memories need.
    const db = new InMemoryMemoryDb();
    const olderDb = {
      specificationVersion: 'v1' as const,
      readMemories: db.readMemories.bind(db),
      upsertMemory: db.upsertMemory.bind(db),
      deleteMemory: db.deleteMemory.bind(db),
      clearMemories: db.clearMemories.bind(db),
      deleteUserData: db.deleteUserData.bind(db),
      close: async () => {
        memoryDbClosed = true;
      },
    };
    await expect(
      createApp(
        { userId: 'pat', dbFile: '', model: 'offline' },
        { stores: { storage, memoryDb: olderDb as never, where: 'in memory' } },
      ),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('searchMemories'),
    });
    expect(memoryDbClosed).toBe(true);
    await expect(storage.getSession('any')).rejects.toMatchObject({ code: 'STORAGE_CLOSED' });
  });
});
