/**
 * The in-process search cache of `PostgresMemoryDb` (see
 * docs/decisions/2026-12-02-postgres-memory-search-cache.md).
 *
 * Per (user, dimensions) it holds that user's memories with an embedding of that length: the
 * row's columns as read (the body is parsed into a `UserMemory` only when the memory is returned)
 * and the unit vector as a `Float64Array`, plus the `(rev, epoch)` of the user's revision row
 * the entry was read at. The cache never decides what is current: every search asks PostgreSQL
 * for the user's `(rev, epoch)` and the rows written after `rev` (see `searchCache` in
 * `memory-schema.ts`); this module only keeps entries, evicts the least recently used ones when
 * their estimated size passes `maxBytes`, remembers users too large to keep, decodes the binary
 * `float8[]` PostgreSQL sends, and ranks exactly like the SQL statement does.
 */
import { BuddyError, describeValue } from '@buddy/core';
import { isPlainObject, readOptions } from '@buddy/core/adapter-utils';

/** Default `searchCache.maxBytes`: 64 MiB. */
export const DEFAULT_SEARCH_CACHE_BYTES = 64 * 1024 * 1024;
/** How long a (user, dimensions) found too large for the cache is searched in SQL before retrying. */
export const OVERSIZE_RETRY_MS = 60_000;
/** Estimated bytes of one cached memory besides its vector and strings (objects, map slot). */
export const ENTRY_OVERHEAD_BYTES = 160;

/** The `searchCache` option of `PostgresMemoryDb`. */
export interface SearchCacheOptions {
  /**
   * Most bytes (estimated: dimensions × 8 per vector, plus the memory's text and ~160 bytes) the
   * cache holds over all users; least recently searched users are dropped first. Default 64 MiB.
   */
  maxBytes?: number;
}

/** Checks the option: `undefined` → the default size, `false` → no cache. */
export function readSearchCacheOption(value: unknown, who: string): { maxBytes: number } | false {
  if (value === undefined) return { maxBytes: DEFAULT_SEARCH_CACHE_BYTES };
  if (value === false) return false;
  if (!isPlainObject(value)) {
    throw new BuddyError({
      code: 'INVALID_ARGUMENT',
      message: `${who}: option 'searchCache' must be false or an object { maxBytes?: number }, got ${describeValue(value)}`,
    });
  }
  const { maxBytes } = readOptions<{ maxBytes: unknown }>(value, `${who}: option 'searchCache'`, [
    'maxBytes',
  ]);
  if (maxBytes === undefined) return { maxBytes: DEFAULT_SEARCH_CACHE_BYTES };
  if (typeof maxBytes !== 'number' || !Number.isSafeInteger(maxBytes) || maxBytes < 1) {
    throw new BuddyError({
      code: 'INVALID_ARGUMENT',
      message: `${who}: option 'searchCache.maxBytes' must be an integer >= 1 (bytes), got ${describeValue(maxBytes)}`,
    });
  }
  return { maxBytes };
}

/** One cached memory: its columns as read and its unit vector. */
export interface CachedMemory {
  id: string;
  createdAt: number;
  updatedAt: number;
  /** The `body` column as node-postgres parsed it (validated when returned). */
  body: unknown;
  rev: number;
  vector: Float64Array;
  bytes: number;
}

/** The cached memories of one user with embeddings of one length. */
export interface CacheEntry {
  readonly key: string;
  readonly userId: string;
  readonly dimensions: number;
  /** The user's revision row this entry is complete at. */
  rev: number;
  epoch: number;
  /** Bumped by every change, so a search can tell whether the entry moved while it waited. */
  version: number;
  bytes: number;
  readonly memories: Map<string, CachedMemory>;
}

function corrupt(id: string, issue: string): BuddyError {
  return new BuddyError({
    code: 'STORAGE_CORRUPT',
    message: `Memory ${describeValue(id)} is corrupt: its embedding ${issue}`,
  });
}

/** Header (20 bytes for one dimension) then, per element, a 4-byte length and 8 bytes of float8. */
const ARRAY_HEADER_BYTES = 20;
const FLOAT8_OID = 701;

/**
 * Decodes `array_send(embedding)` (PostgreSQL's binary form of a one-dimensional `float8[]`,
 * big-endian) into a `Float64Array` of `dimensions` values; `STORAGE_CORRUPT` naming the memory
 * when it is anything else (other element type, NULL elements, wrong length).
 */
