/**
 * What summaries buy: context tokens sent to the model per turn over a 200-turn scripted
 * conversation, and summarizer input tokens per update (incremental, as Buddy does it, against
 * re-summarizing the whole session every run, as agno does). Token counts are the MockModel's
 * estimate (4 characters per token), the same for every setup.
 */
import {
  Agent,
  estimateTokens,
  InMemoryStorage,
  type ModelRequest,
  runsToPairs,
  silentLogger,
} from '@buddy/core';
import { AgentMemory } from '@buddy/memory';
import { MemorySummarizer } from '@buddy/summarizer';
import { MockModel } from '@buddy/testkit';

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
