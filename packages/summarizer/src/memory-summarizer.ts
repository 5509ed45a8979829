import { BuddyError, describeValue, type MessagePair, type Model } from '@buddy/core';
import { assertInteger, assertNonEmptyString } from '@buddy/core/adapter-utils';
import { checkOptions } from './internal/check-options.ts';
import { generateJson } from './internal/generate-json.ts';
import { modelGetter } from './internal/model-getter.ts';
import { type SessionSummary, SessionSummarySchema } from './session-summary.ts';

const WHO = 'MemorySummarizer';

/** The instructions the summarizer's model gets unless `systemPrompt` replaces them. */
export const DEFAULT_SUMMARIZER_PROMPT = [
  'You summarize a conversation between a user and an AI assistant, so that the assistant can continue it later without the full transcript.',
  '- Be concise and factual: what the user asked for, said about themselves, decided or still needs, and what the assistant answered or did. No speculation, no advice, no greetings.',
  '- Keep details that will matter later (names, numbers, dates, preferences, open tasks); drop small talk.',
  '- When a previous summary is given, merge it with the new exchanges into one updated summary of the whole conversation; where they disagree, the newer exchanges win.',
  '- Write in the third person ("The user ...", "The assistant ..."), in at most about 150 words.',
  '- "topics": a few short labels (one to three words each) for what was discussed.',
  'Answer with a JSON object only: {"summary": string, "topics": string[]}.',
].join('\n');

/** The default budget of one summarizer request, in tokens (SPEC §13.3). */
export const DEFAULT_SUMMARIZER_MAX_INPUT_TOKENS = 8000;

/** A conservative token count when none is given: at least one token per three characters. */
export function estimateTokensConservatively(text: string): number {
  return Math.ceil(text.length / 3);
}

/** Options of `new MemorySummarizer(...)`. */
export interface MemorySummarizerOptions {
  /** The model that writes summaries; the default model (SPEC §2.8) when absent, loaded at the first `run`. */
  model?: Model;
  /** Replaces `DEFAULT_SUMMARIZER_PROMPT`. The answer must still be `{ summary, topics? }` JSON. */
  systemPrompt?: string;
  /**
   * The most tokens one request may hold (system prompt, previous summary and exchanges). A
   * longer backlog is summarized in several requests, oldest first, each building on the
   * previous partial summary. Default `DEFAULT_SUMMARIZER_MAX_INPUT_TOKENS` (8000).
   */
  maxInputTokens?: number;
  /** Counts the tokens of a text; a conservative estimate (characters / 3) when absent. */
  countTokens?: (text: string) => number;
}

/** Options of `summarizer.run(...)`. */
export interface SummarizeOptions {
  /** The summary of the exchanges before `pairs`; the new summary merges it with them. */
  previousSummary?: SessionSummary | string;
  signal?: AbortSignal;
  /**
   * Called after each request of a backlog with the summary so far and how many of `pairs` it
   * covers, so the caller can keep the progress (a later request failing loses only its batch).
   */
  onBatch?: (summary: SessionSummary, pairsCovered: number) => Promise<void> | void;
}

function invalid(message: string): BuddyError {
  return new BuddyError({ code: 'INVALID_ARGUMENT', message: `${WHO}.run: ${message}` });
}

function checkPairs(pairs: unknown): asserts pairs is readonly MessagePair[] {
  if (!Array.isArray(pairs)) {
    throw invalid(
      `pairs must be an array of [user, assistant] messages, got ${describeValue(pairs)}`,
    );
  }
  pairs.forEach((pair: unknown, index) => {
    const [user, assistant] = Array.isArray(pair) ? pair : [];
    const isMessage = (value: unknown, role: string) =>
      typeof value === 'object' &&
      value !== null &&
      (value as { role?: unknown }).role === role &&
      typeof (value as { content?: unknown }).content === 'string';
    if (!Array.isArray(pair) || !isMessage(user, 'user') || !isMessage(assistant, 'assistant')) {
      throw invalid(
        `pairs[${index}] must be [userMessage, assistantMessage], got ${describeValue(pair)}`,
      );
    }
  });
}

