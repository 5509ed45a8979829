/**
 * A summary persisted with the session survives a process restart: one Agent (with its storage)
 * summarizes and closes; a new Agent on a new storage instance over the same file / key prefix
 * sees the summary, and its next system message holds it.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, type ModelRequest, type SessionStorage, silentLogger } from '@buddy/core';
import { RedisStorage } from '@buddy/db-redis';
import { SqliteStorage } from '@buddy/db-sqlite';
import { MemorySummarizer } from '@buddy/summarizer';
import { MockModel } from '@buddy/testkit';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentMemory } from './agent-memory.ts';

const REDIS_URL = process.env.BUDDY_REDIS_URL ?? 'redis://127.0.0.1:6379';

function isCi(): boolean {
  const value = process.env.CI;
  return value !== undefined && value !== '' && value !== 'false' && value !== '0';
}

/** Whether Redis answers. In CI an unreachable Redis fails this file; elsewhere it is skipped. */
async function redisReachable(): Promise<boolean> {
  const client = new Redis(REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 2_000,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  let problem: string | undefined;
  try {
    await client.connect();
    const answer = await client.ping();
    if (answer !== 'PONG') problem = `PING answered ${answer}`;
  } catch (error) {
    problem = error instanceof Error ? error.message : String(error);
  } finally {
    client.disconnect();
  }
  if (problem === undefined) return true;
  const hint = 'Start redis-server or set BUDDY_REDIS_URL.';
  if (isCi())
    throw new Error(`Redis is required in CI: ${REDIS_URL} does not answer (${problem}). ${hint}`);
  console.warn(
    `[@buddy/memory] SKIPPING the Redis restart test: ${REDIS_URL} does not answer (${problem}). ${hint}`,
  );
  return false;
}

const hasRedis = await redisReachable();

const summary = { summary: 'The user asked which tea to drink in the evening.', topics: ['tea'] };

function systemOf(request: ModelRequest | undefined): string {
  const first = request?.messages[0];
  return first?.role === 'system' ? first.content : '';
}

/** Runs the scenario; `open` creates a fresh storage instance over the same persistent data. */
async function summarySurvivesRestart(open: () => SessionStorage): Promise<void> {
  const sessionId = `restart-${randomUUID()}`;

  const firstStorage = open();
  const summarizerModel = new MockModel({ replies: [JSON.stringify(summary)] });
  const firstAgent = new Agent({
    model: new MockModel({ replies: ['Rooibos: it has no caffeine.'] }),
    sessionId,
    userId: 'dana',
    storage: firstStorage,
    memory: new AgentMemory({ summarizer: new MemorySummarizer({ model: summarizerModel }) }),
    enableSessionSummaries: true,
    logger: silentLogger,
  });
  const response = await firstAgent.run('Which tea in the evening?');
  expect(response.warnings).toEqual([]);
  expect(summarizerModel.requests).toHaveLength(1);
  await firstStorage.close();

  const secondStorage = open();
  try {
    const agentModel = new MockModel({ replies: ['Chamomile works too.'] });
    const memory = new AgentMemory({ model: new MockModel() });
    const secondAgent = new Agent({
      model: agentModel,
      sessionId,
      userId: 'dana',
      storage: secondStorage,
      memory,
      addSessionSummaryReferences: true,
      logger: silentLogger,
    });
    expect(await secondAgent.getSessionSummary()).toMatchObject({ ...summary, runsCovered: 1 });
    expect(memory.summary).toEqual(summary);

    await secondAgent.run('Anything else?');
    expect(systemOf(agentModel.requests[0])).toContain(
      `<summary_of_previous_interactions>\n${summary.summary}\nTopics: tea\n</summary_of_previous_interactions>`,
    );
    await secondStorage.deleteUserData('dana');
  } finally {
    await secondStorage.close();
  }
}

describe('session summary across a restart: SQLite', () => {
  let directory: string;

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'buddy-memory-'));
  });

  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('a new Agent and storage on the same file see the summary', async () => {
    const dbFile = join(directory, 'agent.db');
    await summarySurvivesRestart(() => new SqliteStorage({ dbFile }));
  });
});

describe.skipIf(!hasRedis)('session summary across a restart: Redis', () => {
  it('a new Agent and storage on the same key prefix see the summary', async () => {
    const prefix = `buddy-memory-test:${randomUUID()}:`;
    // A TTL so that nothing outlives the test even if it fails half-way.
    await summarySurvivesRestart(
      () => new RedisStorage({ url: REDIS_URL, prefix, ttlSeconds: 600 }),
    );
  });
});
