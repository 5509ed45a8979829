/**
 * `providerOptions` (the escape hatch of the `Model` contract), for model adapters: the request's
 * own namespace (`providerOptions[model.provider]`) is merged over the body the adapter mapped,
 * key by key, so it can set any field the provider's API has and override a mapped one. The
 * options win because they are the caller's explicit word for this provider; they are sent as
 * given, unchecked by Buddy (the API judges them).
 *
 * Exceptions: the fields the adapter needs to read the reply (`reserved`) are never replaced; a
 * provider option naming one is left out and reported as an `unsupported-setting` warning. An
 * `undefined` value is no option (JSON has no `undefined`); `null` is sent as `null`. Other
 * namespaces are ignored.
 */
import { BuddyError } from '../errors/buddy-error.ts';
import { describeValue } from '../errors/describe-value.ts';
import type { ModelWarning } from '../spec/model-v1.ts';
import { assertJsonObject } from '../validation/json-value.ts';
import { isPlainObject } from '../validation/options.ts';

/** Which namespace `applyProviderOptions` reads, and what it may not replace. */
export interface ApplyProviderOptionsConfig {
  /** The namespace to read, `Model.provider`. */
  provider: string;
  /** Body fields the options may not replace. */
  reserved: readonly string[];
}

/**
 * Merges `providerOptions[provider]` into `body` (a new object; `body` is not changed) and adds a
 * warning per reserved field it names. Throws `INVALID_ARGUMENT` when `providerOptions` is not an
 * object of objects, or the own namespace is not JSON.
 *
 * @example
 * applyProviderOptions({ model: 'gpt-4o', temperature: 1 }, [], { openai: { temperature: 0, seed: 7 } }, { provider: 'openai', reserved: ['model'] });
 * // { body: { model: 'gpt-4o', temperature: 0, seed: 7 }, warnings: [] }
 */
export function applyProviderOptions<TBody extends object>(
  body: TBody,
  warnings: ModelWarning[],
  providerOptions: unknown,
  config: ApplyProviderOptionsConfig,
): { body: TBody; warnings: ModelWarning[] } {
  if (providerOptions === undefined) return { body, warnings };
  if (!isPlainObject(providerOptions)) {
    throw new BuddyError({
      code: 'INVALID_ARGUMENT',
      message: `providerOptions must be an object keyed by provider (e.g. { ${config.provider}: { ... } }), got ${describeValue(providerOptions)}`,
    });
  }
  const own = providerOptions[config.provider];
  if (own === undefined) return { body, warnings };
  const path = `providerOptions.${config.provider}`;
  assertJsonObject(own, path);
  const merged = { ...body } as Record<string, unknown>;
  const all = [...warnings];
  for (const [key, value] of Object.entries(own)) {
    if (value === undefined) continue;
    if (config.reserved.includes(key)) {
      all.push({
        type: 'unsupported-setting',
        setting: `${path}.${key}`,
        details: `the adapter sets ${key} itself; the option was not sent`,
      });
      continue;
    }
    merged[key] = value;
  }
  return { body: merged as TBody, warnings: all };
}
