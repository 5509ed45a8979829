/**
 * `pnpm bench`: prints tables and writes `.bench-results/bench-<timestamp>.json` at the repo root.
 *
 *   pnpm bench            # full run (a few minutes)
 *   pnpm bench --quick    # fewer turns, for a smoke check
 *
 * Redis is measured when it answers at BUDDY_REDIS_URL (default redis://127.0.0.1:6379); the
 * Redis Cluster row starts a throwaway local cluster when `redis-server` and `redis-cli` exist.
 * PostgreSQL is measured when it answers at BUDDY_POSTGRES_URL (default
 * postgresql://postgres@127.0.0.1:5432/test).
 *
 *   pnpm bench --only=redis,redis-cluster   # only the backends whose names start with these
 *
 * `redis-search` (part of `--only=redis`) times `RedisMemoryDb.searchMemories` over 1k, 10k and
 * 100k memories of one user on the same server (about 270 MB there while it runs).
 *
 * When `.bench-results/latest.json` exists, the turn table is compared with it (before → after).
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InMemoryStorage, type SessionStorage } from '@buddy/core';
import { RedisStorage } from '@buddy/db-redis';
import { SqliteStorage } from '@buddy/db-sqlite';
import { Cluster, Redis } from 'ioredis';
import { measureContextTokens, measureMemoryBudget } from './context-tokens.ts';
import { type FloorResult, measureFloors } from './floor-turns.ts';
import { measureMemorySearch } from './memory-search.ts';
import {
  measurePostgresListing,
  measurePostgresRoundTrips,
  measurePostgresSearch,
  postgresAnswers,
  postgresBackend,
  postgresUrl,
} from './postgres-bench.ts';
import { deleteRedisKeysUnder } from './redis-cleanup.ts';
import { type BenchCluster, startBenchCluster } from './redis-cluster.ts';
import { measureRedisCommandsPerTurn } from './redis-commands.ts';
import { measureRedisSearch } from './redis-search.ts';
import { formatNumber, table } from './stats.ts';
import { measureStudioPages } from './studio-pages.ts';
import {
  type BackendFactory,
  measureThroughput,
  measureTurns,
  type TurnResult,
} from './turn-overhead.ts';

const quick = process.argv.includes('--quick');
const only = process.argv
  .find((arg) => arg.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',');
/** `--turns-only`: only the per-turn rows (and the floors), then write the JSON. */
const turnsOnly = process.argv.includes('--turns-only');
/** `--save-baseline=<file>`: also write the turn rows to `<file>` (a release's baseline). */
const saveBaseline = process.argv
  .find((arg) => arg.startsWith('--save-baseline='))
  ?.slice('--save-baseline='.length);
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

const clusterPrefixes = new Map<SessionStorage, { prefix: string; client: Cluster }>();
/** The cluster row: one Cluster client per storage on a throwaway local cluster. */
function clusterBackend(cluster: BenchCluster): BackendFactory {
  return {
    name: 'redis-cluster (3 masters, loopback)',
    open: async () => {
      const prefix = `buddy-bench:${process.pid}:${Date.now()}:`;
      const client = new Cluster(cluster.nodes);
      client.on('error', () => {});
      const storage = new RedisStorage({ client, prefix });
      clusterPrefixes.set(storage, { prefix, client });
      return storage;
    },
    dispose: async (storage) => {
      await storage.close();
      clusterPrefixes.get(storage)?.client.disconnect();
    },
  };
}

/** The turn rows of the previous run (`latest.json`), to print before → after. */
function previousTurns(file: string): TurnResult[] {
  if (!existsSync(file)) return [];
  try {
    return (
      (JSON.parse(readFileSync(file, 'utf8')) as { turnOverhead?: TurnResult[] }).turnOverhead ?? []
    );
  } catch {
    return [];
  }
}