/** The previous summary as text for the prompt, or `undefined` when there is none. */
function previousText(previous: unknown): string | undefined {
  if (previous === undefined) return undefined;
  if (typeof previous === 'string') return previous.trim() === '' ? undefined : previous.trim();
  const parsed = SessionSummarySchema.safeParse(previous);
  if (!parsed.success) {
    throw invalid(
      `option 'previousSummary' must be a string or { summary: string, topics?: string[] }, got ${describeValue(previous)}`,
    );
  }
  const { summary, topics } = parsed.data;
  if (summary.trim() === '') return undefined;
  return topics !== undefined && topics.length > 0
    ? `${summary.trim()}\nTopics: ${topics.join(', ')}`
    : summary.trim();
}

/** `User: ...` / `Assistant: ...` lines of the pairs, nothing else (no tool chatter, no system). */
function transcript(pairs: readonly MessagePair[]): string {
  return pairs
    .map(
      ([user, assistant]) => `User: ${user.content.trim()}\nAssistant: ${assistant.content.trim()}`,
    )
    .join('\n\n');
}

function normalize(result: SessionSummary): SessionSummary {
  const summary = result.summary.trim();
  if (summary === '') {
    throw new BuddyError({
      code: 'MODEL_BAD_RESPONSE',
      message: `${WHO}: the model answered with an empty summary`,
    });
  }
  const topics = [
    ...new Set((result.topics ?? []).map((topic) => topic.trim()).filter((topic) => topic !== '')),
  ];
  return topics.length === 0 ? { summary } : { summary, topics };
}

/**
 * Writes and updates session summaries (SPEC §6): a concise, factual summary plus topics, asked
 * for with the model's structured output and validated with `SessionSummarySchema`.
 *
 * Incremental: give it only the exchanges since the last summary, plus that summary as
 * `previousSummary`; the prompt holds exactly those, so the cost of an update does not grow with
 * the session.
 *
 * @example
 * const summarizer = new MemorySummarizer({ model: new OpenAIChat({ id: 'gpt-4o-mini' }) });
 * const first = await summarizer.run(runsToPairs(runs));
 * const next = await summarizer.run(runsToPairs(newRuns), { previousSummary: first });
 */
export class MemorySummarizer {
  readonly #getModel: () => Promise<Model>;
  readonly #systemPrompt: string;
  readonly #maxInputTokens: number;
  readonly #countTokens: (text: string) => number;

  constructor(options: MemorySummarizerOptions = {}) {
    const checked = checkOptions(WHO, options, [
      'model',
      'systemPrompt',
      'maxInputTokens',
      'countTokens',
    ]);
    if (checked.maxInputTokens !== undefined) {
      assertInteger(checked.maxInputTokens, `${WHO}: option 'maxInputTokens'`, { min: 256 });
    }
    if (checked.countTokens !== undefined && typeof checked.countTokens !== 'function') {
      throw new BuddyError({
        code: 'INVALID_ARGUMENT',
        message: `${WHO}: option 'countTokens' must be a function (text) => number, got ${describeValue(checked.countTokens)}`,
      });
    }
    this.#maxInputTokens =
      (checked.maxInputTokens as number | undefined) ?? DEFAULT_SUMMARIZER_MAX_INPUT_TOKENS;
    this.#countTokens =
      (checked.countTokens as ((text: string) => number) | undefined) ??
      estimateTokensConservatively;
    this.#getModel = modelGetter(WHO, checked.model, (name) => import(name));
    if (checked.systemPrompt !== undefined) {
      assertNonEmptyString(checked.systemPrompt, `${WHO}: option 'systemPrompt'`);
    }
    this.#systemPrompt = (checked.systemPrompt as string | undefined) ?? DEFAULT_SUMMARIZER_PROMPT;
  }

