/**
 * The Redis the tests talk to: `BUDDY_REDIS_URL`, else a local server. Probed once per test file.
 * In CI an unreachable server fails the run (Redis tests are never skipped there); locally the
 * tests are skipped with a visible notice.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';

export const REDIS_URL = process.env.BUDDY_REDIS_URL ?? 'redis://127.0.0.1:6379';

function isCi(): boolean {
  const value = process.env.CI;
  return value !== undefined && value !== '' && value !== 'false' && value !== '0';
}

async function ping(): Promise<string | undefined> {
  const client = new Redis(REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 2_000,
    retryStrategy: () => null,
  });
  let connectionError: Error | undefined;
  client.on('error', (error: Error) => {
    connectionError ??= error;
  });
  try {
    await client.connect();
    const answer = await client.ping();
    return answer === 'PONG' ? undefined : `PING answered ${answer}`;
  } catch (error) {
    return (connectionError ?? (error instanceof Error ? error : new Error(String(error)))).message;
  } finally {
    client.disconnect();
  }
}

let probe: Promise<boolean> | undefined;

/**
 * Whether Redis answers. Throws in CI when it does not; elsewhere warns and returns `false`, so
 * callers skip their suites.
 */
export function requireRedis(): Promise<boolean> {
  probe ??= ping().then((problem) => {
    if (problem === undefined) return true;
    if (isCi()) {
      throw new Error(
        `Redis is required in CI: ${REDIS_URL} does not answer (${problem}). Start redis-server or set BUDDY_REDIS_URL.`,
      );
    }
    // biome-ignore lint/suspicious/noConsole: the skip notice must be visible
    console.warn(
      `[@buddy/db-redis] SKIPPING Redis tests: ${REDIS_URL} does not answer (${problem}). Start redis-server or set BUDDY_REDIS_URL.`,
    );
    return false;
  });
  return probe;
}

/** A key prefix no other test uses. */
export function testPrefix(): string {
  return `buddy-test:${randomUUID()}:`;
}

/** A plain client for inspecting and corrupting keys. */
export function rawClient(): Redis {
  return new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
}

/** Deletes every key under `prefix`. SCAN is fine here: tests only, never the package code. */
export async function deletePrefix(client: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) await client.del(...keys);
  } while (cursor !== '0');
}

/** The `{hash tag}` Redis (Cluster) would hash for `key`, or the whole key when it has none. */
export function hashTagOf(key: string): string {
  const open = key.indexOf('{');
  if (open === -1) return key;
  const close = key.indexOf('}', open + 1);
  if (close === -1 || close === open + 1) return key;
  return key.slice(open + 1, close);
}

/** Records the commands Redis executes while `work` runs (MONITOR), filtered by `keep`. */
export async function monitorCommands(
  client: Redis,
  keep: (args: string[], source: string) => boolean,
  work: () => Promise<void>,
): Promise<{ args: string[]; source: string }[]> {
  const monitor = await client.monitor();
  // Under traffic from other processes, lines still buffered when the monitor disconnects are
  // parsed as replies to no command, and ioredis emits them as errors; they say nothing about
  // the code under test, and without a listener they would crash the test run.
  monitor.on('error', () => {});
  const seen: { args: string[]; source: string }[] = [];
  const marker = `buddy-monitor-end-${randomUUID()}`;
  let resolveEnd: () => void = () => {};
  const ended = new Promise<void>((resolve) => {
    resolveEnd = resolve;
  });
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (args[0]?.toLowerCase() === 'echo' && args[1] === marker) {
      resolveEnd();
      return;
    }
    if (keep(args, source)) seen.push({ args, source });
  });
  try {
    await work();
    await client.echo(marker);
    await ended;
  } finally {
    monitor.disconnect();
  }
  return seen;
}
