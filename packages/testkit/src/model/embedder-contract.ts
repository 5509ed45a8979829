/**
 * The `Embedder` contract suite (SPEC §13.1), run unchanged by `MockEmbedder` and
 * `OpenAIEmbedder`:
 *
 * ```ts
 * describeEmbedderContract('OpenAIEmbedder', {
 *   create: () => embedderOverFixtures(),       // answers every call
 *   hang: () => embedderOverFixtures({ delayMs: 60_000 }),
 *   deterministic: true,                        // the fixtures answer the same text the same way
 *   error: (status) => embedderOverFixtures(errorResponse(status)),
 * });
 * ```
 *
 * Capabilities the harness does not claim are skipped, never failed: `deterministic` (same text,
 * same vector, in every call and instance), `similarity` (texts that share words are closer than
 * texts that share none; a real model and `MockEmbedder` both do this, a fixture may not) and
 * `error(status)` (the provider fails with an HTTP status).
 */
import { BuddyError, type BuddyErrorCode, type Embedder } from '@buddy/core';
import { describe, expect, it } from 'vitest';

/** An embedder set up for a case, and what the harness can see of it. */
export interface EmbedderScenario {
  embedder: Embedder;
  /** The requests the provider received so far (one per batch), when the harness sees them. */
  requests?: () => readonly unknown[];
}

type Factory = () => EmbedderScenario | Promise<EmbedderScenario>;

/** What an implementation gives `describeEmbedderContract`: factories and the capabilities it claims. */
export interface EmbedderHarness {
  /** An embedder that answers every call. Called once per case (or twice, for determinism across instances). */
  create: Factory;
  /** An embedder whose calls never answer until aborted. */
  hang: Factory;
  /** Capability: the same text always gives the same vector (every call, every instance of `create`). */
  deterministic?: boolean;
  /** Capability: texts that share words are closer (cosine) than texts that share none. */
  similarity?: boolean;
  /** Capability: the provider fails every call with this HTTP status (401, 429, 500). */
  error?: (status: number) => EmbedderScenario | Promise<EmbedderScenario>;
}

/** Texts the suite embeds. */
export const embedderContract = {
  texts: [
    'The user drinks black coffee every morning.',
    'The user is allergic to peanuts.',
    'The user lives in Paris and works as a nurse.',
  ],
  /** More than one request's worth for the OpenAI API (2,048 inputs), to exercise batching. */
  largeBatchSize: 2_100,
  similar: {
    query: 'How does the user take their coffee in the morning?',
    close: 'The user drinks black coffee every morning.',
    far: 'The quarterly tax report is due in April.',
  },
} as const;

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail, but it resolved');
}

function expectBuddyError(error: unknown, code: BuddyErrorCode): asserts error is BuddyError {
  expect(
    BuddyError.is(error),
    `expected BuddyError ${code}, got ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`,
  ).toBe(true);
  expect((error as BuddyError).code, (error as BuddyError).message).toBe(code);
}

/** Cosine similarity of two vectors of the same length. */
export function cosineSimilarity(a: readonly number[], b: readonly number[]): number {
  let dot = 0;
  let normA = 0;
  let normB = 0;
  for (let index = 0; index < a.length; index++) {
    const x = a[index] ?? 0;
    const y = b[index] ?? 0;
    dot += x * y;
    normA += x * x;
    normB += y * y;
  }
  return normA === 0 || normB === 0 ? 0 : dot / Math.sqrt(normA * normB);
}

function expectVectors(vectors: unknown, count: number, dimensions: number): number[][] {
  expect(Array.isArray(vectors), 'embed() resolves to an array').toBe(true);
  const list = vectors as unknown[];
  expect(list, 'one vector per text').toHaveLength(count);
  list.forEach((vector, index) => {
    expect(
      Array.isArray(vector) && Object.getPrototypeOf(vector) === Array.prototype,
      `vector ${index} is a plain number[] (not a typed array)`,
    ).toBe(true);
    const values = vector as unknown[];
    expect(values, `vector ${index} has length dimensions`).toHaveLength(dimensions);
    let norm = 0;
    for (const value of values) {
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        expect.fail(`vector ${index} holds ${String(value)}, not a finite number`);
      }
      norm += value * value;
    }
    expect(norm, `vector ${index} is not all zeros`).toBeGreaterThan(0);
  });
  return list as number[][];
}

/**
 * Registers the embedder contract cases for one implementation.
 *
 * @example
 * describeEmbedderContract('MockEmbedder', {
 *   create: () => ({ embedder: new MockEmbedder() }),
 *   hang: () => ({ embedder: new MockEmbedder({ latencyMs: 60_000 }) }),
 *   deterministic: true,
 *   similarity: true,
 * });
 */