export function decodeFloat8Array(bytes: Uint8Array, dimensions: number, id: string): Float64Array {
  if (bytes.byteLength !== ARRAY_HEADER_BYTES + dimensions * 12) {
    throw corrupt(id, `is ${bytes.byteLength} bytes, not ${dimensions} float8 values`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (
    view.getInt32(0) !== 1 ||
    view.getInt32(4) !== 0 ||
    view.getUint32(8) !== FLOAT8_OID ||
    view.getInt32(12) !== dimensions
  ) {
    throw corrupt(id, 'is not a one-dimensional float8 array without NULLs');
  }
  const vector = new Float64Array(dimensions);
  let offset = ARRAY_HEADER_BYTES;
  for (let index = 0; index < dimensions; index++) {
    if (view.getInt32(offset) !== 8) throw corrupt(id, `has a bad element at ${index}`);
    vector[index] = view.getFloat64(offset + 4);
    offset += 12;
  }
  return vector;
}

/** Rough heap bytes of a JSON value (UTF-16 strings, small object overheads). */
function jsonBytes(value: unknown): number {
  if (typeof value === 'string') return 16 + value.length * 2;
  if (Array.isArray(value)) {
    let total = 16;
    for (const item of value) total += 8 + jsonBytes(item);
    return total;
  }
  if (typeof value === 'object' && value !== null) {
    let total = 16;
    for (const [key, item] of Object.entries(value)) total += 8 + key.length * 2 + jsonBytes(item);
    return total;
  }
  return 8;
}

/** The estimated bytes of one cached memory. */
export function cachedMemoryBytes(id: string, body: unknown, dimensions: number): number {
  return ENTRY_OVERHEAD_BYTES + dimensions * 8 + id.length * 2 + jsonBytes(body);
}

/**
 * Orders ids like PostgreSQL's `COLLATE "C"` (UTF-8 bytes, i.e. code points): UTF-16 code units
 * compare the same way except that surrogates (code points above U+FFFF) sort after U+E000–U+FFFF.
 */
export function compareIds(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let index = 0; index < length; index++) {
    let x = a.charCodeAt(index);
    let y = b.charCodeAt(index);
    if (x === y) continue;
    if (x >= 0xd800) x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
    if (y >= 0xd800) y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    return x - y;
  }
  return a.length - b.length;
}

/** A cached memory with its score. */
export interface RankedMemory {
  memory: CachedMemory;
  score: number;
}

/** The scores of `memories[from..to)` (at most 4) into `scores`, in the SQL statement's order. */
function scoreFour(
  memories: readonly CachedMemory[],
  from: number,
  query: Float64Array,
  scores: Float64Array,
): void {
  // Four rows at once: four independent sums keep the CPU busy, and each one still adds its
  // products in element order starting from the first, exactly as `sum(a * b)` does.
  const dimensions = query.length;
  const a = (memories[from] as CachedMemory).vector;
  const b = (memories[from + 1] as CachedMemory).vector;
  const c = (memories[from + 2] as CachedMemory).vector;
  const d = (memories[from + 3] as CachedMemory).vector;
  const first = query[0] as number;
  let sa = (a[0] as number) * first;
  let sb = (b[0] as number) * first;
  let sc = (c[0] as number) * first;
  let sd = (d[0] as number) * first;
  for (let index = 1; index < dimensions; index++) {
    const value = query[index] as number;
    sa += (a[index] as number) * value;
    sb += (b[index] as number) * value;
    sc += (c[index] as number) * value;
    sd += (d[index] as number) * value;
  }
  scores[0] = sa;
  scores[1] = sb;
  scores[2] = sc;
  scores[3] = sd;
}

/** The score of one memory, in the SQL statement's order. */
export function scoreVector(vector: Float64Array, query: Float64Array): number {
  let score = (vector[0] as number) * (query[0] as number);
  for (let index = 1; index < query.length; index++) {
    score += (vector[index] as number) * (query[index] as number);
  }
  return score;
}

/**
 * The best `limit` memories of `entry` for the unit vector `query`, best first, ties by id: the
 * same order and the same scores as the SQL statement (`sum(a * b)` adds the products in element
 * order starting from the first one, as this code does, so the floating-point result is identical).
 */
export function rankEntry(entry: CacheEntry, query: Float64Array, limit: number): RankedMemory[] {
  const best: RankedMemory[] = [];
  const offer = (memory: CachedMemory, score: number): void => {
    if (best.length === limit) {
      const worst = best[limit - 1] as RankedMemory;
      if (
        score < worst.score ||
        (score === worst.score && compareIds(memory.id, worst.memory.id) > 0)
      )
        return;
      best.pop();
    }
    // Insertion into a short sorted list (limit is at most 1000, usually 10).
    let at = best.length;
    while (at > 0) {
      const before = best[at - 1] as RankedMemory;
      if (
        before.score > score ||
        (before.score === score && compareIds(before.memory.id, memory.id) < 0)
      )
        break;
      at -= 1;
    }
    best.splice(at, 0, { memory, score });
  };
  const memories = Array.from(entry.memories.values());
  const scores = new Float64Array(4);
  let index = 0;
  for (; index + 4 <= memories.length; index += 4) {
    scoreFour(memories, index, query, scores);
    for (let lane = 0; lane < 4; lane++) {
      offer(memories[index + lane] as CachedMemory, scores[lane] as number);
    }
  }
  for (; index < memories.length; index++) {
    const memory = memories[index] as CachedMemory;
    offer(memory, scoreVector(memory.vector, query));
  }
  return best;
}

/**
 * The entries of one db: an LRU over (user, dimensions) by estimated bytes, plus the (user,
 * dimensions) pairs recently found too large to keep.
 */
export class SearchCache {
  readonly maxBytes: number;
  /** Map order is recency order: the first entry is the least recently used. */
  readonly #entries = new Map<string, CacheEntry>();
  readonly #oversize = new Map<string, number>();
  #bytes = 0;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  /** The key of a (user, dimensions) pair. */
  static key(userId: string, dimensions: number): string {
    return `${dimensions}:${userId}`;
  }

  /** Total estimated bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Number of (user, dimensions) entries held. */
  get size(): number {
    return this.#entries.size;
  }

  /** The entry, marked as most recently used. */
  get(key: string): CacheEntry | undefined {
    const entry = this.#entries.get(key);
    if (entry !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, entry);
    }
    return entry;
  }

  /** The entry without touching its recency. */
  peek(key: string): CacheEntry | undefined {
    return this.#entries.get(key);
  }

  /** Whether the pair was found too large within the last `OVERSIZE_RETRY_MS`. */
  isOversize(key: string, now = Date.now()): boolean {
    const until = this.#oversize.get(key);
    if (until === undefined) return false;
    if (until > now) return true;
    this.#oversize.delete(key);
    return false;
  }

  /** Records that the pair does not fit (searched in SQL for a while). */
  markOversize(key: string, now = Date.now()): void {
    this.delete(key);
    this.#oversize.set(key, now + OVERSIZE_RETRY_MS);
  }

  /** Stores (or replaces) an entry; false, and the pair marked oversize, when it alone is too large. */
  store(entry: CacheEntry): boolean {
    this.delete(entry.key);
    if (entry.bytes > this.maxBytes) {
      this.markOversize(entry.key);
      return false;
    }
    this.#entries.set(entry.key, entry);
    this.#bytes += entry.bytes;
    this.#evict(entry.key);
    return true;
  }

  /** After an entry changed in place by `delta` bytes: evicts, or drops it when it grew too large. */
  resized(entry: CacheEntry, delta: number): void {
    if (this.#entries.get(entry.key) !== entry) return;
    this.#bytes += delta;
    if (entry.bytes > this.maxBytes) {
      this.markOversize(entry.key);
      return;
    }
    this.#evict(entry.key);
  }

  /** Drops an entry. */
  delete(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
  }

  /** Drops every entry of one user (any dimensions). */
  deleteUser(userId: string): void {
    for (const entry of [...this.#entries.values()]) {
      if (entry.userId === userId) this.delete(entry.key);
    }
  }

  /** Drops everything. */
  clear(): void {
    this.#entries.clear();
    this.#oversize.clear();
    this.#bytes = 0;
  }

  #evict(keep: string): void {
    for (const [key, entry] of this.#entries) {
      if (this.#bytes <= this.maxBytes) return;
      if (key === keep) continue;
      this.#entries.delete(key);
      this.#bytes -= entry.bytes;
    }
  }
}
