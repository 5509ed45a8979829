import { InMemoryMemoryDb, type UserMemory } from '@buddy/core';
import { MockModel } from '@buddy/testkit';
import { describe, expect, it } from 'vitest';
import { AgentMemory, DEFAULT_NUM_MEMORIES } from './agent-memory.ts';
import { MemoryManager } from './memory-manager.ts';

async function seed(db: InMemoryMemoryDb, userId: string, count: number): Promise<void> {
  for (let index = 1; index <= count; index++) {
    const memory: UserMemory = {
      id: `${userId}-${index}`,
      userId,
      memory: `Fact ${index}.`,
      createdAt: index * 1000,
      updatedAt: index * 1000,
    };
    await db.upsertMemory(memory);
  }
}

const ids = (memories: UserMemory[]) => memories.map((memory) => memory.id);

describe('AgentMemory.readMemories', () => {
  it(`returns the newest ${DEFAULT_NUM_MEMORIES} by default, newest first`, async () => {
    const db = new InMemoryMemoryDb();
    await seed(db, 'dana', DEFAULT_NUM_MEMORIES + 5);
    await seed(db, 'eli', 3);
    const memories = await new AgentMemory({ db }).readMemories({ userId: 'dana' });
    expect(memories).toHaveLength(DEFAULT_NUM_MEMORIES);
    expect(memories[0]?.id).toBe(`dana-${DEFAULT_NUM_MEMORIES + 5}`);
    expect(memories.every((memory) => memory.userId === 'dana')).toBe(true);
  });

  it("honours retrieval 'last_n', 'first_n' and 'all' with numMemories", async () => {
    const db = new InMemoryMemoryDb();
    await seed(db, 'dana', 5);
    expect(
      ids(await new AgentMemory({ db, numMemories: 2 }).readMemories({ userId: 'dana' })),
    ).toEqual(['dana-5', 'dana-4']);
    expect(
      ids(
        await new AgentMemory({ db, retrieval: 'first_n', numMemories: 2 }).readMemories({
          userId: 'dana',
        }),
      ),
    ).toEqual(['dana-2', 'dana-1']);
    expect(
      ids(await new AgentMemory({ db, retrieval: 'all' }).readMemories({ userId: 'dana' })),
    ).toEqual(['dana-5', 'dana-4', 'dana-3', 'dana-2', 'dana-1']);
  });

  it('works without an agent for any user, and deleteUserData removes only that user', async () => {
    const db = new InMemoryMemoryDb();
    await seed(db, 'dana', 2);
    await seed(db, 'eli', 1);
    const memory = new AgentMemory({ db });
    await expect(memory.deleteUserData('dana')).resolves.toBe(2);
    expect(await memory.readMemories({ userId: 'dana' })).toEqual([]);
    expect(ids(await memory.readMemories({ userId: 'eli' }))).toEqual(['eli-1']);
  });
});

describe('new AgentMemory(options)', () => {
  it('defaults to an InMemoryMemoryDb, or the db of the given manager', () => {
    expect(new AgentMemory().db).toBeInstanceOf(InMemoryMemoryDb);
    const db = new InMemoryMemoryDb();
    expect(new AgentMemory({ manager: new MemoryManager({ db }) }).db).toBe(db);
    expect(new AgentMemory({ db, manager: new MemoryManager({ db }) }).db).toBe(db);
  });

  it('rejects a manager that writes to another db than the one it reads', () => {
    expect(
      () => new AgentMemory({ db: new InMemoryMemoryDb(), manager: new MemoryManager() }),
    ).toThrow(
      expect.objectContaining({
        code: 'INVALID_ARGUMENT',
        message: expect.stringContaining('same db'),
      }),
    );
  });

  it.each([
    [{ dbFile: 'x' }, "unknown option 'dbFile'"],
    [{ db: { readMemories() {} } }, "option 'db'"],
    [{ retrieval: 'newest' }, "option 'retrieval' must be one of 'last_n', 'first_n', 'all'"],
    [{ numMemories: 0 }, "option 'numMemories' must be an integer >= 1"],
    [{ retrieval: 'all', numMemories: 3 }, "'numMemories' has no effect with retrieval 'all'"],
    [{ summarizer: {} }, "option 'summarizer' must be a MemorySummarizer"],
    [{ classifier: 'yes' }, "option 'classifier' must be a MemoryClassifier"],
    [{ model: 'gpt-4o' }, "AgentMemory: option 'model' must be a Model"],
  ])('rejects %j', (options, message) => {
    expect(() => new AgentMemory(options as never)).toThrow(message);
  });

  it('needs an agent for the methods about the agent’s own session and user', async () => {
    const memory = new AgentMemory({ model: new MockModel() });
    expect(memory.summary).toBeUndefined();
    await expect(memory.updateSummary()).rejects.toThrow(/new Agent\(\{ memory \}\)/);
    await expect(memory.loadMemories()).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(memory.clearMemories()).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(memory.getMessagePairs()).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
