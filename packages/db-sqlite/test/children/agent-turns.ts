/**
 * Child process for `src/cross-process.test.ts`: runs `turns` agent turns on one session of a
 * SQLite file. Each turn calls the tool `increment` once (which bumps `counter` in the session
 * state) and then answers. Prints one JSON line with what it did, and exits 0.
 *
 * Usage: node --conditions=@buddy/source --import tsx agent-turns.ts <dbFile> <sessionId> <turns> <cacheSession> <label>
 */
import { Agent, tool } from '@buddy/core';
import { MockModel } from '@buddy/testkit';
import { z } from 'zod';
import { SqliteStorage } from '../../src/sqlite-storage.ts';

const [dbFile, sessionId, turnsText, cacheText, label] = process.argv.slice(2);
if (dbFile === undefined || sessionId === undefined || label === undefined) {
  throw new Error('usage: agent-turns.ts <dbFile> <sessionId> <turns> <cacheSession> <label>');
}

const increment = tool({
  name: 'increment',
  description: 'Adds one to the counter in the session state.',
  parameters: z.object({}),
  execute: (_args, context) => {
    const counter = Number(context.sessionState.counter ?? 0) + 1;
    context.sessionState.counter = counter;
    return `counter is now ${counter}`;
  },
});

// First call of a run: ask for the tool. Second call (after the tool result): answer.
const model = new MockModel({
  respond: (request) =>
    request.messages.at(-1)?.role === 'tool'
      ? `${label} counted`
      : { toolCalls: [{ name: 'increment', arguments: {} }] },
});

const storage = new SqliteStorage({ dbFile });
const agent = new Agent({
  model,
  sessionId,
  storage,
  tools: [increment],
  cacheSession: cacheText === 'true',
  sessionLease: { ttlMs: 10_000, waitMs: 60_000 },
});

const runIds: string[] = [];
for (let turn = 0; turn < Number(turnsText); turn++) {
  const response = await agent.run(`${label} turn ${turn}`);
  runIds.push(response.runId);
}
await storage.close();
process.stdout.write(`${JSON.stringify({ label, runIds })}\n`);
