/**
 * `pnpm chat` in a real pseudo-terminal (readline in raw mode, Ctrl-C as a keypress), talking to
 * a loopback OpenAI-compatible server whose answers the tests hold back while they look at the
 * screen, or to the offline model for the checkout that needs approval.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStorage } from '@buddy/db-sqlite';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type FakeOpenAI, startFakeOpenAI } from '../test/fake-openai.ts';
import { hasScriptCommand, type PtySession, runInPty } from '../test/run-in-pty.ts';

const hasScript = hasScriptCommand();
const inCi = !['', '0', 'false', undefined].includes(process.env.CI);
if (!hasScript && inCi) throw new Error('the pty tests need `script` from util-linux in CI');
if (!hasScript)
  console.warn('[@buddy/sample-cli] SKIPPING the pty tests: `script` (util-linux) is missing.');

const dir = mkdtempSync(join(tmpdir(), 'buddy-chat-pty-'));
let openai: FakeOpenAI;
let session: PtySession | undefined;

beforeAll(async () => {
  openai = await startFakeOpenAI();
});
afterEach(() => session?.kill());
afterAll(async () => {
  await openai?.server.close();
  rmSync(dir, { recursive: true, force: true });
});

function startChat(dbFile: string): PtySession {
  session = runInPty('chat', ['--user', 'pat', '--db', dbFile, '--model', 'openai'], {
    NO_COLOR: '1',
    OPENAI_API_KEY: 'sk-test',
    OPENAI_BASE_URL: openai.baseUrl,
    ANTHROPIC_API_KEY: '',
    BUDDY_REDIS_URL: '',
    BUDDY_POSTGRES_URL: '',
    BUDDY_SESSION: '',
  });
  return session;
}

const prompts = (output: string) => output.split('you   ›').length - 1;

/** A stored session of pat's with `cart`, for the checkout tests. */
async function seedCart(dbFile: string, sessionId: string, cart: string[]): Promise<void> {
  const storage = new SqliteStorage({ dbFile });
  try {
    await storage.upsertSession({ sessionId, userId: 'pat', sessionState: { cart } });
  } finally {
    await storage.close();
  }
}

async function storedRuns(dbFile: string, sessionId: string) {
  const storage = new SqliteStorage({ dbFile });
  try {
    return {
      runs: await storage.getRuns({ sessionId }),
      session: await storage.getSession(sessionId),
    };
  } finally {
    await storage.close();
  }
}

function startOfflineChat(dbFile: string, sessionId: string): PtySession {
  session = runInPty(
    'chat',
    ['--user', 'pat', '--session', sessionId, '--db', dbFile, '--model', 'offline'],
    {
      NO_COLOR: '1',
      OPENAI_API_KEY: '',
      ANTHROPIC_API_KEY: '',
      BUDDY_REDIS_URL: '',
      BUDDY_POSTGRES_URL: '',
      BUDDY_SESSION: '',
    },
  );
  return session;
}

async function storedSessions(dbFile: string) {
  const storage = new SqliteStorage({ dbFile });
  try {
    return (await storage.listSessions({ userId: 'pat' })).sessions;
  } finally {
    await storage.close();
  }
}

