/**
 * Real OS processes on one Redis: the shared cross-process suite (4 processes × 50 turns, SIGKILL
 * mid-turn, a stalled lease holder fenced) on the standalone server. The Cluster runs it in
 * `redis-cluster.test.ts`.
 */
import { describeCrossProcessContract } from '@buddy/testkit/cross-process';
import {
  deletePrefix,
  REDIS_URL,
  rawClient,
  requireRedis,
  testPrefix,
} from '../test/redis-test-env.ts';

const hasRedis = await requireRedis();

if (hasRedis) {
  describeCrossProcessContract('RedisStorage (standalone)', {
    storageModule: new URL('../test/cross-process-storage.ts', import.meta.url),
    setup: async () => ({ url: REDIS_URL, prefix: testPrefix() }),
    teardown: async (config) => {
      const client = rawClient();
      await deletePrefix(client, config.prefix as string);
      await client.quit();
    },
  });
}
