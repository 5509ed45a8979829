/**
 * `SqliteMemoryDb.searchMemories` latency (sqlite-vec, exact cosine KNN over one user's
 * partition) on a file with 1,000, 10,000 and 100,000 memories of one user, plus 1,000 memories
 * of another user that a search must never read. The memories are written through
 * `upsertMemory` with random embeddings, the file grows from one size to the next, and each size
 * is measured with `limit: 10` on fresh random queries by a db opened anew on the file (as a
 * process would be: its WAL checkpointed into the file; `justWritten` also measures the db that
 * wrote them, whose last writes are still in the WAL). Target: ≤ 5 ms at 10,000.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteMemoryDb } from '@buddy/db-sqlite';
import { type Summary, summarize } from './stats.ts';

export interface MemorySearchResult extends Summary {
  dimensions: number;
  memories: number;
  /** The same searches on the connection that just wrote the memories. */
  justWritten: Summary;
}

async function searchTimes(
  db: SqliteMemoryDb,
  vector: () => number[],
  warmup: number,
  queries: number,
): Promise<Summary> {
  for (let index = 0; index < warmup; index++) {
    await db.searchMemories({ userId: 'bench-user', embedding: vector(), limit: 10 });
  }
  const samples: number[] = [];
  for (let index = 0; index < queries; index++) {
    const embedding = vector();
    const started = process.hrtime.bigint();
    const found = await db.searchMemories({ userId: 'bench-user', embedding, limit: 10 });
    samples.push(Number(process.hrtime.bigint() - started) / 1000);
    if (found.length !== 10) throw new Error(`searchMemories returned ${found.length} rows`);
  }
  return summarize(samples);
}

/** A deterministic pseudo-random generator: every run searches the same data. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

export async function measureMemorySearch(options: {
  sizes: readonly number[];
  dimensions: readonly number[];
  warmup: number;
  queries: number;
  /** Fewer queries for sizes at or above this, where one search takes tens of milliseconds. */
  largeSize?: number;
}): Promise<MemorySearchResult[]> {
  const results: MemorySearchResult[] = [];
  for (const dimensions of options.dimensions) {
    const dir = mkdtempSync(join(tmpdir(), 'buddy-bench-vectors-'));
    const dbFile = join(dir, 'memories.db');
    const next = random(dimensions);
    const vector = () => Array.from({ length: dimensions }, () => next() * 2 - 1);
    try {
      let stored = 0;
      for (const size of options.sizes) {
        const large = options.largeSize !== undefined && size >= options.largeSize;
        const queries = large ? Math.max(20, Math.floor(options.queries / 10)) : options.queries;
        const warmup = large ? 3 : options.warmup;
        const writer = new SqliteMemoryDb({ dbFile });
        let justWritten: Summary;
        try {
          if (stored === 0) {
            for (let index = 0; index < 1_000; index++) {
              await writer.upsertMemory({
                userId: 'someone-else',
                memory: `other ${index}`,
                embedding: vector(),
              });
            }
          }
          for (; stored < size; stored++) {
            await writer.upsertMemory({
              userId: 'bench-user',
              memory: `memory ${stored}`,
              embedding: vector(),
            });
          }
          justWritten = await searchTimes(writer, vector, warmup, queries);
        } finally {
          // Closing checkpoints the WAL into the file.
          await writer.close();
        }
        const reader = new SqliteMemoryDb({ dbFile });
        try {
          const opened = await searchTimes(reader, vector, warmup, queries);
          results.push({ ...opened, dimensions, memories: size, justWritten });
        } finally {
          await reader.close();
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return results;
}
