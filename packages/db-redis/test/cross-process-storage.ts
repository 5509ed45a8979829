/**
 * The factory `describeCrossProcessContract` loads in the test process and in every child: one
 * `RedisStorage` on the key prefix named by the case's config, on a standalone server (`url`) or
 * on a Cluster (`clusterNodes`). A Cluster client is the caller's to close, so the storage made
 * here closes it with itself (a child must exit once its storage is closed).
 */
import { Cluster } from 'ioredis';
import { RedisStorage } from '../src/redis-storage.ts';

/** Where one case's data lives. */
export interface CrossProcessRedisConfig {
  prefix: string;
  url?: string;
  clusterNodes?: { host: string; port: number }[];
}

export function createStorage(config: CrossProcessRedisConfig): RedisStorage {
  if (config.clusterNodes === undefined) {
    return new RedisStorage({ url: config.url as string, prefix: config.prefix });
  }
  const cluster = new Cluster(config.clusterNodes, {
    redisOptions: { commandTimeout: 15_000 },
    clusterRetryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
  });
  cluster.on('error', () => {});
  const storage = new RedisStorage({ client: cluster, prefix: config.prefix });
  const close = storage.close.bind(storage);
  storage.close = async () => {
    await close();
    await cluster.quit().catch(() => cluster.disconnect());
  };
  return storage;
}
