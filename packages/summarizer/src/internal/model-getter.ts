import type { Model } from '@buddy/core';
import { assertModel, loadDefaultModel, type ModuleImporter } from '@buddy/core/adapter-utils';

/**
 * Validates a helper's `model` option and returns how to get the model at call time. Without a
 * model, the default model (SPEC §2.8) is loaded at the first call, never at construction, so a
 * missing package or API key only surfaces as a failed call (which the Agent turns into a
 * warning). A failed load is not cached: installing the package or setting the key later works
 * without a restart.
 *
 * `importer` must be the caller package's own `(name) => import(name)`, so that the optional peer
 * `@buddy/model-openai` resolves from the package that declares it.
 *
 * @internal Shared by the helpers of `@buddy/summarizer` and `@buddy/memory`.
 */
export function modelGetter(
  who: string,
  model: unknown,
  importer: ModuleImporter,
): () => Promise<Model> {
  if (model !== undefined) {
    assertModel(model, `${who}: option 'model'`);
    const given = model as Model;
    return () => Promise.resolve(given);
  }
  let pending: Promise<Model> | undefined;
  return () => {
    pending ??= loadDefaultModel({ who, importer }).catch((error: unknown) => {
      pending = undefined;
      throw error;
    });
    return pending;
  };
}
