/**
 * Wires the sample app: storage (SQLite file by default, Redis when BUDDY_REDIS_URL is set), the
 * memory db, the model (OpenAI or Anthropic when their key is set, else the offline model) and
 * the agent with every Buddy feature switched on.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import {
  Agent,
  BuddyError,
  type Logger,
  type MemoryDb,
  type Model,
  type SessionStorage,
} from '@buddy/core';
import { RedisMemoryDb, RedisStorage } from '@buddy/db-redis';
import { SqliteMemoryDb, SqliteStorage } from '@buddy/db-sqlite';
import { AgentMemory } from '@buddy/memory';
import { Claude } from '@buddy/model-anthropic';
import { OpenAIChat } from '@buddy/model-openai';
import { cartTools } from './cart-tools.ts';
import { OfflineModel } from './offline-model.ts';

export const DEFAULT_DB_FILE = '.buddy/buddy.db';

export interface AppSettings {
  userId: string;
  sessionId?: string;
  /** SQLite file (ignored when `redisUrl` is set). */
  dbFile: string;
  redisUrl?: string;
  /** 'auto' picks OpenAI or Anthropic when their key is set, else offline. */
  model: 'auto' | 'offline' | 'openai' | 'anthropic';
  logger?: Logger;
}

export interface App {
  agent: Agent;
  storage: SessionStorage;
  memoryDb: MemoryDb;
  model: Model;
  /** One line saying which model and storage are in use. */
  description: string;
  close(): Promise<void>;
}

export function pickModel(
  choice: AppSettings['model'],
  env: NodeJS.ProcessEnv = process.env,
): Model {
  const wants =
    choice === 'auto'
      ? env.OPENAI_API_KEY
        ? 'openai'
        : env.ANTHROPIC_API_KEY
          ? 'anthropic'
          : 'offline'
      : choice;
  if (wants === 'openai') return new OpenAIChat({ id: env.BUDDY_OPENAI_MODEL ?? 'gpt-4o' });
  if (wants === 'anthropic')
    return new Claude(
      env.BUDDY_ANTHROPIC_MODEL === undefined ? {} : { id: env.BUDDY_ANTHROPIC_MODEL },
    );
  return new OfflineModel();
}

/** Opens storage; an unreachable Redis is a one-line `STORAGE_UNAVAILABLE`, checked up front. */
async function openStores(
  settings: AppSettings,
): Promise<{ storage: SessionStorage; memoryDb: MemoryDb; where: string }> {
  if (settings.redisUrl !== undefined && settings.redisUrl !== '') {
    const storage = new RedisStorage({ url: settings.redisUrl });
    const memoryDb = new RedisMemoryDb({ url: settings.redisUrl });
    try {
      await storage.listSessions({ userId: settings.userId, limit: 1 });
    } catch (error) {
      await storage.close();
      await memoryDb.close();
      throw new BuddyError({
        code: 'STORAGE_UNAVAILABLE',
        message: `Redis at ${settings.redisUrl} does not answer (${BuddyError.is(error) ? error.message : String(error)}). Start Redis or unset BUDDY_REDIS_URL to use SQLite.`,
        cause: error,
      });
    }
    return { storage, memoryDb, where: `Redis at ${settings.redisUrl}` };
  }
  const file = resolve(settings.dbFile);
  mkdirSync(dirname(file), { recursive: true });
  return {
    storage: new SqliteStorage({ dbFile: file }),
    memoryDb: new SqliteMemoryDb({ dbFile: file }),
    where: `SQLite file ${file}`,
  };
}

export async function createApp(settings: AppSettings): Promise<App> {
  const { storage, memoryDb, where } = await openStores(settings);
  const model = pickModel(settings.model);
  const agent = new Agent({
    model,
    name: 'Buddy',
    userId: settings.userId,
    ...(settings.sessionId === undefined ? {} : { sessionId: settings.sessionId }),
    description: 'You are Buddy, a friendly shopping assistant. You are talking to {user_id}.',
    instructions: [
      "The user's cart holds: {cart}",
      'Use the cart tools to change the cart; never pretend to.',
      'Keep answers short.',
    ],
    sessionState: { cart: [] },
    tools: cartTools,
    storage,
    memory: new AgentMemory({ db: memoryDb, model }),
    addStateInMessages: true,
    addHistoryToMessages: true,
    numHistoryRuns: 3,
    readChatHistory: true,
    searchPreviousSessionsHistory: true,
    enableSessionSummaries: true,
    enableUserMemories: true,
    ...(settings.logger === undefined ? {} : { logger: settings.logger }),
  });
  const modelName =
    model instanceof OfflineModel
      ? 'the built-in offline model (no keys found, no network used)'
      : `${model.provider}/${model.id}`;
  return {
    agent,
    storage,
    memoryDb,
    model,
    description: `Model: ${modelName}. Storage: ${where}.`,
    close: async () => {
      await storage.close();
      await memoryDb.close();
    },
  };
}
