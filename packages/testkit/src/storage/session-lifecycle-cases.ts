/**
 * Agent-level cases of SPEC §10.3 / §10.4 that every session storage runs (part of
 * `describeSessionStorageContract`): a cache never outlives the session's incarnation, a deleted
 * session stays deleted whatever post-answer work was in flight, and an agent starts over after
 * its user's data is deleted. They drive a real `Agent` with `MockModel` and a minimal memory
 * extension, so they prove the backend's incarnations and fencing, not a mock's.
 */
import {
  Agent,
  type AgentMemoryContract,
  type AgentMemoryHost,
  type SessionStorage,
  type SessionSummaryRecord,
  silentLogger,
  tool,
} from '@buddy/core';
import { describe, expect, it } from 'vitest';
import { MockModel } from '../mock-model.ts';
import { uniqueId } from './session-storage-fixtures.ts';

/** A memory extension whose summaries wait for `release()`, then save through the host. */
class GatedSummaries implements AgentMemoryContract {
  readonly specificationVersion = 'v1' as const;
  host: AgentMemoryHost | undefined;
  #release: () => void = () => {};
  #gate = new Promise<void>((resolve) => {
    this.#release = resolve;
  });
  #started: () => void = () => {};
  readonly started = new Promise<void>((resolve) => {
    this.#started = resolve;
  });
  attach(host: AgentMemoryHost): void {
    this.host = host;
  }
  async readMemories(): Promise<never[]> {
    return [];
  }
  async updateSessionSummary(input: {
    sessionId: string;
    userId?: string;
    signal?: AbortSignal;
  }): Promise<SessionSummaryRecord | undefined> {
    const host = this.host as AgentMemoryHost;
    const record = await host.getSession(input);
    if (record === undefined) return undefined;
    this.#started();
    await this.#gate; // a summarizer that ignores the signal
    const summary = {
      summary: `Covers ${record.runCount} run(s).`,
      runsCovered: record.runCount,
      updatedAt: Date.now(),
    };
    await host.saveSummary({
      sessionId: input.sessionId,
      ...(input.userId === undefined ? {} : { userId: input.userId }),
      incarnation: record.incarnation,
      summary,
      ...(input.signal === undefined ? {} : { signal: input.signal }),
    });
    return summary;
  }
  async updateUserMemories(): Promise<void> {}
  async deleteUserData(): Promise<number> {
    return 0;
  }
  release(): void {
    this.#release();
  }
}

const note = tool({
  name: 'note',
  execute: (_args, { sessionState }) => {
    sessionState.count = Number(sessionState.count ?? 0) + 1;
    return 'noted';
  },
});

/** Calls `note` once per run; answers with the user messages it was sent. */
function notingModel(): MockModel {
  return new MockModel({
    respond: (request) =>
      request.messages.at(-1)?.role === 'tool'
        ? `seen: ${request.messages
            .filter((message) => message.role === 'user')
            .map((message) => message.content)
            .join(' | ')}`
        : { toolCalls: [{ name: 'note', arguments: {} }] },
  });
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 30));

/** Registers the agent lifecycle cases (part of the storage suite). */
export function describeSessionLifecycleCases(context: {
  open(): Promise<SessionStorage>;
  peerOf(storage: SessionStorage): Promise<SessionStorage>;
}): void {
  describe('agent lifecycle: caches, deletion and post-answer work', () => {
    it('never replays a deleted incarnation: another agent deleted and recreated the session (same version)', async () => {
      const storage = await context.open();
      const peer = await context.peerOf(storage);
      const sessionId = uniqueId('lifecycle');
      const common = {
        sessionId,
        tools: [note],
        addHistoryToMessages: true,
        numHistoryRuns: 5,
        logger: silentLogger,
      };
      const first = new Agent({ ...common, model: notingModel(), storage });
      for (const text of ['old 1', 'old 2']) await first.run(text);
      const second = new Agent({ ...common, model: notingModel(), storage: peer });
      await second.deleteSession(sessionId);
      for (const text of ['new 1', 'new 2']) await second.run(text);
      const response = await first.run('next');
      expect(response.content).toBe('seen: new 1 | new 2 | next');
      expect((await storage.getSession(sessionId))?.sessionState.count).toBe(3);
    });

    it('keeps a session deleted while its post-answer summary was in flight (no ghost record)', async () => {
      const storage = await context.open();
      const memory = new GatedSummaries();
      const agent = new Agent({
        model: new MockModel({ replies: ['hello'] }),
        userId: 'dana',
        storage,
        memory,
        enableSessionSummaries: true,
        logger: silentLogger,
      });
      const running = agent.run('hi');
      await memory.started;
      expect(await agent.deleteSession(agent.sessionId)).toBe(true);
      memory.release();
      await running;
      await settle();
      expect(await storage.getSession(agent.sessionId)).toBeUndefined();
    });

    it("never lands an old incarnation's summary in a session recreated meanwhile by another process", async () => {
      const storage = await context.open();
      const peer = await context.peerOf(storage);
      const memory = new GatedSummaries();
      const sessionId = uniqueId('recreated');
      const agent = new Agent({
        model: new MockModel({ replies: ['hello'] }),
        sessionId,
        storage,
        memory,
        enableSessionSummaries: true,
        logger: silentLogger,
      });
      const running = agent.run('hi');
      await memory.started;
      // Another process deletes the session and starts it over (version 1 again).
      await peer.deleteSession(sessionId);
      await new Agent({
        model: new MockModel({ replies: ['fresh'] }),
        sessionId,
        storage: peer,
      }).run('fresh');
      memory.release();
      const response = await running;
      await settle();
      const record = await storage.getSession(sessionId);
      expect(record?.runCount).toBe(1);
      expect(record?.summary).toBeUndefined();
      expect(response.warnings.join('\n')).toContain('Session summary was not updated');
    });

    it('starts over from the default state after deleteUserData, never writing the deleted state back', async () => {
      const storage = await context.open();
      const userId = uniqueId('forgotten');
      const agent = new Agent({
        model: notingModel(),
        userId,
        storage,
        tools: [note],
        sessionState: { tier: 'free' },
        logger: silentLogger,
      });
      await agent.run('one');
      await agent.run('two');
      expect((await agent.deleteUserData(userId)).sessions).toBe(1);
      await agent.run('three');
      const record = await storage.getSession(agent.sessionId, { userId });
      expect(record).toMatchObject({ runCount: 1, sessionState: { tier: 'free', count: 1 } });
    });
  });
}
