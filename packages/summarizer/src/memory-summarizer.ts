import { BuddyError, describeValue, type MessagePair, type Model } from '@buddy/core';
import { assertNonEmptyString } from '@buddy/core/adapter-utils';
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

/** Options of `new MemorySummarizer(...)`. */
export interface MemorySummarizerOptions {
  /** The model that writes summaries; the default model (SPEC §2.8) when absent, loaded at the first `run`. */
  model?: Model;
  /** Replaces `DEFAULT_SUMMARIZER_PROMPT`. The answer must still be `{ summary, topics? }` JSON. */
  systemPrompt?: string;
}

/** Options of `summarizer.run(...)`. */
export interface SummarizeOptions {
  /** The summary of the exchanges before `pairs`; the new summary merges it with them. */
  previousSummary?: SessionSummary | string;
  signal?: AbortSignal;
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

  constructor(options: MemorySummarizerOptions = {}) {
    const checked = checkOptions(WHO, options, ['model', 'systemPrompt']);
    this.#getModel = modelGetter(WHO, checked.model, (name) => import(name));
    if (checked.systemPrompt !== undefined) {
      assertNonEmptyString(checked.systemPrompt, `${WHO}: option 'systemPrompt'`);
    }
    this.#systemPrompt = (checked.systemPrompt as string | undefined) ?? DEFAULT_SUMMARIZER_PROMPT;
  }

  /**
   * Summarizes `pairs` (merged into `previousSummary` when given). Resolves to `undefined`
   * without calling the model when there are no pairs. Rejects with the model's `BuddyError`, or
   * `MODEL_BAD_RESPONSE` when the answer is not a usable summary (the caller keeps its previous
   * summary).
   */
  async run(
    pairs: readonly MessagePair[],
    options: SummarizeOptions = {},
  ): Promise<SessionSummary | undefined> {
    checkPairs(pairs);
    const checked = checkOptions(`${WHO}.run`, options, ['previousSummary', 'signal']);
    const previous = previousText(checked.previousSummary);
    if (pairs.length === 0) return undefined;
    const conversation = `<conversation>\n${transcript(pairs)}\n</conversation>`;
    const prompt =
      previous === undefined
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
    const model = await this.#getModel();
    const result = await generateJson({
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
    return normalize(result);
  }
}
