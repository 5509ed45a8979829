/**
 * The default-model rule (SPEC §2.8): when no model is given, Buddy uses
 * `new OpenAIChat({ id: 'gpt-4o' })` from `@buddy/model-openai`, loaded lazily with `import()` so
 * that no package depends on an adapter at build time. A missing package is a clear error, never a
 * process exit.
 */
import { BuddyError } from '../errors/buddy-error.ts';
import type { Model } from '../spec/model-v1.ts';

/** The package the default model is loaded from (an optional peer). */
export const DEFAULT_MODEL_PACKAGE = '@buddy/model-openai';
/** The default model id (SPEC §2.8). */
export const DEFAULT_MODEL_ID = 'gpt-4o';

/** Imports a module by name, relative to the caller (each package passes its own `import`). */
export type ModuleImporter = (specifier: string) => Promise<unknown>;

function isModuleNotFound(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : '';
  return (
    (code === 'ERR_MODULE_NOT_FOUND' ||
      code === 'MODULE_NOT_FOUND' ||
      /Cannot find (module|package)|Failed to (load|resolve)/.test(message)) &&
    message.includes(DEFAULT_MODEL_PACKAGE)
  );
}

/**
 * Loads the default model. `who` names the component in the error (e.g. `'Agent'`,
 * `'MemorySummarizer'`); `importer` resolves the package from the caller's location.
 *
 * @example
 * const model = await loadDefaultModel({ who: 'MemorySummarizer', importer: (name) => import(name) });
 */
export async function loadDefaultModel(options: {
  who: string;
  importer: ModuleImporter;
}): Promise<Model> {
  let loaded: unknown;
  try {
    loaded = await options.importer(DEFAULT_MODEL_PACKAGE);
  } catch (error) {
    if (isModuleNotFound(error)) {
      throw new BuddyError({
        code: 'MODEL_NOT_CONFIGURED',
        message: `${options.who}: no model was given and the default model needs ${DEFAULT_MODEL_PACKAGE}, which is not installed. Install it (pnpm add ${DEFAULT_MODEL_PACKAGE} openai) or pass a model, e.g. new ${options.who}({ model })`,
        cause: error,
      });
    }
    throw new BuddyError({
      code: 'MODEL_NOT_CONFIGURED',
      message: `${options.who}: loading the default model from ${DEFAULT_MODEL_PACKAGE} failed: ${error instanceof Error ? error.message : String(error)}`,
      cause: error,
    });
  }
  const OpenAIChat = (loaded as { OpenAIChat?: unknown } | null)?.OpenAIChat;
  if (typeof OpenAIChat !== 'function') {
    throw new BuddyError({
      code: 'MODEL_NOT_CONFIGURED',
      message: `${options.who}: ${DEFAULT_MODEL_PACKAGE} does not export OpenAIChat; update it or pass a model`,
    });
  }
  return new (OpenAIChat as new (settings: { id: string }) => Model)({ id: DEFAULT_MODEL_ID });
}
