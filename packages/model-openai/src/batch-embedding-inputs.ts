/**
 * How `OpenAIEmbedder` splits texts into requests. The embeddings endpoint takes at most 2,048
 * inputs and at most 300,000 tokens (summed over the inputs) per request. Token counts are bounded
 * without a tokenizer: a BPE token is at least one UTF-8 byte, so a text's byte length is never
 * less than its token count, and a batch whose bytes fit the limit fits it in tokens too. (This
 * splits a little early for long texts; short memories never come near it.)
 */

/** Inputs per request the API accepts. */
export const MAX_EMBEDDING_INPUTS = 2048;

/** Tokens per request (summed over all inputs) the API accepts. */
export const MAX_EMBEDDING_REQUEST_TOKENS = 300_000;

/** The limits of one embeddings request. */
export interface BatchLimits {
  /** Inputs per batch; default `MAX_EMBEDDING_INPUTS`. */
  maxInputs?: number;
  /** Upper bound on the tokens of a batch; default `MAX_EMBEDDING_REQUEST_TOKENS`. */
  maxTokens?: number;
}

/** An upper bound on the tokens of `text` in any BPE encoding: its UTF-8 byte length. */
export function tokenUpperBound(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/**
 * Splits `texts` into consecutive batches (order kept) of at most `maxInputs` texts whose token
 * bounds add up to at most `maxTokens`. A single text over `maxTokens` gets a batch of its own
 * (the API then rejects it as too long, which is reported as `MODEL_CONTEXT_OVERFLOW`).
 *
 * @example
 * batchEmbeddingInputs(['a', 'b', 'c'], { maxInputs: 2 }); // [['a', 'b'], ['c']]
 */
export function batchEmbeddingInputs(
  texts: readonly string[],
  limits: BatchLimits = {},
): string[][] {
  const maxInputs = limits.maxInputs ?? MAX_EMBEDDING_INPUTS;
  const maxTokens = limits.maxTokens ?? MAX_EMBEDDING_REQUEST_TOKENS;
  const batches: string[][] = [];
  let current: string[] = [];
  let tokens = 0;
  for (const text of texts) {
    const bound = tokenUpperBound(text);
    if (current.length > 0 && (current.length >= maxInputs || tokens + bound > maxTokens)) {
      batches.push(current);
      current = [];
      tokens = 0;
    }
    current.push(text);
    tokens += bound;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