  /**
   * Summarizes `pairs` (merged into `previousSummary` when given). Resolves to `undefined`
   * without calling the model when there are no pairs. A backlog that does not fit one request is
   * sent in batches (oldest first, each merged into the summary so far), every request within
   * `maxInputTokens`. Rejects with the model's `BuddyError`, or `MODEL_BAD_RESPONSE` when an answer
   * is not a usable summary (batches already summarized were reported through `onBatch`).
   */
  async run(
    pairs: readonly MessagePair[],
    options: SummarizeOptions = {},
  ): Promise<SessionSummary | undefined> {
    checkPairs(pairs);
    const checked = checkOptions(`${WHO}.run`, options, ['previousSummary', 'signal', 'onBatch']);
    if (checked.onBatch !== undefined && typeof checked.onBatch !== 'function') {
      throw invalid(`option 'onBatch' must be a function, got ${describeValue(checked.onBatch)}`);
    }
    let previous = previousText(checked.previousSummary);
    if (pairs.length === 0) return undefined;
    const model = await this.#getModel();
    let result: SessionSummary | undefined;
    let done = 0;
    while (done < pairs.length) {
      const { prompt, taken } = this.#nextRequest(pairs, done, previous);
      const answer = await generateJson({
        who: WHO,
        model,
        messages: [
          { role: 'system', content: this.#systemPrompt },
          { role: 'user', content: prompt },
        ],
        schema: SessionSummarySchema,
        name: 'session_summary',
        signal: options.signal,
      });
      result = normalize(answer);
      done += taken;
      previous = previousText(result);
      await options.onBatch?.(result, done);
    }
    return result;
  }

  /** How many tokens a request text counts. */
  #count(text: string): number {
    return this.#countTokens(this.#systemPrompt) + this.#countTokens(text);
  }

  /**
   * The next request: as many pairs from `start` as fit the budget (at least one; a single pair
   * too long for it is shortened so that it fits).
   */
  #nextRequest(
    pairs: readonly MessagePair[],
    start: number,
    previous: string | undefined,
  ): { prompt: string; taken: number } {
    let taken = 1;
    let prompt = buildPrompt(pairs.slice(start, start + 1), previous);
    if (this.#count(prompt) > this.#maxInputTokens) {
      return { prompt: this.#shorten(pairs[start] as MessagePair, previous), taken: 1 };
    }
    // Grow the batch while it fits (doubling, then one by one), so a long backlog costs few counts.
    let step = 1;
    while (start + taken < pairs.length) {
      const next = Math.min(taken + step, pairs.length - start);
      const candidate = buildPrompt(pairs.slice(start, start + next), previous);
      if (this.#count(candidate) <= this.#maxInputTokens) {
        taken = next;
        prompt = candidate;
        step *= 2;
      } else if (step > 1) {
        step = 1;
      } else {
        break;
      }
    }
    return { prompt, taken };
  }

  /** One pair whose texts are cut (marked) until the request fits the budget. */
  #shorten(pair: MessagePair, previous: string | undefined): string {
    const [user, assistant] = pair;
    let keep = Math.max(user.content.length, assistant.content.length);
    for (;;) {
      keep = Math.floor(keep / 2);
      const cut = (text: string) => (text.length > keep ? `${text.slice(0, keep)} [...]` : text);
      const shortened: MessagePair = [
        { ...user, content: cut(user.content) },
        { ...assistant, content: cut(assistant.content) },
      ];
      const prompt = buildPrompt([shortened], previous);
      if (this.#count(prompt) <= this.#maxInputTokens || keep === 0) return prompt;
    }
  }
}

/** The user prompt of one request: the previous summary (if any) and the exchanges. */
function buildPrompt(pairs: readonly MessagePair[], previous: string | undefined): string {
  const conversation = `<conversation>\n${transcript(pairs)}\n</conversation>`;
  return previous === undefined
    ? `Summarize this conversation.\n\n${conversation}`
    : [
        'The summary of the conversation so far:',
        `<previous_summary>\n${previous}\n</previous_summary>`,
        '',
        'The exchanges since that summary:',
        conversation,
        '',
        'Write the updated summary of the whole conversation.',
      ].join('\n');
}
