/**
 * `RedisMemoryDb.searchMemories` latency: exact cosine ranking over every memory of one user, at
 * 1,000, 10,000 and 100,000 memories (256 dimensions, the `MockEmbedder` default; limit 10). The
 * same user grows from one size to the next; each search is one `HGETALL` of the user's vectors,
 * the ranking in this process, and one `MULTI` for the winners.
 */
import { RedisMemoryDb } from '@buddy/db-redis';
import { type Summary, summarize } from './stats.ts';

export interface SearchRow extends Summary {
  memories: number;
  dimensions: number;
}

/** A deterministic PRNG (mulberry32), so every run searches the same vectors. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export async function measureRedisSearch(
  url: string,
  deletePrefix: (prefix: string) => Promise<void>,
  options: { sizes: readonly number[]; samples: (memories: number) => number; dimensions?: number },
): Promise<SearchRow[]> {
  const dimensions = options.dimensions ?? 256;
  const prefix = `buddy-bench-search:${process.pid}:${Date.now()}:`;
  const db = new RedisMemoryDb({ url, prefix });
  const next = random(7);
  const vector = () => Array.from({ length: dimensions }, () => next() * 2 - 1);
  const userId = 'bench-user';
  const rows: SearchRow[] = [];
  try {
    let stored = 0;
    for (const memories of options.sizes) {
      // Concurrent upserts: ioredis pipelines what is in flight, so filling stays quick.
      while (stored < memories) {
        const batch = Math.min(500, memories - stored);
        await Promise.all(
          Array.from({ length: batch }, (_, offset) =>
            db.upsertMemory({
              id: `memory-${stored + offset}`,
              userId,
              memory: `fact number ${stored + offset} about the user`,
              embedding: vector(),
            }),
          ),
        );
        stored += batch;
      }
      await db.searchMemories({ userId, embedding: vector(), limit: 10 }); // warm up
      const samples: number[] = [];
      for (let sample = 0; sample < options.samples(memories); sample++) {
        const embedding = vector();
        const started = process.hrtime.bigint();
        const found = await db.searchMemories({ userId, embedding, limit: 10 });
        samples.push(Number(process.hrtime.bigint() - started) / 1_000);
        if (found.length !== 10) throw new Error(`searchMemories returned ${found.length} rows`);
      }
      rows.push({ memories, dimensions, ...summarize(samples) });
    }
  } finally {
    await db.close();
    await deletePrefix(prefix);
  }
  return rows;
}
