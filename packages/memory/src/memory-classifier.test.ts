import { BuddyError } from '@buddy/core';
import { MockModel } from '@buddy/testkit';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CLASSIFIER_PROMPT, MemoryClassifier } from './memory-classifier.ts';

describe('MemoryClassifier', () => {
  it('asks for a { remember, reason } decision about the message and returns remember', async () => {
    const model = new MockModel({
      replies: ['{"remember": true, "reason": "A family fact."}', '{"remember": false}'],
    });
    const classifier = new MemoryClassifier({ model });
    await expect(classifier.classify('My daughter Mia turns five in May')).resolves.toBe(true);
    await expect(classifier.classify('What is 2 + 2?')).resolves.toBe(false);

    const request = model.requests[0];
    expect(request?.messages[0]).toEqual({ role: 'system', content: DEFAULT_CLASSIFIER_PROMPT });
    expect(request?.messages[1]?.content).toContain('My daughter Mia turns five in May');
    expect(request?.responseFormat).toMatchObject({
      type: 'json',
      name: 'memory_classification',
      schema: {
        type: 'object',
        properties: { remember: { type: 'boolean' }, reason: { type: 'string' } },
        required: ['remember'],
      },
    });
    expect(model.requests[1]?.messages[1]?.content).toContain('What is 2 + 2?');
  });

  it('parses fenced and prose-wrapped answers', async () => {
    const model = new MockModel({
      replies: ['```json\n{"remember": true}\n```', 'Decision: {"remember": false} (small talk)'],
    });
    const classifier = new MemoryClassifier({ model });
    await expect(classifier.classify('I am allergic to nuts')).resolves.toBe(true);
    await expect(classifier.classify('Nice weather')).resolves.toBe(false);
  });

  it('answers false for a blank message without calling the model', async () => {
    const model = new MockModel();
    await expect(new MemoryClassifier({ model }).classify('  \n ')).resolves.toBe(false);
    expect(model.requests).toHaveLength(0);
  });

  it('rejects an unusable answer with MODEL_BAD_RESPONSE', async () => {
    const model = new MockModel({ replies: ['Yes, definitely.', '{"remember": "yes"}'] });
    const classifier = new MemoryClassifier({ model });
    const first = await classifier.classify('I live in Porto').catch((error) => error);
    expect(BuddyError.is(first, 'MODEL_BAD_RESPONSE')).toBe(true);
    expect(first.message).toContain('MemoryClassifier');
    expect(first.message).toContain('Yes, definitely.');
    await expect(classifier.classify('I live in Porto')).rejects.toMatchObject({
      code: 'MODEL_BAD_RESPONSE',
    });
  });

  it('uses a custom system prompt and validates its options', async () => {
    const model = new MockModel({ replies: ['{"remember": false}'] });
    await new MemoryClassifier({ model, systemPrompt: 'Only food facts.' }).classify('hi there');
    expect(model.requests[0]?.messages[0]?.content).toBe('Only food facts.');
    expect(() => new MemoryClassifier({ prompt: 'x' } as never)).toThrow(/unknown option 'prompt'/);
    await expect(new MemoryClassifier({ model }).classify(42 as never)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});
