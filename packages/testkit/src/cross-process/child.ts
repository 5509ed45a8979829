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
  mode: 'turns' | 'hold' | 'stall' | 'patch' | 'pause' | 'resume';
  approvalId?: string;
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

const checkout = tool({
  name: 'checkout',
  description: 'Pays for the cart; needs approval.',
  needsApproval: true,
  execute: (_args, context) => {
    context.sessionState.checkouts = Number(context.sessionState.checkouts ?? 0) + 1;
    context.sessionState.paidBy = job.label;
    return 'paid';
  },
});

const patching = new MockModel({
  respond: (request) => {
    const last = request.messages.at(-1);
    if (last?.role === 'tool') return `${job.label} patched`;
    return {
      toolCalls: [
        {
          name: 'update_session_state',
          arguments: { patch: { [`${last?.content ?? ''}`.replace(/ /g, '_')]: true } },
        },
      ],
    };
  },
});

const buying = new MockModel({
  respond: (request) =>
    request.messages.at(-1)?.role === 'tool'
      ? `checkout done by ${job.label}`
      : { toolCalls: [{ name: 'checkout', arguments: {} }] },
});

const model = new MockModel({
  ...(job.mode === 'hold' ? { latencyMs: 600_000 } : {}),
  respond: (request) =>
    request.messages.at(-1)?.role === 'tool'
      ? `${job.label} counted`
      : { toolCalls: [{ name: 'increment', arguments: {} }] },
});

const agent = new Agent({
  model:
    job.mode === 'patch'
      ? patching
      : job.mode === 'pause' || job.mode === 'resume'
        ? buying
        : model,
  sessionId: job.sessionId,
  storage,
  tools: job.mode === 'pause' || job.mode === 'resume' ? [checkout] : [increment],
  enableAgenticState: job.mode === 'patch',
  cacheSession: job.cacheSession ?? true,
  sessionLease: { ttlMs: job.ttlMs, waitMs: job.waitMs },
});

if (job.mode === 'patch') {
  for (let turn = 0; turn < (job.turns ?? 1); turn++) await agent.run(`${job.label} ${turn}`);
  await storage.close();
  await write(JSON.stringify({ label: job.label }));
} else if (job.mode === 'pause') {
  const response = await agent.run('buy my cart');
  await storage.close();
  await write(
    JSON.stringify({
      status: response.status,
      runId: response.runId,
      approvals: response.pendingApprovals,
    }),
  );
} else if (job.mode === 'resume') {
  const response = await agent.resume({
    approvals: { [job.approvalId ?? '']: { approved: true } },
  });
  await storage.close();
  await write(
    JSON.stringify({ status: response.status, runId: response.runId, content: response.content }),
  );
} else if (job.mode === 'turns') {
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
