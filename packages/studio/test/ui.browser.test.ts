/**
 * The web UI in headless Chromium (Debian's `/usr/bin/chromium`, driven by `playwright-core`)
 * against a real Studio on loopback over a SQLite file: browse a user's sessions, open one, see
 * its tool calls and state, chat and watch the answer stream in and the state change, rename,
 * delete, forget; stored HTML/script payloads stay text; a narrow window does not scroll
 * sideways; nothing reaches a non-loopback host. Saves screenshots to `test-results/`.
 *
 * Without Chromium: with `CI=true` the suite fails; locally it skips with a notice.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteMemoryDb, SqliteStorage } from '@buddy/db-sqlite';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStudio, type Studio } from '../src/index.ts';
import { CHROMIUM_PATH, hasChromium, launchBrowser, type TestBrowser } from './browser.ts';
import {
  createChatAgent,
  GatedModel,
  type SeededData,
  seedStudioData,
  XSS_PAYLOADS,
} from './fixtures.ts';

const isCi = process.env.CI === 'true' || process.env.CI === '1';
const available = hasChromium();
if (!available && !isCi) {
  console.warn(
    `[studio] ${CHROMIUM_PATH} not found: skipping the browser tests (apt-get install -y chromium; with CI=true they fail instead).`,
  );
}
const RESULTS = fileURLToPath(new URL('../test-results/', import.meta.url));

const testId = (id: string) => `[data-testid="${id}"]`;

async function textOf(page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).first().textContent()) ?? '';
}

/**
 * The few DOM globals the page-side callbacks use (the tests' TypeScript program has no DOM lib;
 * these declarations are local to this module). Callbacks, not strings: the Studio's CSP forbids
 * eval, so string expressions could not run in the page.
 */
declare const document: {
  querySelectorAll(selector: string): ArrayLike<{ textContent: string | null }>;
  documentElement: { scrollWidth: number; clientWidth: number };
};
declare const window: { __xss?: unknown };

/** Waits until an element matching `selector` contains `text`. */
async function waitForText(page: Page, selector: string, text: string): Promise<void> {
  await page.waitForFunction(
    ([css, wanted]) =>
      Array.from(document.querySelectorAll(css)).some((node) =>
        (node.textContent ?? '').includes(wanted),
      ),
    [selector, text] as const,
  );
}

/** Waits until exactly `count` elements match `selector`. */
async function waitForCount(page: Page, selector: string, count: number): Promise<void> {
  await page.waitForFunction(([css, wanted]) => document.querySelectorAll(css).length === wanted, [
    selector,
    count,
  ] as const);
}

/** How far the page scrolls sideways (0 when it fits the window). */
function sidewaysOverflow(page: Page): Promise<number> {
  return page.evaluate(
    () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
  );
}

