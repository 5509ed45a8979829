import { describe, expect, it } from 'vitest';
import { POSTGRES_URL, requirePostgres, schemaExists, skipPostgres } from '../test/postgres.ts';
import { type CliResult, runCli } from '../test/run-cli.ts';
import { maskUrl } from './stores.ts';

const COFFEE_MEMORIES = [
  'The user drinks a flat white coffee every morning.',
  "The user's favourite coffee shop is Café Lume on Rua Augusta.",
  'The user takes oat milk in coffee, never sugar.',
  'The user stops drinking coffee after 2 pm.',
  'The user grinds coffee beans at home with a hand grinder.',
];

/** What every run of the demo shows, whichever database it runs on. */
function expectTheStory(result: CliResult): void {
  expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
  expect(result.stderr).toBe('');
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
  // a second process resumed the session from the database
  const pids = [...out.matchAll(/Process \d \(pid (\d+)\)/g)].map((match) => match[1]);
  expect(new Set(pids).size).toBe(2);
  expect(out).toContain('state.cart:    ["oat milk","eggs"]');
  expect(out).toContain('The cart now has 3 item(s): oat milk, eggs, bread.');
  // checkout needs approval: the run paused (stored with the session), was approved, resumed
  expect(out).toContain('⚙ checkout({"total":8.1})');
  expect(out).toMatch(/the run is paused and stored with the session \(pendingRun [0-9a-f-]{36}\)/);
  expect(out).toContain('Allow checkout({"total":8.1})? [y/N] y');
  expect(out).toContain('the demo answers y itself');
  expect(out).toContain(
    '↳ Paid $8.10 for 3 item(s): oat milk, eggs, bread. The cart is empty now.',
  );
  expect(out).toContain(
    'state.cart is now []; runs stored: 5 → 6 (the paused and resumed turn is one run)',
  );
  // previous-session search and memories in a new session
  expect(out).toContain('⚙ get_previous_session_messages({})');
  expect(out).toContain('Last time we talked about:');
  expect(out).toContain('Here is what I remember about you:');
  expect(out).toContain('new name: Groceries and shopping cart');
  // relevance: of 30 memories, the 5 about coffee (and only they) reached the system message
  const held = out.slice(out.indexOf("the system message held 5 of sam@example.com's 30 memories"));
  expect(held).not.toBe('');
  const listed = held
    .split('\n')
    .slice(1, 6)
    .map((line) => line.trim());
  expect([...listed].sort()).toEqual([...COFFEE_MEMORIES].sort());
  expect(held.split('\n')[6]).toContain('the other 25 (running, travel, garden, music, family)');
  expect(out).toContain('Done.');
}

describe('pnpm demo', () => {
  it('runs the narrated showcase to the end offline, across a real process restart', async () => {
    expectTheStory(await runCli('demo', []));
  }, 90_000);
});

describe.skipIf(skipPostgres)('pnpm demo on PostgreSQL', () => {
  it('tells the same story in a throwaway schema, and drops it at the end', async () => {
    requirePostgres();
    const result = await runCli('demo', [], { env: { BUDDY_POSTGRES_URL: POSTGRES_URL } });
    expectTheStory(result);
    const schema =
      /schema (buddy_demo_[0-9a-f]{8}) \(a throwaway schema, dropped at the end\)/.exec(
        result.stdout,
      )?.[1];
    expect(schema).toBeDefined();
    expect(result.stdout).toContain(
      `Storage: PostgreSQL at ${maskUrl(POSTGRES_URL)} (schema ${schema}).`,
    );
    expect(await schemaExists(schema as string)).toBe(false);
  }, 90_000);
});
