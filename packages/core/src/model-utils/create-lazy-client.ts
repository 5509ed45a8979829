/**
 * A model adapter's SDK client, created on the first call rather than in the constructor, so that
 * constructing a model never needs a key (Buddy's default model is constructed on machines
 * without one; SPEC §2.8). Keys are read from the environment only as a fallback, as the SDKs and
 * the AI SDK's `loadApiKey` do.
 */
import { MODEL_CLIENT_SETTINGS } from './assert-model-settings.ts';
import { type MissingApiKeyErrorOptions, missingApiKeyError } from './missing-api-key-error.ts';

/** `T` without its `undefined` entries, as optional properties. */
export type DefinedSettings<T> = { [K in keyof T]?: Exclude<T[K], undefined> };

/** The client settings (`MODEL_CLIENT_SETTINGS`) of an adapter's options that were given. */
export type ModelClientSettings<TOptions> = DefinedSettings<
  Pick<TOptions, Extract<keyof TOptions, (typeof MODEL_CLIENT_SETTINGS)[number]>>
>;

/** Options of `createLazyClient`. */
export interface LazyClientOptions<TOptions, TClient> {
  /**
   * The adapter's options. A `client` is used as is, without a key check. Otherwise the client
   * settings that were given (`apiKey`, `baseURL`, `fetch`, `maxRetries`) go to `create`; the
   * others are left out, so the SDK's own environment defaults (`OPENAI_BASE_URL`, ...) apply.
   */
  options: TOptions;
  /** The variables the SDK reads a key from; the first is the one the error tells to set. */
  apiKeyEnvVars: readonly [string, ...string[]];
  /**
   * Creates the SDK client; called once, on the first call that finds a key. Add settings of your
   * own here (`new Acme({ ...settings, organization })`).
   */
  create: (settings: ModelClientSettings<TOptions>) => TClient;
  /** The rest of the `missingApiKeyError` thrown without an `apiKey` or a variable. */
  missingKey: Omit<MissingApiKeyErrorOptions, 'envVar'>;
}

function fromEnvironment(name: string): string | undefined {
  return typeof process === 'undefined' ? undefined : process.env[name]?.trim() || undefined;
}

/**
 * Returns a getter for the SDK client. The first call creates it, or throws `MODEL_AUTH_FAILED`
 * when there is no `apiKey` and every variable in `apiKeyEnvVars` is blank (the next call checks
 * again); later calls return the same client. The settings are copied now, so changing the
 * options object afterwards changes nothing.
 *
 * Helper for model adapter authors.
 *
 * @example
 * this.#getClient = createLazyClient({
 *   options, // AcmeChatOptions: { client?: Acme; apiKey?; baseURL?; fetch?; maxRetries?; ... }
 *   apiKeyEnvVars: ['ACME_API_KEY'],
 *   create: (settings) => new Acme(settings),
 *   missingKey: { who: 'AcmeChat(acme-1)', provider: 'acme', adapter: 'AcmeChat' },
 * });
 * const client = this.#getClient();
 */
export function createLazyClient<
  TOptions extends { client?: unknown; apiKey?: string | undefined },
  TClient,
>(config: LazyClientOptions<TOptions, TClient>): () => TClient {
  const { options, apiKeyEnvVars, create, missingKey } = config;
  let client = options.client as TClient | undefined;
  const settings = Object.fromEntries(
    MODEL_CLIENT_SETTINGS.flatMap((key) => {
      const value = (options as Record<string, unknown>)[key];
      return value === undefined ? [] : [[key, value]];
    }),
  ) as ModelClientSettings<TOptions>;
  return () => {
    if (client !== undefined) return client;
    const hasKey = (settings as { apiKey?: string }).apiKey !== undefined;
    if (!hasKey && !apiKeyEnvVars.some((name) => fromEnvironment(name))) {
      throw missingApiKeyError({ ...missingKey, envVar: apiKeyEnvVars[0] });
    }
    client = create(settings);
    return client;
  };
}
