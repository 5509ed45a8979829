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

/**
 * An `HGETALL` reply as a flat `[field, value, field, value, ...]` list of buffers, whatever shape
 * the client hands back (flat RESP2 array, `[field, value]` pairs, or a RESP3 `Map`).
 */
export function flatHashReply(reply: unknown): Buffer[] {
  const toBuffer = (value: unknown) =>
    Buffer.isBuffer(value) ? value : Buffer.from(String(value));
  if (reply instanceof Map) {
    return [...reply].flatMap(([field, value]) => [toBuffer(field), toBuffer(value)]);
  }
  if (!Array.isArray(reply)) return [];
  if (reply.length > 0 && Array.isArray(reply[0])) {
    return (reply as unknown[][]).flatMap(([field, value]) => [toBuffer(field), toBuffer(value)]);
  }
  return (reply as unknown[]).map(toBuffer);
}

interface Candidate {
  field: Buffer;
  /** Decoded only when needed: for a tie, and for the winners. */
  id: string | undefined;
  score: number;
  vector: Buffer;
}

function idOf(candidate: Candidate): string {
  candidate.id ??= candidate.field.toString('utf8');
  return candidate.id;
}

/** Best first; equal scores by id (as strings), as the in-memory reference orders them. */
function isBefore(a: Candidate, b: Candidate): boolean {
  if (a.score !== b.score) return a.score > b.score;
  return idOf(a) < idOf(b);
}

/**
 * The `limit` best vectors of a flat `HGETALL` reply (memory id, stored bytes, ...) by cosine
 * similarity to `query`, best first. Vectors of another length than the query's are not
 * compared. O(vectors × dimensions); ids are decoded only for ties and winners.
 */
export function rankEmbeddings(
  query: readonly number[],
  flat: readonly Buffer[],
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
  const best: Candidate[] = [];
  for (let position = 0; position + 1 < flat.length; position += 2) {
    const vector = flat[position + 1] as Buffer;
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
    const worst = best[limit - 1];
    if (worst !== undefined && score < worst.score) continue;
    const candidate: Candidate = { field: flat[position] as Buffer, id: undefined, score, vector };
    if (worst !== undefined && !isBefore(candidate, worst)) continue;
    // Binary insertion into the sorted top list (at most 1000 long).
    let low = 0;
    let high = best.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (isBefore(best[middle] as Candidate, candidate)) low = middle + 1;
      else high = middle;
    }
    best.splice(low, 0, candidate);
    if (best.length > limit) best.pop();
  }
  // Copies: the reply's buffers may share one large chunk that should not stay alive.
  return best.map((candidate) => ({
    id: idOf(candidate),
    score: candidate.score,
    bytes: Buffer.from(candidate.vector),
  }));
}
