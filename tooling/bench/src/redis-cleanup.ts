/**
 * Bench cleanup only (production code never scans): deletes every key under `prefix` on the
 * server at `url`, a `SCAN` page of 1,000 at a time.
 */
import { Redis } from 'ioredis';

export async function deleteRedisKeysUnder(url: string, prefix: string): Promise<void> {
  const client = new Redis(url);
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
