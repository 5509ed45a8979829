/**
 * The child process of the disk-full fault test. It runs inside a private mount namespace
 * (`unshare --mount`), so the small tmpfs it mounts on the given directory is visible to it
 * alone and disappears with it. It writes agent turns into a database there until the disk is
 * full, checks what is stored, frees the space it set aside, runs one more turn, and prints one
 * JSON report on stdout for the parent to assert on.
 *
 * Argument: JSON `{ dir, sizeKb, reserveKb }`.
 */
import { execFileSync } from 'node:child_process';
import { unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, BuddyError, tool } from '@buddy/core';
import { MockModel } from '@buddy/testkit';
import Database from 'better-sqlite3';
import { SqliteStorage } from '../src/sqlite-storage.ts';

interface Job {
  dir: string;
  sizeKb: number;
  reserveKb: number;
}

const job = JSON.parse(process.argv[2] ?? '{}') as Job;
const sessionId = 'disk-full';
const MAX_TURNS = 5000;

function describeError(error: unknown) {
  if (!BuddyError.is(error)) return { isBuddyError: false, text: String(error) };
  return {
    isBuddyError: true,
    code: error.code,
    retryable: error.retryable,
    message: error.message,
    details: error.details,
  };
}

execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${job.sizeKb}k`, 'tmpfs', job.dir]);
const dbFile = join(job.dir, 'buddy.db');
const reserve = join(job.dir, 'reserve');
// Space set aside now and freed later, as an operator would free space.
writeFileSync(reserve, Buffer.alloc(job.reserveKb * 1024, 1));

const increment = tool({
  name: 'increment',
  description: 'Adds one to the counter in the session state.',
  execute: async (_args, context) => {
    const counter = Number(context.sessionState.counter ?? 0) + 1;
    context.sessionState.counter = counter;
    return `counter is now ${counter}`;
  },
});
const storage = new SqliteStorage({ dbFile });
const agent = new Agent({
  model: new MockModel({
    respond: (request) =>
      request.messages.at(-1)?.role === 'tool'
        ? 'counted'
        : { toolCalls: [{ name: 'increment', arguments: {} }] },
  }),
  storage,
  sessionId,
  userId: 'dana',
  tools: [increment],
  // A lease row left behind by a failed turn (its release is a write too) expires quickly.
  sessionLease: { ttlMs: 1000 },
});

// Each turn stores ~8 KB of messages: the disk fills within a few hundred turns.
const padding = 'x'.repeat(8000);
let stored = 0;
let failure: unknown;
let failedText = '';
for (let turn = 0; turn < MAX_TURNS; turn++) {
  const text = `turn ${turn} ${padding}`;
  try {
    await agent.run(text);
    stored++;
  } catch (error) {
    failure = error;
    failedText = `turn ${turn} `;
    break;
  }
}
// Still full: the same clear error again, not something stranger.
let again: unknown;
try {
  await agent.run(`again ${padding}`);
} catch (error) {
  again = error;
}

async function snapshot(reader: SqliteStorage) {
  const session = await reader.getSession(sessionId, { userId: 'dana' });
  const runs = await reader.getRuns({ sessionId });
  return {
    runCount: session?.runCount,
    counter: session?.sessionState.counter,
    indexes: runs.map((run) => run.index),
    stateAfter: runs.map((run) => run.stateAfter?.counter),
    holdsFailedTurn: runs.some((run) =>
      run.messages.some((message) => message.content.startsWith(failedText)),
    ),
  };
}

function integrity(): unknown {
  const raw = new Database(dbFile, { readonly: true });
  try {
    return raw.pragma('integrity_check', { simple: true });
  } finally {
    raw.close();
  }
}

// A second connection, as another process would read the file.
const reader = new SqliteStorage({ dbFile });
const afterFailure = await snapshot(reader);
const integrityAfterFailure = integrity();

unlinkSync(reserve);
let afterFree: unknown;
try {
  await agent.run(`after freeing space ${padding}`);
  afterFree = { ok: true, ...(await snapshot(reader)) };
} catch (error) {
  afterFree = { ok: false, error: describeError(error) };
}

await reader.close();
await storage.close();
process.stdout.write(
  `${JSON.stringify({
    stored,
    failure: describeError(failure),
    again: describeError(again),
    afterFailure,
    integrityAfterFailure,
    afterFree,
  })}\n`,
);
