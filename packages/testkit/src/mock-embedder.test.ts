import { BuddyError } from '@buddy/core';
import { describe, expect, it } from 'vitest';
import { embedText, MockEmbedder, stemWord, textFeatures } from './mock-embedder.ts';
import { cosineSimilarity } from './model/embedder-contract.ts';

// 30 memories, three per topic, sharing few words across topics.
const MEMORIES = {
  coffee: [
    'Drinks black coffee every morning',
    'Prefers an espresso after lunch; coffee with milk upsets them',
    'Bought a new coffee grinder last week',
  ],
  allergy: [
    'Is allergic to peanuts',
    'Carries an epinephrine pen because of a peanut allergy',
    'Avoids satay sauce: peanuts',
  ],
  running: [
    'Runs a marathon every spring',
    'Trains for races on Tuesday and Thursday evenings',
    'Bought new running shoes for the marathon',
  ],
  work: [
    'Works as a nurse at the city hospital',
    'Has night shifts at the hospital twice a month',
    'Wants to become a head nurse',
  ],
  family: [
    'Has two daughters, Ana and Mia',
    'Daughter Mia starts school in September',
    'Visits grandparents in Lisbon at Christmas',
  ],
  pets: [
    'Owns a border collie named Rex',
    'Rex the dog needs a walk at 7am',
    'Is thinking about adopting a cat',
  ],
  music: [
    'Plays jazz piano on weekends',
    'Favourite musician is Bill Evans',
    'Takes piano lessons on Saturdays',
  ],
  travel: [
    'Is planning a trip to Japan in April',
    'Wants to see cherry blossoms in Kyoto',
    'Booked flights to Tokyo',
  ],
  diet: ['Is vegetarian since 2019', 'Cooks lentil curry on Sundays', 'Does not eat fish or meat'],
  tech: [
    'Uses a Linux laptop for work email',
    'Asked how to back up photos from an Android phone',
    'Wants a faster laptop',
  ],
} as const;

function rank(query: string, dimensions?: number): string[] {
  const all = Object.entries(MEMORIES).flatMap(([topic, texts]) =>
    texts.map((text) => ({ topic, text })),
  );
  const embedder = new MockEmbedder(dimensions === undefined ? {} : { dimensions });
  const q = embedText(query, embedder.dimensions);
  return all
    .map(({ topic, text }) => ({
      topic,
      score: cosineSimilarity(q, embedText(text, embedder.dimensions)),
    }))
    .sort((a, b) => b.score - a.score)
    .map(({ topic }) => topic);
}

describe('MockEmbedder ranking', () => {
  const cases = [
    ['What coffee should I buy for the morning?', 'coffee', 2],
    ['Can I eat peanut butter with my allergy?', 'allergy', 2],
    ['How should I train for my next marathon?', 'running', 2],
    ['Any tips for surviving night shifts at the hospital?', 'work', 2],
    ['What should I play on the piano this weekend?', 'music', 2],
    ['What to do in Kyoto and Tokyo in April?', 'travel', 2],
    ['When does Mia start school?', 'family', 1],
    ['How long should I walk Rex the dog?', 'pets', 2],
  ] as const;
  for (const dimensions of [256, 512, 1536]) {
    it.each(cases)(
      `%s → the %s memories come first (${dimensions} dimensions)`,
      (query, topic, atLeast) => {
        const top = rank(query, dimensions).slice(0, atLeast);
        expect(top).toEqual(Array.from({ length: atLeast }, () => topic));
      },
    );
  }

  it('scores texts that share no word near zero', () => {
    const a = embedText('black coffee every morning', 256);
    const b = embedText('quarterly tax report due April', 256);
    expect(Math.abs(cosineSimilarity(a, b))).toBeLessThan(0.2);
    expect(cosineSimilarity(a, a)).toBeCloseTo(1, 12);
  });
});

describe('MockEmbedder vectors', () => {
  it('is the same function everywhere: a pinned vector', () => {
    // A change here changes every stored mock embedding: treat it as a breaking change.
    expect(embedText('Coffee, every morning!', 8).map((value) => value.toFixed(6))).toEqual(
      embedText('coffee every morning', 8).map((value) => value.toFixed(6)),
    );
    expect(embedText('coffee', 8)).toMatchInlineSnapshot(`
      [
        0,
        0,
        0,
        0,
        0,
        0,
        -0.7071067811865475,
        0.7071067811865475,
      ]
    `);
  });

  it('is L2-normalized, for texts of one word and of many', () => {
    for (const text of [
      'x',
      'coffee coffee coffee',
      'a '.repeat(500),
      '!!!',
      '   ',
      '東京 データ',
    ]) {
      const vector = embedText(text, 32);
      const norm = Math.sqrt(vector.reduce((sum, value) => sum + value * value, 0));
      expect(norm, text).toBeCloseTo(1, 12);
    }
  });

  it('folds case and accents, drops stopwords and stems lightly', () => {
    expect(textFeatures('The CAFÉ is Naïve')).toEqual(['caf', 'naiv']);
    expect(textFeatures('What is it?')).toEqual(['what', 'is', 'it']); // only stopwords: keep them
    expect(textFeatures('?!')).toEqual(['\u0000?!']);
    expect(
      ['memories', 'memory', 'cooking', 'cooked', 'cooks', 'running', 'runs', 'buses', 'boxes'].map(
        stemWord,
      ),
    ).toEqual(['memory', 'memory', 'cook', 'cook', 'cook', 'run', 'run', 'bus', 'box']);
    expect(
      ['likes', 'liked', 'liking', 'like', 'tennis', 'status', 'falling'].map(stemWord),
    ).toEqual(['lik', 'lik', 'lik', 'lik', 'tennis', 'status', 'fall']);
  });

  it('records every call as a copy, and nothing for an empty or invalid one', async () => {
    const embedder = new MockEmbedder({ dimensions: 16 });
    const texts = ['a', 'b'];
    await embedder.embed(texts);
    texts.push('c');
    await embedder.embed([]);
    await expect(embedder.embed([''])).rejects.toBeInstanceOf(BuddyError);
    expect(embedder.calls).toEqual([['a', 'b']]);
  });
});

describe('MockEmbedder options', () => {
  it('defaults to 256 dimensions, provider mock, id mock-embedder', () => {
    const embedder = new MockEmbedder();
    expect(embedder).toMatchObject({
      specificationVersion: 'v1',
      provider: 'mock',
      id: 'mock-embedder',
      dimensions: 256,
    });
  });

  it.each([
    [{ dimensions: 0 }, 'dimensions must be an integer from 1 to 65536, got 0'],
    [{ dimensions: 1.5 }, 'dimensions must be an integer'],
    [{ dimensions: 100_000 }, 'dimensions must be an integer'],
    [{ latencyMs: -1 }, 'latencyMs must be a number >= 0'],
    [{ id: '' }, 'id must be a non-empty string'],
    [{ dimension: 8 }, "unknown option 'dimension'"],
  ])('rejects %o with INVALID_ARGUMENT', (options, message) => {
    let caught: unknown;
    try {
      new MockEmbedder(options as never);
    } catch (error) {
      caught = error;
    }
    expect(BuddyError.is(caught, 'INVALID_ARGUMENT')).toBe(true);
    expect((caught as BuddyError).message).toContain(message);
  });
});
