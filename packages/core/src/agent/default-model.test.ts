import { describe, expect, it } from 'vitest';
import { BuddyError } from '../errors/buddy-error.ts';
import { loadDefaultModel } from './default-model.ts';

async function caught(promise: Promise<unknown>): Promise<BuddyError> {
  try {
    await promise;
  } catch (error) {
    if (BuddyError.is(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

describe('loadDefaultModel', () => {
  it('says to install @buddy/model-openai or pass a model when the package is missing', async () => {
    const missing = Object.assign(
      new Error("Cannot find package '@buddy/model-openai' imported from /app/x.js"),
      {
        code: 'ERR_MODULE_NOT_FOUND',
      },
    );
    const error = await caught(
      loadDefaultModel({ who: 'MemorySummarizer', importer: () => Promise.reject(missing) }),
    );
    expect(error.code).toBe('MODEL_NOT_CONFIGURED');
    expect(error.message).toContain('pnpm add @buddy/model-openai openai');
    expect(error.message).toContain('new MemorySummarizer({ model })');
    expect(error.cause).toBe(missing);
  });

  it('constructs OpenAIChat with id gpt-4o from the loaded module', async () => {
    const constructed: unknown[] = [];
    class OpenAIChat {
      readonly specificationVersion = 'v1';
      constructor(settings: unknown) {
        constructed.push(settings);
      }
    }
    const model = await loadDefaultModel({ who: 'Agent', importer: async () => ({ OpenAIChat }) });
    expect(model).toBeInstanceOf(OpenAIChat);
    expect(constructed).toEqual([{ id: 'gpt-4o' }]);
  });

  it('reports a module without OpenAIChat and other load failures clearly', async () => {
    expect(
      (await caught(loadDefaultModel({ who: 'Agent', importer: async () => ({}) }))).message,
    ).toContain('does not export OpenAIChat');
    const broken = await caught(
      loadDefaultModel({
        who: 'Agent',
        importer: () => Promise.reject(new SyntaxError('bad token')),
      }),
    );
    expect(broken.code).toBe('MODEL_NOT_CONFIGURED');
    expect(broken.message).toContain('bad token');
  });
});
