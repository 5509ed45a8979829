/**
 * The error for a model call without an API key: it names the environment variable to set and the
 * option to pass, so the fix is in the message.
 */
import { BuddyError } from '../errors/buddy-error.ts';

/** What `missingApiKeyError` names. */
export interface MissingApiKeyErrorOptions {
  /** Names the model in the message, e.g. `'OpenAIChat(gpt-4o)'`. */
  who: string;
  /** The environment variable the SDK reads the key from, e.g. `'OPENAI_API_KEY'`. */
  envVar: string;
  /** `Model.provider`; becomes `details.provider`. */
  provider: string;
  /** The adapter's class, for the example `new <adapter>({ apiKey: '...' })`. */
  adapter?: string;
  /** One more sentence, e.g. another way out. */
  hint?: string;
}

/**
 * `MODEL_AUTH_FAILED` (not retryable): `<who>: no API key found. Set the <envVar> environment
 * variable or pass the apiKey option: new <adapter>({ apiKey: '...' }).`, with `details`
 * `{ provider, envVar }`.
 *
 * Helper for model adapter authors.
 *
 * @example
 * throw missingApiKeyError({ who: 'AcmeChat(acme-1)', envVar: 'ACME_API_KEY', provider: 'acme', adapter: 'AcmeChat' });
 */
export function missingApiKeyError(options: MissingApiKeyErrorOptions): BuddyError {
  const { who, envVar, provider, adapter, hint } = options;
  const example = adapter === undefined ? '' : `: new ${adapter}({ apiKey: '...' })`;
  return new BuddyError({
    code: 'MODEL_AUTH_FAILED',
    retryable: false,
    message: `${who}: no API key found. Set the ${envVar} environment variable or pass the apiKey option${example}${hint === undefined ? '' : `. ${hint}`}`,
    details: { provider, envVar },
  });
}
