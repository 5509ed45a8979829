import { BuddyError } from '@buddy/core';
import { MockModel } from '@buddy/testkit';
import { describe, expect, it, vi } from 'vitest';
import { modelGetter } from './model-getter.ts';

function notFound(): Error {
  return Object.assign(new Error("Cannot find package '@buddy/model-openai' imported from x.js"), {
    code: 'ERR_MODULE_NOT_FOUND',
  });
}

describe('modelGetter', () => {
  it('returns the given model without importing anything', async () => {
    const model = new MockModel();
    const importer = vi.fn();
    await expect(modelGetter('MemorySummarizer', model, importer)()).resolves.toBe(model);
    expect(importer).not.toHaveBeenCalled();
  });

  it('imports the default model only when asked, and says how to fix a missing package', async () => {
    const importer = vi.fn(async () => {
      throw notFound();
    });
    const getModel = modelGetter('MemorySummarizer', undefined, importer);
    expect(importer).not.toHaveBeenCalled();
    const error = await getModel().catch((caught) => caught);
    expect(BuddyError.is(error, 'MODEL_NOT_CONFIGURED')).toBe(true);
    expect(error.message).toContain('MemorySummarizer');
    expect(error.message).toContain('pnpm add @buddy/model-openai');
    expect(error.message).toContain('pass a model');
    expect(importer).toHaveBeenCalledWith('@buddy/model-openai');
  });

  it('does not cache a failed load, so installing the package later works', async () => {
    const model = new MockModel();
    const importer = vi
      .fn<(name: string) => Promise<unknown>>()
      .mockRejectedValueOnce(notFound())
      .mockResolvedValue({
        OpenAIChat: class {
          constructor() {
            // biome-ignore lint/correctness/noConstructorReturn: hands the mock model back as the instance
            return model;
          }
        },
      });
    const getModel = modelGetter('MemoryClassifier', undefined, importer);
    await expect(getModel()).rejects.toMatchObject({ code: 'MODEL_NOT_CONFIGURED' });
    await expect(getModel()).resolves.toBe(model);
    await expect(getModel()).resolves.toBe(model);
    expect(importer).toHaveBeenCalledTimes(2);
  });

  it('rejects a value that is not a v1 Model', () => {
    expect(() => modelGetter('X', 'gpt-4o', vi.fn())).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    expect(() =>
      modelGetter('X', { specificationVersion: 'v2', generate() {}, stream() {} }, vi.fn()),
    ).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_SPEC_VERSION' }));
  });
});
