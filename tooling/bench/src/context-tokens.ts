/**
 * What summaries buy: context tokens sent to the model per turn over a 200-turn scripted
 * conversation, and summarizer input tokens per update (incremental, as Buddy does it, against
 * re-summarizing the whole session every run, as agno does). Token counts are the MockModel's
 * estimate (4 characters per token), the same for every setup.
 *
 * What relevant memories and the context budget buy (`measureMemoryBudget`): tokens sent per turn
 * over a long conversation of a user with 1,000 memories, with every memory, the newest, the
 * relevant ones, and the relevant ones under `contextBudget: { maxInputTokens: 4000 }`. Requests
 * are counted as SPEC §13.3 counts them (`requestTokens`), with `@buddy/model-openai`'s
 * `countTokens` (gpt-tokenizer, o200k) when that package can load its tokenizer, else with the
 * conservative characters / 3 estimate; the budgeted agent counts with the same counter.
 */
import {
  Agent,
  BuddyError,
  conservativeTokenCount,
  requestTokens as countRequestTokens,
  estimateTokens,
  InMemoryMemoryDb,
  InMemoryStorage,
  MEMORIES_CLOSE_TAG,
  MEMORIES_OPEN_TAG,
  type ModelRequest,
  runsToPairs,
  silentLogger,
  tool,
} from '@buddy/core';
import { AgentMemory, type MemoryRetrieval } from '@buddy/memory';
import { MemorySummarizer } from '@buddy/summarizer';
import { MockEmbedder, MockModel } from '@buddy/testkit';
import { z } from 'zod';

const TOPICS = [
  'groceries',
  'a birthday party',
  'the weekly meal plan',
  'a trip to Lisbon',
  'the budget',
  'a new recipe',
  'the garden',
  'a job interview',
];

function userMessage(turn: number): string {
  const topic = TOPICS[turn % TOPICS.length] ?? 'something';
  return `Turn ${turn}: let's talk about ${topic}. What should I keep in mind about ${topic} this week, given what we said before?`;
}

function assistantAnswer(request: ModelRequest): string {
  const last = request.messages.at(-1)?.content ?? '';
  return `Here is a thoughtful answer about ${last.slice(0, 60)}: plan ahead, write things down, keep it simple, check the calendar, and ask me again if anything changes. I will remember what matters.`;
}

/** A summarizer model whose summary stays bounded, like a real one asked for ~150 words. */
function summarizerModel(): MockModel {
  let updates = 0;
  return new MockModel({
    respond: (request) => {
      updates += 1;
      const prompt = request.messages.map((message) => message.content).join('\n');
      const mentioned = TOPICS.filter((topic) => prompt.includes(topic));
      return JSON.stringify({
        summary: `Over ${updates} updates the user and the assistant planned ${mentioned.slice(0, 6).join(', ')}. The user wants practical, short advice and keeps coming back to the same themes.`,
        topics: mentioned.slice(0, 6),
      });
    },
  });
}

function requestTokens(request: ModelRequest): number {
  return estimateTokens(request.messages.map((message) => message.content).join('\n'));
}

interface ConversationRow {
  setup: string;
  turns: number;
  meanPerTurn: number;
  lastTurn: number;
  total: number;
}

async function conversation(
  setup: string,
  turns: number,
  options: { numHistoryRuns: number; summaries: boolean },
): Promise<ConversationRow> {
  const summarizer = summarizerModel();
  const agent = new Agent({
    model: new MockModel({ respond: (request) => assistantAnswer(request) }),
    storage: new InMemoryStorage(),
    instructions: 'You are a helpful planning assistant.',
    addHistoryToMessages: options.numHistoryRuns > 0,
    numHistoryRuns: options.numHistoryRuns,
    ...(options.summaries
      ? { memory: new AgentMemory({ model: summarizer }), enableSessionSummaries: true }
      : {}),
    logger: silentLogger,
  });
  const perTurn: number[] = [];
  for (let turn = 1; turn <= turns; turn++) {
    const response = await agent.run(userMessage(turn));
    perTurn.push(response.usage.inputTokens);
  }
  const total = perTurn.reduce((sum, value) => sum + value, 0);
  return { setup, turns, meanPerTurn: total / turns, lastTurn: perTurn.at(-1) ?? 0, total };
}

