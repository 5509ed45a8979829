/**
 * Wires the sample app: storage (SQLite file by default, PostgreSQL when BUDDY_POSTGRES_URL is
 * set, Redis when BUDDY_REDIS_URL is; see `stores.ts`), the memory db, the model (OpenAI or
 * Anthropic when their key is set, else the offline model) and the agent with every Buddy feature
 * switched on: the cart tools and a `checkout` that needs approval, relevant memories (the
 * offline `MockEmbedder`), summaries. The model is created once and given to both the agent and
 * its memory, so summaries and memories use the same model as the answers.
 */
import { Agent, type MemoryDb, type Model, type SessionStorage } from '@buddy/core';
import { MockEmbedder } from '@buddy/testkit';
import type { AppSettings } from './app-settings.ts';
import { cartTools } from './cart-tools.ts';
import { checkout, PRICE_LIST } from './checkout-tool.ts';
import { OfflineModel } from './offline-model.ts';
import { ProgressMemory } from './progress-memory.ts';
import { type OpenedStores, openStores } from './stores.ts';

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

/** How many of a user's memories reach the system message: the closest to the run's input. */
export const RELEVANT_MEMORIES = 5;

/**
 * Opens the storage and memory db (checking that a PostgreSQL or Redis server answers) and builds
 * the agent. `options.stores` replaces them (tests on `InMemoryStorage`); the app closes them.
 */
export async function createApp(
  settings: AppSettings,
  options: { stores?: OpenedStores } = {},
): Promise<App> {
  const stores = options.stores ?? (await openStores(settings, settings.userId));
  try {
    return await buildApp(settings, stores);
  } catch (error) {
    // Nothing owns the open connections yet: close them, or the process never exits.
    await stores.storage.close();
    await stores.memoryDb.close();
    throw error;
  }
}

async function buildApp(
  settings: AppSettings,
  { storage, memoryDb, where }: OpenedStores,
): Promise<App> {
  const { model, endpoint } = await pickModel(settings.model);
  // The offline embedder: texts that share words are close (no synonyms), with no key and no
  // network, whichever model answers.
  const memory = new ProgressMemory({
    db: memoryDb,
    model,
    embedder: new MockEmbedder(),
    retrieval: 'relevant',
    numMemories: RELEVANT_MEMORIES,
  });
  const agent = new Agent({
    model,
    name: 'Buddy',
    userId: settings.userId,
    ...(settings.sessionId === undefined ? {} : { sessionId: settings.sessionId }),
    description: 'You are Buddy, a friendly shopping assistant. You are talking to {user_id}.',
    instructions: [
      "The user's cart holds: {cart}",
      'Use the cart tools to change the cart; never pretend to.',
      PRICE_LIST,
      'To pay, call checkout with the cart total; the user approves every payment.',
      'Keep answers short.',
    ],
    sessionState: { cart: [] },
    tools: [...cartTools, checkout],
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