/** The last release's turn rows (`tooling/bench/baselines/<version>.json`, the newest version). */
function releaseBaseline(dir: string): { release: string; turns: TurnResult[] } | undefined {
  if (!existsSync(dir)) return undefined;
  const versions = readdirSync(dir)
    .filter((name) => /^\d+\.\d+\.\d+\.json$/.test(name))
    .map((name) => name.slice(0, -'.json'.length))
    .sort((a, b) => {
      const [x, y] = [a.split('.').map(Number), b.split('.').map(Number)];
      return (x[0] ?? 0) - (y[0] ?? 0) || (x[1] ?? 0) - (y[1] ?? 0) || (x[2] ?? 0) - (y[2] ?? 0);
    });
  const release = versions.at(-1);
  if (release === undefined) return undefined;
  const turns = previousTurns(join(dir, `${release}.json`));
  return turns.length === 0 ? undefined : { release, turns };
}

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
function deleteRedisPrefix(prefix: string): Promise<void> {
  return deleteRedisKeysUnder(redisUrl, prefix);
}

/** The floor rows and Buddy ÷ floor (see `floor-turns.ts`). */
function printFloors(floors: FloorResult[], turns: number): void {
  const rss = (row: FloorResult, at: number) => row.peakRssMB[String(at)];
  console.log(
    `\nBuddy against the raw storage floor (the bench-anchors turn: state + last 10 messages read, 2 messages + ~1 KB state written; ${turns.toLocaleString('en-US')} turns, one child process each):\n`,
  );
  console.log(
    table(
      ['row', 'median µs', 'p95 µs', 'CPU µs/turn', 'KB written/turn', 'peak RSS MB 1k / 5k / 10k'],
      floors.map((row) => [
        row.config,
        formatNumber(row.medianUs),
        formatNumber(row.p95Us),
        formatNumber(row.cpuUsPerTurn),
        row.writeBytesPerTurn === undefined ? 'n/a' : formatNumber(row.writeBytesPerTurn / 1024),
        [1_000, 5_000, 10_000].map((at) => formatNumber(rss(row, at) ?? Number.NaN, 0)).join(' / '),
      ]),
    ),
  );
  for (const [floorName, buddyName] of [
    ['sqlite-floor', 'buddy-sqlite'],
    ['redis-floor', 'buddy-redis'],
  ] as const) {
    const floor = floors.find((row) => row.config === floorName);
    const ours = floors.find((row) => row.config === buddyName);
    if (floor === undefined || ours === undefined) continue;
    const bytes =
      ours.writeBytesPerTurn === undefined || floor.writeBytesPerTurn === undefined
        ? Number.NaN
        : ours.writeBytesPerTurn / floor.writeBytesPerTurn;
    const last = Math.max(...Object.keys(ours.peakRssMB).map(Number));
    console.log(
      `${buddyName} ÷ ${floorName}: time ${formatNumber(ours.medianUs / floor.medianUs, 2)}× · CPU ${formatNumber(ours.cpuUsPerTurn / floor.cpuUsPerTurn, 2)}× · bytes written ${formatNumber(bytes, 2)}× · p95/median ${formatNumber(ours.p95Us / ours.medianUs, 2)} (floor ${formatNumber(floor.p95Us / floor.medianUs, 2)}) · peak RSS ${last.toLocaleString('en-US')} ÷ 1,000 turns ${formatNumber((rss(ours, last) ?? Number.NaN) / (rss(ours, 1_000) ?? Number.NaN), 2)}`,
    );
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const selected = (name: string) =>
    only === undefined || only.some((prefix) => name.startsWith(prefix));
  const backends = [memoryBackend, sqliteBackend].filter((backend) => selected(backend.name));
  const hasRedis = await redisAnswers();
  if (hasRedis && selected(redisBackend.name)) backends.push(redisBackend);
  else if (!hasRedis)
    console.warn(`Redis does not answer at ${redisUrl}: skipping the Redis rows.`);
  let cluster: BenchCluster | undefined;
  if (selected('redis-cluster')) {
    cluster = await startBenchCluster();
    if (cluster === undefined)
      console.warn('redis-server/redis-cli not found: skipping the Redis Cluster row.');
    else backends.push(clusterBackend(cluster));
  }
  const hasPostgres = await postgresAnswers();
  if (hasPostgres && selected(postgresBackend.name)) backends.push(postgresBackend);
  else if (!hasPostgres)
    console.warn(`PostgreSQL does not answer at ${postgresUrl}: skipping the PostgreSQL rows.`);
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
  const before = previousTurns(join(root, '.bench-results', 'latest.json'));
  const baseline = releaseBaseline(join(root, 'tooling', 'bench', 'baselines'));

  console.log(
    `Buddy bench — Node ${process.version}, ${quick ? 'quick' : 'full'} mode, ${TURN_OPTIONS.turns} measured turns per row\n`,
  );
  console.log(
    'Per-turn framework overhead (whole agent turn with a zero-latency MockModel, history replay of 3 runs):\n',
  );
  const turnResults: TurnResult[] = [];
  try {
    for (const backend of backends) {
      turnResults.push(...(await measureTurns(backend, HISTORY_SIZES, TURN_OPTIONS)));
    }
  } finally {
    await cluster?.stop();
  }
  const previous = (row: TurnResult) =>
    before.find((old) => old.backend === row.backend && old.historyRuns === row.historyRuns);
  const released = (row: TurnResult) =>
    baseline?.turns.find(
      (old) => old.backend === row.backend && old.historyRuns === row.historyRuns,
    );
  const change = (now: number, old: number | undefined) =>
    old === undefined
      ? ''
      : `${formatNumber(old)} → ${formatNumber(now)} (${formatNumber((now / old - 1) * 100, 1)} %)`;
  console.log(
    table(
      [
        'backend',
        'runs already stored',
        'median µs',
        'p99 µs',
        'mean µs',
        'median before → after',
        `median ${baseline?.release ?? 'last release'} → now`,
      ],
      turnResults.map((row) => [
        row.backend,
        row.historyRuns.toLocaleString('en-US'),
        formatNumber(row.medianUs),
        formatNumber(row.p99Us),
        formatNumber(row.meanUs),
        change(row.medianUs, previous(row)?.medianUs),
        change(row.medianUs, released(row)?.medianUs),
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
  if (baseline !== undefined) {
    const flat = (rows: TurnResult[], backend: string) =>
      (rows.find((row) => row.backend === backend && row.historyRuns === 10_000)?.medianUs ??
        Number.NaN) /
      (rows.find((row) => row.backend === backend && row.historyRuns === 0)?.medianUs ??
        Number.NaN);
    console.log(
      `cost(10,000) / cost(0), ${baseline.release} → now: ${backends
        .map(
          (backend) =>
            `${backend.name} ${formatNumber(flat(baseline.turns, backend.name), 2)} → ${formatNumber(flat(turnResults, backend.name), 2)}`,
        )
        .join(' · ')}`,
    );
  } else {
    console.warn(
      'No release baseline in tooling/bench/baselines/: skipping the release comparison.',
    );
  }

  let floors: FloorResult[] | undefined;
  if (selected(sqliteBackend.name) || (hasRedis && selected(redisBackend.name))) {
    const floorTurns = quick ? 5_000 : 10_000;
    floors = (await measureFloors({ turns: floorTurns, redisUrl, withRedis: hasRedis })).filter(
      (row) =>
        row.config.includes('redis') ? selected(redisBackend.name) : selected(sqliteBackend.name),
    );
    printFloors(floors, floorTurns);
  }

  if (saveBaseline !== undefined) {
    writeFileSync(
      resolve(saveBaseline),
      `${JSON.stringify({ node: process.version, mode: quick ? 'quick' : 'full', measuredAt: new Date().toISOString(), turnOverhead: turnResults, ratios }, null, 2)}\n`,
    );
    console.log(`\nBaseline written to ${resolve(saveBaseline)}`);
  }
  if (turnsOnly) return;

  const throughput = selected(sqliteBackend.name)
    ? await measureThroughput(
        sqliteBackend,
        quick
          ? { sessions: 50, turns: 2_000, concurrency: 8 }
          : { sessions: 200, turns: 20_000, concurrency: 8 },
      )
    : undefined;
  if (throughput !== undefined) {
    console.log(
      `\nSustained SQLite throughput: ${formatNumber(throughput.turnsPerSecond, 0)} turns/s (${throughput.turns.toLocaleString('en-US')} turns over ${throughput.sessions} sessions, ${throughput.concurrency} in flight, one process)`,
    );
  }

  const memorySearch = selected(sqliteBackend.name)
    ? await measureMemorySearch({
        sizes: quick ? [1_000, 10_000] : [1_000, 10_000, 100_000],
        dimensions: [256, 1536],
        warmup: quick ? 5 : 20,
        queries: quick ? 50 : 200,
        largeSize: 100_000,
      })
    : undefined;
  if (memorySearch !== undefined) {
    console.log(
      "\nSqliteMemoryDb.searchMemories (sqlite-vec, exact cosine over one user's memories, limit 10, file; target at 10,000: ≤ 5 ms):\n",
    );
    console.log(
      table(
        ['dimensions', 'memories of the user', 'median ms', 'p99 ms', 'mean ms'],
        memorySearch.map((row) => [
          String(row.dimensions),
          row.memories.toLocaleString('en-US'),
          formatNumber(row.medianUs / 1000, 2),
          formatNumber(row.p99Us / 1000, 2),
          formatNumber(row.meanUs / 1000, 2),
        ]),
      ),
    );
  }

  let redisCommands: Awaited<ReturnType<typeof measureRedisCommandsPerTurn>> | undefined;
  if (hasRedis && selected(redisBackend.name)) {
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

  let redisSearch: Awaited<ReturnType<typeof measureRedisSearch>> | undefined;
  if (hasRedis && selected('redis-search')) {
    redisSearch = await measureRedisSearch(redisUrl, deleteRedisPrefix, {
      sizes: [1_000, 10_000, 100_000],
      samples: (memories) =>
        memories >= 100_000
          ? quick
            ? 3
            : 10
          : memories >= 10_000
            ? quick
              ? 10
              : 50
            : quick
              ? 30
              : 200,
    });
    console.log(
      `\nRedis searchMemories (exact cosine over one user's memories, ${redisSearch[0]?.dimensions ?? 256} dimensions, limit 10, loopback):\n`,
    );
    console.log(
      table(
        ['memories of the user', 'median ms', 'p99 ms', 'mean ms'],
        redisSearch.map((row) => [
          row.memories.toLocaleString('en-US'),
          formatNumber(row.medianUs / 1000, 2),
          formatNumber(row.p99Us / 1000, 2),
          formatNumber(row.meanUs / 1000, 2),
        ]),
      ),
    );
  }

  let postgres:
    | {
        roundTripsPerTurn: number;
        listing: Awaited<ReturnType<typeof measurePostgresListing>>;
        search: Awaited<ReturnType<typeof measurePostgresSearch>>;
      }
    | undefined;
  if (hasPostgres && selected(postgresBackend.name)) {
    const roundTripsPerTurn = await measurePostgresRoundTrips(quick ? 100 : 500);
    const listing = await measurePostgresListing(100_000, quick ? 300 : 2_000);
    const search = await measurePostgresSearch({
      sizes: [1_000, 10_000, 100_000],
      dimensions: 256,
      calls: (memories) => Math.max(3, Math.round((quick ? 50_000 : 200_000) / memories)),
    });
    postgres = { roundTripsPerTurn, listing, search };
    console.log(
      `\nPostgreSQL round trips per turn (statements counted on the pool): ${formatNumber(roundTripsPerTurn, 2)}`,
    );
    console.log(
      `PostgreSQL listing a user's 20 newest of ${listing.sessions.toLocaleString('en-US')} sessions (target ≤ 1 ms): median ${formatNumber(listing.medianUs)} µs, p99 ${formatNumber(listing.p99Us)} µs`,
    );
    const ms = (summary: { medianUs: number; p99Us: number }) =>
      `${formatNumber(summary.medianUs / 1000, 2)} / ${formatNumber(summary.p99Us / 1000, 2)}`;
    console.log(
      `PostgreSQL searchMemories, limit 10, ${search[0]?.dimensions} dimensions, exact (no pgvector), one user's memories, ms median / p99 (target warm at 10,000 ≤ 10 ms):\n`,
    );
    console.log(
      table(
        [
          'memories',
          'cold (new db)',
          'warm (cached)',
          'after a write',
          'after a delete',
          'in SQL (no cache)',
        ],
        search.map((row) => [
          row.memories.toLocaleString('en-US'),
          ms(row.cold),
          ms(row.warm),
          ms(row.afterWrite),
          ms(row.afterDelete),
          ms(row.sql),
        ]),
      ),
    );
  }

  const studio = await measureStudioPages({
    sessions: 10_000,
    longSessionRuns: 10_000,
    warmup: quick ? 10 : 50,
    requests: quick ? 100 : 500,
  });
  console.log(
    `\nBuddy Studio server time (studio.fetch) on a SQLite file with ${studio.sessions.toLocaleString('en-US')} sessions of 100 users and one ${studio.runsInLongSession.toLocaleString('en-US')}-run session (target: first page < 50 ms):\n`,
  );
  console.log(
    table(
      ['request', 'median ms', 'p99 ms', 'mean ms'],
      studio.rows.map((row) => [
        row.request,
        formatNumber(row.medianUs / 1000, 2),
        formatNumber(row.p99Us / 1000, 2),
        formatNumber(row.meanUs / 1000, 2),
      ]),
    ),
  );

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

  const memoryTurns = quick ? 60 : 300;
  console.log(
    `\nTokens sent per turn over a ${memoryTurns}-turn conversation of a user with 1,000 memories (MockModel + MockEmbedder, history of 50 runs, a long tool result every 6th turn):\n`,
  );
  const memoryBudget = await measureMemoryBudget({
    turns: memoryTurns,
    memories: 1_000,
    maxInputTokens: 4_000,
  });
  console.log(
    table(
      [
        'setup',
        'mean tokens/turn',
        'largest request',
        `turn ${memoryTurns} tokens`,
        'requests > 4,000',
        'memories sent (on topic)',
      ],
      memoryBudget.rows.map((row) => [
        row.setup,
        formatNumber(row.meanPerTurn, 0),
        formatNumber(row.maxRequest, 0),
        formatNumber(row.lastTurn, 0),
        `${row.overBudget} of ${row.requests}`,
        `${formatNumber(row.memoriesPerTurn, 0)} (${formatNumber(row.onTopicPerTurn, 1)})`,
      ]),
    ),
  );
  const budgeted = memoryBudget.rows.at(-1);
  console.log(
    `\n✓ contextBudget held: none of the ${budgeted?.requests} requests of the budgeted setup counted more than ${memoryBudget.maxInputTokens.toLocaleString('en-US')} tokens (largest ${formatNumber(budgeted?.maxRequest ?? 0, 0)}). Tokens counted with ${memoryBudget.counter}.`,
  );

  const outDir = join(root, '.bench-results');
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  const report = {
    node: process.version,
    mode: quick ? 'quick' : 'full',
    durationMs: Date.now() - started,
    turnOverhead: turnResults,
    ratios,
    floors,
    throughput,
    memorySearch,
    redisCommands,
    redisSearch,
    postgres,
    studio,
    context,
    memoryBudget,
  };
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(outDir, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nJSON written to ${file}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