interface SummarizerRow {
  mode: string;
  updates: number;
  meanPerUpdate: number;
  lastUpdate: number;
  total: number;
}

async function summarizerCost(turns: number): Promise<SummarizerRow[]> {
  // Incremental: what AgentMemory sends (previous summary + the new pairs only).
  const incremental = summarizerModel();
  const storage = new InMemoryStorage();
  const agent = new Agent({
    model: new MockModel({ respond: (request) => assistantAnswer(request) }),
    storage,
    memory: new AgentMemory({ model: incremental }),
    enableSessionSummaries: true,
    logger: silentLogger,
  });
  for (let turn = 1; turn <= turns; turn++) await agent.run(userMessage(turn));
  const incrementalTokens = incremental.requests.map(requestTokens);

  // Full: every update re-reads every pair of the session.
  const full = summarizerModel();
  const fullSummarizer = new MemorySummarizer({ model: full });
  const runs = await storage.getRuns({ sessionId: agent.sessionId });
  const pairs = runsToPairs(runs);
  for (let turn = 1; turn <= pairs.length; turn++) await fullSummarizer.run(pairs.slice(0, turn));
  const fullTokens = full.requests.map(requestTokens);

  const row = (mode: string, tokens: number[]): SummarizerRow => {
    const total = tokens.reduce((sum, value) => sum + value, 0);
    return {
      mode,
      updates: tokens.length,
      meanPerUpdate: total / Math.max(1, tokens.length),
      lastUpdate: tokens.at(-1) ?? 0,
      total,
    };
  };
  return [row('incremental (Buddy)', incrementalTokens), row('full session every run', fullTokens)];
}

export async function measureContextTokens(options: {
  turns: number;
}): Promise<{ conversations: ConversationRow[]; summarizer: SummarizerRow[] }> {
  const { turns } = options;
  return {
    conversations: [
      await conversation('whole history replayed (numHistoryRuns: all)', turns, {
        numHistoryRuns: turns,
        summaries: false,
      }),
      await conversation('numHistoryRuns: 3, no summary', turns, {
        numHistoryRuns: 3,
        summaries: false,
      }),
      await conversation('numHistoryRuns: 3 + session summary', turns, {
        numHistoryRuns: 3,
        summaries: true,
      }),
    ],
    summarizer: await summarizerCost(turns),
  };
}

// ------------------------------------------------------------ relevant memories + budget

/** Topics of the seeded memories (each memory names its topic, so relevance has words to find). */
const MEMORY_TOPICS = [
  'gardening',
  'cycling',
  'baking',
  'chess',
  'photography',
  'sailing',
  'pottery',
  'astronomy',
  'knitting',
  'climbing',
  'painting',
  'fishing',
  'coffee',
  'tea',
  'jazz',
  'opera',
  'skiing',
  'surfing',
  'yoga',
  'running',
  'swimming',
  'tennis',
  'golf',
  'football',
  'cooking',
  'wine',
  'cheese',
  'travel',
  'camping',
  'birdwatching',
  'poetry',
  'novels',
  'podcasts',
  'movies',
  'theatre',
  'dancing',
  'guitar',
  'piano',
  'violin',
  'drums',
  'languages',
  'history',
  'museums',
  'architecture',
  'furniture',
  'aquariums',
  'beekeeping',
  'origami',
  'calligraphy',
  'woodworking',
] as const;

const FACT_SHAPES: readonly ((topic: string, n: number) => string)[] = [
  (topic: string, n: number) => `The user has done ${topic} for ${n + 2} years and enjoys it.`,
  (topic: string, n: number) => `The user spends about ${n + 1} hours a week on ${topic}.`,
  (topic: string, n: number) => `The user bought new ${topic} gear in month ${(n % 12) + 1}.`,
  (topic: string, n: number) => `The user's friend number ${n} also loves ${topic}.`,
  (topic: string) => `The user wants to get better at ${topic} this year.`,
];

/** `count` memories about the topics, each naming its topic. */
function seededMemories(count: number): { memory: string; topic: string }[] {
  return Array.from({ length: count }, (_, index) => {
    const topic = MEMORY_TOPICS[index % MEMORY_TOPICS.length] ?? 'life';
    const round = Math.floor(index / MEMORY_TOPICS.length);
    const shape = FACT_SHAPES[round % FACT_SHAPES.length];
    return { memory: `${shape?.(topic, round)} (note ${index + 1})`, topic };
  });
}

