/**
 * Tools that need approval (SPEC §16.4): the run pauses and is stored with its session, a new run
 * is SESSION_BUSY until it is decided, and `resume` continues it (approved calls run once, denied
 * ones reach the model as a denial), the completed run stored as one run.
 */
import { MockModel } from '@buddy/testkit';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { InMemoryStorage } from '../in-memory/in-memory-storage.ts';
import { silentLogger } from '../logging/console-logger.ts';
import { tool } from '../tools/tool.ts';
import { Agent } from './agent.ts';
import type { RunEvent } from './agent-types.ts';

function setup(storage = new InMemoryStorage()) {
  const executed: number[] = [];
  const checkout = tool({
    name: 'checkout',
    description: 'Pays for the cart.',
    parameters: z.object({ total: z.number() }),
    needsApproval: true,
    execute: ({ total }, { sessionState }) => {
      executed.push(total);
      sessionState.paid = total;
      return `Paid ${total}.`;
    },
  });
  const note = tool({
    name: 'note',
    execute: (_args, { sessionState }) => {
      sessionState.noted = true;
      return 'noted';
    },
  });
  const model = new MockModel({
    respond: (request) => {
      const last = request.messages.at(-1);
      if (last?.role === 'tool' && last.toolName === 'checkout')
        return `Checkout said: ${last.content}`;
      if (last?.role === 'user' && last.content.startsWith('buy')) {
        return {
          toolCalls: [
            { name: 'checkout', arguments: { total: 42 } },
            { name: 'note', arguments: {} },
          ],
        };
      }
      return 'plain answer';
    },
  });
  const agent = new Agent({
    model,
    storage,
    sessionId: 'shop',
    userId: 'dana',
    tools: [checkout, note],
    logger: silentLogger,
  });
  return { agent, storage, executed, model };
}

describe('Agent: tools that need approval', () => {
  it('pauses, stores the paused run, refuses new runs, and completes once approved', async () => {
    const { agent, storage, executed, model } = setup();
    const paused = await agent.run('buy my cart');
    expect(paused.status).toBe('awaiting-approval');
    expect(paused.pendingApprovals).toEqual([
      { approvalId: expect.any(String), toolName: 'checkout', arguments: '{"total":42}' },
    ]);
    expect(executed).toEqual([]);
    const record = await storage.getSession('shop');
    expect(record?.runCount).toBe(0);
    expect(record?.pendingRun?.runId).toBe(paused.runId);
    // The other call of that round ran; the session state is unchanged until completion.
    expect(record?.pendingRun?.sessionState.noted).toBe(true);
    expect(record?.sessionState.noted).toBeUndefined();
    const busy = await agent.run('hello?').catch((error: unknown) => error);
    expect(busy).toMatchObject({
      code: 'SESSION_BUSY',
      message: expect.stringContaining('checkout({"total":42})'),
    });

    const approvalId = paused.pendingApprovals?.[0]?.approvalId as string;
    const done = await agent.resume({ approvals: { [approvalId]: { approved: true } } });
    expect(done).toMatchObject({
      status: 'completed',
      runId: paused.runId,
      content: 'Checkout said: Paid 42.',
    });
    expect(executed).toEqual([42]);
    const runs = await storage.getRuns({ sessionId: 'shop' });
    expect(runs).toHaveLength(1);
    expect(runs[0]?.runId).toBe(paused.runId);
    expect(runs[0]?.messages.map((message) => message.role)).toEqual([
      'user',
      'assistant',
      'tool',
      'tool',
      'assistant',
    ]);
    const after = await storage.getSession('shop');
    expect(after?.pendingRun).toBeUndefined();
    expect(after?.sessionState).toMatchObject({ paid: 42, noted: true });
    expect(agent.sessionState.paid).toBe(42);
    // Resuming again finds nothing; new runs work.
    await expect(
      agent.resume({ approvals: { [approvalId]: { approved: true } } }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(agent.run('thanks')).resolves.toMatchObject({ content: 'plain answer' });
    expect(model.requests.length).toBeGreaterThan(2);
  });

  it('sends a denial to the model as "Error: denied: <reason>" and runs nothing', async () => {
    const { agent, executed } = setup();
    const paused = await agent.run('buy it all');
    const approvalId = paused.pendingApprovals?.[0]?.approvalId as string;
    const done = await agent.resume({
      approvals: { [approvalId]: { approved: false, reason: 'too expensive' } },
    });
    expect(done.content).toBe('Checkout said: Error: denied: too expensive');
    expect(executed).toEqual([]);
  });

  it('refuses decisions that miss a pending approval or name an unknown one', async () => {
    const { agent } = setup();
    const paused = await agent.run('buy');
    const approvalId = paused.pendingApprovals?.[0]?.approvalId as string;
    await expect(agent.resume({ approvals: { other: { approved: true } } })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(
      agent.resume({ approvals: { [approvalId]: { approved: 'yes' } } } as never),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(
      agent.resume({ approvals: { [approvalId]: { approved: true } } }),
    ).resolves.toMatchObject({ status: 'completed' });
  });

  it('takes approvals with a new run: the paused run completes first, then the new one', async () => {
    const { agent, storage, executed } = setup();
    const paused = await agent.run('buy');
    const approvalId = paused.pendingApprovals?.[0]?.approvalId as string;
    const next = await agent.run('and now?', { approvals: { [approvalId]: { approved: true } } });
    expect(next.content).toBe('plain answer');
    expect(executed).toEqual([42]);
    expect(
      (await storage.getRuns({ sessionId: 'shop' })).map((run) => run.messages[0]?.content),
    ).toEqual(['buy', 'and now?']);
  });

  it('streams an approval-requested event, and resumeStream streams the rest', async () => {
    const { agent } = setup();
    const events: RunEvent[] = [];
    for await (const event of agent.stream('buy now')) events.push(event);
    const requested = events.find((event) => event.type === 'approval-requested');
    expect(
      requested?.type === 'approval-requested' && requested.pendingApprovals[0]?.toolName,
    ).toBe('checkout');
    const completed = events.at(-1);
    expect(completed?.type === 'run-completed' && completed.response.status).toBe(
      'awaiting-approval',
    );
    const approvalId =
      requested?.type === 'approval-requested'
        ? (requested.pendingApprovals[0]?.approvalId as string)
        : '';
    const resumed: RunEvent[] = [];
    for await (const event of agent.resumeStream({
      approvals: { [approvalId]: { approved: true } },
    }))
      resumed.push(event);
    expect(resumed.map((event) => event.type)).toEqual(
      expect.arrayContaining(['run-started', 'tool-result', 'text-delta', 'run-completed']),
    );
    const last = resumed.at(-1);
    expect(last?.type === 'run-completed' && last.response.content).toBe('Checkout said: Paid 42.');
  });

  it('asks a needsApproval function per call', async () => {
    const storage = new InMemoryStorage();
    const pay = tool({
      name: 'pay',
      parameters: z.object({ amount: z.number() }),
      needsApproval: ({ amount }) => amount > 100,
      execute: ({ amount }) => `paid ${amount}`,
    });
    const model = new MockModel({
      respond: (request) => {
        const last = request.messages.at(-1);
        if (last?.role === 'tool') return last.content;
        return { toolCalls: [{ name: 'pay', arguments: { amount: Number(last?.content) } }] };
      },
    });
    const agent = new Agent({ model, storage, tools: [pay], logger: silentLogger });
    expect(await agent.run('50')).toMatchObject({ status: 'completed', content: 'paid 50' });
    expect(await agent.run('500')).toMatchObject({ status: 'awaiting-approval' });
  });
});