describe.runIf(available || isCi)('Studio web UI in headless Chromium', () => {
  let dir: string;
  let storage: SqliteStorage;
  let memoryDb: SqliteMemoryDb;
  let seeded: SeededData;
  let model: GatedModel;
  let studio: Studio;
  let url: string;
  let browser: TestBrowser;

  beforeAll(async () => {
    if (!available) throw new Error(`CI=true and no Chromium at ${CHROMIUM_PATH}`);
    mkdirSync(RESULTS, { recursive: true });
    dir = mkdtempSync(join(tmpdir(), 'buddy-studio-ui-'));
    storage = new SqliteStorage({ dbFile: join(dir, 'studio.db') });
    memoryDb = new SqliteMemoryDb({ dbFile: join(dir, 'studio.db') });
    seeded = await seedStudioData(storage, memoryDb);
    model = new GatedModel();
    studio = createStudio({ storage, memoryDb, agent: createChatAgent(storage, model) });
    ({ url } = await studio.listen({ port: 0 }));
    browser = await launchBrowser();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await studio?.close();
    await storage?.close();
    await memoryDb?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('lists sessions, opens one with its tool calls and state, chats with a streamed answer, renames and deletes', async () => {
    const { page } = browser;
    await page.goto(url);
    await page.waitForSelector(testId('session-row'));
    expect(await page.locator(testId('session-row')).count()).toBe(5);
    expect(await textOf(page, testId('backend'))).toContain('sqlite');

    // users → sessions
    await page.locator(testId('owner-link'), { hasText: 'dana' }).first().click();
    await waitForText(page, testId('user-title'), 'dana');
    await page.waitForSelector(testId('memory'));
    const rows = page.locator(testId('session-row'));
    expect(await rows.count()).toBe(3);
    expect(await rows.allTextContents()).toEqual(
      expect.arrayContaining([expect.stringContaining('Weekly groceries')]),
    );
    const memories = await page.locator(testId('memory')).allTextContents();
    expect(memories[0]).toContain('Dana prefers oat milk.');
    expect(memories[0]).toContain('preferences');
    expect(memories[1]).toContain('learnt from');

    // → a session: tool calls (expandable), state after each run, usage, summary
    await rows.filter({ hasText: 'Weekly groceries' }).locator('a').first().click();
    await page.waitForSelector(testId('run'));
    expect(page.url()).toContain(`#/sessions/${seeded.danaCart}?user=dana`);
    expect(await textOf(page, testId('session-title'))).toBe('Weekly groceries');
    expect(await page.locator(testId('run')).count()).toBe(2);
    const toolCall = page.locator(testId('tool-call')).first();
    expect(await toolCall.locator('summary').textContent()).toContain('add_to_cart');
    expect(await toolCall.locator(testId('tool-arguments')).isVisible()).toBe(false);
    await toolCall.locator('summary').click();
    expect(await toolCall.locator(testId('tool-arguments')).textContent()).toContain(
      '"item": "oat milk"',
    );
    expect(await toolCall.locator(testId('tool-result')).textContent()).toBe(
      'Added oat milk. The cart holds 1 item(s).',
    );
    expect(await textOf(page, `${testId('run')} ${testId('state-changes')}`)).toContain(
      'cart ["oat milk"]',
    );
    expect(await textOf(page, testId('session-state'))).toContain('"oat milk"');
    expect(await textOf(page, testId('run-usage'))).toMatch(/\d+ in · \d+ out tokens/);
    expect(await textOf(page, testId('summary-coverage'))).toContain('Covers runs 1–1 of 2');

    // chat: the answer arrives in pieces, then the stored run and its state change appear
    const held = model.holdNextAnswer();
    await page.locator(testId('chat-input')).fill('add eggs');
    await page.locator(testId('chat-send')).click();
    await held;
    await waitForText(page, testId('chat-live-text'), 'Done:');
    expect((await textOf(page, testId('chat-live-text'))).trim()).toBe('Done:');
    expect(await textOf(page, testId('chat-live'))).toContain('add_to_cart');
    expect(await page.locator(testId('run')).count()).toBe(2);
    await page.screenshot({ path: join(RESULTS, 'studio-streaming.png'), fullPage: true });
    model.gate.open();
    await waitForText(page, testId('run-count'), '3');
    await waitForCount(page, testId('run'), 3);
    expect(await page.locator(testId('chat-live')).count()).toBe(0);
    const newRun = page.locator(testId('run')).nth(2);
    expect(await newRun.textContent()).toContain('Done: Added eggs. The cart holds 2 item(s).');
    expect(await newRun.locator(testId('state-changes')).textContent()).toContain(
      'cart ["oat milk"] → ["oat milk","eggs"]',
    );
    expect(await textOf(page, testId('session-state'))).toContain('"eggs"');
    expect((await storage.getSession(seeded.danaCart))?.sessionState.cart).toEqual([
      'oat milk',
      'eggs',
    ]);

    await newRun.locator(testId('tool-call')).locator('summary').click();
    await page.screenshot({ path: join(RESULTS, 'studio.png'), fullPage: true });

    // rename
    await page.locator(testId('rename')).click();
    await page.locator(testId('rename-input')).fill('Party groceries');
    await page.locator(testId('rename-save')).click();
    await waitForText(page, testId('session-title'), 'Party groceries');
    expect((await storage.getSession(seeded.danaCart))?.sessionName).toBe('Party groceries');

    // delete, with a confirmation that can be cancelled
    await page.locator(testId('delete-session')).click();
    await page.waitForSelector(testId('confirm-dialog'));
    await page.getByRole('button', { name: 'Cancel' }).click();
    expect(await page.locator(testId('confirm-dialog')).count()).toBe(0);
    expect(await storage.getSession(seeded.danaCart)).toBeDefined();
    await page.locator(testId('delete-session')).click();
    await page.locator(testId('confirm-yes')).click();
    await waitForText(page, testId('user-title'), 'dana');
    await waitForCount(page, testId('session-row'), 2);
    expect(await page.locator(testId('session-list')).textContent()).not.toContain(
      'Party groceries',
    );
    expect(await storage.getSession(seeded.danaCart)).toBeUndefined();

    expect(browser.pageErrors).toEqual([]);
    expect(browser.offHostRequests).toEqual([]);
  }, 120_000);

  it('Stop closes the stream and aborts the run on the server; nothing is stored', async () => {
    const { page } = browser;
    const sessionId = seeded.danaOthers[0] as string;
    await page.goto(`${url}#/sessions/${sessionId}?user=dana`);
    await page.waitForSelector(testId('run'));
    const before = (await storage.getSession(sessionId))?.runCount;
    const held = model.holdNextAnswer();
    await page.locator(testId('chat-input')).fill('add cheese');
    await page.locator(testId('chat-send')).click();
    await held;
    await waitForText(page, testId('chat-live-text'), 'Done:');
    await page.getByRole('button', { name: 'Stop' }).click();
    // Resolves only when the model's signal fired: the server aborted the run.
    await model.aborted;
    model.gate.open();
    await page.waitForSelector(testId('chat-send'));
    expect((await storage.getSession(sessionId))?.runCount).toBe(before);
    expect(browser.pageErrors).toEqual([]);
  }, 60_000);

  it('asks for approval when the agent calls a tool that needs it; Approve runs it once, and a reload still shows a waiting approval', async () => {
    const { page } = browser;
    const sessionId = seeded.danaOthers[1] as string;
    await page.goto(`${url}#/sessions/${sessionId}?user=dana`);
    await page.waitForSelector(testId('run'));
    const before = (await storage.getSession(sessionId))?.runCount as number;
    await page.locator(testId('chat-input')).fill('check out');
    await page.locator(testId('chat-send')).click();
    await waitForText(page, testId('approvals'), 'checkout({})');
    expect(await page.locator(testId('chat-send')).isDisabled()).toBe(true);
    expect((await storage.getSession(sessionId))?.pendingRun?.approvals).toHaveLength(1);
    // A fresh page shows the paused run from the stored session.
    await page.reload();
    await waitForText(page, testId('approvals'), 'checkout({})');
    await page.locator(testId('approval-approve')).click();
    await waitForText(page, testId('timeline'), 'Ordered');
    await page.waitForFunction(
      (selector) => document.querySelectorAll(selector).length === 0,
      testId('approvals'),
    );
    const record = await storage.getSession(sessionId);
    expect(record?.pendingRun).toBeUndefined();
    expect(record?.runCount).toBe(before + 1);
    expect(record?.sessionState.orders).toBe(1);
    // Deny on the next checkout: the model hears the denial, nothing is ordered.
    await page.locator(testId('chat-input')).fill('check out');
    await page.locator(testId('chat-send')).click();
    await page.locator(testId('approval-deny')).click();
    await waitForText(page, testId('timeline'), 'denied');
    expect((await storage.getSession(sessionId))?.sessionState.orders).toBe(1);
    expect(browser.pageErrors).toEqual([]);
    expect(browser.offHostRequests).toEqual([]);
  }, 60_000);

  it('renders stored <script> and HTML payloads as text; none of them runs', async () => {
    const { page } = browser;
    await page.goto(url);
    await waitForText(page, testId('session-list'), XSS_PAYLOADS.name);
    await page.goto(`${url}#/users/eve`);
    await waitForText(page, testId('memories'), XSS_PAYLOADS.memory);
    expect(await textOf(page, testId('memory'))).toContain(XSS_PAYLOADS.memory);
    await page.goto(`${url}#/sessions/${encodeURIComponent(seeded.eveSession)}?user=eve`);
    await page.waitForSelector(testId('run'));
    expect(await textOf(page, testId('session-title'))).toBe(XSS_PAYLOADS.name);
    expect(await textOf(page, testId('message-user'))).toContain(XSS_PAYLOADS.message);
    expect(await textOf(page, testId('session-state'))).toContain('<svg onload=');
    expect(await textOf(page, testId('state-changes'))).toContain('<script>');
    // The app itself renders none of these elements; any of them would come from a payload.
    const injected = await page.evaluate(() => ({
      flag: window.__xss,
      elements: document.querySelectorAll('main script, img, svg, b, i, iframe').length,
    }));
    expect(injected).toEqual({ flag: undefined, elements: 0 });
    expect(browser.pageErrors).toEqual([]);
    expect(browser.offHostRequests).toEqual([]);
  }, 60_000);

  it('forgets a user after confirmation: sessions and memories', async () => {
    const { page } = browser;
    await page.goto(`${url}#/users/dana`);
    await page.waitForSelector(testId('memory'));
    const sessions = (await storage.listSessions({ userId: 'dana' })).sessions.length;
    expect(sessions).toBeGreaterThan(1);
    await page.locator(testId('forget-user')).click();
    await page.locator(testId('confirm-yes')).click();
    await waitForText(page, testId('forget-result'), `deleted ${sessions} sessions and 2 memories`);
    await waitForText(page, '.session-list', 'No sessions.');
    await waitForText(page, '[aria-label="Memories"]', 'No memories about this user.');
    expect((await storage.listSessions({ userId: 'dana' })).sessions).toEqual([]);
    expect(await memoryDb.readMemories({ userId: 'dana' })).toEqual([]);
    expect((await storage.listSessions({ userId: 'eve' })).sessions).toHaveLength(1);
    expect(browser.offHostRequests).toEqual([]);
  }, 60_000);

  it('works in a narrow window without sideways scrolling', async () => {
    const narrow = await launchBrowser({ width: 390, height: 844 });
    try {
      const { page } = narrow;
      await page.goto(`${url}#/sessions/${encodeURIComponent(seeded.eveSession)}?user=eve`);
      await page.waitForSelector(testId('run'));
      expect(await sidewaysOverflow(page)).toBeLessThanOrEqual(0);
      // The chat box and the actions are on screen, in one column.
      expect(await page.locator(testId('chat-input')).isVisible()).toBe(true);
      expect(await page.locator(testId('delete-session')).isVisible()).toBe(true);
      await page.screenshot({ path: join(RESULTS, 'studio-narrow.png'), fullPage: true });
      await page.goto(url);
      await page.waitForSelector(testId('session-row'));
      expect(await sidewaysOverflow(page)).toBeLessThanOrEqual(0);
      expect(narrow.pageErrors).toEqual([]);
      expect(narrow.offHostRequests).toEqual([]);
    } finally {
      await narrow.close();
    }
  }, 60_000);
});

describe.runIf(available || isCi)('Studio web UI with auth.token', () => {
  it('asks for the token, takes it from the #token= fragment, and keeps it out of cookies', async () => {
    if (!available) throw new Error(`CI=true and no Chromium at ${CHROMIUM_PATH}`);
    const storage = new SqliteStorage();
    await seedStudioData(storage, undefined);
    const token = 'studio-test-token-0123456789';
    const studio = createStudio({ storage, auth: { token } });
    const { url } = await studio.listen({ port: 0 });
    const browser = await launchBrowser();
    try {
      const { page, context } = browser;
      await page.goto(url);
      await page.waitForSelector(testId('token-form'));
      expect(await page.locator(testId('session-row')).count()).toBe(0);
      await page.goto(`${url}#token=${token}`);
      await page.waitForSelector(testId('session-row'));
      expect(page.url()).not.toContain(token);
      expect(await context.cookies()).toEqual([]);
      expect(browser.offHostRequests).toEqual([]);
    } finally {
      await browser.close();
      await studio.close();
      await storage.close();
    }
  }, 60_000);
});
