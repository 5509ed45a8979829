/**
 * Per-turn framework overhead: a whole agent turn (load, lease, model call, append, state update,
 * release) with a zero-latency MockModel, so only Buddy and the storage are measured, on sessions
 * that already hold 0, 1,000 and 10,000 runs.
 */
import { Agent, type SessionStorage, type StoredRun, silentLogger } from '@buddy/core';
import { MockModel } from '@buddy/testkit';
import { type Summary, summarize } from './stats.ts';

export interface BackendFactory {
  name: string;
  /** Opens a fresh storage for one measurement. */
  open(): Promise<SessionStorage>;
  /** Closes it and removes its data. */
  dispose(storage: SessionStorage): Promise<void>;
}

export interface TurnResult extends Summary {
  backend: string;
  historyRuns: number;
}

function seedRun(sessionId: string, index: number): Omit<StoredRun, 'index'> {
  const runId = `seed-${index}`;
  const now = Date.now();
  return {
    runId,
    sessionId,
    messages: [
      {
        role: 'user',
        content: `Seeded question number ${index}: what is in my cart?`,
        id: `${runId}-u`,
        createdAt: now,
        runId,
      },
      {
        role: 'assistant',
        content: `Seeded answer ${index}: milk, eggs and bread.`,
        id: `${runId}-a`,
        createdAt: now,
        runId,
      },
    ],
    usage: { inputTokens: 20, outputTokens: 10 },
    model: { provider: 'mock', id: 'mock-model' },
    createdAt: now,
    completedAt: now,
  };
}

/** Fills a session with `count` runs through the storage contract (not through the agent). */
export async function seedSession(
  storage: SessionStorage,
  sessionId: string,
  count: number,
): Promise<void> {
  const state = { cart: ['milk', 'eggs'], counter: 0 };
  const batch = 200;
  for (let start = 0; start < count; start += batch) {
    const end = Math.min(count, start + batch);
    const appends: Promise<unknown>[] = [];
    for (let index = start; index < end; index++) {
      appends.push(
        storage.appendRun({
          sessionId,
          userId: 'bench-user',
          run: seedRun(sessionId, index),
          sessionState: state,
        }),
      );
    }
    // Appends on one session are atomic; in-flight ones may land in any order, which is fine here.
    await Promise.all(appends);
  }
}

/**
 * Measures every history size on one storage, interleaving the turns (0, 1k, 10k, 0, 1k, ...)
 * so that warm-up, background load and disk caches affect every size alike.
 */
export async function measureTurns(
  factory: BackendFactory,
  historySizes: readonly number[],
  options: { warmup: number; turns: number },
): Promise<TurnResult[]> {
  const storage = await factory.open();
  try {
    const agents: Agent[] = [];
    for (const historyRuns of historySizes) {
      const sessionId = `bench-${historyRuns}-${Date.now()}`;
      await seedSession(storage, sessionId, historyRuns);
      agents.push(
        new Agent({
          model: new MockModel({ respond: () => 'ok' }),
          storage,
          sessionId,
          userId: 'bench-user',
          sessionState: { cart: [] },
          addHistoryToMessages: true,
          numHistoryRuns: 3,
          logger: silentLogger,
        }),
      );
    }
    for (let index = 0; index < options.warmup; index++) {
      for (const agent of agents) await agent.run(`warm ${index}`);
    }
    const samples = historySizes.map(() => [] as number[]);
    for (let index = 0; index < options.turns; index++) {
      for (const [position, agent] of agents.entries()) {
        const started = process.hrtime.bigint();
        await agent.run(`turn ${index}`);
        samples[position]?.push(Number(process.hrtime.bigint() - started) / 1000);
      }
    }
    return historySizes.map((historyRuns, position) => ({
      backend: factory.name,
      historyRuns,
      ...summarize(samples[position] ?? []),
    }));
  } finally {
    await factory.dispose(storage);
  }
}

/** Turns per second from one process, spread over many sessions with a few runs in flight. */
export async function measureThroughput(
  factory: BackendFactory,
  options: { sessions: number; turns: number; concurrency: number },
): Promise<{
  backend: string;
  turnsPerSecond: number;
  sessions: number;
  turns: number;
  concurrency: number;
}> {
  const storage = await factory.open();
  try {
    const agent = new Agent({
      model: new MockModel({ respond: () => 'ok' }),
      storage,
      userId: 'bench-user',
      addHistoryToMessages: true,
      numHistoryRuns: 3,
      logger: silentLogger,
    });
    let next = 0;
    const worker = async (offset: number) => {
      while (next < options.turns) {
        const turn = next++;
        await agent.run(`turn ${turn}`, {
          sessionId: `throughput-${(turn + offset) % options.sessions}`,
        });
      }
    };
    const started = process.hrtime.bigint();
    await Promise.all(Array.from({ length: options.concurrency }, (_, index) => worker(index)));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return { backend: factory.name, turnsPerSecond: options.turns / seconds, ...options };
  } finally {
    await factory.dispose(storage);
  }
}
