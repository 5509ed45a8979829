/**
 * Buddy against the raw storage floor, the method of `../shared/bench-anchors` (its
 * `floor/bench-floor.mjs --mode turn` and `buddy/bench-redis-floor.mjs --mode turn`, not its
 * peers): the same turn (read the state and the last 10 messages, an instant mock model, write the
 * two messages and the ~1 KB state) done by an `Agent` on `SqliteStorage` / `RedisStorage` and by
 * raw better-sqlite3 / ioredis. Each configuration runs in a child process of its own, so CPU,
 * bytes written and peak RSS belong to it alone. Reported per configuration: the median turn,
 * CPU per turn (`process.cpuUsage`, user + system), bytes handed to `write()` per turn
 * (`/proc/self/io` `wchar`: WAL frames for SQLite, socket writes for Redis), and peak RSS after
 * 1,000, 5,000 and 10,000 turns.
 *
 *   node --conditions=@buddy/source --import tsx src/floor-turns.ts --child=<name> --turns=N
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Agent, type SessionStorage, silentLogger } from '@buddy/core';
import { RedisStorage } from '@buddy/db-redis';
import { SqliteStorage } from '@buddy/db-sqlite';
import { MockModel } from '@buddy/testkit';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { deleteRedisKeysUnder } from './redis-cleanup.ts';
import { summarize } from './stats.ts';

/** The configurations, in the order they are printed. */
export const FLOOR_CONFIGS = [
  'sqlite-floor',
  'buddy-sqlite',
  'redis-floor',
  'buddy-redis',
] as const;
export type FloorConfig = (typeof FLOOR_CONFIGS)[number];

/** RSS checkpoints (turns done). */
const CHECKPOINTS = [1_000, 5_000, 10_000];
const WARMUP = 200;
const SID = 'thread-1';
const USER = 'user-1';
/** 5 runs = the last 10 messages, like the anchors. */
const NUM_RUNS = 5;

/** One configuration's measurement. */
export interface FloorResult {
  config: FloorConfig;
  turns: number;
  medianUs: number;
  p95Us: number;
  cpuUsPerTurn: number;
  writeBytesPerTurn: number | undefined;
  /** Peak RSS (MB) after `turns` turns, for each checkpoint reached. */
  peakRssMB: Record<string, number>;
}

const WORDS =
  'alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu'.split(
    ' ',
  );
/** The anchors' user text: ~150 characters, different on every turn. */
export function userText(turn: number): string {
  let text = `Turn ${turn}: `;
  let word = turn;
  while (text.length < 150) {
    text += `${WORDS[word % WORDS.length]} `;
    word = (word * 7 + 3) % 1009;
  }
  return text.slice(0, 150);
}
const REPLY_BASE =
  'This is a fixed mock assistant reply used to measure the persistence overhead of agent frameworks. '.padEnd(
    320,
    '.',
  );
/** The anchors' reply: exactly 300 characters. */
export const assistantText = (turn: number) => `Reply ${turn}: ${REPLY_BASE}`.slice(0, 300);
export const initialState = () => ({ counter: 0, lastTopic: '', notes: 'x'.repeat(900) });

function messageJson(role: string, text: string, turn: number): string {
  return JSON.stringify({
    id: `${SID}-${turn}-${role}`,
    role,
    content: { format: 2, parts: [{ type: 'text', text }] },
    createdAt: new Date(1_700_000_000_000 + turn * 1000).toISOString(),
  });
}

function writtenBytes(): number | undefined {
  try {
    const line = readFileSync('/proc/self/io', 'utf8')
      .split('\n')
      .find((entry) => entry.startsWith('wchar:'));
    return line === undefined ? undefined : Number(line.slice('wchar:'.length));
  } catch {
    return undefined;
  }
}

interface Turner {
  turn(index: number): Promise<void> | void;
  close(): Promise<void>;
}

