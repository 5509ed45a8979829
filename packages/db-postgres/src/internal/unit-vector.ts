/**
 * Embeddings as `PostgresMemoryDb` stores and compares them. Cosine similarity depends only on
 * directions, so each vector is scaled to unit length once, in JavaScript (the stored row and the
 * query alike), and SQL only sums products: `score = Σ aᵢ·bᵢ` over the two unit vectors, which is
 * `cosineSimilarity(a, b)` up to floating-point rounding (0 when either vector is all zeros).
 *
 * PostgreSQL's `float8` arithmetic raises an error on underflow (a product of two non-zero
 * numbers that rounds to 0), where JavaScript gives 0. A unit vector's components are at most 1,
 * and those below `FLUSH_BELOW` are set to 0 (their products are below 1e-300 and change no score
 * by more than a rounding step), so no product of two components can underflow or overflow.
 */

/** Components of a unit vector smaller than this (in magnitude) are stored as 0. */
export const FLUSH_BELOW = 1e-150;

/**
 * `values` scaled to length 1 (all zeros stays all zeros). Scaled by the largest magnitude first,
 * so that squaring neither overflows (1e200) nor underflows (1e-200).
 */
export function unitVector(values: readonly number[]): number[] {
  let largest = 0;
  for (const value of values) largest = Math.max(largest, Math.abs(value));
  if (largest === 0) return values.map(() => 0);
  let squares = 0;
  const scaled = values.map((value) => {
    const part = value / largest;
    squares += part * part;
    return part;
  });
  const length = Math.sqrt(squares);
  return scaled.map((part) => {
    const unit = part / length;
    return Math.abs(unit) < FLUSH_BELOW ? 0 : unit;
  });
}
