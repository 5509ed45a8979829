import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../test/run-cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'buddy-chat-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('pnpm chat driven by a script on stdin', () => {
  it('lists, switches and renames sessions, and survives bad commands', async () => {
    const dbFile = join(dir, 'chat.db');
    const script = [
      'add milk and eggs to my cart',
      '/rename Groceries',
      '/new',
      'my name is Robin',
      '/sessions',
      '/switch first-session',
      '/state',
      '/bogus',
      '/switch',
      '/rename',
      '/switch no-such-session',
      '/delete no-such-session',
      '/summary',
      '/memories',
      'what is in my cart?',
      '/help',
      '/quit',
      'never read',
    ].join('\n');
    const result = await runCli(
      'chat',
      ['--user', 'robin', '--session', 'first-session', '--db', dbFile, '--model', 'offline'],
      { input: script },
    );
    const out = result.stdout;
    expect(result.code).toBe(0);
    expect(`${out}${result.stderr}`).not.toMatch(/\n\s+at /);
    expect(out).toContain('Model: the built-in offline model');
    expect(out).toContain('Session first-session for robin');
    expect(out).toContain('Added milk. ');
    expect(out).toContain('Renamed to "Groceries".');
    expect(out).toMatch(/New session [0-9a-f-]{36}\./);
    // both sessions listed, the current one (the new one) marked, most recent first
    const listing = out.slice(out.indexOf('* '), out.indexOf('Switched to'));
    expect(listing).toMatch(/^\* [0-9a-f-]{36} .*\(unnamed\)\n {2}first-session .* Groceries/m);
    expect(out).toContain('Switched to first-session (Groceries).');
    expect(out).toContain('"cart": [\n    "milk",\n    "eggs"\n  ]');
    expect(out).toContain('Unknown command /bogus. Type /help for the list of commands.');
    expect(out).toContain('/switch needs a session id (see /sessions).');
    expect(out).toContain('/rename needs a name.');
    expect(out).toContain('No session no-such-session of yours. /sessions lists them.');
    expect(out).toMatch(/The user added milk, eggs to the cart\./);
    expect(out).toContain("- The user's name is Robin.");
    expect(out).toContain('Your cart holds: milk, eggs.');
    expect(out).toContain('/switch <id>');
    expect(out).toContain('bye');
    expect(out).not.toContain('never read');
  }, 60_000);

  it('explains an unreachable Redis in one line and exits with 1', async () => {
    const result = await runCli('chat', ['--user', 'robin', '--redis', 'redis://127.0.0.1:1'], {
      input: '/quit\n',
    });
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^cannot start: \[STORAGE_UNAVAILABLE\] Redis at redis:\/\/127\.0\.0\.1:1 does not answer/,
    );
  }, 30_000);

  it('explains bad flags in one line and exits with 2', async () => {
    const unknown = await runCli('chat', ['--colour', 'red']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim()).toBe(
      'Unknown option --colour. Usage: pnpm chat [--user <id>] [--session <id>] [--db <file>] [--redis <url>] [--model auto|offline|openai|anthropic]',
    );
    const missing = await runCli('chat', ['--user']);
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim()).toBe('Option --user needs a value.');
  }, 30_000);
});
