/**
 * `@buddy/summarizer`: session summaries for Buddy agents (SPEC §6).
 *
 * The model is injected (`new MemorySummarizer({ model })`). Without one, the default model of
 * SPEC §2.8 (`new OpenAIChat({ id: 'gpt-4o' })`) is imported lazily from the optional peer
 * `@buddy/model-openai` at the first `run`, never at construction or import time; a missing
 * package or API key therefore fails that call with a `BuddyError` that says how to fix it.
 */
export { checkOptions } from './internal/check-options.ts';
export { generateJson, toResponseSchema } from './internal/generate-json.ts';
export { modelGetter } from './internal/model-getter.ts';
export { extractJson, parseModelJson } from './lenient-json.ts';
export {
  DEFAULT_SUMMARIZER_MAX_INPUT_TOKENS,
  DEFAULT_SUMMARIZER_PROMPT,
  estimateTokensConservatively,
  MemorySummarizer,
  type MemorySummarizerOptions,
  type SummarizeOptions,
} from './memory-summarizer.ts';
export { type SessionSummary, SessionSummarySchema } from './session-summary.ts';
