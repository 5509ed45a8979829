/**
 * `MockEmbedder`: a deterministic, offline `Embedder` (SPEC §13.1) for tests and the offline demo.
 *
 * A text becomes a hashed bag of words: lowercased, accents folded, split into letter/digit runs,
 * common English stopwords dropped, each word lightly stemmed (`memories` → `memory`, `cooking` →
 * `cook`), then each stem adds `1 + ln(count)` to two of `dimensions` buckets (chosen and signed
 * by 32-bit FNV-1a hashes, mixed), and the vector is L2-normalized. So texts that share words have a
 * high cosine similarity, texts that share none are near 0, and the same text gives the same
 * vector in every instance and every process. It knows no synonyms: "car" and "automobile" are
 * unrelated to it.
 */
import { BuddyError, describeValue, type Embedder } from '@buddy/core';
import { readOptions } from '@buddy/core/adapter-utils';

/** The vector length when `dimensions` is not given. */
export const DEFAULT_MOCK_EMBEDDER_DIMENSIONS = 256;

/** The largest `dimensions` accepted. */
export const MAX_MOCK_EMBEDDER_DIMENSIONS = 65_536;

/** Options of `new MockEmbedder(...)`; every one is optional. */
export interface MockEmbedderOptions {
  /** Vector length, an integer from 1 to 65,536. Default 256. */
  dimensions?: number;
  /** Wait this long before answering (abortable), to simulate latency. Default 0. */
  latencyMs?: number;
  /** Default `'mock-embedder'`. */
  id?: string;
  /** Default `'mock'`. */
  provider?: string;
}

const OPTION_KEYS = ['dimensions', 'latencyMs', 'id', 'provider'] as const;

// Function words that would make every question look like every memory.
const STOPWORDS = new Set(
  (
    'a about an and any are as at be been but by can could did do does for from had has have he her ' +
    'his how i ' +
    'if in into is it its just may me might must my no not of on or our shall she should so some ' +
    'than that the their them then there these they this those to us was we were what when where ' +
    'which who why will with would you your'
  ).split(' '),
);

function invalid(message: string): BuddyError {
  return new BuddyError({ code: 'INVALID_ARGUMENT', message: `MockEmbedder: ${message}` });
}

function abortError(signal: AbortSignal): BuddyError {
  return new BuddyError({
    code: 'ABORTED',
    message: 'MockEmbedder: the call was aborted',
    cause: signal.reason,
  });
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal as AbortSignal));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A light English stemmer: plural and verb endings, a doubled last consonant, a final e. */
export function stemWord(word: string): string {
  let stem = word;
  if (stem.length > 4 && stem.endsWith('ies')) stem = `${stem.slice(0, -3)}y`;
  else if (stem.length > 4 && /(ss|x|z|ch|sh)es$/.test(stem)) stem = stem.slice(0, -2);
  else if (stem.length > 3 && stem.endsWith('s') && !/(ss|us|is)$/.test(stem)) {
    stem = stem.slice(0, -1);
  }
  if (stem.length > 5 && stem.endsWith('ing')) stem = stem.slice(0, -3);
  else if (stem.length > 4 && stem.endsWith('ed')) stem = stem.slice(0, -2);
  if (stem !== word && /([b-df-hj-np-tv-z])\1$/.test(stem) && !/(ll|ss|zz)$/.test(stem)) {
    stem = stem.slice(0, -1);
  }
  if (stem.length > 3 && stem.endsWith('e')) stem = stem.slice(0, -1);
  return stem;
}

/** The features of a text: stems of its content words (all words when it has no other). */
export function textFeatures(text: string): string[] {
  const words =
    text
      .normalize('NFKD')
      .replace(/\p{M}/gu, '')
      .toLowerCase()
      .match(/[\p{L}\p{N}]+/gu) ?? [];
  const content = words.filter((word) => !STOPWORDS.has(word));
  const chosen = content.length > 0 ? content : words;
  // Punctuation or whitespace only: the text itself is its one feature.
  return chosen.length > 0 ? chosen.map(stemWord) : [`\u0000${text}`];
}

/** The seeds of the two hashes of each feature (FNV-1a's offset basis, and another). */
const HASH_SEEDS = [0x811c9dc5, 0x5bd1e995] as const;

/**
 * 32-bit FNV-1a over UTF-16 code units, then MurmurHash3's finalizer: FNV's low bits are weak,
 * and bucket indexes (`hash % dimensions`, often a power of two) are exactly those bits.
 */
