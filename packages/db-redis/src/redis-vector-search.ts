/**
 * Exact vector search for `RedisMemoryDb.searchMemories`: how an embedding is stored (little-endian
 * float64, so the stored vector is exactly the one given) and the ranking of a user's stored
 * vectors against a query, computed here rather than in a Lua script (measured: Lua's `struct`
 * unpacking is four to six times slower and would block the server while it runs).
 *
 * The score is the same double `cosineSimilarity` of `@buddy/core/adapter-utils` computes (same
 * sums in the same order), so Redis ranks exactly like the in-memory reference.
 */
import { endianness } from 'node:os';

const BYTES = Float64Array.BYTES_PER_ELEMENT;
const IS_LITTLE_ENDIAN = endianness() === 'LE';

/** One ranked memory: its id, cosine similarity, and a copy of the vector bytes it was scored on. */
export interface RankedEmbedding {
  id: string;
  score: number;
  bytes: Buffer;
}

/** The stored form of an embedding: 8 bytes per dimension, little-endian float64. */
export function encodeEmbedding(embedding: readonly number[]): Buffer {
  const bytes = Buffer.allocUnsafe(embedding.length * BYTES);
  embedding.forEach((value, index) => {
    bytes.writeDoubleLE(value, index * BYTES);
  });
  return bytes;
}

/** Best first; equal scores by id, as the in-memory reference orders them. */
function isBefore(a: { score: number; id: string }, b: { score: number; id: string }): boolean {
  return a.score > b.score || (a.score === b.score && a.id < b.id);
}

/**
 * The `limit` best of `vectors` (id → stored bytes) by cosine similarity to `query`, best first.
 * Vectors of another length than the query's are not compared. O(vectors × dimensions).
 */
export function rankEmbeddings(
  query: readonly number[],
  vectors: readonly [string, Buffer][],
  limit: number,
): RankedEmbedding[] {
  const dimensions = query.length;
  const size = dimensions * BYTES;
  const q = Float64Array.from(query);
  let normQuery = 0;
  for (let index = 0; index < dimensions; index++) {
    const x = q[index] as number;
    normQuery += x * x;
  }
  // Reply buffers are slices at any byte offset; unaligned ones are copied here before reading.
  const scratch = new Float64Array(dimensions);
  const scratchBytes = new Uint8Array(scratch.buffer);
  const best: { id: string; score: number; vector: Buffer }[] = [];
  for (const [id, vector] of vectors) {
    if (vector.length !== size) continue;
    let values: Float64Array;
    if (IS_LITTLE_ENDIAN && vector.byteOffset % BYTES === 0) {
      values = new Float64Array(vector.buffer, vector.byteOffset, dimensions);
    } else if (IS_LITTLE_ENDIAN) {
      scratchBytes.set(vector);
      values = scratch;
    } else {
      for (let index = 0; index < dimensions; index++) {
        scratch[index] = vector.readDoubleLE(index * BYTES);
      }
      values = scratch;
    }
    let dot = 0;
    let normVector = 0;
    for (let index = 0; index < dimensions; index++) {
      const y = values[index] as number;
      dot += (q[index] as number) * y;
      normVector += y * y;
    }
    const score = normQuery === 0 || normVector === 0 ? 0 : dot / Math.sqrt(normQuery * normVector);
    const candidate = { id, score, vector };
    if (best.length === limit && !isBefore(candidate, best[limit - 1] as (typeof best)[number])) {
      continue;
    }
    // Binary insertion into the sorted top list (at most 1000 long).
    let low = 0;
    let high = best.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (isBefore(best[middle] as (typeof best)[number], candidate)) low = middle + 1;
      else high = middle;
    }
    best.splice(low, 0, candidate);
    if (best.length > limit) best.pop();
  }
  // Copies: the reply's buffers may share one large chunk that should not stay alive.
  return best.map(({ id, score, vector }) => ({ id, score, bytes: Buffer.from(vector) }));
}
