/**
 * Child process for `src/cross-process.test.ts`: starts a turn on a session whose model never
 * answers in time, prints `mid-turn` once the model has been called (so the session lease is
 * held and being renewed), and waits to be killed.
 *
 * Usage: node --conditions=@buddy/source --import tsx hold-session.ts <dbFile> <sessionId>
 */
import { Agent } from '@buddy/core';
import { MockModel } from '@buddy/testkit';
import { SqliteStorage } from '../../src/sqlite-storage.ts';

const [dbFile, sessionId] = process.argv.slice(2);
if (dbFile === undefined || sessionId === undefined) {
  throw new Error('usage: hold-session.ts <dbFile> <sessionId>');
}

const model = new MockModel({ latencyMs: 600_000, replies: ['too late'] });
const agent = new Agent({
  model,
  sessionId,
  storage: new SqliteStorage({ dbFile }),
  sessionLease: { ttlMs: 1000 },
});

const turn = agent.run('this turn never completes');
const poll = setInterval(() => {
  // The model is called only after the lease is taken and the session loaded.
  if (model.requests.length > 0) {
    clearInterval(poll);
    process.stdout.write('mid-turn\n');
  }
}, 5);
await turn;
