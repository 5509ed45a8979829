/**
 * The child process of `describeCrossProcessContract`: one OS process running agent turns on one
 * session of the storage under test. Its only argument is a JSON job:
 *
 * - `turns`: run `turns` turns; each calls the tool `increment` once (it bumps `counter` in the
 *   session state and reports the new value), then answers. Prints `{ runIds }`.
 * - `hold`: start a turn whose model never answers, print `mid-turn` once the lease is held, and
 *   wait to be killed.
 * - `stall`: start a turn whose tool prints `mid-turn` and then waits `stallMs` (the parent
 *   SIGSTOPs the process meanwhile), and print `{ outcome, code? }` when the turn settles.
 *
 * The storage comes from the harness module's `createStorage(config)`.
 */
import { Agent, BuddyError, type SessionStorage, tool } from '@buddy/core';
import { MockModel } from '../mock-model.ts';

interface Job {
  mode: 'turns' | 'hold' | 'stall';
  storageModule: string;
  config: unknown;
  sessionId: string;
  label: string;
  turns?: number;
  cacheSession?: boolean;
  ttlMs: number;
  waitMs: number;
  stallMs?: number;
}

const job = JSON.parse(process.argv[2] ?? '{}') as Job;
const module = (await import(job.storageModule)) as {
  createStorage(config: unknown): SessionStorage | Promise<SessionStorage>;
};
const storage = await module.createStorage(job.config);

const write = (line: string) =>
  new Promise<void>((resolve) => process.stdout.write(`${line}\n`, () => resolve()));

const increment = tool({
  name: 'increment',
  description: 'Adds one to the counter in the session state.',
  execute: async (_args, context) => {
    if (job.mode === 'stall') {
      await write('mid-turn');
      await new Promise((resolve) => setTimeout(resolve, job.stallMs ?? 2000));
    }
    const counter = Number(context.sessionState.counter ?? 0) + 1;
    context.sessionState.counter = counter;
    return `counter is now ${counter}`;
  },
});

const model = new MockModel({
  ...(job.mode === 'hold' ? { latencyMs: 600_000 } : {}),
  respond: (request) =>
    request.messages.at(-1)?.role === 'tool'
      ? `${job.label} counted`
      : { toolCalls: [{ name: 'increment', arguments: {} }] },
});

const agent = new Agent({
  model,
  sessionId: job.sessionId,
  storage,
  tools: [increment],
  cacheSession: job.cacheSession ?? true,
  sessionLease: { ttlMs: job.ttlMs, waitMs: job.waitMs },
});

if (job.mode === 'turns') {
  const runIds: string[] = [];
  for (let turn = 0; turn < (job.turns ?? 1); turn++) {
    const response = await agent.run(`${job.label} turn ${turn}`);
    runIds.push(response.runId);
  }
  await storage.close();
  await write(JSON.stringify({ label: job.label, runIds }));
} else if (job.mode === 'hold') {
  const turn = agent.run(`${job.label} never completes`);
  const poll = setInterval(() => {
    // The model is called only after the lease is taken and the session loaded.
    if (model.requests.length > 0) {
      clearInterval(poll);
      void write('mid-turn');
    }
  }, 5);
  await turn;
} else {
  let result: { outcome: string; code?: string };
  try {
    await agent.run(`${job.label} stalls`);
    result = { outcome: 'stored' };
  } catch (error) {
    result = { outcome: 'failed', code: BuddyError.is(error) ? error.code : String(error) };
  }
  await storage.close();
  await write(JSON.stringify(result));
}