export function describeEmbedderContract(name: string, harness: EmbedderHarness): void {
  const { texts } = embedderContract;
  const itIf = (capability: unknown) =>
    capability === undefined || capability === false ? it.skip : it;

  describe(`Embedder contract: ${name}`, () => {
    it('declares specificationVersion v1, a provider, an id and integer dimensions', async () => {
      const { embedder } = await harness.create();
      expect(embedder.specificationVersion).toBe('v1');
      expect(typeof embedder.provider === 'string' && embedder.provider.length > 0).toBe(true);
      expect(typeof embedder.id === 'string' && embedder.id.length > 0).toBe(true);
      expect(Number.isInteger(embedder.dimensions) && embedder.dimensions > 0).toBe(true);
    });

    describe('embed()', () => {
      it('returns one vector per text, in order, each of length dimensions, of finite numbers', async () => {
        const { embedder } = await harness.create();
        const vectors = await embedder.embed([...texts]);
        expectVectors(vectors, texts.length, embedder.dimensions);
      });

      it('answers no texts with no vectors, without calling the provider', async () => {
        const scenario = await harness.create();
        expect(await scenario.embedder.embed([])).toEqual([]);
        if (scenario.requests !== undefined) expect(scenario.requests()).toHaveLength(0);
      });

      it('embeds a batch larger than one provider request, in order', async () => {
        const { embedder } = await harness.create();
        const many = Array.from(
          { length: embedderContract.largeBatchSize },
          (_, index) => `Memory number ${index}: the user mentioned topic ${index % 97}.`,
        );
        const vectors = expectVectors(await embedder.embed(many), many.length, embedder.dimensions);
        if (harness.deterministic === true) {
          for (const index of [0, 1, 2047, 2048, many.length - 1]) {
            const [alone] = await embedder.embed([many[index] as string]);
            expect(vectors[index], `vector ${index} is that of text ${index}`).toEqual(alone);
          }
        }
      });

      it('rejects what is not an array of non-empty strings with INVALID_ARGUMENT, sending nothing', async () => {
        const scenario = await harness.create();
        const { embedder } = scenario;
        for (const [bad, path] of [
          ['not an array', undefined],
          [['fine', ''], 'texts[1]'],
          [['fine', 42], 'texts[1]'],
          [[null], 'texts[0]'],
        ] as const) {
          const error = await rejection(embedder.embed(bad as never));
          expectBuddyError(error, 'INVALID_ARGUMENT');
          if (path !== undefined) expect(error.message).toContain(path);
        }
        if (scenario.requests !== undefined) expect(scenario.requests()).toHaveLength(0);
      });

      it('rejects unknown call options with INVALID_ARGUMENT naming the key', async () => {
        const { embedder } = await harness.create();
        const error = await rejection(embedder.embed(['x'], { sginal: undefined } as never));
        expectBuddyError(error, 'INVALID_ARGUMENT');
        expect(error.message).toContain('sginal');
      });
    });

    describe('determinism (capability: deterministic)', () => {
      itIf(harness.deterministic)(
        'gives the same vector for the same text, across calls and instances',
        async () => {
          const first = (await harness.create()).embedder;
          const second = (await harness.create()).embedder;
          const a = await first.embed([...texts]);
          expect(await first.embed([...texts])).toEqual(a);
          expect(await second.embed([...texts])).toEqual(a);
        },
      );

      itIf(harness.deterministic)(
        'gives a text the same vector whatever it is batched with, and keeps input order',
        async () => {
          const { embedder } = await harness.create();
          const [a, b] = texts;
          const [aAlone] = await embedder.embed([a]);
          const [bFirst, aSecond] = await embedder.embed([b, a]);
          expect(aSecond).toEqual(aAlone);
          expect(bFirst).not.toEqual(aAlone);
          const [x, y] = await embedder.embed([a, a]);
          expect(x).toEqual(y);
        },
      );
    });

    describe('similarity (capability: similarity)', () => {
      itIf(harness.similarity)(
        'puts texts that share words closer than texts that share none',
        async () => {
          const { embedder } = await harness.create();
          const { query, close, far } = embedderContract.similar;
          const [q, c, f] = await embedder.embed([query, close, far]);
          const closeScore = cosineSimilarity(q as number[], c as number[]);
          const farScore = cosineSimilarity(q as number[], f as number[]);
          expect(closeScore).toBeGreaterThan(farScore);
          expect(closeScore).toBeGreaterThan(0.2);
        },
      );
    });

    describe('abort', () => {
      it('rejects with ABORTED when the signal already fired, sending nothing', async () => {
        const scenario = await harness.create();
        const controller = new AbortController();
        controller.abort();
        const error = await rejection(
          scenario.embedder.embed([...texts], { signal: controller.signal }),
        );
        expectBuddyError(error, 'ABORTED');
        if (scenario.requests !== undefined) expect(scenario.requests()).toHaveLength(0);
      });

      it('rejects a pending call with ABORTED when the signal fires', async () => {
        const { embedder } = await harness.hang();
        const controller = new AbortController();
        const pending = rejection(embedder.embed([...texts], { signal: controller.signal }));
        await new Promise((resolve) => setTimeout(resolve, 20));
        controller.abort();
        expectBuddyError(await pending, 'ABORTED');
      });
    });

    describe('errors (capability: error)', () => {
      const table: [number, BuddyErrorCode, boolean][] = [
        [401, 'MODEL_AUTH_FAILED', false],
        [429, 'MODEL_RATE_LIMITED', true],
        [500, 'MODEL_UNAVAILABLE', true],
      ];
      for (const [status, code, retryable] of table) {
        itIf(harness.error)(
          `maps HTTP ${status} to ${code} (retryable: ${retryable})`,
          async () => {
            const make = harness.error as NonNullable<EmbedderHarness['error']>;
            const scenario = await make(status);
            const error = await rejection(scenario.embedder.embed([...texts]));
            expectBuddyError(error, code);
            expect(error.retryable).toBe(retryable);
            expect(error.cause, 'the vendor error is kept as cause').toBeDefined();
            if (scenario.requests !== undefined) {
              expect(scenario.requests(), 'one request, no hidden retries').toHaveLength(1);
            }
          },
        );
      }
    });

    it('closes idempotently when it has close()', async () => {
      const { embedder } = await harness.create();
      if (embedder.close === undefined) return;
      await embedder.close();
      await embedder.close();
    });
  });
}