/** Counts tokens: `@buddy/model-openai`'s tokenizer when it loads, else characters / 3. */
export async function benchTokenCounter(): Promise<{
  count: (text: string) => number;
  name: string;
}> {
  try {
    const { OpenAIChat } = await import('@buddy/model-openai');
    const model = new OpenAIChat({ id: 'gpt-4o', apiKey: 'not-used-for-counting' });
    const count = model.countTokens?.bind(model);
    if (count !== undefined) {
      count('probe');
      return { count, name: '@buddy/model-openai countTokens (gpt-tokenizer, o200k_base)' };
    }
  } catch (error) {
    if (!BuddyError.is(error, 'MODEL_NOT_CONFIGURED')) throw error;
  }
  return {
    count: conservativeTokenCount,
    name: 'the conservative estimate (characters / 3): gpt-tokenizer is not installed for @buddy/model-openai',
  };
}

/** One setup of the memory conversation, measured. */
export interface MemoryBudgetRow {
  setup: string;
  turns: number;
  requests: number;
  meanPerTurn: number;
  /** Tokens of the largest single model request. */
  maxRequest: number;
  lastTurn: number;
  total: number;
  /** Requests that counted more than the budget under test. */
  overBudget: number;
  /** Memories in the system message per turn, on average, and how many of them are on the turn's topic. */
  memoriesPerTurn: number;
  onTopicPerTurn: number;
}

/** The memory conversation: the rows and how tokens were counted. */
export interface MemoryBudgetResult {
  memories: number;
  turns: number;
  maxInputTokens: number;
  counter: string;
  rows: MemoryBudgetRow[];
}

/** A long tool result every few turns: history gets uneven runs, and a call keeps its result. */
const notesTool = tool({
  name: 'read_notes',
  description: "Reads the user's notes about a topic.",
  parameters: z.object({ topic: z.string() }),
  execute: ({ topic }) =>
    Array.from(
      { length: 12 },
      (_, line) => `Note ${line + 1} on ${topic}: a detail worth keeping in mind when planning.`,
    ).join('\n'),
});

function questionTopic(turn: number): string {
  return MEMORY_TOPICS[(turn * 7) % MEMORY_TOPICS.length] ?? 'life';
}

function memoryQuestion(turn: number): string {
  const topic = questionTopic(turn);
  return `Turn ${turn}: I want to plan some ${topic} this weekend. What do you remember about my ${topic}, and what would you suggest?`;
}

function memoryAnswer(request: ModelRequest, turn: () => number): MockReplyShape {
  const last = request.messages.at(-1);
  if (last?.role === 'user' && turn() % 6 === 0) {
    const topic = /plan some (\S+) this weekend/.exec(last.content)?.[1] ?? 'life';
    return { toolCalls: [{ name: 'read_notes', arguments: { topic } }] };
  }
  const system = request.messages[0]?.role === 'system' ? request.messages[0].content : '';
  const remembered = (system.match(/^- .*$/gm) ?? []).length;
  return `I remember ${remembered} things that may matter here. A plan: start early, keep it simple, bring what you need, write down what worked, and tell me how it went so I can remember it for next time. Turn ${turn()} answered.`;
}

type MockReplyShape = string | { toolCalls: { name: string; arguments: object }[] };

