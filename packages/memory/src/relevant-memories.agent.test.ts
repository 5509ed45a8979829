/**
 * Relevant memories (SPEC §13.2): with `retrieval: 'relevant'` only the memories closest to the
 * run's input reach the system message, ranked by embedding (MockEmbedder: texts sharing words are
 * close), embedded when written or lazily, with one embedding call and one search per run.
 */
import {
  Agent,
  type Embedder,
  InMemoryMemoryDb,
  MEMORIES_OPEN_TAG,
  silentLogger,
} from '@buddy/core';
import { MockEmbedder, MockModel } from '@buddy/testkit';
import { describe, expect, it } from 'vitest';
import { AgentMemory } from './agent-memory.ts';
import { MemoryManager } from './memory-manager.ts';

const topics = {
  cooking: [
    'The user loves cooking Italian pasta',
    'The user bakes sourdough bread every weekend',
    'The user cooking class is on Tuesdays',
  ],
  running: [
    'The user is training for a marathon running race',
    'The user goes running every morning at six',
    'The user running shoes are worn out',
  ],
  travel: [
    'The user plans travel to Japan in spring',
    'The user travel budget is tight this year',
    'The user hates long travel by bus',
  ],
  music: [
    'The user plays jazz piano',
    'The user music taste is mostly jazz and soul',
    'The user wants a new piano teacher',
  ],
  work: [
    'The user works as a nurse on night shifts',
    'The user work schedule changes weekly',
    'The user hospital work is stressful',
  ],
  pets: [
    'The user has a cat named Bo',
    'The user cat Bo is afraid of the vacuum',
    'The user wants a second cat',
  ],
  garden: [
    'The user grows tomatoes in the garden',
    'The user garden has a lemon tree',
    'The user garden soil is clay',
  ],
  books: [
    'The user reads science fiction books',
    'The user books club meets monthly',
    'The user favorite books are by Le Guin',
  ],
  cars: [
    'The user drives an old electric car',
    'The user car needs new tires',
    'The user wants to sell the car',
  ],
  family: [
    'The user has a daughter Mia',
    'The user daughter Mia turns five in May',
    'The user family lives in Porto',
  ],
};

/** Counts calls and texts, around a real MockEmbedder. */
function countingEmbedder(inner = new MockEmbedder({ dimensions: 512 })) {
  const calls: string[][] = [];
  const embedder: Embedder = {
    specificationVersion: 'v1',
    provider: inner.provider,
    id: inner.id,
    dimensions: inner.dimensions,
    embed: async (texts, options) => {
      calls.push(texts);
      return inner.embed(texts, options);
    },
  };
  return { embedder, calls };
}

describe("AgentMemory({ retrieval: 'relevant' })", () => {
  it('puts the memories about the asked topic first in the system message and leaves unrelated ones out', async () => {
    const db = new InMemoryMemoryDb();
    const { embedder, calls } = countingEmbedder();
    // Written before relevant retrieval was on: no embeddings yet, embedded lazily.
    for (const memory of Object.values(topics).flat() as string[])
      await db.upsertMemory({ userId: 'dana', memory });
    const model = new MockModel({ replies: ['Sure.', 'Sure.'] });
    const agent = new Agent({
      model,
      userId: 'dana',
      memory: new AgentMemory({ db, embedder, retrieval: 'relevant', numMemories: 3 }),
      addMemoryReferences: true,
      logger: silentLogger,
    });
    await agent.run('Any tips for my marathon running training?');
    const system = model.requests[0]?.messages[0]?.content ?? '';
    const section = system.slice(system.indexOf(MEMORIES_OPEN_TAG));
    const listed = section.split('\n').filter((line) => line.startsWith('- '));
    expect(listed).toHaveLength(3);
    for (const line of listed) expect(line).toMatch(/running|marathon/);
    for (const [topic, memories] of Object.entries(topics)) {
      if (topic === 'running') continue;
      for (const unrelated of memories) expect(section).not.toContain(unrelated);
    }
    // One call: the input and the 30 memories without an embedding.
    expect(calls).toHaveLength(1);
    expect(calls[0]).toHaveLength(31);
    // The next run embeds only its input, and finds another topic.
    await agent.run('What should I cook with pasta tonight?');
    expect(calls).toHaveLength(2);
    expect(calls[1]).toEqual(['What should I cook with pasta tonight?']);
    const second = model.requests[1]?.messages[0]?.content ?? '';
    expect(second.slice(second.indexOf(MEMORIES_OPEN_TAG)).split('\n')[1]).toMatch(/cooking|pasta/);
  });

  it('embeds the memories the manager writes, so search finds them; a deleted memory is never found', async () => {
    const db = new InMemoryMemoryDb();
    const { embedder } = countingEmbedder();
    const manager = new MemoryManager({
      db,
      model: new MockModel({
        replies: [
          {
            toolCalls: [
              { name: 'add_memory', arguments: { memory: 'The user adopted a dog named Rex' } },
            ],
          },
          'Added.',
        ],
      }),
    });
    const memory = new AgentMemory({ db, embedder, retrieval: 'relevant', manager });
    new Agent({ model: new MockModel(), userId: 'dana', memory, logger: silentLogger });
    const { changes } = await memory.updateMemory('I adopted a dog named Rex', { force: true });
    expect(changes).toHaveLength(1);
    // Written with its embedding: nothing is left to embed lazily.
    expect(
      await db.readMemories({ userId: 'dana', missingEmbedding: embedder.dimensions }),
    ).toEqual([]);
    const [query] = await embedder.embed(['my dog Rex']);
    const found = await db.searchMemories({
      userId: 'dana',
      embedding: query as number[],
      limit: 5,
    });
    expect(found[0]?.memory).toBe('The user adopted a dog named Rex');
    await db.deleteMemory({ id: found[0]?.id as string, userId: 'dana' });
    expect(
      await db.searchMemories({ userId: 'dana', embedding: query as number[], limit: 5 }),
    ).toEqual([]);
  });

  it('needs an embedder, naming the option', () => {
    expect(() => new AgentMemory({ retrieval: 'relevant' })).toThrow(/embedder/);
  });
});
