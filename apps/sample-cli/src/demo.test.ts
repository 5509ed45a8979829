import { describe, expect, it } from 'vitest';
import { runCli } from '../test/run-cli.ts';

describe('pnpm demo', () => {
  it('runs the narrated showcase to the end offline, across a real process restart', async () => {
    const result = await runCli('demo', []);
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(result.code).toBe(0);
    const out = result.stdout;
    expect(out).toContain('Model: the built-in offline model');
    // the tool changed the state, and the state was templated into the prompt
    expect(out).toContain('state.cart is now ["oat milk","eggs"]');
    expect(out).toContain(
      'the system message the model received says: "- The user\'s cart holds: ["oat milk","eggs"]"',
    );
    // memories and summary
    expect(out).toContain("memory: The user's name is Dana.");
    expect(out).toMatch(/summary: .*oat milk/);
    expect(out).toMatch(/topics: {2}.*shopping cart/);
    // a second process resumed the session from SQLite
    const pids = [...out.matchAll(/Process \d \(pid (\d+)\)/g)].map((match) => match[1]);
    expect(new Set(pids).size).toBe(2);
    expect(out).toContain('state.cart:    ["oat milk","eggs"]');
    expect(out).toContain('The cart now has 3 item(s): oat milk, eggs, bread.');
    // previous-session search and memories in a new session
    expect(out).toContain('⚙ get_previous_session_messages({})');
    expect(out).toContain('Last time we talked about:');
    expect(out).toContain('Here is what I remember about you:');
    expect(out).toContain('new name: Groceries and shopping cart');
    expect(out).toContain('Done.');
  }, 60_000);
});
