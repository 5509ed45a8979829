/**
 * Data the CLI tests write into a place through the public contract: several users, an ownerless
 * session, names, unicode states, summaries with topics, metadata, tool calls, a partial run, a
 * paused run and memories. Every piece of conversation holds a `PLAINTEXT-…` marker, so the
 * encryption tests can look for it in the raw bytes.
 */
import type { MemoryDb, PendingRunRecord, SessionStorage, StoredRun } from '@buddy/core';
import { makeRun } from '@buddy/testkit/storage';

/** Markers that must never appear in an encrypted place's raw bytes. */
export const PLAINTEXT_MARKERS = [
  'PLAINTEXT-STATE',
  'PLAINTEXT-QUESTION',
  'PLAINTEXT-ANSWER',
  'PLAINTEXT-TOOL-ARGUMENT',
  'PLAINTEXT-TOOL-RESULT',
  'PLAINTEXT-SUMMARY',
  'PLAINTEXT-TOPIC',
  'PLAINTEXT-NAME',
  'PLAINTEXT-PAUSED',
  'PLAINTEXT-MEMORY',
];

function toolRun(sessionId: string, userId: string): Omit<StoredRun, 'index'> {
  const run = makeRun(sessionId, 'PLAINTEXT-QUESTION look it up', { userId });
  const [user, answer] = run.messages;
  const at = run.createdAt;
  return {
    ...run,
    messages: [
      user as StoredRun['messages'][number],
      {
        role: 'assistant',
        content: '',
        toolCalls: [
          { id: `call-${run.runId}`, name: 'lookup', arguments: '{"q":"PLAINTEXT-TOOL-ARGUMENT"}' },
        ],
        id: `${run.runId}-call`,
        createdAt: at,
        runId: run.runId,
      },
      {
        role: 'tool',
        toolCallId: `call-${run.runId}`,
        toolName: 'lookup',
        content: 'PLAINTEXT-TOOL-RESULT 42',
        id: `${run.runId}-result`,
        createdAt: at + 1,
        runId: run.runId,
      },
      answer as StoredRun['messages'][number],
    ],
  };
}

function pausedRun(sessionId: string, userId: string): PendingRunRecord {
  const runId = `paused-${sessionId}`;
  return {
    runId,
    userId,
    messages: [
      {
        role: 'user',
        content: 'PLAINTEXT-PAUSED pay the bill',
        id: `${runId}-m1`,
        createdAt: 10,
        runId,
      },
      {
        role: 'assistant',
        content: '',
        toolCalls: [
          { id: `${runId}-c1`, name: 'pay', arguments: '{"amount":"PLAINTEXT-PAUSED 12"}' },
        ],
        id: `${runId}-m2`,
        createdAt: 11,
        runId,
      },
    ],
    sessionState: { step: 'PLAINTEXT-PAUSED' },
    approvals: [
      {
        approvalId: `${runId}-a1`,
        toolCallId: `${runId}-c1`,
        toolName: 'pay',
        arguments: '{"amount":"PLAINTEXT-PAUSED 12"}',
      },
    ],
    usage: { inputTokens: 3, outputTokens: 4 },
    model: { provider: 'mock', id: 'mock-model' },
    rounds: 1,
    createdAt: 10,
    pausedAt: 12,
  };
}

/** What `seed` wrote. */
export interface Seeded {
  sessions: number;
  runs: number;
  memories: number;
  users: string[];
}

/** Writes the fixture data (see the module comment) into a place. */
export async function seed(
  storage: SessionStorage,
  memoryDb: MemoryDb,
  options: { sessionsPerUser?: number; runsPerSession?: number; tag?: string } = {},
): Promise<Seeded> {
  const perUser = options.sessionsPerUser ?? 2;
  const runsPerSession = options.runsPerSession ?? 3;
  const tag = options.tag ?? 'x';
  let sessions = 0;
  let runs = 0;
  for (const userId of ['dana', 'bob']) {
    for (let index = 0; index < perUser; index++) {
      const sessionId = `${userId}-${tag}-${index}-ß🧠`;
      for (let turn = 0; turn < runsPerSession; turn++) {
        const run =
          turn === 1
            ? toolRun(sessionId, userId)
            : makeRun(sessionId, `PLAINTEXT-QUESTION ${turn} — grüße 你好`, {
                userId,
                answer: `PLAINTEXT-ANSWER ${turn}`,
              });
        await storage.appendRun({
          sessionId,
          userId,
          agentId: 'helper',
          sessionName: `PLAINTEXT-NAME ${userId} ${index}`,
          metadata: { channel: 'web', index },
          run:
            turn === runsPerSession - 1 && userId === 'bob' ? { ...run, status: 'aborted' } : run,
          sessionState: { note: `PLAINTEXT-STATE ${userId}`, turn, cart: ['milk', '🥚'] },
        });
        runs++;
      }
      await storage.upsertSession({
        sessionId,
        userId,
        summary: {
          summary: `PLAINTEXT-SUMMARY of ${userId}'s chat`,
          topics: ['PLAINTEXT-TOPIC groceries'],
          runsCovered: Math.max(0, runsPerSession - 1),
          updatedAt: 1_767_600_000_000 + index,
        },
        ...(index === 0 ? { pendingRun: pausedRun(sessionId, userId) } : {}),
      });
      sessions++;
      // Distinct update times, so the listing order does not hang on ties.
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }
  await storage.upsertSession({
    sessionId: `anonymous-${tag}`,
    sessionState: { note: 'PLAINTEXT-STATE of nobody' },
  });
  sessions++;
  let memories = 0;
  for (const [userId, text] of [
    ['dana', 'PLAINTEXT-MEMORY drinks oat milk'],
    ['dana', 'PLAINTEXT-MEMORY lives in Zürich'],
    ['bob', 'PLAINTEXT-MEMORY is vegetarian'],
  ] as const) {
    await memoryDb.upsertMemory({
      userId,
      memory: text,
      topics: ['PLAINTEXT-TOPIC food'],
      input: 'PLAINTEXT-QUESTION what do I like',
      createdAt: 1_767_600_000_000 + memories,
      updatedAt: 1_767_600_000_000 + memories,
    });
    memories++;
  }
  return { sessions, runs, memories, users: ['dana', 'bob'] };
}
