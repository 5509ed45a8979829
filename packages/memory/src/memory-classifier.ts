import { BuddyError, describeValue, type Model } from '@buddy/core';
import { assertNonEmptyString } from '@buddy/core/adapter-utils';
import { checkOptions, generateJson, modelGetter } from '@buddy/summarizer';
import { z } from 'zod';

const WHO = 'MemoryClassifier';

/** The classifier's structured answer. */
export const MemoryClassificationSchema = z.object({
  remember: z.boolean(),
  reason: z.string().optional(),
});

/** The classifier's answer. */
export type MemoryClassification = z.infer<typeof MemoryClassificationSchema>;

/** The instructions the classifier's model gets unless `systemPrompt` replaces them. */
export const DEFAULT_CLASSIFIER_PROMPT = [
  "You decide whether a user's message to an AI assistant contains something about the user worth remembering in future conversations.",
  'Worth remembering: personal facts (name, age, work, home, family, pets), preferences and dislikes, goals and plans, significant events in their life, and explicit requests to remember or forget something about them.',
  'Not worth remembering: questions, greetings, small talk, requests that only concern the current task, general facts about the world, and hypotheticals.',
  'Answer with a JSON object only: {"remember": boolean, "reason": string} where reason is one short sentence.',
].join('\n');

/** Options of `new MemoryClassifier(...)`. */
export interface MemoryClassifierOptions {
  /** The deciding model; the default model (SPEC §2.8) when absent, loaded at the first call. */
  model?: Model;
  /** Replaces `DEFAULT_CLASSIFIER_PROMPT`. The answer must still be `{ remember, reason? }` JSON. */
  systemPrompt?: string;
}

/**
 * Decides whether a user message holds personal facts, preferences, goals or events worth
 * remembering (SPEC §7), so that the more expensive `MemoryManager` runs only when it matters.
 * The answer is structured output (`{ remember, reason? }`), parsed leniently.
 *
 * @example
 * const classifier = new MemoryClassifier({ model });
 * await classifier.classify('My daughter Mia turns five in May'); // true
 * await classifier.classify('What is 2 + 2?'); // false
 */
export class MemoryClassifier {
  readonly #getModel: () => Promise<Model>;
  readonly #systemPrompt: string;

  constructor(options: MemoryClassifierOptions = {}) {
    const checked = checkOptions(WHO, options, ['model', 'systemPrompt']);
    this.#getModel = modelGetter(WHO, checked.model, (name) => import(name));
    if (checked.systemPrompt !== undefined) {
      assertNonEmptyString(checked.systemPrompt, `${WHO}: option 'systemPrompt'`);
    }
    this.#systemPrompt = (checked.systemPrompt as string | undefined) ?? DEFAULT_CLASSIFIER_PROMPT;
  }

  /**
   * `true` when `message` is worth remembering. A blank message is `false` without a model call.
   * Rejects with the model's `BuddyError`, or `MODEL_BAD_RESPONSE` for an unusable answer.
   */
  async classify(message: string, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    if (typeof message !== 'string') {
      throw new BuddyError({
        code: 'INVALID_ARGUMENT',
        message: `${WHO}.classify: message must be a string, got ${describeValue(message)}`,
      });
    }
    if (message.trim() === '') return false;
    const model = await this.#getModel();
    const answer = await generateJson({
      who: WHO,
      model,
      messages: [
        { role: 'system', content: this.#systemPrompt },
        { role: 'user', content: `<user_message>\n${message.trim()}\n</user_message>` },
      ],
      schema: MemoryClassificationSchema,
      name: 'memory_classification',
      signal: options.signal,
    });
    return answer.remember;
  }
}
