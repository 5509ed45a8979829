/**
 * Headless Chromium for the UI tests: Debian's `/usr/bin/chromium` driven by `playwright-core`,
 * with a fresh profile directory, background networking off, DNS answering nothing, and every
 * request to a non-loopback host aborted and recorded (the tests assert there were none).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.BUDDY_CHROMIUM_PATH ?? '/usr/bin/chromium';

/** The launch flags the brief asks for, plus a resolver that resolves no name at all. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
];

export function hasChromium(): boolean {
  return existsSync(CHROMIUM_PATH);
}

export interface TestBrowser {
  context: BrowserContext;
  page: Page;
  /** URLs the page tried to reach on a host other than loopback (aborted). */
  offHostRequests: string[];
  /** Uncaught page errors and console errors. */
  pageErrors: string[];
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

export async function launchBrowser(viewport = { width: 1280, height: 900 }): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'buddy-studio-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport,
    serviceWorkers: 'block',
    acceptDownloads: false,
  });
  const offHostRequests: string[] = [];
  const pageErrors: string[] = [];
  await context.route('**/*', async (route) => {
    const url = new URL(route.request().url());
    if (url.protocol === 'data:' || LOOPBACK.has(url.hostname)) return route.continue();
    offHostRequests.push(url.href);
    return route.abort('blockedbyclient');
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    // 4xx answers the UI handles show as "Failed to load resource"; anything else is a bug or a CSP refusal.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource'))
      pageErrors.push(message.text());
  });
  return {
    context,
    page,
    offHostRequests,
    pageErrors,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