function fnv1a(text: string, seed = 0x811c9dc5): number {
  let hash = seed;
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

/**
 * The vector of one text: the same for the same text and `dimensions`, everywhere.
 *
 * @example
 * cosine(embedText('I drink coffee', 256), embedText('coffee every morning', 256)) > 0.3
 */
export function embedText(text: string, dimensions: number): number[] {
  const counts = new Map<string, number>();
  for (const feature of textFeatures(text)) counts.set(feature, (counts.get(feature) ?? 0) + 1);
  const vector = new Array<number>(dimensions).fill(0);
  for (const [feature, count] of counts) {
    const weight = 1 + Math.log(count);
    // Each feature lands in two signed buckets: two different words rarely share both, so a hash
    // collision counts half as much as a shared word, and signs make collisions cancel on average.
    for (const seed of HASH_SEEDS) {
      const hash = fnv1a(feature, seed);
      const bucket = hash % dimensions;
      const sign = hash & 0x80000000 ? -1 : 1;
      vector[bucket] = (vector[bucket] ?? 0) + sign * weight;
    }
  }
  let norm = 0;
  for (const value of vector) norm += value * value;
  norm = Math.sqrt(norm);
  if (norm === 0) {
    // Every feature cancelled out (possible only with tiny `dimensions`): a fixed direction.
    vector[fnv1a(text) % dimensions] = 1;
    return vector;
  }
  return vector.map((value) => value / norm);
}

/**
 * @example
 * const embedder = new MockEmbedder({ dimensions: 64 });
 * const [coffee, tea] = await embedder.embed(['I like coffee', 'coffee or tea?']);
 * const memory = new AgentMemory({ db, model, embedder, retrieval: 'relevant' });
 */
export class MockEmbedder implements Embedder {
  readonly specificationVersion = 'v1' as const;
  readonly provider: string;
  readonly id: string;
  readonly dimensions: number;
  /** The texts of every `embed()` call that was answered or is pending, in order (copies). */
  readonly calls: string[][] = [];
  readonly #latencyMs: number;

  constructor(options: MockEmbedderOptions = {}) {
    readOptions(options, 'MockEmbedder: options', OPTION_KEYS);
    const {
      dimensions = DEFAULT_MOCK_EMBEDDER_DIMENSIONS,
      latencyMs = 0,
      id = 'mock-embedder',
      provider = 'mock',
    } = options;
    if (
      !Number.isInteger(dimensions) ||
      dimensions < 1 ||
      dimensions > MAX_MOCK_EMBEDDER_DIMENSIONS
    ) {
      throw invalid(
        `dimensions must be an integer from 1 to ${MAX_MOCK_EMBEDDER_DIMENSIONS}, got ${describeValue(dimensions)}`,
      );
    }
    if (typeof latencyMs !== 'number' || !Number.isFinite(latencyMs) || latencyMs < 0) {
      throw invalid(`latencyMs must be a number >= 0, got ${describeValue(latencyMs)}`);
    }
    for (const [key, value] of [
      ['id', id],
      ['provider', provider],
    ] as const) {
      if (typeof value !== 'string' || value === '') {
        throw invalid(`${key} must be a non-empty string, got ${describeValue(value)}`);
      }
    }
    this.dimensions = dimensions;
    this.#latencyMs = latencyMs;
    this.id = id;
    this.provider = provider;
  }

  /** One L2-normalized vector of length `dimensions` per text, in order. */
  async embed(texts: string[], options?: { signal?: AbortSignal }): Promise<number[][]> {
    const { signal } = readOptions<{ signal: AbortSignal }>(
      options,
      'MockEmbedder.embed: options',
      ['signal'],
    );
    if (!Array.isArray(texts)) {
      throw invalid(`embed(texts) needs an array of strings, got ${describeValue(texts)}`);
    }
    texts.forEach((text: unknown, index) => {
      if (typeof text !== 'string' || text === '') {
        throw invalid(`texts[${index}] must be a non-empty string, got ${describeValue(text)}`);
      }
    });
    if (signal?.aborted) throw abortError(signal);
    if (texts.length === 0) return [];
    this.calls.push([...texts]);
    if (this.#latencyMs > 0) await sleep(this.#latencyMs, signal);
    if (signal?.aborted) throw abortError(signal);
    return texts.map((text) => embedText(text, this.dimensions));
  }
}
