/**
 * Validation of the options every model adapter takes (SPEC §8), so that `new OpenAIChat(...)`
 * and `new Claude(...)` reject the same mistakes with the same `INVALID_ARGUMENT` messages.
 */
import { BuddyError } from '../errors/buddy-error.ts';
import { describeValue } from '../errors/describe-value.ts';
import { assertInteger, assertNonEmptyString } from '../storage/storage-helpers.ts';

/** The settings model adapters share. Adapters add their own on top. */
export interface ModelSettings {
  /** Model id; a non-empty string. */
  id?: string;
  /** API key; a non-empty string. */
  apiKey?: string;
  /** API base URL; absolute. */
  baseURL?: string;
  /** A configured SDK client; excludes the client settings (`apiKey`, `baseURL`, ...). */
  client?: unknown;
  /** Sampling temperature; a finite number >= 0. */
  temperature?: number;
  /** Output token limit; an integer >= 1. */
  maxTokens?: number;
  /** A custom `fetch` for the SDK; a function. */
  fetch?: unknown;
  /** SDK retries; an integer >= 0. */
  maxRetries?: number;
}

/** The settings that configure a client, so they cannot be combined with a ready `client`. */
export const MODEL_CLIENT_SETTINGS = ['apiKey', 'baseURL', 'fetch', 'maxRetries'] as const;

/** What `assertModelSettings` checks and how it names the adapter. */
export interface AssertModelSettingsOptions {
  /** What `client` must be, for the message, e.g. `'an OpenAI client'`. Default `'a client'`. */
  clientDescription?: string;
  /** The settings that configure the client itself. Default `MODEL_CLIENT_SETTINGS`. */
  clientSettings?: readonly string[];
}

/**
 * Checks an adapter's options: `id` and `apiKey` non-empty, `baseURL` absolute, `temperature` a
 * number >= 0, `maxTokens` an integer >= 1, `maxRetries` an integer >= 0, `fetch` a function,
 * `client` an object and not combined with the client settings. Throws `INVALID_ARGUMENT` naming
 * `who` and the bad value. Options it does not know are left to the adapter.
 *
 * Helper for model adapter authors.
 *
 * @example
 * constructor(options: AcmeChatOptions = {}) {
 *   assertModelSettings('AcmeChat', options, { clientDescription: 'an Acme client' });
 * }
 */
export function assertModelSettings(
  who: string,
  options: unknown,
  {
    clientDescription = 'a client',
    clientSettings = MODEL_CLIENT_SETTINGS,
  }: AssertModelSettingsOptions = {},
): asserts options is ModelSettings {
  const invalid = (message: string) =>
    new BuddyError({ code: 'INVALID_ARGUMENT', message: `${who}: ${message}` });
  if (typeof options !== 'object' || options === null) {
    throw invalid(`options must be an object, got ${describeValue(options)}`);
  }
  const settings = options as Record<string, unknown>;
  for (const key of ['id', 'apiKey']) {
    if (settings[key] !== undefined) assertNonEmptyString(settings[key], `${who}: ${key}`);
  }
  const { baseURL, temperature, maxTokens, maxRetries, fetch, client } = settings;
  if (baseURL !== undefined && (typeof baseURL !== 'string' || !URL.canParse(baseURL))) {
    throw invalid(`baseURL must be an absolute URL, got ${describeValue(baseURL)}`);
  }
  if (
    temperature !== undefined &&
    (typeof temperature !== 'number' || !Number.isFinite(temperature) || temperature < 0)
  ) {
    throw invalid(`temperature must be a number >= 0, got ${describeValue(temperature)}`);
  }
  if (maxTokens !== undefined) assertInteger(maxTokens, `${who}: maxTokens`, { min: 1 });
  if (maxRetries !== undefined) assertInteger(maxRetries, `${who}: maxRetries`, { min: 0 });
  if (fetch !== undefined && typeof fetch !== 'function') {
    throw invalid(`fetch must be a function, got ${describeValue(fetch)}`);
  }
  if (client === undefined) return;
  if (typeof client !== 'object' || client === null) {
    throw invalid(`client must be ${clientDescription}, got ${describeValue(client)}`);
  }
  const conflicting = clientSettings.filter((key) => settings[key] !== undefined);
  if (conflicting.length > 0) {
    throw invalid(
      `pass either client or ${conflicting.join(', ')}, not both: configure the client itself`,
    );
  }
}