describe.skipIf(!hasScript)('pnpm chat in a pseudo-terminal', () => {
  it('aborts a slow turn on Ctrl-C, returns to the prompt, and leaves on a second Ctrl-C', async () => {
    const dbFile = join(dir, 'abort.db');
    openai.hold('chat'); // the model never answers this turn
    const chat = startChat(dbFile);
    await chat.waitFor((output) => prompts(output) === 1);
    const before = openai.received('chat');
    chat.write('add milk to my cart\r');
    await chat.waitFor(/thinking…/);
    await chat.waitFor(() => openai.received('chat') > before); // the request is in flight
    chat.write('\u0003');
    await chat.waitFor(/Interrupted: the turn was stopped and nothing of it was saved\./);
    await chat.waitFor((output) => prompts(output) === 2);
    chat.write('\u0003');
    expect(await chat.exited).toBe(0);
    openai.release('chat');
    const output = chat.output;
    // a fresh line after the prompt, then bye, then nothing (escape characters dropped)
    const ending = output
      .slice(output.lastIndexOf('you   ›'))
      .split(String.fromCharCode(27))
      .join('');
    expect(ending).toMatch(/^you {3}› (?:\[\d+G)?\r?\n+bye\r?\n$/);
    expect(output).not.toMatch(/\n\s+at /); // no stack trace
    expect(output).not.toMatch(/Error:/);
    // the aborted run was not stored, and starting stored no empty session
    expect(await storedSessions(dbFile)).toEqual([]);
  });

  it('gives up the post-answer work on Ctrl-C, keeps the answer, and exits after bye', async () => {
    const dbFile = join(dir, 'detach.db');
    const chat = startChat(dbFile);
    await chat.waitFor((output) => prompts(output) === 1);
    openai.hold('summary'); // the summary never comes back
    chat.write('add milk to my cart\r');
    await chat.waitFor(/buddy › Added milk to your cart\./);
    await chat.waitFor(/updating summary…/);
    chat.write('\u0003');
    await chat.waitFor(
      /Interrupted: the answer is saved; the summary and memories were not updated this time\./,
    );
    await chat.waitFor((output) => prompts(output) === 2);
    chat.write('/quit\r');
    expect(await chat.exited).toBe(0);
    openai.release('summary');
    expect(chat.output).toMatch(/\r?\nbye\r?\n$/);
    expect(chat.output).not.toMatch(/\n\s+at /);
    expect(await storedSessions(dbFile)).toHaveLength(1);
  });

  it('shows progress for every model round and for the summary and memories', async () => {
    const dbFile = join(dir, 'progress.db');
    const chat = startChat(dbFile);
    await chat.waitFor((output) => prompts(output) === 1);
    openai.hold('tool-result');
    openai.hold('summary');
    openai.hold('classifier');
    chat.write('add milk to my cart\r');
    await chat.waitFor(/⚙ add_to_cart\(\{"item":"milk"\}\)/);
    await chat.waitFor(/↳ Added milk\. The cart now has 1 item\(s\): milk\./);
    await chat.waitFor(/thinking \(round 2\)…/);
    openai.release('tool-result');
    await chat.waitFor(/buddy › Added milk to your cart\./);
    await chat.waitFor(/updating summary and memories…/);
    openai.release('classifier');
    await chat.waitFor(/updating summary…/);
    openai.release('summary');
    await chat.waitFor((output) => prompts(output) === 2);
    chat.write('/quit\r');
    expect(await chat.exited).toBe(0);
    const output = chat.output;
    expect(output.match(/⚙ add_to_cart/g)).toHaveLength(1);
    expect(output).not.toContain('[add_to_cart]');
    expect(output).toMatch(/\r?\nbye/);
    expect(output).not.toMatch(/\n\s+at /);
    const sessions = await storedSessions(dbFile);
    expect(sessions).toHaveLength(1);
  });

  it('asks before checkout: the question is the prompt, y completes it, one stored run', async () => {
    const dbFile = join(dir, 'approve.db');
    await seedCart(dbFile, 'shop', ['milk', 'bread']);
    const chat = startOfflineChat(dbFile, 'shop');
    await chat.waitFor((output) => prompts(output) === 1);
    chat.write('check out\r');
    await chat.waitFor(/⚙ checkout\(\{"total":4\}\)/);
    await chat.waitFor(/Allow checkout\(\{"total":4\}\)\? \[y\/N\] /);
    chat.write('y\r');
    await chat.waitFor(/↳ Paid \$4\.00 for 2 item\(s\): milk, bread\. The cart is empty now\./);
    await chat.waitFor((output) => prompts(output) === 2);
    chat.write('/quit\r');
    expect(await chat.exited).toBe(0);
    expect(chat.output).not.toMatch(/\n\s+at /);
    const { runs, session: stored } = await storedRuns(dbFile, 'shop');
    expect(runs).toHaveLength(1);
    expect(runs[0]?.messages.map((message) => message.role)).toEqual([
      'user',
      'assistant',
      'tool',
      'assistant',
    ]);
    expect(stored?.pendingRun).toBeUndefined();
    expect(stored?.sessionState.cart).toEqual([]);
  });

  it('denies the checkout on Ctrl-C at the question, and returns to the prompt', async () => {
    const dbFile = join(dir, 'deny.db');
    await seedCart(dbFile, 'shop', ['eggs']);
    const chat = startOfflineChat(dbFile, 'shop');
    await chat.waitFor((output) => prompts(output) === 1);
    chat.write('check out\r');
    await chat.waitFor(/Allow checkout\(\{"total":3\.2\}\)\? \[y\/N\] /);
    chat.write('ma'); // typed, then thought better of it
    chat.write('\u0003');
    await chat.waitFor(/Denied: Ctrl-C at the question denies the call\./);
    await chat.waitFor(/OK, I did not check out \(the user cancelled with Ctrl-C\)\./);
    await chat.waitFor((output) => prompts(output) === 2);
    // still running: the first Ctrl-C did not leave the REPL
    chat.write('/quit\r');
    expect(await chat.exited).toBe(0);
    expect(chat.output).toMatch(/\r?\nbye\r?\n$/);
    const { runs, session: stored } = await storedRuns(dbFile, 'shop');
    expect(runs).toHaveLength(1);
    expect(stored?.pendingRun).toBeUndefined();
    expect(stored?.sessionState.cart).toEqual(['eggs']);
  });
});
