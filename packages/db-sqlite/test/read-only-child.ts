/**
 * The child process of the read-only fault tests: it opens `SqliteStorage({ dbFile })` on a file
 * the parent made read-only (mode 0444, a read-only directory), tries every read and every
 * write, and prints one JSON report on stdout. It runs as its own process so that, under root,
 * the parent can start it without the capabilities that let root write anything anyway.
 *
 * Argument: JSON `{ dbFile, sessionId, userId }`.
 */
import { Agent, BuddyError } from '@buddy/core';
import { MockModel } from '@buddy/testkit';
import { makeRun } from '@buddy/testkit/storage';
import { SqliteStorage } from '../src/sqlite-storage.ts';

interface Job {
  dbFile: string;
  sessionId: string;
  userId: string;
}

const job = JSON.parse(process.argv[2] ?? '{}') as Job;
const { sessionId, userId } = job;

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

async function outcome(work: () => Promise<unknown>) {
  try {
    return { ok: true, value: await work() };
  } catch (error) {
    return { ok: false, error: describeError(error) };
  }
}

let storage: SqliteStorage;
try {
  storage = new SqliteStorage({ dbFile: job.dbFile });
} catch (error) {
  process.stdout.write(`${JSON.stringify({ opened: false, error: describeError(error) })}\n`);
  process.exit(0);
}

const reads = {
  getSession: await outcome(() => storage.getSession(sessionId, { userId })),
  getRuns: await outcome(() => storage.getRuns({ sessionId })),
  listSessions: await outcome(() => storage.listSessions({ userId })),
};
const writes = {
  appendRun: await outcome(() =>
    storage.appendRun({
      sessionId,
      userId,
      run: makeRun(sessionId, 'not stored', { userId }),
      sessionState: { changed: true },
    }),
  ),
  upsertSession: await outcome(() =>
    storage.upsertSession({ sessionId, userId, sessionName: 'Renamed' }),
  ),
  acquireLease: await outcome(() => storage.acquireLease({ sessionId, ttlMs: 1000, waitMs: 0 })),
  deleteSession: await outcome(() => storage.deleteSession(sessionId, { userId })),
  deleteUserData: await outcome(() => storage.deleteUserData(userId)),
  agentRun: await outcome(() =>
    new Agent({
      model: new MockModel({ respond: () => 'never stored' }),
      storage,
      sessionId,
      userId,
    }).run('hello'),
  ),
};
await storage.close();
process.stdout.write(`${JSON.stringify({ opened: true, reads, writes })}\n`);