async function memoryConversation(
  setup: string,
  options: {
    turns: number;
    memories: readonly { memory: string; topic: string; embedding: number[] }[];
    retrieval: MemoryRetrieval;
    budget: number | undefined;
    maxInputTokens: number;
    count: (text: string) => number;
    embedder: MockEmbedder;
  },
): Promise<MemoryBudgetRow> {
  const userId = 'bench-user';
  const db = new InMemoryMemoryDb();
  for (const { memory, topic, embedding } of options.memories)
    await db.upsertMemory({ userId, memory, topics: [topic], embedding });
  let current = 0;
  const model = new MockModel({ respond: (request) => memoryAnswer(request, () => current) });
  const agent = new Agent({
    model,
    storage: new InMemoryStorage(),
    userId,
    instructions: [
      'You are a helpful planning assistant.',
      'Use what you remember about the user; read their notes when they ask for a plan.',
    ],
    tools: [notesTool],
    memory: new AgentMemory({
      db,
      model,
      retrieval: options.retrieval,
      ...(options.retrieval === 'all' ? {} : { numMemories: 20 }),
      ...(options.retrieval === 'relevant' ? { embedder: options.embedder } : {}),
    }),
    addMemoryReferences: true,
    addHistoryToMessages: true,
    numHistoryRuns: 50,
    ...(options.budget === undefined
      ? {}
      : { contextBudget: { maxInputTokens: options.budget, countTokens: options.count } }),
    logger: silentLogger,
  });
  const perTurn: number[] = [];
  let memoriesSent = 0;
  let onTopic = 0;
  for (let turn = 1; turn <= options.turns; turn++) {
    current = turn;
    const before = model.requests.length;
    await agent.run(memoryQuestion(turn));
    const requests = model.requests.slice(before);
    perTurn.push(
      requests.reduce((sum, request) => sum + countRequestTokens(request, options.count), 0),
    );
    const lines = memoryLines(requests[0]);
    memoriesSent += lines.length;
    onTopic += lines.filter((line) => line.includes(questionTopic(turn))).length;
  }
  const sizes = model.requests.map((request) => countRequestTokens(request, options.count));
  await agent.close();
  const total = perTurn.reduce((sum, value) => sum + value, 0);
  return {
    setup,
    turns: options.turns,
    requests: sizes.length,
    meanPerTurn: total / options.turns,
    maxRequest: Math.max(...sizes),
    lastTurn: perTurn.at(-1) ?? 0,
    total,
    overBudget: sizes.filter((size) => size > options.maxInputTokens).length,
    memoriesPerTurn: memoriesSent / options.turns,
    onTopicPerTurn: onTopic / options.turns,
  };
}

/** The memory lines of a request's system message. */
function memoryLines(request: ModelRequest | undefined): string[] {
  const system = request?.messages[0]?.role === 'system' ? request.messages[0].content : '';
  const start = system.indexOf(MEMORIES_OPEN_TAG);
  const end = system.indexOf(MEMORIES_CLOSE_TAG);
  if (start === -1 || end === -1) return [];
  return system
    .slice(start + MEMORIES_OPEN_TAG.length, end)
    .split('\n')
    .filter((line) => line.startsWith('- '));
}

/**
 * Tokens sent per turn over `turns` turns of a user with `memories` memories (history of 50
 * runs, a long tool result every sixth turn), per setup. Throws when the budgeted setup sent a
 * request over `maxInputTokens`: the bench fails rather than print a broken promise.
 */
export async function measureMemoryBudget(options: {
  turns: number;
  memories: number;
  maxInputTokens: number;
}): Promise<MemoryBudgetResult> {
  const { count, name } = await benchTokenCounter();
  const embedder = new MockEmbedder();
  const seeded = seededMemories(options.memories);
  const vectors = await embedder.embed(seeded.map((entry) => entry.memory));
  const memories = seeded.map((entry, index) => ({
    ...entry,
    embedding: vectors[index] as number[],
  }));
  const common = {
    turns: options.turns,
    memories,
    maxInputTokens: options.maxInputTokens,
    count,
    embedder,
  };
  const rows = [
    await memoryConversation(`retrieval: 'all' (every memory), no budget`, {
      ...common,
      retrieval: 'all',
      budget: undefined,
    }),
    await memoryConversation(`retrieval: 'last_n' (20 newest), no budget`, {
      ...common,
      retrieval: 'last_n',
      budget: undefined,
    }),
    await memoryConversation(`retrieval: 'relevant' (20), no budget`, {
      ...common,
      retrieval: 'relevant',
      budget: undefined,
    }),
    await memoryConversation(
      `retrieval: 'relevant' (20) + contextBudget ${options.maxInputTokens.toLocaleString('en-US')}`,
      { ...common, retrieval: 'relevant', budget: options.maxInputTokens },
    ),
  ];
  const budgeted = rows.at(-1) as MemoryBudgetRow;
  if (budgeted.overBudget > 0) {
    throw new Error(
      `contextBudget broken: ${budgeted.overBudget} of ${budgeted.requests} requests counted more than ${options.maxInputTokens} tokens (largest ${budgeted.maxRequest}), counted with ${name}`,
    );
  }
  return {
    memories: options.memories,
    turns: options.turns,
    maxInputTokens: options.maxInputTokens,
    counter: name,
    rows,
  };
}