/** The floor: raw better-sqlite3, WAL, synchronous=NORMAL, one write transaction per turn. */
function sqliteFloor(dir: string): Turner {
  const db = new Database(join(dir, 'floor.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(`CREATE TABLE sessions (id TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at INTEGER NOT NULL);
    CREATE TABLE messages (session_id TEXT NOT NULL, seq INTEGER NOT NULL, role TEXT NOT NULL,
      body TEXT NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (session_id, seq)) WITHOUT ROWID;`);
  db.prepare('INSERT INTO sessions (id, state, updated_at) VALUES (?, ?, ?)').run(
    SID,
    JSON.stringify(initialState()),
    Date.now(),
  );
  const insert = db.prepare(
    'INSERT INTO messages (session_id, seq, role, body, created_at) VALUES (?, ?, ?, ?, ?)',
  );
  const update = db.prepare('UPDATE sessions SET state = ?, updated_at = ? WHERE id = ?');
  const selectState = db.prepare<[string], { state: string }>(
    'SELECT state FROM sessions WHERE id = ?',
  );
  const selectRecent = db.prepare<[string], { role: string; body: string }>(
    'SELECT role, body FROM messages WHERE session_id = ? ORDER BY seq DESC LIMIT 10',
  );
  const write = db.transaction((turn: number, user: string, reply: string, state: string) => {
    insert.run(SID, 2 * turn, 'user', user, Date.now());
    insert.run(SID, 2 * turn + 1, 'assistant', reply, Date.now());
    update.run(state, Date.now(), SID);
  });
  return {
    turn(index) {
      const text = userText(index);
      const state = JSON.parse(selectState.get(SID)?.state ?? '{}') as Record<string, unknown>;
      const recent = selectRecent
        .all(SID)
        .reverse()
        .map(
          (row) => JSON.parse(row.body) as { role: string; content: { parts: { text: string }[] } },
        );
      advance(recent, state, text);
      write(
        index,
        messageJson('user', text, index),
        messageJson('assistant', assistantText(index), index),
        JSON.stringify(state),
      );
    },
    close: async () => {
      db.close();
    },
  };
}

/** The floor's own work between read and write: the prompt from history, and the new state. */
function advance(
  recent: { role: string; content: { parts: { text: string }[] } }[],
  state: Record<string, unknown>,
  text: string,
): void {
  const prompt = [
    ...recent.map((message) => ({
      role: message.role,
      content: message.content.parts[0]?.text,
    })),
    { role: 'user', content: text },
  ];
  if (prompt.length > 11) throw new Error('bad history size');
  state.counter = Number(state.counter) + 1;
  state.lastTopic = text.slice(0, 20);
}

/** The floor: raw ioredis, a read MULTI (state + last 10) then a write MULTI. */
async function redisFloor(url: string): Promise<Turner> {
  const client = new Redis(url);
  const prefix = `buddy-bench-floor:${process.pid}:`;
  const stateKey = `${prefix}s:{${SID}}`;
  const messagesKey = `${prefix}m:{${SID}}`;
  await client.hset(stateKey, 'state', JSON.stringify(initialState()), 'updated_at', Date.now());
  return {
    async turn(index) {
      const text = userText(index);
      const read = await client.multi().hget(stateKey, 'state').lrange(messagesKey, -10, -1).exec();
      const [stateReply, recentReply] = read ?? [];
      if (stateReply?.[0] || recentReply?.[0]) throw stateReply?.[0] ?? recentReply?.[0];
      const state = JSON.parse(String(stateReply?.[1])) as Record<string, unknown>;
      const recent = ((recentReply?.[1] ?? []) as string[]).map(
        (body) => JSON.parse(body) as { role: string; content: { parts: { text: string }[] } },
      );
      advance(recent, state, text);
      const written = await client
        .multi()
        .rpush(
          messagesKey,
          messageJson('user', text, index),
          messageJson('assistant', assistantText(index), index),
        )
        .hset(stateKey, 'state', JSON.stringify(state), 'updated_at', Date.now())
        .exec();
      for (const [error] of written ?? []) if (error) throw error;
    },
    close: async () => {
      await client.del(stateKey, messagesKey);
      await client.quit();
    },
  };
}

/** Buddy: an `Agent` with a `MockModel`, the last 5 runs of history, a per-run state. */
function buddy(storage: SessionStorage): Turner {
  let current = 0;
  const model = new MockModel({ respond: () => assistantText(current) });
  const agent = new Agent({
    model,
    storage,
    agentId: 'bench',
    userId: USER,
    sessionId: SID,
    instructions: 'You are a benchmark agent.',
    sessionState: initialState(),
    addHistoryToMessages: true,
    numHistoryRuns: NUM_RUNS,
    logger: silentLogger,
  });
  return {
    async turn(index) {
      current = index;
      model.requests.length = 0; // MockModel keeps every request: keep only this turn's
      const text = userText(index);
      const result = await agent.run(text, {
        sessionState: {
          counter: Number(agent.sessionState.counter) + 1,
          lastTopic: text.slice(0, 20),
        },
      });
      if (result.content !== assistantText(index)) throw new Error(`unexpected reply at ${index}`);
    },
    close: () => storage.close(),
  };
}

async function open(config: FloorConfig, dir: string, redisUrl: string): Promise<Turner> {
  switch (config) {
    case 'sqlite-floor':
      return sqliteFloor(dir);
    case 'buddy-sqlite':
      return buddy(new SqliteStorage({ dbFile: join(dir, 'buddy.db') }));
    case 'redis-floor':
      return redisFloor(redisUrl);
    case 'buddy-redis': {
      const prefix = `buddy-bench-floor:${process.pid}:`;
      const storage = new RedisStorage({ url: redisUrl, prefix });
      const turner = buddy(storage);
      return {
        turn: turner.turn,
        close: async () => {
          await turner.close();
          await deleteRedisKeysUnder(redisUrl, prefix);
        },
      };
    }
  }
}

/** Runs one configuration in this process (the child side). */
async function runChild(
  config: FloorConfig,
  turns: number,
  redisUrl: string,
): Promise<FloorResult> {
  const dir = mkdtempSync(join(tmpdir(), 'buddy-bench-floor-'));
  const turner = await open(config, dir, redisUrl);
  try {
    let index = 0;
    for (; index < WARMUP; index++) await turner.turn(index);
    const samples: number[] = [];
    const peakRssMB: Record<string, number> = {};
    const cpu0 = process.cpuUsage();
    const bytes0 = writtenBytes();
    for (let done = 1; done <= turns; done++, index++) {
      const started = process.hrtime.bigint();
      await turner.turn(index);
      samples.push(Number(process.hrtime.bigint() - started) / 1000);
      if (CHECKPOINTS.includes(done))
        peakRssMB[String(done)] = process.resourceUsage().maxRSS / 1024;
    }
    const cpu = process.cpuUsage(cpu0);
    const bytes1 = writtenBytes();
    const summary = summarize(samples);
    const sorted = [...samples].sort((a, b) => a - b);
    return {
      config,
      turns,
      medianUs: summary.medianUs,
      p95Us: sorted[Math.max(0, Math.ceil(0.95 * sorted.length) - 1)] ?? Number.NaN,
      cpuUsPerTurn: (cpu.user + cpu.system) / turns,
      writeBytesPerTurn:
        bytes0 === undefined || bytes1 === undefined ? undefined : (bytes1 - bytes0) / turns,
      peakRssMB,
    };
  } finally {
    await turner.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs every configuration, each in a child process of its own, one after the other. */
export async function measureFloors(options: {
  turns: number;
  redisUrl: string;
  withRedis: boolean;
}): Promise<FloorResult[]> {
  const run = promisify(execFile);
  const self = fileURLToPath(import.meta.url);
  const results: FloorResult[] = [];
  for (const config of FLOOR_CONFIGS) {
    if (config.includes('redis') && !options.withRedis) continue;
    const { stdout } = await run(
      process.execPath,
      [
        '--conditions=@buddy/source',
        '--import',
        'tsx',
        self,
        `--child=${config}`,
        `--turns=${options.turns}`,
        `--redis-url=${options.redisUrl}`,
      ],
      { maxBuffer: 1 << 20 },
    );
    results.push(JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as FloorResult);
  }
  return results;
}

const argument = (name: string) =>
  process.argv.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
const child = argument('child');
if (child !== undefined) {
  if (!(FLOOR_CONFIGS as readonly string[]).includes(child))
    throw new Error(`unknown --child ${child}`);
  const result = await runChild(
    child as FloorConfig,
    Number(argument('turns') ?? 10_000),
    argument('redis-url') ?? 'redis://127.0.0.1:6379',
  );
  console.log(JSON.stringify(result));
  process.exit(0);
}
