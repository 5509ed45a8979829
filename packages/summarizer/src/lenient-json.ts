/**
 * Lenient parsing of structured model answers. Providers with native structured output answer
 * with plain JSON, but smaller or proxied models wrap it in a ```json fence or in prose ("Here is
 * the summary: {...}"). Rather than failing on those, we dig the first JSON object out and let the
 * zod schema decide whether it is usable.
 */
import { BuddyError, describeValue } from '@buddy/core';
import type { z } from 'zod';

const FENCE = /```[a-zA-Z0-9_-]*[^\S\n]*\n?([\s\S]*?)```/g;

function tryParse(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

/** The end index (exclusive) of the balanced `{...}` starting at `start`, or -1. */
function balancedEnd(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  let escaped = false;
  for (let index = start; index < text.length; index++) {
    const char = text[index];
    if (inString) {
      if (escaped) escaped = false;
      else if (char === '\\') escaped = true;
      else if (char === '"') inString = false;
    } else if (char === '"') {
      inString = true;
    } else if (char === '{') {
      depth++;
    } else if (char === '}') {
      depth--;
      if (depth === 0) return index + 1;
    }
  }
  return -1;
}

/**
 * Extracts a JSON value from a model's answer: the whole text when it is JSON, else the content
 * of the first ```fenced``` block that is JSON, else the first balanced `{...}` object that parses.
 * `undefined` when there is none.
 *
 * @example
 * extractJson('Sure! ```json\n{"remember": true}\n```'); // { remember: true }
 */
export function extractJson(text: string): unknown {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  const whole = tryParse(trimmed);
  if (whole.ok) return whole.value;
  for (const match of trimmed.matchAll(FENCE)) {
    const fenced = tryParse((match[1] ?? '').trim());
    if (fenced.ok) return fenced.value;
  }
  for (let start = trimmed.indexOf('{'); start !== -1; start = trimmed.indexOf('{', start + 1)) {
    const end = balancedEnd(trimmed, start);
    if (end === -1) continue;
    const candidate = tryParse(trimmed.slice(start, end));
    if (candidate.ok) return candidate.value;
  }
  return undefined;
}

/**
 * Parses a structured model answer leniently (see `extractJson`) and validates it with `schema`.
 * An unusable answer throws `BuddyError` `MODEL_BAD_RESPONSE` whose message starts with `who` and
 * shows a short excerpt of the answer.
 *
 * @example
 * const { summary } = parseModelJson(answer.content, SessionSummarySchema, 'MemorySummarizer');
 */
export function parseModelJson<TOutput>(
  text: string,
  schema: z.ZodType<TOutput>,
  who: string,
): TOutput {
  const value = extractJson(text);
  if (value === undefined) {
    throw new BuddyError({
      code: 'MODEL_BAD_RESPONSE',
      message: `${who}: the model's answer holds no JSON object: ${describeValue(text)}`,
    });
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const path = issue?.path.join('.') ?? '';
    throw new BuddyError({
      code: 'MODEL_BAD_RESPONSE',
      message: `${who}: the model's answer does not have the expected shape (${path === '' ? '' : `${path}: `}${issue?.message ?? 'invalid'}): ${describeValue(text)}`,
      cause: result.error,
    });
  }
  return result.data;
}
