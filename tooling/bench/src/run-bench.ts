/**
 * `pnpm bench`: prints tables and writes `.bench-results/bench-<timestamp>.json` at the repo root.
 *
 *   pnpm bench            # full run (a few minutes)
 *   pnpm bench --quick    # fewer turns, for a smoke check
 *
 * Redis is measured when it answers at BUDDY_REDIS_URL (default redis://127.0.0.1:6379), and
 * PostgreSQL when it answers at BUDDY_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InMemoryStorage, type SessionStorage } from '@buddy/core';
import { RedisStorage } from '@buddy/db-redis';
import { SqliteStorage } from '@buddy/db-sqlite';
import { Redis } from 'ioredis';
import { measureContextTokens } from './context-tokens.ts';
import {
  measurePostgresListing,
  measurePostgresRoundTrips,
  postgresAnswers,
  postgresBackend,
  postgresUrl,
} from './postgres-bench.ts';
import { measureRedisCommandsPerTurn } from './redis-commands.ts';
import { formatNumber, table } from './stats.ts';
import {
  type BackendFactory,
  measureThroughput,
  measureTurns,
  type TurnResult,
} from './turn-overhead.ts';

const quick = process.argv.includes('--quick');
const HISTORY_SIZES = [0, 1_000, 10_000];
const TURN_OPTIONS = quick ? { warmup: 50, turns: 300 } : { warmup: 300, turns: 3_000 };
const redisUrl = process.env.BUDDY_REDIS_URL ?? 'redis://127.0.0.1:6379';

const memoryBackend: BackendFactory = {
  name: 'memory',
  open: async () => new InMemoryStorage(),
  dispose: async (storage) => storage.close(),
};

const sqliteDirs = new Map<SessionStorage, string>();
const sqliteBackend: BackendFactory = {
  name: 'sqlite (file, WAL)',
  open: async () => {
    const dir = mkdtempSync(join(tmpdir(), 'buddy-bench-'));
    const storage = new SqliteStorage({ dbFile: join(dir, 'bench.db') });
    sqliteDirs.set(storage, dir);
    return storage;
  },
  dispose: async (storage) => {
    await storage.close();
    const dir = sqliteDirs.get(storage);
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  },
};

const redisPrefixes = new Map<SessionStorage, string>();
const redisBackend: BackendFactory = {
  name: 'redis (loopback)',
  open: async () => {
    const prefix = `buddy-bench:${process.pid}:${Date.now()}:`;
    const storage = new RedisStorage({ url: redisUrl, prefix });
    redisPrefixes.set(storage, prefix);
    return storage;
  },
  dispose: async (storage) => {
    await storage.close();
    const prefix = redisPrefixes.get(storage);
    if (prefix !== undefined) await deleteRedisPrefix(prefix);
  },
};

async function redisAnswers(): Promise<boolean> {
  const client = new Redis(redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 1000,
    retryStrategy: () => null,
  });
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/** Bench cleanup only (production code never scans). */
async function deleteRedisPrefix(prefix: string): Promise<void> {
  const client = new Redis(redisUrl);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await client.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const backends = [memoryBackend, sqliteBackend];
  const hasRedis = await redisAnswers();
  if (hasRedis) backends.push(redisBackend);
  else console.warn(`Redis does not answer at ${redisUrl}: skipping the Redis rows.`);
  const hasPostgres = await postgresAnswers();
  if (hasPostgres) backends.push(postgresBackend);
  else console.warn(`PostgreSQL does not answer at ${postgresUrl}: skipping the PostgreSQL rows.`);

  console.log(
    `Buddy bench — Node ${process.version}, ${quick ? 'quick' : 'full'} mode, ${TURN_OPTIONS.turns} measured turns per row\n`,
  );
  console.log(
    'Per-turn framework overhead (whole agent turn with a zero-latency MockModel, history replay of 3 runs):\n',
  );
  const turnResults: TurnResult[] = [];
  for (const backend of backends) {
    turnResults.push(...(await measureTurns(backend, HISTORY_SIZES, TURN_OPTIONS)));
  }
  console.log(
    table(
      ['backend', 'runs already stored', 'median µs', 'p99 µs', 'mean µs'],
      turnResults.map((row) => [
        row.backend,
        row.historyRuns.toLocaleString('en-US'),
        formatNumber(row.medianUs),
        formatNumber(row.p99Us),
        formatNumber(row.meanUs),
      ]),
    ),
  );
  const ratios = backends.map((backend) => {
    const at = (runs: number) =>
      turnResults.find((row) => row.backend === backend.name && row.historyRuns === runs);
    const ratio = (at(10_000)?.medianUs ?? Number.NaN) / (at(0)?.medianUs ?? Number.NaN);
    return { backend: backend.name, ratio };
  });
  console.log(
    `\ncost(10,000) / cost(0), by median: ${ratios.map((entry) => `${entry.backend} ${formatNumber(entry.ratio, 2)}`).join(' · ')}`,
  );

  const throughput = await measureThroughput(
    sqliteBackend,
    quick
      ? { sessions: 50, turns: 2_000, concurrency: 8 }
      : { sessions: 200, turns: 20_000, concurrency: 8 },
  );
  console.log(
    `\nSustained SQLite throughput: ${formatNumber(throughput.turnsPerSecond, 0)} turns/s (${throughput.turns.toLocaleString('en-US')} turns over ${throughput.sessions} sessions, ${throughput.concurrency} in flight, one process)`,
  );

  let redisCommands: Awaited<ReturnType<typeof measureRedisCommandsPerTurn>> | undefined;
  if (hasRedis) {
    redisCommands = await measureRedisCommandsPerTurn(
      redisUrl,
      deleteRedisPrefix,
      quick ? 100 : 500,
    );
    console.log(
      `\nRedis commands per turn (server commandstats): ${Object.entries(redisCommands.perTurn)
        .map(([command, count]) => `${command} ${formatNumber(count, 2)}`)
        .join(', ')} — round trips per turn: ${formatNumber(redisCommands.roundTripsPerTurn, 2)}`,
    );
  }

  let postgres:
    | {
        roundTripsPerTurn: number;
        listing: Awaited<ReturnType<typeof measurePostgresListing>>;
      }
    | undefined;
  if (hasPostgres) {
    const roundTripsPerTurn = await measurePostgresRoundTrips(quick ? 100 : 500);
    const listing = await measurePostgresListing(100_000, quick ? 300 : 2_000);
    postgres = { roundTripsPerTurn, listing };
    console.log(
      `\nPostgreSQL round trips per turn (statements counted on the pool): ${formatNumber(roundTripsPerTurn, 2)}`,
    );
    console.log(
      `PostgreSQL listing a user's 20 newest of ${listing.sessions.toLocaleString('en-US')} sessions: median ${formatNumber(listing.medianUs)} µs, p99 ${formatNumber(listing.p99Us)} µs`,
    );
  }

  console.log(
    '\nContext tokens per turn over a 200-turn scripted conversation (MockModel token estimate):\n',
  );
  const context = await measureContextTokens({ turns: 200 });
  console.log(
    table(
      ['setup', 'mean tokens/turn', 'turn 200 tokens', 'total tokens'],
      context.conversations.map((row) => [
        row.setup,
        formatNumber(row.meanPerTurn, 0),
        formatNumber(row.lastTurn, 0),
        formatNumber(row.total, 0),
      ]),
    ),
  );
  console.log('\nSummarizer input tokens per update over the same conversation:\n');
  console.log(
    table(
      ['mode', 'updates', 'mean tokens/update', 'last update tokens', 'total tokens'],
      context.summarizer.map((row) => [
        row.mode,
        String(row.updates),
        formatNumber(row.meanPerUpdate, 0),
        formatNumber(row.lastUpdate, 0),
        formatNumber(row.total, 0),
      ]),
    ),
  );

  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
  const outDir = join(root, '.bench-results');
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  const report = {
    node: process.version,
    mode: quick ? 'quick' : 'full',
    durationMs: Date.now() - started,
    turnOverhead: turnResults,
    ratios,
    throughput,
    redisCommands,
    postgres,
    context,
  };
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(outDir, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nJSON written to ${file}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
