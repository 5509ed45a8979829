/**
 * Token counting for OpenAI models with their real tokenizer, `gpt-tokenizer` (the fastest of the
 * libraries measured, see the README and `bench/tokenizer-speed.mjs`). It is an optional peer
 * dependency (27 MB unpacked: every OpenAI encoding, ESM and CJS), loaded synchronously on the
 * first count (`Model.countTokens` is synchronous), so importing `@buddy/model-openai` never loads
 * it and installing the adapter without it stays small.
 */
import { createRequire } from 'node:module';
import { BuddyError, describeValue } from '@buddy/core';

/** The BPE encodings OpenAI's chat and embedding models use. */
export type TokenEncoding = 'o200k_base' | 'cl100k_base';

/** Counts the tokens of a text. */
export type TokenCounter = (text: string) => number;

/** The package `countTokens` loads. */
export const TOKENIZER_PACKAGE = 'gpt-tokenizer';

/** What `gpt-tokenizer/encoding/<name>` exports that is used here. */
interface EncodingModule {
  countTokens(text: string, options?: { disallowedSpecial?: Set<string> }): number;
}

/** Loads a module by name; `createRequire(import.meta.url)` by default, injectable for tests. */
export type ModuleRequire = (specifier: string) => unknown;

// One tokenizer per encoding per process: loading o200k takes a few hundred milliseconds.
const loaded = new Map<TokenEncoding, TokenCounter>();

/**
 * The encoding of a model id: cl100k_base for gpt-4 (not gpt-4o / gpt-4.1), gpt-3.5 and the
 * `text-embedding-*` models; o200k_base for everything else (gpt-4o, gpt-4.1, gpt-4.5, gpt-5,
 * the o-series, and ids it does not know, such as a compatible server's model, where the count
 * is an approximation). Fine-tuned ids (`ft:gpt-4o-mini:org::id`) count as their base model.
 */
export function encodingForModel(id: string): TokenEncoding {
  const base = id.startsWith('ft:') ? id.slice(3) : id;
  return /^(gpt-4(?![o.\d])|gpt-3\.5|gpt-35|text-embedding-)/.test(base)
    ? 'cl100k_base'
    : 'o200k_base';
}

function missingTokenizer(who: string, cause: unknown): BuddyError {
  return new BuddyError({
    code: 'MODEL_NOT_CONFIGURED',
    message: `${who}: countTokens needs the optional package ${TOKENIZER_PACKAGE}, which is not installed. Install it (pnpm add ${TOKENIZER_PACKAGE}@^4) or give the agent its own counter (contextBudget.countTokens)`,
    cause,
    details: { package: TOKENIZER_PACKAGE },
  });
}

function isModuleNotFound(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND';
}

/**
 * Loads the counter of `encoding` (once per process with the default `requireModule`). Throws
 * `MODEL_NOT_CONFIGURED` naming `gpt-tokenizer` when it is not installed; `who` names the model.
 */
export function loadTokenCounter(
  encoding: TokenEncoding,
  who: string,
  requireModule?: ModuleRequire,
): TokenCounter {
  const cached = requireModule === undefined ? loaded.get(encoding) : undefined;
  if (cached !== undefined) return cached;
  const load = requireModule ?? createRequire(import.meta.url);
  let tokenizer: EncodingModule;
  try {
    tokenizer = load(`${TOKENIZER_PACKAGE}/encoding/${encoding}`) as EncodingModule;
  } catch (error) {
    if (isModuleNotFound(error)) throw missingTokenizer(who, error);
    throw new BuddyError({
      code: 'INTERNAL',
      message: `${who}: ${TOKENIZER_PACKAGE} could not be loaded: ${error instanceof Error ? error.message : String(error)}`,
      cause: error,
    });
  }
  if (typeof tokenizer?.countTokens !== 'function') {
    throw new BuddyError({
      code: 'MODEL_NOT_CONFIGURED',
      message: `${who}: ${TOKENIZER_PACKAGE}/encoding/${encoding} has no countTokens function; install ${TOKENIZER_PACKAGE} ^4`,
      details: { package: TOKENIZER_PACKAGE },
    });
  }
  // Text that looks like a special token (`<|endoftext|>`) is counted as the plain text it is:
  // the API does not treat message text as control tokens, and the default would throw.
  const plainText = { disallowedSpecial: new Set<string>() };
  const counter: TokenCounter = (text) => {
    if (typeof text !== 'string') {
      throw new BuddyError({
        code: 'INVALID_ARGUMENT',
        message: `${who}: countTokens(text) needs a string, got ${describeValue(text)}`,
      });
    }
    return tokenizer.countTokens(text, plainText);
  };
  if (requireModule === undefined) loaded.set(encoding, counter);
  return counter;
}
