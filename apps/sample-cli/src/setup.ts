/**
 * Wires the sample app: storage (SQLite file by default, Redis when BUDDY_REDIS_URL is set), the
 * memory db, the model (OpenAI or Anthropic when their key is set, else the offline model) and
 * the agent with every Buddy feature switched on. The model is created once and given to both the
 * agent and its memory, so summaries and memories use the same model as the answers.
 */
import { mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, resolve } from 'node:path';
import { Agent, BuddyError, type MemoryDb, type Model, type SessionStorage } from '@buddy/core';
import { SqliteMemoryDb, SqliteStorage } from '@buddy/db-sqlite';
import type { AppSettings } from './app-settings.ts';
import { cartTools } from './cart-tools.ts';
import { networkReason } from './network-reason.ts';
import { OfflineModel } from './offline-model.ts';
import { ProgressMemory } from './progress-memory.ts';

export { type AppSettings, DEFAULT_DB_FILE } from './app-settings.ts';

/** The wired app: the agent and what it was built from. */
export interface App {
  agent: Agent;
  storage: SessionStorage;
  memoryDb: MemoryDb;
  model: Model;
  /** The agent's memory; it reports when post-answer work starts and ends. */
  memory: ProgressMemory;
  /** The API base URL the model talks to; `undefined` for the offline model. */
  modelEndpoint: string | undefined;
  /** One line saying which model and storage are in use. */
  description: string;
  close(): Promise<void>;
}

/** The model and the API base URL it talks to (for error messages). */
export interface PickedModel {
  model: Model;
  endpoint: string | undefined;
}

/**
 * The model for a `--model` choice (`auto`: OpenAI with `OPENAI_API_KEY`, else Anthropic with
 * `ANTHROPIC_API_KEY`, else offline) and the base URL it talks to. Only the chosen adapter is
 * loaded, so a start (and a bad flag) stays quick.
 */
export async function pickModel(
  choice: AppSettings['model'],
  env: NodeJS.ProcessEnv = process.env,
): Promise<PickedModel> {
  const wants =
    choice === 'auto'
      ? env.OPENAI_API_KEY
        ? 'openai'
        : env.ANTHROPIC_API_KEY
          ? 'anthropic'
          : 'offline'
      : choice;
  if (wants === 'openai') {
    const { OpenAIChat } = await import('@buddy/model-openai');
    return {
      model: new OpenAIChat({ id: env.BUDDY_OPENAI_MODEL ?? 'gpt-4o' }),
      endpoint: env.OPENAI_BASE_URL || 'https://api.openai.com/v1',
    };
  }
  if (wants === 'anthropic') {
    const { Claude } = await import('@buddy/model-anthropic');
    return {
      model: new Claude(
        env.BUDDY_ANTHROPIC_MODEL === undefined ? {} : { id: env.BUDDY_ANTHROPIC_MODEL },
      ),
      endpoint: env.ANTHROPIC_BASE_URL || 'https://api.anthropic.com',
    };
  }
  return { model: new OfflineModel(), endpoint: undefined };
}

/** Why a TCP connection to a `redis://` URL's host and port fails, or `undefined` when it opens. */
function tcpProblem(url: string): Promise<string | undefined> {
  let host: string;
  let port: number;
  try {
    const parsed = new URL(url);
    host = parsed.hostname || '127.0.0.1';
    port = Number(parsed.port || 6379);
  } catch {
    return Promise.resolve('not a URL');
  }
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.setTimeout(2_000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (error) => resolve(networkReason(error) ?? 'cannot connect'));
    socket.once('timeout', () => {
      socket.destroy();
      resolve('timed out');
    });
  });
}

/** Opens storage; an unreachable Redis is a one-line `STORAGE_UNAVAILABLE`, checked up front. */
async function openStores(
  settings: AppSettings,
): Promise<{ storage: SessionStorage; memoryDb: MemoryDb; where: string }> {
  if (settings.redisUrl !== undefined && settings.redisUrl !== '') {
    const options = {
      url: settings.redisUrl,
      ...(settings.redisPrefix === undefined ? {} : { prefix: settings.redisPrefix }),
    };
    const { RedisMemoryDb, RedisStorage } = await import('@buddy/db-redis');
    const storage = new RedisStorage(options);
    const memoryDb = new RedisMemoryDb(options);
    try {
      await storage.listSessions({ userId: settings.userId, limit: 1 });
    } catch (error) {
      await storage.close();
      await memoryDb.close();
      const reason =
        networkReason(error) ??
        (await tcpProblem(settings.redisUrl)) ??
        'it accepts connections but its replies failed';
      throw new BuddyError({
        code: 'STORAGE_UNAVAILABLE',
        message: `Redis at ${settings.redisUrl} does not answer (${reason}). Start Redis there, point --redis or BUDDY_REDIS_URL at a running server, or leave both unset to use SQLite.`,
        cause: error,
      });
    }
    const prefix = settings.redisPrefix === undefined ? '' : `, keys under ${storage.prefix}`;
    return { storage, memoryDb, where: `Redis at ${settings.redisUrl}${prefix}` };
  }
  const file = resolve(settings.dbFile);
  mkdirSync(dirname(file), { recursive: true });
  return {
    storage: new SqliteStorage({ dbFile: file }),
    memoryDb: new SqliteMemoryDb({ dbFile: file }),
    where: `SQLite file ${file}`,
  };
}

/** Opens the storage and memory db (checking that Redis answers) and builds the agent. */
export async function createApp(settings: AppSettings): Promise<App> {
  const { storage, memoryDb, where } = await openStores(settings);
  const { model, endpoint } = await pickModel(settings.model);
  const memory = new ProgressMemory({ db: memoryDb, model });
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
    memory,
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
      : `${model.provider}/${model.id} at ${endpoint}`;
  return {
    agent,
    storage,
    memoryDb,
    model,
    memory,
    modelEndpoint: endpoint,
    description: `Model: ${modelName}. Storage: ${where}.`,
    // The agent closes what it was given: the storage, the memory (and its db), the model.
    close: () => agent.close(),
  };
}
