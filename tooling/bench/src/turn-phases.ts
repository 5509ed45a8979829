/**
 * Where one turn's time goes, phase by phase: the anchors' turn (`floor-turns.ts` payloads,
 * `numHistoryRuns: 5`) by an `Agent` on `SqliteStorage` (a temp file) or, with `--redis`, on
 * `RedisStorage` (`BUDDY_REDIS_URL`, default `redis://127.0.0.1:6379`, under a prefix of its own,
 * deleted afterwards), with `acquireLease`, `appendRun` and the model wrapped to stamp the time.
 * Prints the median of each phase.
 *
 *   node --conditions=@buddy/source --import tsx src/turn-phases.ts [--turns=N] [--gap=MS] [--hot-first=N] [--redis]
 *
 * `--gap` sleeps that long after each turn (the anchors' GAP=30: cold caches, one wake-up per
 * turn); `--hot-first` runs that many turns back to back first (warmed JIT), and only the turns
 * after them (from the 50th on) are counted. Without it, turns from the 100th on are counted.
 * Add `--max-opt=1` to node's flags to keep V8 at Sparkplug (what unoptimized code costs).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, silentLogger } from '@buddy/core';
import { RedisStorage } from '@buddy/db-redis';
import { SqliteStorage } from '@buddy/db-sqlite';
import { MockModel } from '@buddy/testkit';
import { assistantText, initialState, userText } from './floor-turns.ts';
import { deleteRedisKeysUnder } from './redis-cleanup.ts';

const argument = (name: string, fallback: number) =>
  Number(
    process.argv.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback,
  );
const gapMs = argument('gap', 0);
const hotFirst = argument('hot-first', 0);
const turns = argument('turns', hotFirst + 400);
const countFrom = hotFirst > 0 ? hotFirst + 50 : 100;

const onRedis = process.argv.includes('--redis');
const redisUrl = process.env.BUDDY_REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `buddy-bench-phases:${process.pid}:`;
const dir = mkdtempSync(join(tmpdir(), 'buddy-turn-phases-'));
const storage = onRedis
  ? new RedisStorage({ url: redisUrl, prefix })
  : new SqliteStorage({ dbFile: join(dir, 'phases.db') });
const marks: [string, number][] = [];
const now = () => Number(process.hrtime.bigint()) / 1000;
/** The two turn operations stamp their start and end (own properties over the class's methods). */
for (const name of ['acquireLease', 'appendRun'] as const) {
  const operation = storage[name].bind(storage) as (...args: unknown[]) => Promise<unknown>;
  Object.defineProperty(storage, name, {
    value: async (...args: unknown[]) => {
      marks.push([`${name} start`, now()]);
      try {
        return await operation(...args);
      } finally {
        marks.push([`${name} end`, now()]);
      }
    },
  });
}

let current = 0;
const model = new MockModel({
  respond: () => {
    marks.push(['model', now()]);
    return assistantText(current);
  },
});
const agent = new Agent({
  model,
  storage,
  agentId: 'bench',
  userId: 'user-1',
  sessionId: 'thread-1',
  instructions: 'You are a benchmark agent.',
  sessionState: initialState(),
  addHistoryToMessages: true,
  numHistoryRuns: 5,
  logger: silentLogger,
});

const phases = new Map<string, number[]>();
const record = (phase: string, us: number) => {
  const values = phases.get(phase);
  if (values === undefined) phases.set(phase, [us]);
  else values.push(us);
};
for (let index = 0; index < turns; index++) {
  current = index;
  model.requests.length = 0;
  marks.length = 0;
  const text = userText(index);
  marks.push(['run()', now()]);
  await agent.run(text, {
    sessionState: { counter: Number(agent.sessionState.counter) + 1, lastTopic: text.slice(0, 20) },
  });
  marks.push(['resolved', now()]);
  if (index >= countFrom) {
    for (let at = 1; at < marks.length; at++) {
      const [from, started] = marks[at - 1] as [string, number];
      const [to, ended] = marks[at] as [string, number];
      record(`${from} → ${to}`, ended - started);
    }
    const turn = (marks.at(-1)?.[1] ?? 0) - (marks[0]?.[1] ?? 0);
    record('whole turn', turn);
  }
  if (gapMs > 0 && index >= hotFirst) await sleep(gapMs);
}
await storage.close();
rmSync(dir, { recursive: true, force: true });
if (onRedis) await deleteRedisKeysUnder(redisUrl, prefix);

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1] ?? Number.NaN;
};
console.log(
  `${onRedis ? 'Redis' : 'SQLite'} turn phases, ${turns - countFrom} turns counted, gap ${gapMs} ms, ${hotFirst} hot turns first`,
);
for (const [phase, values] of phases) {
  console.log(`${phase.padEnd(40)} ${median(values).toFixed(1).padStart(8)} µs`);
}
