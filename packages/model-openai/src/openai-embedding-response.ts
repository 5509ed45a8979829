/**
 * Embeddings response → vectors, checked at the boundary. The adapter asks for
 * `encoding_format: 'base64'` (a quarter of the JSON of float lists; the SDK does the same by
 * default): each embedding is then the little-endian float32 bytes in base64. OpenAI-compatible
 * servers that ignore `encoding_format` answer float lists, which are accepted too. Anything else
 * (a missing or repeated index, a vector of the wrong length, a value that is not a finite
 * number) is `MODEL_BAD_RESPONSE`: a bad vector would silently corrupt every ranking after it.
 */
import { BuddyError, describeValue } from '@buddy/core';

function bad(label: string, what: string): BuddyError {
  return new BuddyError({
    code: 'MODEL_BAD_RESPONSE',
    message: `${label}: the embeddings response has ${what}`,
    details: { provider: 'openai' },
  });
}

/** Decodes base64 little-endian float32 values into plain numbers. */
export function decodeBase64Floats(text: string): number[] | undefined {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length % 4 !== 0) return undefined;
  const values = new Array<number>(bytes.length / 4);
  for (let index = 0; index < values.length; index++) values[index] = bytes.readFloatLE(index * 4);
  return values;
}

function toVector(raw: unknown, position: number, dimensions: number, label: string): number[] {
  const values = typeof raw === 'string' ? decodeBase64Floats(raw) : raw;
  if (!Array.isArray(values)) {
    throw bad(label, `data[${position}].embedding that is not a vector (${describeValue(raw)})`);
  }
  if (values.length !== dimensions) {
    throw bad(
      label,
      `data[${position}].embedding of ${values.length} values where ${dimensions} (dimensions) were expected`,
    );
  }
  for (let index = 0; index < values.length; index++) {
    const value: unknown = values[index];
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw bad(
        label,
        `data[${position}].embedding[${index}] that is not a finite number (${describeValue(value)})`,
      );
    }
  }
  return typeof raw === 'string' ? values : [...(values as number[])];
}

/**
 * The vectors of one response, in input order (by each item's `index`, which the API does not
 * promise to sort). `count` is the number of inputs of the request.
 */
export function fromEmbeddingResponse(
  response: unknown,
  count: number,
  dimensions: number,
  label: string,
): number[][] {
  const data = (response as { data?: unknown } | null)?.data;
  if (!Array.isArray(data)) throw bad(label, `no data list (${describeValue(data)})`);
  if (data.length !== count) {
    throw bad(label, `${data.length} embeddings for ${count} inputs`);
  }
  const vectors = new Array<number[] | undefined>(count);
  data.forEach((item: unknown, position) => {
    const { index, embedding } = (item ?? {}) as { index?: unknown; embedding?: unknown };
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= count) {
      throw bad(
        label,
        `data[${position}].index that is not an input index (${describeValue(index)})`,
      );
    }
    if (vectors[index] !== undefined) throw bad(label, `two embeddings for input ${index}`);
    vectors[index] = toVector(embedding, position, dimensions, label);
  });
  return vectors as number[][];
}
