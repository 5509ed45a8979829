import { describe, expect, it } from 'vitest';
import { extractFacts, OfflineModel } from './offline-model.ts';

describe('OfflineModel', () => {
  it('calls add_to_cart once per item named', async () => {
    const model = new OfflineModel();
    const response = await model.generate({
      messages: [{ role: 'user', content: 'Add oat milk, bread and some eggs to my cart' }],
      tools: [{ name: 'add_to_cart', parameters: { type: 'object' } }],
    });
    expect(response.toolCalls.map((call) => JSON.parse(call.arguments).item)).toEqual([
      'oat milk',
      'bread',
      'eggs',
    ]);
    expect(response.finishReason).toBe('tool-calls');
  });

  it('answers structured summary requests with valid JSON', async () => {
    const model = new OfflineModel();
    const response = await model.generate({
      messages: [
        { role: 'user', content: '<conversation>\nUser: add milk\nAssistant: ok\n</conversation>' },
      ],
      responseFormat: {
        type: 'json',
        name: 'session_summary',
        schema: { type: 'object', properties: { summary: {}, topics: {} } },
      },
    });
    expect(JSON.parse(response.content)).toEqual({
      summary: 'The user added milk to the cart.',
      topics: ['shopping cart'],
    });
  });

  it('finds personal facts worth remembering, and nothing in questions', () => {
    expect(extractFacts('My name is dana and I am allergic to peanuts')).toEqual([
      { memory: "The user's name is Dana.", topic: 'name' },
      { memory: 'The user is allergic to peanuts.', topic: 'health' },
    ]);
    expect(extractFacts('What is in my cart?')).toEqual([]);
  });
});
