/**
 * The embedder contract (SPEC §13.1): turns texts into vectors, so that memories can be ranked by
 * how close they are to a run's input. Implemented by `OpenAIEmbedder` (`@buddy/model-openai`)
 * and `MockEmbedder` (`@buddy/testkit`); each passes `describeEmbedderContract` from
 * `@buddy/testkit/model`. Types only.
 */

/** A text embedding model (version 1 of the contract). */
export interface EmbedderV1 {
  /** Always `'v1'`. */
  readonly specificationVersion: 'v1';
  /** Provider name, e.g. `'openai'`, `'mock'`. */
  readonly provider: string;
  /** Model id as the provider knows it, e.g. `'text-embedding-3-small'`. */
  readonly id: string;
  /** The length of every vector it returns. */
  readonly dimensions: number;
  /**
   * One vector per text, in order, each of length `dimensions` (plain `number[]`). Failures reject
   * with the model error codes of SPEC §3 (`MODEL_AUTH_FAILED`, `MODEL_RATE_LIMITED`, …, `ABORTED`).
   */
  embed(texts: string[], options?: { signal?: AbortSignal }): Promise<number[][]>;
  /** Releases what the embedder created itself. Optional; idempotent. */
  close?(): Promise<void>;
}

/** The current embedder contract. */
export type Embedder = EmbedderV1;
